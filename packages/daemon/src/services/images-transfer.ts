/**
 * Registry transfers for berthd: pull and push through the libct registry client, with credentials and
 * TLS settings sent by the client per request (the daemon never reads the user's config.json), and the
 * library's progress events turned into NDJSON progress lines.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LibctError } from "@berth/libct";
import type { ConnectOptions, Platform, ProgressEvent } from "@berth/libct/image/registry/index";
import type { ProgressLine } from "./images.js";

/** What a pull or push request may carry besides the reference (see schemas.ts RegistryAccess). */
export interface RegistryAccess {
  /** Credentials for the registry, like Docker's X-Registry-Auth: sent by the CLI from its config.json. */
  auth?: { username: string; password: string };
  /** false: accept any certificate and fall back to plain http (insecure registries). */
  tlsVerify?: boolean;
  /** PEM of the CA(s) that signed the registry's certificate (the CLI reads --ca-file / --cert-dir). */
  ca?: string;
}

/** Loopback registries are insecure by default, as in Docker (127.0.0.0/8 and localhost). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Connect options for one request; `cleanup` removes the temporary CA file. */
export async function connectOptions(
  registry: string,
  access: RegistryAccess,
  tmpRoot: string,
): Promise<{ opts: ConnectOptions; cleanup: () => Promise<void> }> {
  let dir: string | undefined;
  let caFile: string | undefined;
  if (access.ca) {
    if (!access.ca.includes("-----BEGIN CERTIFICATE-----"))
      throw new LibctError(
        "invalid",
        "ca is not a PEM certificate; pass the CA file the registry's certificate chains to",
      );
    dir = await mkdtemp(join(tmpRoot, "ca-"));
    caFile = join(dir, "ca.pem");
    await writeFile(caFile, access.ca, { mode: 0o600 });
  }
  const tlsVerify = access.tlsVerify ?? !(isLoopbackRegistry(registry) && !caFile);
  const opts: ConnectOptions = {
    tlsVerify,
    // never the daemon's own credentials file: only what this request carries
    authFile: "/nonexistent/berth-no-auth-file",
    ...(access.auth ? { credentials: { username: access.auth.username, password: access.auth.password } } : {}),
    ...(caFile ? { caFile } : {}),
  };
  return { opts, cleanup: async () => (dir ? rm(dir, { recursive: true, force: true }) : undefined) };
}

export function parsePlatform(p: string | undefined): Platform | undefined {
  if (!p) return undefined;
  const [os, architecture, variant] = p.split("/");
  if (!os || !architecture)
    throw new LibctError("invalid", `platform '${p}' must be os/arch[/variant], e.g. linux/amd64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Progress events → lines, at most one per blob every 200 ms (plus every state change). */
export function progressMapper(push: (l: ProgressLine) => void): (e: ProgressEvent) => void {
  const last = new Map<string, { status: string; at: number }>();
  return (e) => {
    if (e.type === "resolved") {
      push({ status: "resolved", ref: e.ref, digest: e.manifestDigest, blobs: e.blobs });
      return;
    }
    if (e.type === "manifest") {
      push({ status: "manifest pushed", ref: e.ref, digest: e.digest });
      return;
    }
    const prev = last.get(e.digest);
    const now = Date.now();
    if (prev && prev.status === e.status && now - prev.at < 200 && e.bytesDone < e.bytesTotal) return;
    last.set(e.digest, { status: e.status, at: now });
    push({
      status: e.status,
      id: e.digest.slice(7, 19),
      digest: e.digest,
      mediaType: e.mediaType,
      done: e.bytesDone,
      total: e.bytesTotal,
      ...(e.attempt ? { attempt: e.attempt } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
    });
  };
}

/**
 * Runs `work` with a `push` callback and yields every line pushed while it runs, then `work`'s own lines.
 * An error of `work` is thrown from the generator (the server writes it as the stream's last line).
 */
export async function* streamWork(
  work: (push: (l: ProgressLine) => void) => Promise<ProgressLine[]>,
): AsyncGenerator<ProgressLine> {
  const queue: ProgressLine[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: { err: unknown } | undefined;
  let tail: ProgressLine[] = [];
  const push = (l: ProgressLine) => {
    queue.push(l);
    wake?.();
  };
  void work(push).then(
    (t) => {
      tail = t;
      finished = true;
      wake?.();
    },
    (err) => {
      failure = { err };
      finished = true;
      wake?.();
    },
  );
  for (;;) {
    while (queue.length) yield queue.shift()!;
    if (finished) break;
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = undefined;
  }
  while (queue.length) yield queue.shift()!;
  if (failure) throw failure.err;
  yield* tail;
}
