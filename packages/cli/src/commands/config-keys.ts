/**
 * Incus-style instance config keys (`launch -c KEY=VALUE`, `config set NAME KEY=VALUE`) mapped onto
 * the API's ContainerPut fields.
 */
import type { Container, ContainerPut } from "@berth/api";
import { CliError } from "../framework/errors.js";
import { parseSize, UnitError } from "../framework/units.js";

const keys = [
  "limits.memory",
  "limits.memory.swap",
  "limits.cpu",
  "limits.cpu.allowance",
  "limits.processes",
  "boot.autostart",
  "user.*",
] as const;

function num(key: string, v: string, integer = false): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
    throw new CliError(`invalid value '${v}' for ${key}`, {
      hint: integer ? "expected a whole number" : "expected a number",
    });
  }
  return n;
}

function size(key: string, v: string): number {
  try {
    return parseSize(v.replace(/iB$/i, "").replace(/B$/, ""));
  } catch (err) {
    if (err instanceof UnitError)
      throw new CliError(`invalid value '${v}' for ${key}: ${err.message}`, { hint: "e.g. 512MiB or 2GiB" });
    throw err;
  }
}

/** Applies KEY=VALUE pairs to a ContainerPut (mutates and returns it). */
export function applyConfig<T extends ContainerPut>(put: T, pairs: readonly string[]): T {
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new CliError(`invalid config '${pair}': expected KEY=VALUE`, { hint: "e.g. limits.memory=512MiB" });
    const key = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    put.resources ??= {};
    const resources = put.resources;
    switch (key) {
      case "limits.memory":
        resources.memory = size(key, v);
        break;
      case "limits.memory.swap":
        resources.memorySwap = v === "false" ? (resources.memory ?? 0) : v === "true" ? -1 : size(key, v);
        break;
      case "limits.cpu":
        if (/^\d+$/.test(v)) resources.cpus = num(key, v, true);
        else resources.cpusetCpus = v;
        break;
      case "limits.cpu.allowance": {
        const pct = /^(\d+)%$/.exec(v);
        resources.cpus = pct ? Number(pct[1]) / 100 : num(key, v);
        break;
      }
      case "limits.processes":
        resources.pidsLimit = num(key, v, true);
        break;
      case "boot.autostart":
        put.autostart = v === "true" || v === "1";
        break;
      default:
        if (key.startsWith("user.")) {
          put.labels ??= {};
          put.labels[key] = v;
        } else throw new CliError(`unknown config key '${key}'`, { hint: `known keys: ${keys.join(", ")}` });
    }
    if (Object.keys(resources).length === 0) delete put.resources;
  }
  return put;
}

/** Bytes as Incus writes sizes: the largest binary unit that divides them (256MiB, 2GiB), else bytes (B). */
function incusSize(bytes: number): string {
  for (const [unit, n] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}

/** A container's config keys with their values (what `config show` and `config get` print). */
export function configOf(c: Pick<Container, "resources" | "autostart" | "labels">): Record<string, string> {
  const r = c.resources ?? {};
  const out: Record<string, string> = {};
  if (r.memory) out["limits.memory"] = incusSize(r.memory);
  if (r.memorySwap === -1) out["limits.memory.swap"] = "true";
  else if (r.memorySwap && r.memorySwap === r.memory) out["limits.memory.swap"] = "false";
  else if (r.memorySwap) out["limits.memory.swap"] = incusSize(r.memorySwap);
  if (r.cpusetCpus) out["limits.cpu"] = r.cpusetCpus;
  else if (r.cpus && Number.isInteger(r.cpus)) out["limits.cpu"] = String(r.cpus);
  if (r.cpus && !Number.isInteger(r.cpus)) out["limits.cpu.allowance"] = `${Math.round(r.cpus * 100)}%`;
  if (r.pidsLimit && r.pidsLimit > 0) out["limits.processes"] = String(r.pidsLimit);
  if (c.autostart) out["boot.autostart"] = "true";
  for (const [k, v] of Object.entries(c.labels ?? {})) if (k.startsWith("user.")) out[k] = v;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Refuses a key `config` does not know (user.* are free-form). */
export function checkKey(key: string): void {
  if (!key.startsWith("user.") && !(keys as readonly string[]).includes(key)) {
    throw new CliError(`unknown config key '${key}'`, { hint: `known keys: ${keys.join(", ")}` });
  }
}

/** Removes KEYs from a ContainerPut (mutates and returns it): limits become "no limit" (0), as Incus's unset. */
export function unsetConfig<T extends ContainerPut>(put: T, names: readonly string[]): T {
  put.resources ??= {};
  const r = put.resources;
  for (const key of names) {
    checkKey(key);
    switch (key) {
      case "limits.memory":
        // swap is memory+swap: without a memory limit it cannot stay
        r.memory = 0;
        if (r.memorySwap) r.memorySwap = 0;
        break;
      case "limits.memory.swap":
        if (r.memorySwap) r.memorySwap = 0;
        break;
      case "limits.cpu":
        if (r.cpusetCpus) r.cpusetCpus = "";
        if (r.cpus && Number.isInteger(r.cpus)) r.cpus = 0;
        break;
      case "limits.cpu.allowance":
        if (r.cpus && !Number.isInteger(r.cpus)) r.cpus = 0;
        break;
      case "limits.processes":
        r.pidsLimit = 0;
        break;
      case "boot.autostart":
        put.autostart = false;
        break;
      default:
        if (put.labels) delete put.labels[key];
    }
  }
  return put;
}
