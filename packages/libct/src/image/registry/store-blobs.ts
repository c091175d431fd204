/** berth's ContentStore as the registry client's BlobSink and BlobSource. */
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import type { ContentStore, Lease } from "../store/content-store.js";
import type { BlobSink, BlobSource } from "./types.js";

/**
 * Adapts `store`; with `lease`, every blob written is protected from `prune` until the caller tags the image
 * and releases the lease.
 *
 * ```ts
 * using lease = store.lease();
 * const pulled = await pullImage(ref, storeBlobs(store, lease), opts);
 * await store.tag(name, { mediaType: pulled.manifestMediaType, digest: pulled.manifestDigest, size });
 * ```
 */
export function storeBlobs(store: ContentStore, lease?: Lease): BlobSink & BlobSource {
  return {
    has: (digest) => store.hasBlob(digest),
    ingestedBytes: (digest) => store.ingestStatus(digest),
    async write(digest, stream, { size, resumeFrom }) {
      await store.writeBlob(digest, stream, {
        size,
        ...(resumeFrom > 0 ? { resumeFrom } : {}),
        ...(lease ? { lease } : {}),
      });
    },
    size: (digest) => store.blobSize(digest),
    async open(digest, range): Promise<Readable> {
      await store.blobSize(digest); // "not-found" as a rejection rather than a stream error
      return createReadStream(store.blobPath(digest), range ? { start: range.start, end: range.end - 1 } : {});
    },
  };
}
