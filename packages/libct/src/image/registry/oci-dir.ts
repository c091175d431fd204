/**
 * Blobs of an OCI image layout directory (`blobs/sha256/<hex>`) as a BlobSink and a BlobSource. Writes go to
 * `ingest/<hex>`, are hashed as they arrive and renamed into place only when the digest and size match, so
 * a blob path never holds unverified bytes; an interrupted write keeps its partial file for a resume.
 * Used by tests and as the reference implementation of the ports; berth's content store has its own.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { LibctError } from "../../errors.js";
import type { BlobSink, BlobSource } from "./types.js";

const hexOf = (digest: string): string => {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new LibctError("invalid", `${JSON.stringify(digest)} is not a sha256 digest`);
  return digest.slice(7);
};

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

export class OciDirBlobs implements BlobSink, BlobSource {
  readonly #writing = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", hexOf(digest));
  }

  #ingestPath(digest: string): string {
    return join(this.dir, "ingest", hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async ingestedBytes(digest: string): Promise<number> {
    try {
      return (await stat(this.#ingestPath(digest))).size;
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
  }

  async size(digest: string): Promise<number> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if (isMissing(err)) throw new LibctError("not-found", `blob ${digest} is not in ${this.dir}`);
      throw err;
    }
  }

  async open(digest: string, range?: { start: number; end: number }): Promise<Readable> {
    await this.size(digest);
    return createReadStream(this.blobPath(digest), range ? { start: range.start, end: range.end - 1 } : {});
  }

  async readJson<T>(digest: string): Promise<T> {
    return JSON.parse(await readFile(this.blobPath(digest), "utf8")) as T;
  }

  write(digest: string, stream: Readable, opts: { size: number; resumeFrom: number }): Promise<void> {
    // One writer per digest: a second concurrent write of the same blob waits, then finds it present.
    const prev = this.#writing.get(digest) ?? Promise.resolve();
    const run = prev.then(
      () => this.#write(digest, stream, opts),
      () => this.#write(digest, stream, opts),
    );
    const tracked = run.finally(() => {
      if (this.#writing.get(digest) === tracked) this.#writing.delete(digest);
    });
    this.#writing.set(digest, tracked);
    return tracked;
  }

  async #write(digest: string, stream: Readable, { size, resumeFrom }: { size: number; resumeFrom: number }) {
    if (await this.has(digest)) {
      stream.resume();
      return;
    }
    const ingest = this.#ingestPath(digest);
    await mkdir(join(this.dir, "ingest"), { recursive: true });
    const hash = createHash("sha256");
    let received = resumeFrom;
    if (resumeFrom > 0) {
      const have = await this.ingestedBytes(digest);
      if (have < resumeFrom) {
        stream.destroy();
        throw new LibctError("invalid", `cannot resume ${digest} at ${resumeFrom}: only ${have} bytes were kept`);
      }
      if (have > resumeFrom) await truncate(ingest, resumeFrom);
      await pipeline(createReadStream(ingest, { end: resumeFrom - 1 }), async (src: AsyncIterable<Buffer>) => {
        for await (const chunk of src) hash.update(chunk);
      });
    }
    // Each chunk is written (and awaited) before the next is read, so after a dropped connection the ingest
    // file holds exactly the bytes received and hashed, ready for a resume.
    const fh = await open(ingest, resumeFrom > 0 ? "r+" : "w");
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (received + chunk.length > size) {
          stream.destroy();
          await fh.close().catch(() => {});
          await rm(ingest, { force: true });
          throw new LibctError("invalid", `blob ${digest} is larger than the ${size} bytes its descriptor says`);
        }
        await fh.write(chunk, 0, chunk.length, received);
        hash.update(chunk);
        received += chunk.length;
      }
    } catch (err) {
      if (err instanceof LibctError) throw err;
      throw new LibctError("unavailable", `download of ${digest} interrupted after ${received} bytes`, { cause: err });
    } finally {
      await fh.close().catch(() => {});
    }
    if (received < size) {
      throw new LibctError("unavailable", `download of ${digest} ended early: ${received} of ${size} bytes`);
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== digest) {
      await rm(ingest, { force: true });
      throw new LibctError("invalid", `digest mismatch: expected ${digest}, got ${actual}; nothing was stored`);
    }
    await mkdir(join(this.dir, "blobs", "sha256"), { recursive: true });
    await rename(ingest, this.blobPath(digest));
  }
}
