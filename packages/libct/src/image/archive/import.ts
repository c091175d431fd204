/**
 * `berth import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer OCI image.
 *
 * ```ts
 * const img = await importRootfs(store, createReadStream("rootfs.tar.zst"), "example.com/base:1", {
 *   config: { cmd: ["/bin/sh"], env: ["PATH=/usr/bin:/bin"] },
 * });
 * ```
 *
 * One pass over the input: the bytes go to the store (as given, or gzipped when the input is a plain tar)
 * while a second branch decompresses them, hashes the diffID and checks every member name. The blob is
 * committed only after the check passes, so a hostile tar leaves nothing behind.
 */

import { createHash } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { LibctError } from "../../errors.js";
import { ociArchitecture } from "../layout.js";
import type { ContentStore } from "../store/content-store.js";
import { type Descriptor, type ImageConfig, MT } from "../store/media-types.js";
import { decompress } from "../unpack/decompress.js";
import { normalizeTag } from "./refs.js";
import {
  drained,
  type LayerCompression,
  layerMediaType,
  memberPath,
  peek,
  readTar,
  SNIFF_BYTES,
  sniffCompression,
  supportedCompression,
} from "./tar.js";

export interface ImportOptions {
  /** The input's compression; "auto" (default) reads the magic bytes. */
  readonly compression?: "auto" | LayerCompression;
  /** Goes into the image config's `config` (Cmd, Env, Labels). */
  readonly config?: {
    readonly cmd?: readonly string[];
    readonly entrypoint?: readonly string[];
    readonly env?: readonly string[];
    readonly labels?: Readonly<Record<string, string>>;
  };
  /** The config's `created` and history date (RFC 3339). Default: now. Fix it for reproducible digests. */
  readonly created?: string;
}

export interface ImportResult {
  /** The full reference tagged, e.g. docker.io/library/base:latest. */
  readonly ref: string;
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layer: Descriptor;
  /** sha256 of the uncompressed tar. */
  readonly diffId: string;
  /** Members in the tar. */
  readonly entries: number;
}

/**
 * Imports the rootfs tar `source` as a one-layer image tagged `ref` (normalized: `base` → docker.io/library/
 * base:latest). A gzip or zstd input is stored as it came; a plain tar is stored gzipped. Rejects with
 * "invalid" when the input is not a tar (or is xz/bzip2), or when a member name or hard-link target is
 * absolute or climbs out with `..`: nothing is stored or tagged then.
 */
export async function importRootfs(
  store: ContentStore,
  source: Readable,
  ref: string,
  opts: ImportOptions = {},
): Promise<ImportResult> {
  const full = normalizeTag(ref, "import reference");
  using lease = store.lease();
  const { head, stream } = await peek(source, SNIFF_BYTES);
  const compression =
    opts.compression === undefined || opts.compression === "auto"
      ? supportedCompression(sniffCompression(head), "the rootfs archive")
      : opts.compression;
  const storedAs: LayerCompression = compression === "none" ? "gzip" : compression;

  const abort = new AbortController();
  const toStore = new PassThrough();
  const toCheck = new PassThrough();
  let checked!: Promise<{ diffId: string; entries: number }>;
  const fail = (err: unknown) => {
    if (!abort.signal.aborted) abort.abort(err);
    // Without an error: the branches' consumers see a premature close, and no 'error' goes unheard.
    stream.destroy();
    toStore.destroy();
    toCheck.destroy();
    throw err;
  };

  // Fan-out: every chunk goes to both branches; the store branch ends only once the check passed.
  const feeding = (async () => {
    for await (const chunk of stream) {
      const waits: Promise<unknown>[] = [];
      if (!toStore.write(chunk)) waits.push(drained(toStore, abort.signal));
      if (!toCheck.write(chunk)) waits.push(drained(toCheck, abort.signal));
      await Promise.all(waits);
    }
    toCheck.end();
    await checked;
    toStore.end();
  })().catch(fail);

  checked = checkRootfs(toCheck, compression).catch(fail);
  let storeInput: Readable = toStore;
  let gzipping: Promise<void> = Promise.resolve();
  if (compression === "none") {
    const gzip = createGzip();
    gzipping = pipeline(toStore, gzip).catch(fail);
    storeInput = gzip;
  }
  const storing = store.writeBlob(undefined, storeInput, { mediaType: layerMediaType(storedAs), lease }).catch(fail);

  const settled = await Promise.allSettled([feeding, checked, gzipping, storing]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    throw abort.signal.aborted ? abort.signal.reason : failed.reason; // the first failure is the cause
  }
  const { diffId, entries } = await checked;
  const layer = await storing;

  const created = opts.created ?? new Date().toISOString();
  const c = opts.config ?? {};
  const imageConfig: ImageConfig = {
    created,
    architecture: ociArchitecture(),
    os: "linux",
    config: {
      ...(c.cmd ? { Cmd: [...c.cmd] } : {}),
      ...(c.entrypoint ? { Entrypoint: [...c.entrypoint] } : {}),
      ...(c.env ? { Env: [...c.env] } : {}),
      ...(c.labels ? { Labels: { ...c.labels } } : {}),
    },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created, created_by: "berth import", comment: "imported from tarball" }],
  };
  const config = await store.putJson(imageConfig, MT.ociConfig, { lease });
  const manifest = await store.putJson(
    { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [layer] },
    MT.ociManifest,
    { lease },
  );
  await store.tag(full, manifest);
  return { ref: full, manifest, config, layer, diffId, entries };
}

/** Decompresses, hashes the tar (the diffID) and refuses members that would land outside the root. */
async function checkRootfs(
  input: Readable,
  compression: LayerCompression,
): Promise<{ diffId: string; entries: number }> {
  const hash = createHash("sha256");
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of decompress(input, compression)) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const entries = await readTar(hashed(), "the rootfs archive", async (header) => {
    memberPath(header.name, "rootfs member");
    if (header.type === "link") memberPath(header.linkname, `hard link target of '${header.name}'`);
  });
  if (entries === 0) throw new LibctError("invalid", "the rootfs archive holds no files");
  return { diffId: `sha256:${hash.digest("hex")}`, entries };
}
