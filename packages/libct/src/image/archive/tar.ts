/**
 * Tar plumbing shared by import, save and load: compression sniffing, a deterministic tar writer that
 * streams into a Node Writable, and a tar reader that hands each member to a callback and drains it.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Header, extract as tarExtract, pack as tarPack } from "tar-stream";
import { LibctError } from "../../errors.js";
import type { LayerCompression } from "../unpack/decompress.js";
import { decompress } from "../unpack/decompress.js";
import { entryComponents, HostileEntry } from "../unpack/paths.js";

export type { LayerCompression };

/** What the first bytes of a stream say it is. xz and bzip2 are recognized only to be refused clearly. */
export type SniffedCompression = LayerCompression | "xz" | "bzip2";

/** Bytes `sniffCompression` needs. */
export const SNIFF_BYTES = 6;

export function sniffCompression(head: Uint8Array): SniffedCompression {
  const at = (i: number) => head[i];
  if (at(0) === 0x1f && at(1) === 0x8b) return "gzip";
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return "zstd";
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a && at(5) === 0x00) {
    return "xz";
  }
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return "bzip2";
  return "none";
}

/** Refuses what berth cannot decompress, naming it. */
export function supportedCompression(c: SniffedCompression, what: string): LayerCompression {
  if (c === "xz" || c === "bzip2") {
    throw new LibctError("invalid", `${what} is ${c}-compressed; berth reads uncompressed, gzip and zstd tars`);
  }
  return c;
}

/**
 * Reads the first `n` bytes of `source` (fewer when it is shorter) without losing them: `stream` yields the
 * whole source again, head included.
 */
export async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.from(r.value);
    seen.push(b);
    have += b.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      if (done) return;
      for (let r = await it.next(); !r.done; r = await it.next()) yield Buffer.from(r.value);
    } finally {
      await it.return?.();
    }
  }
  return { head: Buffer.concat(seen).subarray(0, n), stream: Readable.from(replay(), { objectMode: false }) };
}

/** The MIME type of a layer blob in `compression`. */
export function layerMediaType(compression: LayerCompression): string {
  const base = "application/vnd.oci.image.layer.v1.tar";
  return compression === "gzip" ? `${base}+gzip` : compression === "zstd" ? `${base}+zstd` : base;
}

/** The compression a layer media type (OCI or Docker schema2) announces; undefined for unknown types. */
export function compressionOf(mediaType: string): LayerCompression | undefined {
  if (/^application\/vnd\.oci\.image\.layer\.(v1|nondistributable\.v1)\.tar$/.test(mediaType)) return "none";
  if (mediaType.endsWith(".tar+gzip") || mediaType === "application/vnd.docker.image.rootfs.diff.tar.gzip") {
    return "gzip";
  }
  if (mediaType.endsWith(".tar+zstd") || mediaType === "application/vnd.docker.image.rootfs.diff.tar.zstd") {
    return "zstd";
  }
  if (mediaType === "application/vnd.docker.image.rootfs.diff.tar") return "none";
  return undefined;
}

/** sha256 and byte count of the uncompressed form of `source`. */
export async function hashUncompressed(
  source: Readable,
  compression: LayerCompression,
): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of decompress(source, compression)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

// ---- writing ------------------------------------------------------------------------------------------------

/** Header fields every member berth writes shares: owner 0:0, no names, mtime 0. */
const FIXED = { uid: 0, gid: 0, uname: "", gname: "", mtime: new Date(0) } as const;

/**
 * A deterministic tar written into `out`: regular files 0644, directories 0755, owner 0:0, mtime 0, members
 * in the order they are added. `close()` finalizes the archive and ends `out`; `abort(err)` destroys both.
 */
export class TarWriter {
  readonly #pack = tarPack();
  readonly #piping: Promise<void>;

  constructor(out: Writable) {
    const pack = this.#pack;
    async function* drain(): AsyncGenerator<Uint8Array> {
      for await (const chunk of pack) yield chunk as Uint8Array;
    }
    this.#piping = pipeline(drain(), out);
    this.#piping.catch(() => {}); // surfaced by close()/abort()
  }

  async directory(name: string): Promise<void> {
    await this.#entry({ ...FIXED, name: name.endsWith("/") ? name : `${name}/`, type: "directory", mode: 0o755 });
  }

  /** A regular file of exactly `size` bytes read from `body` (a mismatch fails the archive). */
  async file(name: string, size: number, body: Buffer | AsyncIterable<Uint8Array>): Promise<void> {
    await this.#entry({ ...FIXED, name, type: "file", mode: 0o644, size }, body);
  }

  async #entry(header: Partial<Header> & { name: string }, body?: Buffer | AsyncIterable<Uint8Array>): Promise<void> {
    let settle!: (err?: Error | null) => void;
    const finished = new Promise<void>((ok, fail) => {
      settle = (err) => (err ? fail(err) : ok());
    });
    finished.catch(() => {});
    if (body === undefined || Buffer.isBuffer(body)) {
      this.#pack.entry(header, body ?? Buffer.alloc(0), settle);
    } else {
      const sink = this.#pack.entry(header, settle);
      try {
        for await (const chunk of body) {
          if (!sink.write(chunk)) await waitDrain(sink);
        }
        sink.end(undefined);
      } catch (err) {
        sink.destroy(err as Error);
        throw err;
      }
    }
    await Promise.race([finished, this.#piping.then(() => finished)]);
  }

  async close(): Promise<void> {
    this.#pack.finalize();
    await this.#piping;
  }

  async abort(err: Error): Promise<void> {
    this.#pack.destroy(err);
    await this.#piping.catch(() => {});
  }
}

function waitDrain(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off("drain", onDrain);
      stream.off("close", onClose);
      stream.off("error", onError);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error("tar member closed before its body was written"));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    stream.on("drain", onDrain);
    stream.on("close", onClose);
    stream.on("error", onError);
  });
}

// ---- reading ------------------------------------------------------------------------------------------------

export type MemberHandler = (header: Header, body: AsyncIterable<Buffer>) => Promise<void>;

/**
 * Parses the tar `tar` and calls `onMember` for each member in order; whatever a handler leaves unread is
 * drained. Errors: a handler's LibctError as is (other than "unavailable", which here means the member's
 * stream broke); a failure of `tar` itself ("unavailable" unless it is already a LibctError); anything else
 * (a malformed header, a truncated archive) as "invalid" prefixed by `what`.
 */
export async function readTar(tar: AsyncIterable<Uint8Array>, what: string, onMember: MemberHandler): Promise<number> {
  const extract = tarExtract();
  let feedError: unknown;
  const feeding = (async () => {
    try {
      for await (const chunk of tar) {
        if (extract.destroyed) break;
        if (!extract.write(chunk)) await waitDrain(extract).catch(() => {});
      }
      extract.end(undefined);
    } catch (err) {
      feedError = err;
      extract.destroy(err as Error);
    }
  })();
  let members = 0;
  let current = "";
  try {
    for await (const entry of extract) {
      current = entry.header.name;
      await onMember(entry.header, entry as AsyncIterable<Buffer>);
      for await (const _ of entry as AsyncIterable<Buffer>) {
        // drain
      }
      members++;
    }
    await feeding;
    if (feedError) throw feedError;
    return members;
  } catch (err) {
    extract.destroy(err as Error);
    await feeding;
    if (feedError !== undefined) {
      if (feedError instanceof LibctError) throw feedError;
      throw new LibctError("unavailable", `reading ${what} failed: ${(feedError as Error).message}`, {
        cause: feedError,
      });
    }
    if (err instanceof LibctError && err.kind !== "unavailable") throw err;
    const at = current ? ` (at member '${current}')` : "";
    const why = err instanceof LibctError && err.cause instanceof Error ? err.cause.message : (err as Error).message;
    throw new LibctError("invalid", `${what} is not a valid tar or is truncated${at}: ${why}`, { cause: err });
  }
}

/**
 * The normalized relative path of a member name (`./a//b/` → `a/b`, `""` for the root). Absolute names,
 * `..` components and NUL bytes are refused with "invalid".
 */
export function memberPath(name: string, what: string): string {
  try {
    return entryComponents(name, `${what} '${name}'`).join("/");
  } catch (err) {
    if (err instanceof HostileEntry) throw new LibctError("invalid", err.message, { cause: err });
    throw err;
  }
}

/** Collects a small member into memory; more than `limit` bytes is "invalid". */
export async function readSmall(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new LibctError("invalid", `${what} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Waits for `stream` to accept more data; used by fan-out writers. */
export const drained = (stream: Writable, signal: AbortSignal): Promise<unknown> => once(stream, "drain", { signal });
