/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on a free 127.0.0.1 port, with
 * storage in a temp dir, optionally TLS (a throwaway CA and server cert made by `openssl`) and htpasswd auth.
 *
 * ```ts
 * const reg = await startRegistry({ auth: "htpasswd", tls: true });
 * after(() => reg.stop());
 * // reg.url = "127.0.0.1:PORT"; reg.caFile, reg.username, reg.password
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { OciDirBlobs } from "../image/registry/oci-dir.js";
import { type Descriptor, MEDIA, type Platform } from "../image/registry/types.js";
import { ProcessRunner } from "../system/command.js";

export interface RegistryOptions {
  readonly auth?: "htpasswd";
  readonly tls?: boolean;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of a reference. */
  readonly url: string;
  /** The CA that signed the server certificate (TLS only). */
  readonly caFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** The registry's storage root (blobs, repositories), for tests that look behind its back. */
  readonly dataDir: string;
  stop(): Promise<void>;
}

const REGISTRY_BIN = "/usr/bin/docker-registry";
const runner = new ProcessRunner();

/** A port that was free a moment ago (distribution cannot listen on port 0 and report the port back). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Makes a CA and a server certificate for 127.0.0.1 (SAN IP:127.0.0.1) with P-256 keys. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const cert = join(dir, "server.crt");
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runner.run("openssl", [
    ...["req", "-x509", ...ec, "-keyout", caKey, "-out", ca, "-days", "2", "-subj", "/CN=berth test CA"],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  await runner.run("openssl", ["req", ...ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"]);
  await writeFile(ext, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  await runner.run("openssl", [
    ...["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial"],
    ...["-out", cert, "-days", "2", "-extfile", ext],
  ]);
  return { ca, cert, key };
}

/**
 * A bcrypt htpasswd line (distribution accepts only bcrypt). Node has no bcrypt, and Debian ships no
 * `htpasswd` without apache2-utils, so this asks the C library's crypt(3) (libxcrypt, `$2b$`) through perl,
 * which every Debian system has.
 */
export async function bcryptHtpasswdLine(user: string, password: string): Promise<string> {
  const salt = randomBytes(16)
    .toString("base64")
    .replace(/[^A-Za-z0-9]/g, "a")
    .slice(0, 22);
  const { stdout } = await runner.run("perl", [
    "-e",
    "print crypt($ARGV[0], $ARGV[1])",
    "--",
    password,
    `$2b$05$${salt}`,
  ]);
  if (!stdout.startsWith("$2b$")) throw new Error(`the C library's crypt(3) cannot do bcrypt (got ${stdout})`);
  return `${user}:${stdout}\n`;
}

/** Resolves once `GET /v2/` answers at all (200 or 401); rejects if the registry exits or 10 s pass. */
async function waitReady(url: string, tls: boolean, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const mod = tls ? https : http;
      const req = mod.get(`${tls ? "https" : "http"}://${url}/v2/`, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      });
      req.on("error", () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url}: ${log()}`);
    await sleep(30);
  }
}

/** Starts `docker-registry serve` with a fresh config and storage; `stop` kills it and removes everything. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "berth-registry-"));
  try {
    const tls = opts.tls ? await makeCerts(dir) : undefined;
    const username = opts.auth ? "berth" : undefined;
    const password = opts.auth ? randomBytes(9).toString("base64url") : undefined;
    if (username && password) await writeFile(join(dir, "htpasswd"), await bcryptHtpasswdLine(username, password));
    const dataDir = join(dir, "data");
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const url = `127.0.0.1:${port}`;
      const config = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${dataDir}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${url}`,
        "  secret: berth-test-secret",
        ...(tls ? ["  tls:", `    certificate: ${tls.cert}`, `    key: ${tls.key}`] : []),
        ...(username ? ["auth:", "  htpasswd:", "    realm: berth-test", `    path: ${join(dir, "htpasswd")}`] : []),
      ].join("\n");
      const configFile = join(dir, "config.yml");
      await writeFile(configFile, `${config}\n`);
      const child = spawn(REGISTRY_BIN, ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr?.on("data", (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-4000);
      });
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.once("error", () => {});
      try {
        await waitReady(url, Boolean(tls), child, () => stderr);
      } catch (err) {
        child.kill("SIGKILL");
        await exited;
        if (attempt < 2 && /address already in use/.test(stderr)) continue;
        throw err;
      }
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 2000);
          await exited;
          clearTimeout(killer);
        }
        await rm(dir, { recursive: true, force: true });
      };
      return {
        url,
        dataDir,
        stop,
        ...(tls ? { caFile: tls.ca } : {}),
        ...(username && password ? { username, password } : {}),
      };
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface RandomImage {
  readonly blobs: OciDirBlobs;
  /** The manifest's descriptor, to push. */
  readonly root: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/**
 * Writes an image of random "layers" (random bytes labelled tar+gzip: nothing here decompresses them) into
 * `blobs`: a config naming `platform`, the layers, and an OCI manifest. Different calls give different digests.
 */
export async function writeRandomImage(
  blobs: OciDirBlobs,
  layerSizes: readonly number[],
  platform: Platform = { os: "linux", architecture: "amd64" },
  layerMediaType: string = MEDIA.ociLayerGzip,
): Promise<RandomImage> {
  const put = async (bytes: Buffer, mediaType: string): Promise<Descriptor> => {
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    await blobs.write(digest, Readable.from([bytes]), { size: bytes.length, resumeFrom: 0 });
    return { mediaType, digest, size: bytes.length };
  };
  const layers: Descriptor[] = [];
  for (const size of layerSizes) layers.push(await put(randomBytes(size), layerMediaType));
  const config = await put(
    Buffer.from(
      JSON.stringify({
        ...platform,
        created: "1970-01-01T00:00:00Z",
        config: { Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      }),
    ),
    MEDIA.ociConfig,
  );
  const manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers };
  const root = await put(Buffer.from(JSON.stringify(manifest)), MEDIA.ociManifest);
  return { blobs, root, config, layers };
}

/** Writes an OCI index of `manifests` (each with its platform) into `blobs` and returns its descriptor. */
export async function writeIndex(blobs: OciDirBlobs, manifests: readonly Descriptor[]): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests }));
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  await blobs.write(digest, Readable.from([bytes]), { size: bytes.length, resumeFrom: 0 });
  return { mediaType: MEDIA.ociIndex, digest, size: bytes.length };
}
