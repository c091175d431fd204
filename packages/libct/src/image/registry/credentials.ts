/**
 * Registry credentials kept like Docker's `config.json`:
 * `{ "auths": { "127.0.0.1:5000": { "auth": base64("user:password") } } }`, file mode 0600.
 * Docker Hub is stored under Docker's historical key `https://index.docker.io/v1/`.
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { LibctError } from "../../errors.js";
import { DEFAULT_REGISTRY } from "./reference.js";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

interface AuthConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

const HUB_KEY = "https://index.docker.io/v1/";

/** `$BERTH_AUTH_FILE`, else `$XDG_CONFIG_HOME/berth/config.json` (default ~/.config/berth/config.json). */
export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_AUTH_FILE) return env.BERTH_AUTH_FILE;
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "berth", "config.json");
}

/** The keys a registry may be stored under (Docker also writes `https://host` forms). */
const keysFor = (registry: string): string[] =>
  registry === DEFAULT_REGISTRY
    ? [HUB_KEY, "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1"]
    : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];

async function readConfig(path: string): Promise<AuthConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new LibctError("unavailable", `cannot read credentials file ${path}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as AuthConfigFile;
  } catch (err) {
    throw new LibctError("invalid", `credentials file ${path} is not a JSON object; fix or remove it`, { cause: err });
  }
}

/** Decodes one `auths` entry: `auth` (base64 user:password) or separate username/password fields. */
export function decodeAuthEntry(entry: {
  auth?: string;
  username?: string;
  password?: string;
}): Credentials | undefined {
  if (entry.auth) {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon <= 0) return undefined;
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** The stored credentials for `registry`, or undefined (anonymous). */
export async function readCredentials(path: string, registry: string): Promise<Credentials | undefined> {
  const auths = (await readConfig(path)).auths ?? {};
  for (const key of keysFor(registry)) {
    const entry = auths[key];
    if (entry) return decodeAuthEntry(entry);
  }
  return undefined;
}

/** Stores credentials (replacing any for `registry`), keeping other keys; writes atomically with mode 0600. */
export async function storeCredentials(path: string, registry: string, creds: Credentials): Promise<void> {
  const config = await readConfig(path);
  const auths = { ...(config.auths ?? {}) };
  for (const key of keysFor(registry)) delete auths[key];
  auths[registry === DEFAULT_REGISTRY ? HUB_KEY : registry] = {
    auth: Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64"),
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...config, auths }, null, "\t")}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Removes the credentials of `registry`; true if there were any. */
export async function removeCredentials(path: string, registry: string): Promise<boolean> {
  const config = await readConfig(path);
  const auths = { ...(config.auths ?? {}) };
  let found = false;
  for (const key of keysFor(registry)) {
    if (key in auths) found = true;
    delete auths[key];
  }
  if (!found) return false;
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...config, auths }, null, "\t")}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return true;
}
