/**
 * Shared by pull, push, bootstrap and login: progress output (per-layer bars on a TTY, plain lines
 * otherwise, NDJSON with --format json) and the registry access a request carries (credentials from the
 * user's Docker-style config.json, CA from --ca-file / --cert-dir, --tls-verify).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { LineStream, ProgressLine } from "@berth/api/client";
import { namesRegistry } from "@berth/api/refs";
import type { Context } from "../framework/command.js";
import { CliError } from "../framework/errors.js";
import { formatSize } from "../framework/units.js";
import { readCredentials, registryOf } from "./image-auth.js";

export const registryFlags = {
  "tls-verify": {
    type: "boolean",
    description: "Require HTTPS and verify certificates (default true; loopback registries default false)",
  },
  "ca-file": {
    type: "string",
    placeholder: "path",
    complete: "file",
    description: "CA certificate(s) of the registry (PEM)",
  },
  "cert-dir": {
    type: "string",
    placeholder: "path",
    complete: "directory",
    description: "Directory of *.crt CA certificates (Docker's certs.d/<registry> layout)",
  },
  "auth-file": {
    type: "string",
    placeholder: "path",
    complete: "file",
    description: "Credentials file (default $BERTH_AUTH_FILE or ~/.config/berth/config.json)",
  },
} as const;

export interface RegistryFlagValues {
  "tls-verify": boolean;
  "ca-file": string | undefined;
  "cert-dir": string | undefined;
  "auth-file": string | undefined;
}

export function authFile(flags: { "auth-file"?: string | undefined }, env: Context["env"]): string {
  if (flags["auth-file"]) return flags["auth-file"];
  if (env.BERTH_AUTH_FILE) return env.BERTH_AUTH_FILE;
  return join(env.XDG_CONFIG_HOME || join(env.HOME || "/root", ".config"), "berth", "config.json");
}

/**
 * The user's credentials for the registry an image reference names (from `berth login`), sent with a create
 * so that berthd can pull the image if it is missing; undefined for a reference naming no registry.
 */
export async function pullAuthFor(
  image: string,
  env: Context["env"],
): Promise<{ username: string; password: string } | undefined> {
  if (!namesRegistry(image)) return undefined;
  return readCredentials(authFile({}, env), registryOf(image));
}

/** The PEM to trust: --ca-file, or every *.crt in --cert-dir. */
export async function readCa(flags: RegistryFlagValues): Promise<string | undefined> {
  if (flags["ca-file"]) {
    return readFile(flags["ca-file"], "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read --ca-file ${flags["ca-file"]}: ${err.code ?? err.message}`);
    });
  }
  if (flags["cert-dir"]) {
    const dir = flags["cert-dir"];
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read --cert-dir ${dir}: ${err.code ?? err.message}`);
    });
    const pems = await Promise.all(
      names
        .filter((n) => n.endsWith(".crt"))
        .sort()
        .map((n) => readFile(join(dir, n), "utf8")),
    );
    if (!pems.length) throw new CliError(`--cert-dir ${dir} holds no *.crt file`);
    return pems.join("\n");
  }
  return undefined;
}

/** Body fields for pull / push: auth from the config file, ca, tlsVerify when given. */
export async function registryAccess(
  ref: string,
  flags: RegistryFlagValues,
  set: ReadonlySet<string>,
  env: Context["env"],
): Promise<{ auth?: { username: string; password: string }; ca?: string; tlsVerify?: boolean }> {
  const registry = registryOf(ref);
  const creds = await readCredentials(authFile(flags, env), registry);
  const ca = await readCa(flags);
  return {
    ...(creds ? { auth: { username: creds.username, password: creds.password } } : {}),
    ...(ca ? { ca } : {}),
    ...(set.has("tls-verify") ? { tlsVerify: flags["tls-verify"] } : {}),
  };
}

const BAR = 24;
function bar(done: number, total: number): string {
  const n = total > 0 ? Math.min(BAR, Math.round((done / total) * BAR)) : 0;
  return `[${"=".repeat(Math.max(0, n - 1))}${n > 0 && n < BAR ? ">" : n === BAR ? "=" : ""}${" ".repeat(BAR - n)}]`;
}

/**
 * Prints progress as it comes and returns the last line; throws on an error line.
 * mode: "tty" redraws one line per layer with a bar, "plain" prints a line per state change,
 * "json" prints every line as JSON, "quiet" prints nothing.
 */
export async function followProgress(
  stream: LineStream<ProgressLine>,
  { out }: Context,
  mode: "tty" | "plain" | "json" | "quiet",
): Promise<ProgressLine | undefined> {
  let last: ProgressLine | undefined;
  const layers = new Map<string, string>(); // id → rendered line (tty)
  let drawn = 0;
  const redraw = () => {
    let text = drawn ? `\x1b[${drawn}A` : "";
    for (const line of layers.values()) text += `\x1b[2K${line}\n`;
    drawn = layers.size;
    out.stdout(text);
  };
  const lastStatus = new Map<string, string>();
  for await (const line of stream) {
    if (line.error) {
      const e = line.error;
      throw new CliError(typeof e === "string" ? e : e.detail || e.title);
    }
    last = line;
    if (mode === "quiet") continue;
    if (mode === "json") {
      out.stdout(`${JSON.stringify(line)}\n`);
      continue;
    }
    const text = String(line.message ?? line.status ?? "").replace(/\n$/, "");
    const id = line.id
      ? String(line.id)
          .replace(/^sha256:/, "")
          .slice(0, 12)
      : undefined;
    if (id && typeof line.total === "number") {
      const done = Number(line.done ?? 0);
      const sizes = `${formatSize(done)}/${formatSize(line.total)}`;
      if (mode === "tty") {
        const active = line.status === "downloading" || line.status === "uploading";
        layers.set(
          id,
          `${id}: ${text.padEnd(11)} ${active ? `${bar(done, line.total)} ${sizes}` : formatSize(line.total)}`,
        );
        redraw();
      } else if (lastStatus.get(id) !== line.status) {
        lastStatus.set(id, String(line.status));
        out.stdout(`${id}: ${text} ${sizes}\n`);
      }
      continue;
    }
    if (mode === "tty") drawn = 0; // a plain line ends the block of bars
    if (text) out.stdout(`${id ? `${id}: ` : ""}${text}\n`);
  }
  return last;
}

export function progressMode(
  flags: { quiet?: boolean; format?: string | undefined },
  out: Context["out"],
): "tty" | "plain" | "json" | "quiet" {
  if (flags.quiet) return "quiet";
  if (flags.format === "json") return "json";
  if (flags.format !== undefined) throw new CliError(`--format must be json, not '${flags.format}'`);
  return out.isTTY ? "tty" : "plain";
}
