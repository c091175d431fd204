/**
 * Incus-style instance config keys (`launch -c KEY=VALUE`, `config set NAME KEY=VALUE`) mapped onto
 * the API's ContainerPut fields.
 */
import type { ContainerPut } from "@berth/api";
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
