/**
 * Layer decompression as a stream of uncompressed tar bytes: gzip with node:zlib, zstd through the
 * `zstd -dc` binary (Node 20's zlib has no zstd). The zstd child is spawned here rather than through
 * system/command.ts because the command port collects output in memory and a layer must stream.
 */
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { LibctError } from "../../errors.js";

export type LayerCompression = "gzip" | "zstd" | "none";
export type LayerSource = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export const toReadable = (layer: LayerSource): Readable =>
  layer instanceof Readable ? layer : Readable.from(layer, { objectMode: false });

/** The uncompressed bytes of `source`. Decompression failures reject with "invalid" (a corrupt layer). */
export async function* decompress(
  source: Readable,
  compression: LayerCompression,
  zstdBinary = "zstd",
): AsyncGenerator<Buffer> {
  if (compression === "none") {
    for await (const chunk of source) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    return;
  }
  if (compression === "gzip") {
    // 64 KiB output chunks (zlib's default is 16 KiB): a quarter of the threadpool round trips.
    const gunzip = createGunzip({ chunkSize: 64 * 1024 });
    const feeding = pipeline(source, gunzip).catch(() => {}); // errors reach the iteration below
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (err) {
      throw new LibctError("invalid", `layer is not valid gzip: ${(err as Error).message}`, { cause: err });
    } finally {
      gunzip.destroy();
      await feeding;
    }
    return;
  }
  yield* zstd(source, zstdBinary);
}

async function* zstd(source: Readable, binary: string): AsyncGenerator<Buffer> {
  const child = spawn(binary, ["-dcq"], { stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("close", (code) => resolve({ code }));
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString("utf8");
  });
  const feeding = pipeline(source, child.stdin).catch((err: unknown) => err);
  let done = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const { code, error } = await exited;
    if (error) {
      throw (error as NodeJS.ErrnoException).code === "ENOENT"
        ? new LibctError("unavailable", `${binary} is not installed; run scripts/setup.sh`, { cause: error })
        : new LibctError("internal", `cannot run ${binary}: ${error.message}`, { cause: error });
    }
    if (code !== 0) throw new LibctError("invalid", `layer is not valid zstd: ${stderr.trim() || `exit ${code}`}`);
    const feedErr = await feeding;
    if (feedErr && (feedErr as NodeJS.ErrnoException).code !== "EPIPE") throw feedErr;
    done = true;
  } finally {
    if (!done) {
      child.kill("SIGKILL");
      source.destroy();
      await exited;
      await feeding;
    }
  }
}
