/** Wire types of the OCI distribution and image specs as the registry client sees them, and its storage ports. */
import type { Readable } from "node:stream";
import { MT } from "../store/media-types.js";

/** The store's media types plus the layer and legacy types a registry can serve. */
export const MEDIA = {
  ...MT,
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MEDIA.ociConfig, MEDIA.dockerConfig];
/** Layer media types berth can unpack later: plain tar, gzip and zstd, OCI and Docker spellings. */
export const LAYER_TYPES: readonly string[] = [
  MEDIA.ociLayer,
  MEDIA.ociLayerGzip,
  MEDIA.ociLayerZstd,
  MEDIA.dockerLayerGzip,
  MEDIA.dockerLayerZstd,
];

/** The Accept header of a manifest GET: manifests and indexes, OCI and Docker schema2. */
export const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(", ");

export type { Descriptor, ImageIndex, ImageManifest, Platform } from "../store/media-types.js";

/** The part of an image config the client reads; the rest is passed through untouched. */
export interface ImageConfig {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly rootfs?: { readonly type: string; readonly diff_ids: readonly string[] };
  readonly [key: string]: unknown;
}

/** Where pulled blobs go. Implementations verify the digest while writing and commit atomically. */
export interface BlobSink {
  has(digest: string): Promise<boolean>;
  /**
   * Writes the blob from `stream`, which starts at byte `resumeFrom` (the bytes before it were ingested by an
   * earlier, interrupted write). Rejects with "invalid" on a digest or size mismatch and then keeps nothing;
   * on a stream error it keeps the bytes received so far for a later resume.
   */
  write(digest: string, stream: Readable, opts: { size: number; resumeFrom: number }): Promise<void>;
  /** Bytes of `digest` kept from an interrupted write (0 if none). */
  ingestedBytes(digest: string): Promise<number>;
}

/** Where pushed blobs come from. */
export interface BlobSource {
  size(digest: string): Promise<number>;
  open(digest: string, range?: { start: number; end: number }): Promise<Readable>;
}

/** Progress of one blob, for per-layer progress bars. `bytesDone` counts resumed bytes too. */
export interface BlobProgress {
  readonly type: "blob";
  readonly digest: string;
  readonly mediaType: string;
  readonly status: "waiting" | "exists" | "downloading" | "uploading" | "mounted" | "retrying" | "done";
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** For "retrying": the attempt about to start (2 = the first retry) and why the last one failed. */
  readonly attempt?: number;
  readonly reason?: string;
}

export type ProgressEvent =
  | { readonly type: "resolved"; readonly ref: string; readonly manifestDigest: string; readonly blobs: number }
  | BlobProgress
  | { readonly type: "manifest"; readonly ref: string; readonly digest: string; readonly status: "pushed" };
