/**
 * Pulling an image into a BlobSink: resolve the manifest (choosing the platform of an index), check every
 * media type before any download, then fetch the config and layers in parallel, each verified by its digest
 * and resumed with a Range request after a dropped connection. The manifest (and index) are written last, so
 * a sink holding a manifest holds all of its blobs.
 *
 * ```ts
 * const sink = new OciDirBlobs("/tmp/oci");
 * const { manifestDigest } = await pullImage("127.0.0.1:5000/team/app:1.0", sink, { caFile, onProgress: draw });
 * ```
 */
import { Readable, Transform } from "node:stream";
import { LibctError } from "../../errors.js";
import { type ConnectOptions, RegistryClient } from "./client.js";
import { choosePlatform, hostPlatform } from "./platform.js";
import { formatReference, manifestReference, parseReference, type Reference } from "./reference.js";
import { mapLimit, withRetry } from "./retry.js";
import {
  type BlobSink,
  CONFIG_TYPES,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  INDEX_TYPES,
  LAYER_TYPES,
  MANIFEST_TYPES,
  MEDIA,
  type Platform,
  type ProgressEvent,
} from "./types.js";

export interface PullOptions extends ConnectOptions {
  /** Default: the host's (linux/amd64 on x86-64). */
  readonly platform?: Platform;
  /** Blobs downloaded at once. Default 3. */
  readonly concurrency?: number;
  /** Attempts per blob (the first included) before a network failure is final. Default 5. */
  readonly attempts?: number;
  readonly onProgress?: (event: ProgressEvent) => void;
  readonly signal?: AbortSignal;
  /** Reuse a connected client (its registry must be the reference's). */
  readonly client?: RegistryClient;
}

export interface PullResult {
  readonly reference: Reference;
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  readonly index?: { readonly digest: string; readonly mediaType: string; readonly index: ImageIndex };
}

/** Largest image config accepted. */
const CONFIG_LIMIT = 8 * 1024 * 1024;
/** Minimum time between two "downloading" events of one blob. */
const PROGRESS_INTERVAL_MS = 100;

export async function pullImage(ref: string | Reference, sink: BlobSink, opts: PullOptions = {}): Promise<PullResult> {
  const reference = typeof ref === "string" ? parseReference(ref) : ref;
  const client = opts.client ?? (await RegistryClient.connect(reference.registry, opts));
  try {
    return await pullWith(client, reference, sink, opts);
  } finally {
    if (!opts.client) client.close();
  }
}

async function pullWith(
  client: RegistryClient,
  ref: Reference,
  sink: BlobSink,
  opts: PullOptions,
): Promise<PullResult> {
  const repo = ref.repository;
  const name = formatReference(ref);
  const signal = opts.signal ? { signal: opts.signal } : {};
  const top = await client.getManifest(repo, manifestReference(ref), signal);
  let index: PullResult["index"];
  let manifestDoc = top;
  if (INDEX_TYPES.includes(top.mediaType)) {
    const parsed = parseJson<ImageIndex>(top.bytes, `index of ${name}`);
    if (!Array.isArray(parsed.manifests)) throw new LibctError("invalid", `index of ${name} has no manifests list`);
    index = { digest: top.digest, mediaType: top.mediaType, index: parsed };
    const chosen = choosePlatform(parsed, opts.platform ?? hostPlatform(), name);
    manifestDoc = await client.getManifest(repo, chosen.digest, signal);
    if (manifestDoc.bytes.length !== chosen.size) {
      throw new LibctError(
        "invalid",
        `manifest ${chosen.digest} of ${name} is ${manifestDoc.bytes.length} bytes, its index says ${chosen.size}`,
      );
    }
  }
  checkManifestType(manifestDoc.mediaType, name);
  const manifest = parseJson<ImageManifest>(manifestDoc.bytes, `manifest of ${name}`);
  checkManifestContents(manifest, name);
  const blobs = [manifest.config, ...manifest.layers];
  opts.onProgress?.({ type: "resolved", ref: name, manifestDigest: manifestDoc.digest, blobs: blobs.length });

  const config = await fetchConfig(client, repo, manifest.config, sink, opts);
  await mapLimit(dedupe(manifest.layers), opts.concurrency ?? 3, (layer) => fetchBlob(client, repo, layer, sink, opts));
  await writeBytes(sink, manifestDoc.digest, manifestDoc.bytes);
  if (index) await writeBytes(sink, index.digest, top.bytes);
  return {
    reference: ref,
    manifestDigest: manifestDoc.digest,
    manifestMediaType: manifestDoc.mediaType,
    manifest,
    config,
    ...(index ? { index } : {}),
  };
}

function checkManifestType(mediaType: string, name: string): void {
  if (MANIFEST_TYPES.includes(mediaType)) return;
  if (mediaType === MEDIA.dockerSchema1Signed || mediaType === "application/vnd.docker.distribution.manifest.v1+json") {
    throw new LibctError(
      "invalid",
      `${name} is a Docker schema 1 image, which berth does not pull; push it again with a current client`,
    );
  }
  throw new LibctError(
    "invalid",
    `${name} has a manifest of unsupported media type ${JSON.stringify(mediaType)}; berth pulls OCI and Docker schema2 images`,
  );
}

/** Rejects unknown config and layer media types before anything is downloaded. */
function checkManifestContents(m: ImageManifest, name: string): void {
  if (!m.config || !Array.isArray(m.layers))
    throw new LibctError("invalid", `manifest of ${name} lacks config or layers`);
  if (!CONFIG_TYPES.includes(m.config.mediaType)) {
    throw new LibctError(
      "invalid",
      `${name} is not a container image: its config has media type ${JSON.stringify(m.config.mediaType)}`,
    );
  }
  for (const d of [m.config, ...m.layers]) {
    if (!/^sha256:[0-9a-f]{64}$/.test(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
      throw new LibctError("invalid", `manifest of ${name} has a bad descriptor ${JSON.stringify(d.digest)}`);
    }
  }
  for (const layer of m.layers) {
    if (!LAYER_TYPES.includes(layer.mediaType)) {
      throw new LibctError(
        "invalid",
        `${name} has layer ${layer.digest} of unknown media type ${JSON.stringify(layer.mediaType)}; berth accepts tar, tar+gzip and tar+zstd layers`,
      );
    }
  }
}

async function fetchConfig(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  sink: BlobSink,
  opts: PullOptions,
): Promise<ImageConfig> {
  if (desc.size > CONFIG_LIMIT)
    throw new LibctError("invalid", `image config ${desc.digest} is larger than ${CONFIG_LIMIT} bytes`);
  const bytes = await withRetry(
    async () => {
      const { body } = await client.openBlob(repo, desc.digest, 0, opts.signal ? { signal: opts.signal } : {});
      const chunks: Buffer[] = [];
      for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
      return Buffer.concat(chunks);
    },
    { attempts: opts.attempts ?? 5, ...(opts.signal ? { signal: opts.signal } : {}) },
  );
  // The sink verifies the digest; nothing is parsed before that.
  await writeBytes(sink, desc.digest, bytes);
  opts.onProgress?.({
    type: "blob",
    digest: desc.digest,
    mediaType: desc.mediaType,
    status: "done",
    bytesDone: desc.size,
    bytesTotal: desc.size,
  });
  return parseJson<ImageConfig>(bytes, `image config ${desc.digest}`);
}

/** Downloads one blob into the sink, resuming from the bytes it already holds after a dropped connection. */
async function fetchBlob(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  sink: BlobSink,
  opts: PullOptions,
): Promise<void> {
  const base = { type: "blob", digest: desc.digest, mediaType: desc.mediaType, bytesTotal: desc.size } as const;
  const emit = opts.onProgress ?? (() => {});
  if (await sink.has(desc.digest)) {
    emit({ ...base, status: "exists", bytesDone: desc.size });
    return;
  }
  emit({ ...base, status: "waiting", bytesDone: 0 });
  await withRetry(
    async () => {
      let offset = await sink.ingestedBytes(desc.digest);
      if (offset >= desc.size) offset = 0; // a complete but uncommitted ingest: fetch again to verify
      const { body, start } = await client.openBlob(
        repo,
        desc.digest,
        offset,
        opts.signal ? { signal: opts.signal } : {},
      );
      let done = start;
      let last = 0;
      // Counts bytes as the sink consumes them (a "data" listener on `body` would start it flowing too early).
      const counted = new Transform({
        transform(chunk: Buffer, _enc, next) {
          done += chunk.length;
          const now = Date.now();
          if (now - last >= PROGRESS_INTERVAL_MS) {
            last = now;
            emit({ ...base, status: "downloading", bytesDone: done });
          }
          next(null, chunk);
        },
      });
      body.on("error", (err) => counted.destroy(err));
      // The sink sees a failure when it iterates (`errored`), which may be after the error was emitted.
      counted.on("error", () => {});
      counted.on("close", () => body.destroy()); // a sink that gives up early frees the connection
      body.pipe(counted);
      await sink.write(desc.digest, counted, { size: desc.size, resumeFrom: start });
    },
    {
      attempts: opts.attempts ?? 5,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onRetry: async (attempt, err) => {
        emit({ ...base, status: "retrying", bytesDone: 0, attempt, reason: (err as Error).message });
      },
    },
  );
  emit({ ...base, status: "done", bytesDone: desc.size });
}

const writeBytes = async (sink: BlobSink, digest: string, bytes: Buffer) => {
  if (await sink.has(digest)) return;
  await sink.write(digest, Readable.from([bytes]), { size: bytes.length, resumeFrom: 0 });
};

const dedupe = (ds: readonly Descriptor[]) => [...new Map(ds.map((d) => [d.digest, d])).values()];

function parseJson<T>(bytes: Buffer, what: string): T {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new LibctError("invalid", `${what} is not valid JSON`, { cause: err });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new LibctError("invalid", `${what} is not a JSON object`);
  return v as T;
}
