/**
 * Applies one OCI layer (a tar, possibly gzip or zstd) on top of a directory, with OCI whiteouts,
 * and never writes outside that directory, whatever the tar holds.
 *
 * ```ts
 * const { diffId } = await applyLayer("/var/lib/berth/tmp/rootfs", createReadStream(blob), { compression: "gzip" });
 * if (diffId !== config.rootfs.diff_ids[0]) throw ...;
 * ```
 * A hostile or corrupt layer rejects with LibctError("invalid") and leaves the target half-applied:
 * unpack into a fresh directory and rename it on success, as `unpackLayers` does.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from "node:fs";
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rm,
  symlink,
} from "node:fs/promises";
import { join } from "node:path";
import { type Header, extract as tarExtract } from "tar-stream";
import { LibctError } from "../../errors.js";
import { type CommandRunner, ProcessRunner } from "../../system/command.js";
import { decompress, type LayerCompression, type LayerSource, toReadable } from "./decompress.js";
import { entryComponents, HostileEntry, SafeDirs } from "./paths.js";
import { setXattrs, type XattrOp } from "./xattr.js";

export type EntryType = Header["type"] | "whiteout" | "opaque";

export interface LayerEntry {
  /** The name as written in the tar. */
  readonly name: string;
  readonly type: EntryType;
  readonly size: number;
}

export interface ApplyOptions {
  readonly compression: LayerCompression;
  /** Shift every owner by these offsets (unprivileged system containers); implicit parents get the offsets too. */
  readonly idMap?: { readonly uidOffset: number; readonly gidOffset: number };
  /**
   * "flatten" (default): `.wh.x` deletes x from lower content already in the target and `.wh..wh..opq`
   * empties the directory of lower content, as umoci does. "overlay": the target is one overlayfs lower
   * dir of its own; `.wh.x` becomes a 0:0 character device and an opaque directory gets
   * `trusted.overlay.opaque=y` (both need root).
   */
  readonly whiteouts?: "flatten" | "overlay";
  /**
   * Character and block devices: "create" them (needs root; the default as root), "skip" them with a
   * warning (the default otherwise), or "reject" the layer as hostile. FIFOs are always created.
   */
  readonly devices?: "create" | "skip" | "reject";
  readonly onEntry?: (e: LayerEntry) => void;
  /** Runs mknod and perl (xattrs). Default: a ProcessRunner. */
  readonly runner?: CommandRunner;
  /** The zstd binary. Default "zstd" on PATH. */
  readonly zstd?: string;
}

export interface ApplyResult {
  readonly entries: number;
  /** Bytes of the uncompressed tar: the bytes `diffId` hashes. */
  readonly bytes: number;
  /** `sha256:<hex>` of the uncompressed tar, to check against the image config's rootfs.diff_ids. */
  readonly diffId: string;
  /** What was not applied and why: devices skipped, ownership or xattrs the host refused. */
  readonly warnings: readonly string[];
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
const XATTR_PREFIX = "SCHILY.xattr.";
/** Files up to this size are buffered and written with synchronous calls (see Applier.file). */
const SMALL_FILE = 256 * 1024;
/** Larger files are written in pieces of about this size. */
const WRITE_CHUNK = 1024 * 1024;

const hostile = (name: string, why: string, cause?: unknown) =>
  new LibctError("invalid", `layer entry '${name}': ${why}; the layer is hostile or corrupt, refusing it`, {
    cause,
  });

const isCode = (err: unknown, code: string) => (err as NodeJS.ErrnoException).code === code;

/** mkdir that reports EEXIST as false (whatever is there, followed by nothing). */
async function mkdirExcl(abs: string): Promise<boolean> {
  try {
    await mkdir(abs, { mode: 0o700 });
    return true;
  } catch (err) {
    if (isCode(err, "EEXIST")) return false;
    throw err;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if (isCode(err, "ENOENT")) return undefined;
    throw err;
  }
}

/** A directory whose mode and mtime are set after the whole layer, so writing its contents does not undo them. */
interface PendingDir {
  readonly rel: string;
  readonly mode: number;
  readonly mtime: Date;
}

/** One layer application: the state kept between entries. */
class Applier {
  readonly dirs: SafeDirs;
  readonly created = new Set<string>();
  readonly pendingDirs = new Map<string, PendingDir>();
  readonly xattrs: (XattrOp & { rel: string })[] = [];
  readonly warnings: string[] = [];
  readonly root = process.getuid?.() === 0;
  readonly runner: CommandRunner;
  readonly devices: "create" | "skip" | "reject";
  private warnedOwner = false;

  constructor(
    readonly target: string,
    readonly opts: ApplyOptions,
  ) {
    this.runner = opts.runner ?? new ProcessRunner();
    this.devices = opts.devices ?? (this.root ? "create" : "skip");
    this.dirs = new SafeDirs(target, (abs) => this.chown(abs, 0, 0));
  }

  async chown(abs: string, uid: number, gid: number): Promise<void> {
    if (!this.root) {
      if (!this.warnedOwner) this.warnings.push("not root: ownership left to the current user");
      this.warnedOwner = true;
      return;
    }
    const m = this.opts.idMap;
    await lchown(abs, uid + (m?.uidOffset ?? 0), gid + (m?.gidOffset ?? 0));
  }

  /** Removes whatever is at `rel` (a directory with its contents), without following symlinks. */
  async remove(rel: string, abs: string): Promise<void> {
    await rm(abs, { recursive: true, force: true });
    this.dirs.forget(rel);
    for (const k of this.pendingDirs.keys()) if (k === rel || k.startsWith(`${rel}/`)) this.pendingDirs.delete(k);
  }

  async entry(header: Header, body: AsyncIterable<Buffer>): Promise<LayerEntry> {
    const name = header.name;
    const parts = entryComponents(name);
    const base = parts[parts.length - 1];
    if (base?.startsWith(WHITEOUT)) return this.whiteout(name, parts.slice(0, -1), base);
    if (parts.length === 0) {
      if (header.type !== "directory")
        throw new HostileEntry(`the target root can only be a directory, not a ${header.type}`);
      await this.directory("", this.target, header);
      return { name, type: header.type, size: 0 };
    }
    const rel = parts.join("/");
    const parentAbs = (await this.dirs.dir(parts.slice(0, -1), true))!;
    const abs = join(parentAbs, base!);
    // No lstat up front: each kind is created exclusively (O_EXCL, mkdir, symlink, link all fail with
    // EEXIST on anything already there, a symlink included, without following it); only then is the
    // existing entry looked at and replaced. A fresh rootfs pays one syscall per entry instead of two.
    if (header.type === "directory") {
      if (!(await mkdirExcl(abs))) {
        const existing = await lstatOrUndefined(abs);
        if (!existing?.isDirectory()) {
          if (existing) await this.remove(rel, abs);
          await mkdir(abs, { mode: 0o700 });
        }
      }
      this.dirs.remember(rel);
      await this.directory(rel, abs, header);
    } else {
      if (header.type === "link") {
        const from = await this.linkTarget(header.linkname);
        if (from === abs) return this.done(rel, header);
        await this.exclusive(rel, abs, () => link(from, abs));
        return this.done(rel, header);
      }
      switch (header.type) {
        case "file":
        case "contiguous-file":
          await this.file(rel, abs, header, body);
          break;
        case "symlink":
          if (header.linkname.includes("\0")) throw new HostileEntry("symlink target contains a NUL byte");
          await this.exclusive(rel, abs, () => symlink(header.linkname, abs));
          await this.chown(abs, ...owner(header));
          await lutimes(abs, mtime(header), mtime(header));
          break;
        case "character-device":
        case "block-device":
        case "fifo":
          if (await lstatOrUndefined(abs)) await this.remove(rel, abs);
          if (!(await this.node(abs, header))) return { name, type: header.type, size: 0 };
          break;
        default:
          throw new HostileEntry(`unsupported entry type ${String(header.type)}`);
      }
    }
    this.queueXattrs(rel, abs, header);
    return this.done(rel, header);
  }

  private done(rel: string, header: Header): LayerEntry {
    this.created.add(rel);
    return { name: header.name, type: header.type, size: header.size };
  }

  private async directory(rel: string, abs: string, header: Header): Promise<void> {
    await this.chown(abs, ...owner(header));
    this.pendingDirs.set(rel, { rel, mode: header.mode & 0o7777, mtime: mtime(header) });
    this.created.add(rel);
  }

  /** Creates `abs` with `create`, which must fail with EEXIST on anything there; replaces that once. */
  private async exclusive(rel: string, abs: string, create: () => Promise<void>): Promise<void> {
    try {
      await create();
    } catch (err) {
      if (!isCode(err, "EEXIST")) throw err;
      await this.remove(rel, abs);
      await create();
    }
  }

  /**
   * A regular file. Small files (the bulk of any rootfs) are written with synchronous calls on one
   * descriptor: open, write, fchown, fchmod, futimes, close are each a few microseconds against the
   * page cache, while the same calls through the libuv threadpool cost a thread hand-off and an
   * event-loop wake-up apiece, which dominated unpacking (system time in futex/epoll). The event
   * loop still turns between entries. Large files stream asynchronously, in large writes.
   */
  private async file(rel: string, abs: string, header: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const [uid, gid] = owner(header);
    const m = this.opts.idMap;
    const when = mtime(header);
    if (!this.root) await this.chown(abs, 0, 0); // records the warning once
    if (header.size <= SMALL_FILE) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      let fd: number;
      try {
        fd = openSync(abs, flags, 0o600);
      } catch (err) {
        if (!isCode(err, "EEXIST")) throw err;
        await this.remove(rel, abs);
        fd = openSync(abs, flags, 0o600);
      }
      try {
        const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
        if (this.root) fchownSync(fd, uid + (m?.uidOffset ?? 0), gid + (m?.gidOffset ?? 0));
        fchmodSync(fd, header.mode & 0o7777); // after chown, which clears setuid/setgid
        futimesSync(fd, when, when);
      } finally {
        closeSync(fd);
      }
      return;
    }
    let fh: FileHandle;
    try {
      fh = await open(abs, flags, 0o600);
    } catch (err) {
      if (!isCode(err, "EEXIST")) throw err;
      await this.remove(rel, abs);
      fh = await open(abs, flags, 0o600);
    }
    try {
      // Coalesce the decompressor's small chunks into large writes.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        for (let off = 0; off < data.length; ) off += (await fh.write(data, off, data.length - off)).bytesWritten;
      };
      for await (const chunk of body) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_CHUNK) await flush();
      }
      await flush();
      if (this.root) await fh.chown(uid + (m?.uidOffset ?? 0), gid + (m?.gidOffset ?? 0));
      await fh.chmod(header.mode & 0o7777); // after chown, which clears setuid/setgid
      await fh.utimes(when, when);
    } finally {
      await fh.close();
    }
  }

  /** mknod for devices and FIFOs; false when a device was skipped. */
  private async node(abs: string, header: Header): Promise<boolean> {
    const fifo = header.type === "fifo";
    if (!fifo && this.devices === "reject") throw new HostileEntry("device nodes are not allowed in this layer");
    if (!fifo && (this.devices === "skip" || !this.root)) {
      this.warnings.push(`${header.name}: ${header.type} ${header.devmajor}:${header.devminor} skipped`);
      return false;
    }
    const kind = fifo
      ? ["p"]
      : [header.type === "block-device" ? "b" : "c", String(header.devmajor), String(header.devminor)];
    await this.runner.run("mknod", ["-m", "0600", abs, ...kind]);
    await this.chown(abs, ...owner(header));
    await chmod(abs, header.mode & 0o7777);
    await lutimes(abs, mtime(header), mtime(header));
    return true;
  }

  /** The absolute path a hard link points at: inside the target, through no symlink, an existing non-directory. */
  private async linkTarget(linkname: string): Promise<string> {
    const parts = entryComponents(linkname, "hard link target");
    if (parts.length === 0) throw new HostileEntry("hard link to the target root");
    let parent: string | undefined;
    try {
      parent = await this.dirs.dir(parts.slice(0, -1), false);
    } catch (err) {
      if (err instanceof HostileEntry) throw new HostileEntry(`hard link target '${linkname}': ${err.message}`);
      throw err;
    }
    const abs = parent && join(parent, parts[parts.length - 1]!);
    const st = abs && (await lstatOrUndefined(abs));
    if (!abs || !st) throw new HostileEntry(`hard link target '${linkname}' does not exist in the layer or below`);
    if (st.isDirectory()) throw new HostileEntry(`hard link target '${linkname}' is a directory`);
    return abs;
  }

  private async whiteout(name: string, parentParts: string[], base: string): Promise<LayerEntry> {
    const overlay = this.opts.whiteouts === "overlay";
    if (base === OPAQUE) {
      const rel = parentParts.join("/");
      const abs = (await this.dirs.dir(parentParts, true))!;
      if (overlay) {
        this.xattrs.push({ rel, path: abs, name: "trusted.overlay.opaque", value: Buffer.from("y") });
      } else await this.makeOpaque(rel, abs);
      return { name, type: "opaque", size: 0 };
    }
    const victim = base.slice(WHITEOUT.length);
    if (victim === "" || victim === "." || victim === "..") throw new HostileEntry(`whiteout of '${victim}'`);
    const rel = [...parentParts, victim].join("/");
    if (overlay) {
      if (!this.root)
        throw new LibctError("precondition", "overlay whiteouts are device nodes: applying them needs root");
      const abs = join((await this.dirs.dir(parentParts, true))!, victim);
      if (await lstatOrUndefined(abs)) await this.remove(rel, abs);
      await this.runner.run("mknod", ["-m", "0000", abs, "c", "0", "0"]);
      this.created.add(rel);
    } else if (!this.created.has(rel)) {
      // Whiteouts hide lower content only; what this layer itself wrote stays.
      const parent = await this.dirs.dir(parentParts, false);
      if (parent !== undefined) await this.remove(rel, join(parent, victim));
    }
    return { name, type: "whiteout", size: 0 };
  }

  /** Removes lower content below `abs`: keeps what this layer wrote, recursing into directories it wrote. */
  private async makeOpaque(rel: string, abs: string): Promise<void> {
    for (const child of await readdir(abs)) {
      const childRel = rel === "" ? child : `${rel}/${child}`;
      if (!this.created.has(childRel)) await this.remove(childRel, join(abs, child));
      else if ((await lstat(join(abs, child))).isDirectory()) await this.makeOpaque(childRel, join(abs, child));
    }
  }

  private queueXattrs(rel: string, abs: string, header: Header): void {
    const pax = header.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith(XATTR_PREFIX)) continue;
      const name = key.slice(XATTR_PREFIX.length);
      // tar-stream decodes pax values as UTF-8; a binary value (security.capability) cannot be recovered.
      if (value.includes("\uFFFD")) this.warnings.push(`${header.name}: xattr ${name} has a binary value; not set`);
      else this.xattrs.push({ rel, path: abs, name, value: Buffer.from(value, "utf8") });
    }
  }

  /** After the last entry: xattrs (paths re-checked, since later entries may have replaced parents), then directories. */
  async finish(): Promise<void> {
    const ops: XattrOp[] = [];
    for (const op of this.xattrs) {
      const parts = op.rel === "" ? [] : op.rel.split("/");
      const parent = await this.dirs.dir(parts.slice(0, -1), false);
      if (parent === undefined) continue; // whited out by a later entry
      if (parts.length > 0 && !(await lstatOrUndefined(op.path))) continue;
      ops.push(op);
    }
    for (const failure of await setXattrs(this.runner, ops)) this.warnings.push(`xattr not set: ${failure}`);
    for (const d of this.pendingDirs.values()) {
      const parts = d.rel === "" ? [] : d.rel.split("/");
      const abs = await this.dirs.dir(parts, false);
      if (abs === undefined) continue;
      await chmod(abs, d.mode);
      await lutimes(abs, d.mtime, d.mtime);
    }
  }
}

function owner(header: Header): [number, number] {
  const pax = header.pax as Record<string, string> | null | undefined;
  const uid = pax?.["uid"] !== undefined ? Number(pax["uid"]) : header.uid;
  const gid = pax?.["gid"] !== undefined ? Number(pax["gid"]) : header.gid;
  return [uid, gid];
}

function mtime(header: Header): Date {
  const pax = header.pax as Record<string, string> | null | undefined;
  const t = pax?.["mtime"] !== undefined ? Number(pax["mtime"]) : Number.NaN;
  return Number.isFinite(t) ? new Date(t * 1000) : header.mtime;
}

/**
 * Applies a layer to `target` (which must exist), streaming: the tar is hashed as it is decompressed,
 * so `diffId` is ready when the last entry is written. See the file comment for the safety contract.
 */
export async function applyLayer(target: string, layer: LayerSource, opts: ApplyOptions): Promise<ApplyResult> {
  const m = opts.idMap;
  if (m && !(Number.isInteger(m.uidOffset) && m.uidOffset >= 0 && Number.isInteger(m.gidOffset) && m.gidOffset >= 0)) {
    throw new LibctError("invalid", "idMap offsets must be non-negative integers");
  }
  const st = await lstatOrUndefined(target);
  if (!st?.isDirectory()) throw new LibctError("not-found", `cannot apply a layer to ${target}: not a directory`);

  const source = toReadable(layer);
  const hash = createHash("sha256");
  let bytes = 0;
  const extract = tarExtract();
  const tar = decompress(source, opts.compression, opts.zstd);
  let feedError: unknown;
  const feeding = (async () => {
    try {
      for await (const chunk of tar) {
        hash.update(chunk);
        bytes += chunk.length;
        if (extract.destroyed) break;
        if (!extract.write(chunk)) await drainOrClose(extract);
      }
      extract.end(undefined);
    } catch (err) {
      feedError = err;
      extract.destroy(err as Error);
    }
  })();

  const applier = new Applier(target, opts);
  let entries = 0;
  let current = "";
  try {
    for await (const entry of extract) {
      current = entry.header.name;
      const e = await applier.entry(entry.header, entry as AsyncIterable<Buffer>);
      entry.resume(); // drain what a non-file entry may carry
      entries++;
      opts.onEntry?.(e);
    }
    await feeding;
    if (feedError) throw feedError;
    await applier.finish();
  } catch (err) {
    extract.destroy(err as Error);
    source.destroy();
    await feeding;
    const cause = err; // a feeding failure reaches the loop as the same error object
    if (cause instanceof LibctError) throw cause;
    if (err instanceof HostileEntry) throw hostile(current, err.message, err);
    if (isCode(err, "ENOENT") || isCode(err, "EEXIST") || isCode(err, "ENOTDIR")) {
      throw hostile(current, (err as Error).message, err);
    }
    if (cause instanceof Error && !("syscall" in cause)) {
      // not a file system call: the tar parser or the entry stream gave up on the data
      throw new LibctError("invalid", `layer is not a valid tar: ${cause.message}`, { cause });
    }
    throw new LibctError("internal", `applying layer entry '${current}': ${(cause as Error).message}`, { cause });
  }
  return { entries, bytes, diffId: `sha256:${hash.digest("hex")}`, warnings: applier.warnings };
}

function drainOrClose(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
