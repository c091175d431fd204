/**
 * File helpers for `berth build`'s COPY and ADD: Go `filepath.Match` wildcards (Docker's semantics for
 * source patterns), `--chown` names resolved from the image's /etc/passwd and /etc/group, and ADD's
 * local tar archives (plain, gzip, zstd, xz, bzip2) detected by content and extracted with libct's
 * applyLayer, so a hostile archive never writes outside its scratch directory.
 */
import { spawn } from "node:child_process";
import { createReadStream, type Stats } from "node:fs";
import { lstat, open, readdir, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { LibctError } from "@berth/libct";
import { applyLayer } from "@berth/libct/image/unpack/index";

class BadPattern extends Error {}

/** Whether `p` holds a wildcard that `filepath.Match` interprets. */
export const hasMeta = (p: string): boolean => /[*?[\\]/.test(p);

/** Go's `path/filepath.Match` on Unix: `*`, `?`, `[...]`/`[^...]` classes, `\` escapes; throws on a bad pattern. */
export function globMatch(pattern: string, name: string): boolean {
  let pat = Array.from(pattern);
  let s = Array.from(name);
  outer: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) return !s.includes("/");
    const t = matchChunk(chunk, s);
    if (t && (t.length === 0 || pat.length > 0)) {
      s = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < s.length && s[i] !== "/"; i++) {
        const r = matchChunk(chunk, s.slice(i + 1));
        if (r) {
          if (pat.length === 0 && r.length > 0) continue;
          s = r;
          continue outer;
        }
      }
    }
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return s.length === 0;
}

function scanChunk(p: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  let k = 0;
  while (k < p.length && p[k] === "*") {
    k++;
    star = true;
  }
  p = p.slice(k);
  let inrange = false;
  let i = 0;
  for (; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      if (i + 1 < p.length) i++;
    } else if (c === "[") inrange = true;
    else if (c === "]") inrange = false;
    else if (c === "*" && !inrange) break;
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

/** The rest of `s` after `chunk` matched its start, or undefined; throws BadPattern. */
function matchChunk(chunk: string[], s: string[]): string[] | undefined {
  let failed = false;
  let c = chunk;
  while (c.length > 0) {
    if (!failed && s.length === 0) failed = true;
    if (c[0] === "[") {
      let r = "";
      if (!failed) {
        r = s[0]!;
        s = s.slice(1);
      }
      c = c.slice(1);
      let negated = false;
      if (c.length > 0 && c[0] === "^") {
        negated = true;
        c = c.slice(1);
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (c.length > 0 && c[0] === "]" && nrange > 0) {
          c = c.slice(1);
          break;
        }
        const lo = getEsc(c);
        c = lo.rest;
        let hi = lo.r;
        if (c[0] === "-") {
          const h = getEsc(c.slice(1));
          hi = h.r;
          c = h.rest;
        }
        if (!failed && lo.r.codePointAt(0)! <= r.codePointAt(0)! && r.codePointAt(0)! <= hi.codePointAt(0)!)
          match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c[0] === "?") {
      if (!failed) {
        if (s[0] === "/") failed = true;
        s = s.slice(1);
      }
      c = c.slice(1);
    } else {
      if (c[0] === "\\") {
        c = c.slice(1);
        if (c.length === 0) throw new BadPattern();
      }
      if (!failed) {
        if (c[0] !== s[0]) failed = true;
        s = s.slice(1);
      }
      c = c.slice(1);
    }
  }
  return failed ? undefined : s;
}

function getEsc(c: string[]): { r: string; rest: string[] } {
  if (c.length === 0 || c[0] === "-" || c[0] === "]") throw new BadPattern();
  if (c[0] === "\\") {
    c = c.slice(1);
    if (c.length === 0) throw new BadPattern();
  }
  const rest = c.slice(1);
  if (rest.length === 0) throw new BadPattern();
  return { r: c[0]!, rest };
}

export interface SourceMatch {
  /** The path relative to the root, "" for the root itself. */
  readonly rel: string;
  readonly abs: string;
  readonly st: Stats;
}

/**
 * The files `src` names under `root`: itself, or with wildcards every match (sorted, like Docker).
 * `what` prefixes errors, e.g. "COPY *.sh (line 3)".
 */
export async function expandSource(root: string, src: string, what: string, where: string): Promise<SourceMatch[]> {
  const rel = posix.normalize(`/${src}`).replace(/^\/+|\/+$/g, "");
  if (!hasMeta(rel)) {
    const abs = join(root, rel);
    const st = await lstat(abs).catch(() => undefined);
    if (!st) throw new LibctError("invalid", `${what}: no such file in the ${where}`);
    return [{ rel, abs, st }];
  }
  const parts = rel.split("/");
  const out: SourceMatch[] = [];
  const walk = async (dir: string, k: number): Promise<void> => {
    const part = parts[k]!;
    const last = k === parts.length - 1;
    let names: string[];
    if (!hasMeta(part)) names = [part];
    else {
      const all = await readdir(join(root, dir)).catch(() => [] as string[]);
      try {
        names = all.filter((n) => globMatch(part, n)).sort();
      } catch (err) {
        if (err instanceof BadPattern) throw new LibctError("invalid", `${what}: '${src}' is not a valid pattern`);
        throw err;
      }
    }
    for (const n of names) {
      const r = dir ? `${dir}/${n}` : n;
      const st = await lstat(join(root, r)).catch(() => undefined);
      if (!st) continue;
      if (last) out.push({ rel: r, abs: join(root, r), st });
      else if (st.isDirectory()) await walk(r, k + 1);
    }
  };
  await walk("", 0);
  if (out.length === 0) throw new LibctError("invalid", `${what}: no file in the ${where} matches '${src}'`);
  return out;
}

/** Whether an ADD source is a URL (or git remote) rather than a local path. */
export const isUrl = (src: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(src) || /^git@[^:]+:/.test(src);

/** A numeric id, or the id of `name` in a passwd/group file's text (field 3). */
function lookupId(text: string | undefined, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 3 && /^\d+$/.test(f[2]!)) return Number(f[2]);
  }
  return undefined;
}

/** Whether `--chown=spec` needs the image's /etc/passwd or /etc/group. */
export const chownNeedsNames = (spec: string): boolean => !/^\d+(?::\d+)?$/.test(spec);

/**
 * `user[:group]` as numeric ids; names come from the rootfs's /etc/passwd and /etc/group (regular
 * files only: a symlink is not followed out of the rootfs). Without a group the gid is the uid, as Docker.
 */
export async function resolveChown(
  spec: string,
  rootfs: string | undefined,
  what: string,
): Promise<{ uid: number; gid: number }> {
  const [user = "", group, extra] = spec.split(":");
  if (!user || extra !== undefined || group === "")
    throw new LibctError("invalid", `${what}: --chown=${spec} is not user[:group]`);
  const read = async (rel: string): Promise<string | undefined> => {
    if (!rootfs) return undefined;
    const etc = await lstat(join(rootfs, "etc")).catch(() => undefined);
    const f = await lstat(join(rootfs, rel)).catch(() => undefined);
    if (!etc?.isDirectory() || !f?.isFile()) return undefined;
    return readFile(join(rootfs, rel), "utf8");
  };
  const uid = lookupId(/^\d+$/.test(user) ? undefined : await read("etc/passwd"), user);
  if (uid === undefined)
    throw new LibctError("invalid", `${what}: --chown: no user '${user}' in the image's /etc/passwd`);
  if (group === undefined) return { uid, gid: uid };
  const gid = lookupId(/^\d+$/.test(group) ? undefined : await read("etc/group"), group);
  if (gid === undefined)
    throw new LibctError("invalid", `${what}: --chown: no group '${group}' in the image's /etc/group`);
  return { uid, gid };
}

export type ArchiveKind = "none" | "gzip" | "zstd" | "xz" | "bzip2";

const TOOLS = { xz: "xz", bzip2: "bzip2", zstd: "zstd" } as const;

const isTarHeader = (b: Buffer): boolean => b.length >= 512 && b.subarray(257, 262).toString("latin1") === "ustar";

/** The first bytes of `stream`, at most `n`, then stops it. */
async function head(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      len += (c as Buffer).length;
      if (len >= n) break;
    }
  } catch {
    // a corrupt stream: whatever came so far
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

function decompressed(abs: string, kind: ArchiveKind): { stream: Readable; done: Promise<number | null> } {
  if (kind === "none" || kind === "gzip") {
    const raw = createReadStream(abs);
    const stream = kind === "gzip" ? raw.pipe(createGunzip()) : raw;
    if (kind === "gzip") raw.on("error", (e) => stream.destroy(e));
    return { stream, done: Promise.resolve(0) };
  }
  const child = spawn(TOOLS[kind], ["-dc", "--", abs], { stdio: ["ignore", "pipe", "ignore"] });
  const done = new Promise<number | null>((resolve) => {
    child.on("error", () => resolve(-1));
    child.on("close", (code) => resolve(code));
  });
  return { stream: child.stdout, done };
}

/** What kind of tar archive `abs` is, by content (as Docker), or undefined when it is not one. */
export async function archiveKind(abs: string): Promise<ArchiveKind | undefined> {
  const fh = await open(abs, "r");
  const buf = Buffer.alloc(512);
  let n: number;
  try {
    n = (await fh.read(buf, 0, 512, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const b = buf.subarray(0, n);
  const kind: ArchiveKind | undefined =
    b[0] === 0x1f && b[1] === 0x8b
      ? "gzip"
      : b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))
        ? "zstd"
        : b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
          ? "xz"
          : b.subarray(0, 3).toString("latin1") === "BZh"
            ? "bzip2"
            : undefined;
  if (!kind) return isTarHeader(b) ? "none" : undefined;
  const { stream } = decompressed(abs, kind);
  return isTarHeader(await head(stream, 512)) ? kind : undefined;
}

/** Extracts the archive into `dir` with libct's applyLayer: a hostile entry rejects and nothing lands outside. */
export async function extractArchive(abs: string, kind: ArchiveKind, dir: string, what: string): Promise<void> {
  try {
    if (kind === "none" || kind === "gzip" || kind === "zstd") {
      await applyLayer(dir, createReadStream(abs), { compression: kind, whiteouts: "flatten" });
      return;
    }
    const { stream, done } = decompressed(abs, kind);
    await applyLayer(dir, stream, { compression: "none", whiteouts: "flatten" });
    const code = await done;
    if (code !== 0) throw new Error(`${TOOLS[kind]} -dc exited with ${code}`);
  } catch (err) {
    throw new LibctError("invalid", `${what}: cannot extract the archive: ${(err as Error).message}`, { cause: err });
  }
}
