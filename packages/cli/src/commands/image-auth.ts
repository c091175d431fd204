/**
 * The CLI user's registry credentials, in Docker's config.json format (`{"auths":{"host":{"auth":"base64(user:pass)"}}}`,
 * mode 0600), and `login`'s check of them against the registry (GET /v2/ with basic auth, or a token from the
 * bearer realm its WWW-Authenticate names). The CLI talks to berthd's API only: this is plain node:https.
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname } from "node:path";
import { rootCertificates } from "node:tls";
import { CliError } from "../framework/errors.js";

export const DOCKER_HUB = "docker.io";
const HUB_KEYS = ["https://index.docker.io/v1/", "docker.io", "index.docker.io", "registry-1.docker.io"];

/** The registry part of an image reference, as Docker reads it: a first component with a dot, a port or localhost. */
export function registryOf(ref: string): string {
  const slash = ref.indexOf("/");
  if (slash < 0) return DOCKER_HUB;
  const first = ref.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? first : DOCKER_HUB;
}

export const normalizeRegistry = (r: string) => {
  const host = r.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return HUB_KEYS.includes(host) ? DOCKER_HUB : host;
};

export const isLoopback = (registry: string) => /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry);

interface ConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CliError(`cannot read credentials file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    return parsed as ConfigFile;
  } catch {
    throw new CliError(`credentials file ${path} is not a JSON object`, { hint: "fix or remove it" });
  }
}

const keysFor = (registry: string) =>
  registry === DOCKER_HUB
    ? HUB_KEYS
    : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];

export async function readCredentials(
  path: string,
  registry: string,
): Promise<{ username: string; password: string } | undefined> {
  const auths = (await readConfig(path)).auths ?? {};
  for (const k of keysFor(registry)) {
    const e = auths[k];
    if (!e) continue;
    if (e.auth) {
      const plain = Buffer.from(e.auth, "base64").toString("utf8");
      const colon = plain.indexOf(":");
      if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
    }
    if (e.username && e.password) return { username: e.username, password: e.password };
  }
  return undefined;
}

async function writeConfig(path: string, cfg: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(cfg, null, "\t")}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function storeCredentials(path: string, registry: string, username: string, password: string) {
  const cfg = await readConfig(path);
  const auths = { ...(cfg.auths ?? {}) };
  for (const k of keysFor(registry)) delete auths[k];
  auths[registry === DOCKER_HUB ? HUB_KEYS[0]! : registry] = {
    auth: Buffer.from(`${username}:${password}`).toString("base64"),
  };
  await writeConfig(path, { ...cfg, auths });
}

export async function removeCredentials(path: string, registry: string): Promise<boolean> {
  const cfg = await readConfig(path);
  const auths = { ...(cfg.auths ?? {}) };
  let removed = false;
  for (const k of keysFor(registry)) {
    if (k in auths) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed) await writeConfig(path, { ...cfg, auths });
  return removed;
}

interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

function get(url: URL, headers: Record<string, string>, tls: { ca?: string; verify: boolean }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = {
      method: "GET",
      headers,
      timeout: 15_000,
      ...(url.protocol === "https:"
        ? { rejectUnauthorized: tls.verify, ...(tls.ca ? { ca: [...rootCertificates, tls.ca] } : {}) }
        : {}),
    };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, opts, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (body.length < 65536) body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out after 15 s")));
    req.on("error", reject);
    req.end();
  });
}

function bearerParams(header: string): Record<string, string> | undefined {
  if (!/^bearer\s/i.test(header)) return undefined;
  const out: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!.toLowerCase()] = m[2]!;
  return out;
}

/** Checks credentials: basic auth on /v2/, or a token from the bearer realm. Throws CliError when refused. */
export async function verifyLogin(
  registry: string,
  username: string,
  password: string,
  tls: { ca?: string; verify: boolean },
): Promise<void> {
  const host = registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  let base = new URL(`https://${host}/v2/`);
  let r: Reply;
  try {
    r = await get(base, { authorization: basic }, tls);
  } catch (err) {
    if (tls.verify) {
      const msg = (err as Error).message;
      throw new CliError(`cannot reach ${registry} over HTTPS: ${msg}`, {
        hint: /certificate|self.signed|CERT/i.test(msg)
          ? "trust its CA with --ca-file FILE, or use --tls-verify=false for an insecure registry"
          : "is the registry running? for a plain-http registry use --tls-verify=false",
      });
    }
    base = new URL(`http://${host}/v2/`);
    r = await get(base, { authorization: basic }, tls).catch((e: Error) => {
      throw new CliError(`cannot reach ${registry}: ${e.message}`);
    });
  }
  if (r.status === 200) return;
  if (r.status === 401) {
    const bearer = bearerParams(String(r.headers["www-authenticate"] ?? ""));
    if (bearer?.realm) {
      const url = new URL(bearer.realm);
      if (bearer.service) url.searchParams.set("service", bearer.service);
      url.searchParams.set("account", username);
      const t = await get(url, { authorization: basic }, tls).catch((e: Error) => {
        throw new CliError(`cannot reach the token service of ${registry} (${url.host}): ${e.message}`);
      });
      if (t.status === 200) return;
    }
    throw new CliError(`login to ${registry} failed: unauthorized: wrong username or password`);
  }
  throw new CliError(`login to ${registry} failed: the registry answered HTTP ${r.status} on /v2/`);
}
