/**
 * Pushing an image from a BlobSource: for a manifest, its config and layers (HEAD first and skip what the
 * registry has; mount from another repository of the same registry when offered; else a monolithic or
 * chunked upload), then the manifest; for an index, each of its manifests by digest, then the index.
 *
 * ```ts
 * const src = new OciDirBlobs(layoutDir);
 * await pushImage("127.0.0.1:5000/team/app:1.0", src, rootDescriptor, { mountFrom: ["team/base"] });
 * ```
 */
import { createHash } from "node:crypto";
import { LibctError } from "../../errors.js";
import { type ConnectOptions, MANIFEST_LIMIT, RegistryClient } from "./client.js";
import { formatReference, manifestReference, parseReference, type Reference } from "./reference.js";
import { mapLimit, withRetry } from "./retry.js";
import {
  type BlobSource,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  INDEX_TYPES,
  MANIFEST_TYPES,
  type ProgressEvent,
} from "./types.js";

export interface PushOptions extends ConnectOptions {
  /** Blobs uploaded at once. Default 3. */
  readonly concurrency?: number;
  /** Blobs larger than this go up in PATCH chunks of this size. Default 32 MiB. */
  readonly chunkSize?: number;
  /** Repositories of the same registry that may already hold the blobs: they are mounted, not uploaded. */
  readonly mountFrom?: readonly string[];
  /** Attempts per blob (the first included). Default 5. */
  readonly attempts?: number;
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly client?: RegistryClient;
}

export interface PushResult {
  readonly reference: Reference;
  /** The digest of the root manifest or index as pushed (pull by `name@digest`). */
  readonly digest: string;
}

export async function pushImage(
  ref: string | Reference,
  source: BlobSource,
  root: Descriptor,
  opts: PushOptions = {},
): Promise<PushResult> {
  const reference = typeof ref === "string" ? parseReference(ref) : ref;
  if (reference.digest && reference.digest !== root.digest) {
    throw new LibctError("invalid", `cannot push ${root.digest} as ${formatReference(reference)}: the digests differ`);
  }
  const client = opts.client ?? (await RegistryClient.connect(reference.registry, opts));
  try {
    const digest = await pushTree(client, reference, source, root, manifestReference(reference), opts);
    return { reference, digest };
  } finally {
    if (!opts.client) client.close();
  }
}

async function pushTree(
  client: RegistryClient,
  ref: Reference,
  source: BlobSource,
  desc: Descriptor,
  tagOrDigest: string,
  opts: PushOptions,
): Promise<string> {
  const bytes = await readVerified(source, desc);
  if (INDEX_TYPES.includes(desc.mediaType)) {
    const index = JSON.parse(bytes.toString("utf8")) as ImageIndex;
    for (const child of index.manifests) await pushTree(client, ref, source, child, child.digest, opts);
  } else if (MANIFEST_TYPES.includes(desc.mediaType)) {
    const manifest = JSON.parse(bytes.toString("utf8")) as ImageManifest;
    const blobs = [...new Map([manifest.config, ...manifest.layers].map((d) => [d.digest, d])).values()];
    await mapLimit(blobs, opts.concurrency ?? 3, (blob) => pushBlob(client, ref.repository, source, blob, opts));
  } else {
    throw new LibctError(
      "invalid",
      `cannot push ${desc.digest}: unsupported media type ${JSON.stringify(desc.mediaType)}`,
    );
  }
  const digest = await client.putManifest(ref.repository, tagOrDigest, bytes, desc.mediaType);
  opts.onProgress?.({ type: "manifest", ref: formatReference(ref), digest, status: "pushed" });
  return digest;
}

async function pushBlob(client: RegistryClient, repo: string, source: BlobSource, desc: Descriptor, opts: PushOptions) {
  const base = { type: "blob", digest: desc.digest, mediaType: desc.mediaType, bytesTotal: desc.size } as const;
  const emit = opts.onProgress ?? (() => {});
  if (await client.hasBlob(repo, desc.digest)) {
    emit({ ...base, status: "exists", bytesDone: desc.size });
    return;
  }
  const size = await source.size(desc.digest);
  if (size !== desc.size) {
    throw new LibctError("invalid", `blob ${desc.digest} is ${size} bytes, its descriptor says ${desc.size}`);
  }
  await withRetry(
    async () => {
      let location: URL | undefined;
      for (const from of opts.mountFrom ?? []) {
        if (from === repo) continue;
        const answer = await client.startUpload(repo, { digest: desc.digest, from });
        if (answer === "mounted") {
          emit({ ...base, status: "mounted", bytesDone: desc.size });
          return;
        }
        location = answer; // not mountable from there: the registry opened a plain upload instead
        break;
      }
      location ??= (await client.startUpload(repo)) as URL;
      emit({ ...base, status: "uploading", bytesDone: 0 });
      await client.uploadBlob(
        repo,
        location,
        { digest: desc.digest, size },
        (start, end) => source.open(desc.digest, { start, end }),
        {
          chunkSize: opts.chunkSize ?? 32 * 1024 * 1024,
          onBytes: (done) => emit({ ...base, status: "uploading", bytesDone: done }),
        },
      );
      emit({ ...base, status: "done", bytesDone: size });
    },
    {
      attempts: opts.attempts ?? 5,
      onRetry: (attempt, err) =>
        emit({ ...base, status: "retrying", bytesDone: 0, attempt, reason: (err as Error).message }),
    },
  );
}

async function readVerified(source: BlobSource, desc: Descriptor): Promise<Buffer> {
  if (desc.size > MANIFEST_LIMIT)
    throw new LibctError("invalid", `manifest ${desc.digest} is larger than ${MANIFEST_LIMIT} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of await source.open(desc.digest)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (actual !== desc.digest)
    throw new LibctError("invalid", `local manifest ${desc.digest} is corrupt (its bytes hash to ${actual})`);
  return bytes;
}
