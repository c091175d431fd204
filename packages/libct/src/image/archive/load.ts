/**
 * `berth load`: a docker-archive or oci-archive (plain, gzip or zstd) into the store.
 *
 * ```ts
 * const { format, images } = await loadImages(store, createReadStream("images.tar"));
 * ```
 *
 * The archive is read once, as a stream. Every regular member except the small metadata files goes straight
 * into the store, hashed while it is written (`blobs/sha256/<hex>` members must match their name); the
 * format is decided when the tar ends, from `manifest.json` (docker) or `index.json` + `oci-layout` (OCI).
 * Then every image is checked (members present, sizes and digests, layer diffIDs against the config) and
 * only when all pass are the references tagged. A corrupt archive rejects with "invalid" and tags nothing;
 * blobs already written stay unreferenced in the store until `store.prune()`.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { LibctError } from "../../errors.js";
import { UndoStack } from "../../undo.js";
import type { ContentStore, Lease } from "../store/content-store.js";
import { digestHex, isDigest } from "../store/digest.js";
import {
  CONTAINERD_NAME,
  type Descriptor,
  type ImageConfig,
  isIndexType,
  isManifestType,
  MT,
  REF_NAME,
} from "../store/media-types.js";
import { decompress } from "../unpack/decompress.js";
import { type ArchiveFormat, type DockerArchiveItem, METADATA_LIMIT } from "./formats.js";
import { normalizeTag } from "./refs.js";
import {
  hashUncompressed,
  layerMediaType,
  memberPath,
  peek,
  readSmall,
  readTar,
  SNIFF_BYTES,
  sniffCompression,
  supportedCompression,
} from "./tar.js";

export interface LoadOptions {
  /**
   * For an oci-archive entry whose `org.opencontainers.image.ref.name` is a bare tag (`latest`, as
   * `skopeo copy ... oci-archive:FILE:latest` writes): the repository to tag it in. Without it the bare
   * name is read as an image name (`latest` → docker.io/library/latest:latest), as Docker would.
   */
  readonly repository?: string;
}

export interface LoadedImage {
  /** References tagged (none for an untagged image, which is stored but only reachable by digest). */
  readonly refs: readonly string[];
  /** The manifest (or index) descriptor. docker-archive images get a new OCI manifest. */
  readonly descriptor: Descriptor;
}

export interface LoadResult {
  readonly format: ArchiveFormat;
  readonly images: readonly LoadedImage[];
}

/** A stored archive member. */
interface Member {
  readonly digest: string;
  readonly size: number;
}

/** Members read into memory: the format's metadata. */
const METADATA = new Set(["manifest.json", "repositories", "index.json", "oci-layout"]);
/** Docker's legacy per-layer files (v1 `json` and `VERSION`): read and dropped. */
const LEGACY = /(^|\/)(json|VERSION)$/;
const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

/** What reading the archive collected. */
class Archive {
  readonly files = new Map<string, Member>();
  readonly metadata = new Map<string, Buffer>();
  readonly links = new Map<string, string>();

  /** The stored member at `path`, following links; "invalid" when the archive lacks it. */
  member(path: string, what: string): Member {
    let p = memberPath(path, what);
    for (let hops = 0; hops < 16; hops++) {
      const m = this.files.get(p);
      if (m) return m;
      const next = this.links.get(p);
      if (next === undefined) break;
      p = next;
    }
    throw new LibctError("invalid", `the archive lacks ${what} '${path}'`);
  }

  json<T>(name: string): T {
    const bytes = this.metadata.get(name)!;
    try {
      return JSON.parse(bytes.toString("utf8")) as T;
    } catch (err) {
      throw new LibctError("invalid", `the archive's ${name} is not JSON`, { cause: err });
    }
  }
}

/**
 * Loads every image of the archive `source` into `store` and tags it (docker-archive RepoTags and
 * oci-archive names, normalized to full references). See the file comment for what is verified.
 */
export async function loadImages(store: ContentStore, source: Readable, opts: LoadOptions = {}): Promise<LoadResult> {
  using lease = store.lease();
  const { head, stream } = await peek(source, SNIFF_BYTES);
  const compression = supportedCompression(sniffCompression(head), "the archive");
  const archive = await readArchive(store, decompress(stream, compression), lease);

  let format: ArchiveFormat;
  let images: { refs: string[]; descriptor: Descriptor }[];
  if (archive.metadata.has("manifest.json")) {
    format = "docker-archive";
    images = await dockerImages(store, archive, lease);
  } else if (archive.metadata.has("index.json")) {
    format = "oci-archive";
    images = await ociImages(store, archive, opts);
  } else {
    throw new LibctError(
      "invalid",
      "the archive has neither manifest.json (docker-archive) nor index.json (oci-archive)",
    );
  }

  await using undo = new UndoStack();
  for (const { refs, descriptor } of images) {
    for (const ref of refs) {
      const previous = await store.resolve(ref).catch(() => undefined);
      await store.tag(ref, descriptor);
      undo.push(() => (previous ? store.tag(ref, previous) : store.untag(ref)));
    }
  }
  undo.release();
  return { format, images };
}

/** Streams every member into the store (or memory, for metadata), checking names and blob digests. */
async function readArchive(store: ContentStore, tar: AsyncIterable<Uint8Array>, lease: Lease): Promise<Archive> {
  const archive = new Archive();
  const seen = new Set<string>();
  await readTar(tar, "the archive", async (header, body) => {
    const path = memberPath(header.name, "archive member");
    if (path === "") return;
    if (seen.has(path)) throw new LibctError("invalid", `the archive holds member '${path}' twice`);
    seen.add(path);
    switch (header.type) {
      case "directory":
        return;
      case "symlink": {
        const target = posix.normalize(posix.join(posix.dirname(path), header.linkname));
        archive.links.set(path, memberPath(target, `target of symlink '${path}'`));
        return;
      }
      case "link":
        archive.links.set(path, memberPath(header.linkname, `target of hard link '${path}'`));
        return;
      case "file":
      case "contiguous-file":
        break;
      default:
        throw new LibctError(
          "invalid",
          `archive member '${path}' is a ${header.type}; only files, directories and links belong in an image archive`,
        );
    }
    if (METADATA.has(path)) {
      archive.metadata.set(path, await readSmall(body, METADATA_LIMIT, `the archive's ${path}`));
      return;
    }
    if (LEGACY.test(path)) return;
    const named = BLOB_PATH.exec(path)?.[1];
    const expected = named === undefined ? undefined : `sha256:${named}`;
    archive.files.set(path, await storeMember(store, body, header.size, expected, path, lease));
  });
  return archive;
}

/**
 * Writes one member into the store, hashing it on the way. A blob the store already has is not rewritten,
 * but the member is still read and hashed, so its name is verified either way.
 */
async function storeMember(
  store: ContentStore,
  body: AsyncIterable<Buffer>,
  size: number,
  expected: string | undefined,
  path: string,
  lease: Lease,
): Promise<Member> {
  const hash = createHash("sha256");
  let bytes = 0;
  async function* tap(): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  }
  const reading = tap();
  await store.writeBlob(expected, reading, { size, lease });
  for await (const _ of reading) {
    // the store had it already: hash the rest anyway
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (bytes !== size)
    throw new LibctError("invalid", `archive member '${path}' is truncated (${bytes} of ${size} bytes)`);
  if (expected !== undefined && digest !== expected) {
    throw new LibctError("invalid", `archive member '${path}' has digest ${digest}`);
  }
  lease.add(digest);
  return { digest, size };
}

async function readJsonBlob<T>(store: ContentStore, m: Member, what: string): Promise<T> {
  if (m.size > METADATA_LIMIT) throw new LibctError("invalid", `${what} is larger than ${METADATA_LIMIT} bytes`);
  try {
    return JSON.parse((await store.readBlob(m.digest)).toString("utf8")) as T;
  } catch (err) {
    throw new LibctError("invalid", `${what} is not JSON`, { cause: err });
  }
}

/** The first bytes of a stored blob. */
async function blobHead(store: ContentStore, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  const s = store.openBlob(digest);
  try {
    for await (const chunk of s) {
      chunks.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have >= SNIFF_BYTES) break;
    }
  } finally {
    s.destroy();
  }
  return Buffer.concat(chunks);
}

// ---- docker-archive ---------------------------------------------------------------------------------------

function parseDockerManifest(archive: Archive): DockerArchiveItem[] {
  const items = archive.json<unknown>("manifest.json");
  const isStrings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
  if (
    !Array.isArray(items) ||
    items.length === 0 ||
    !items.every(
      (i: Partial<DockerArchiveItem> | null) =>
        i !== null &&
        typeof i === "object" &&
        typeof i.Config === "string" &&
        isStrings(i.Layers) &&
        (i.RepoTags === undefined || i.RepoTags === null || isStrings(i.RepoTags)),
    )
  ) {
    throw new LibctError("invalid", "the archive's manifest.json is not a list of {Config, RepoTags, Layers}");
  }
  return items as DockerArchiveItem[];
}

async function dockerImages(
  store: ContentStore,
  archive: Archive,
  lease: Lease,
): Promise<{ refs: string[]; descriptor: Descriptor }[]> {
  const out = [];
  for (const [n, item] of parseDockerManifest(archive).entries()) {
    const cfgMember = archive.member(item.Config, `config of image ${n + 1}`);
    const config = await readJsonBlob<ImageConfig>(store, cfgMember, `config ${item.Config}`);
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== item.Layers.length || !diffIds.every(isDigest)) {
      throw new LibctError(
        "invalid",
        `config ${item.Config} lists ${Array.isArray(diffIds) ? diffIds.length : "no"} sha256 diff_ids for ${item.Layers.length} layers`,
      );
    }
    const layers: Descriptor[] = [];
    for (const [i, path] of item.Layers.entries()) {
      const m = archive.member(path, `layer ${i + 1} of image ${n + 1}`);
      const compression = supportedCompression(sniffCompression(await blobHead(store, m.digest)), `layer ${path}`);
      const diffId =
        compression === "none" ? m.digest : (await hashUncompressed(store.openBlob(m.digest), compression)).digest;
      if (diffId !== diffIds[i]) {
        throw new LibctError("invalid", `layer ${path} has diffID ${diffId}, but the config says ${diffIds[i]}`);
      }
      layers.push({ mediaType: layerMediaType(compression), digest: m.digest, size: m.size });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfgMember.digest, size: cfgMember.size },
      layers,
    };
    const descriptor = await store.putJson(manifest, MT.ociManifest, { lease });
    const refs = (item.RepoTags ?? []).map((t) => normalizeTag(t, `RepoTags entry of image ${n + 1}`));
    out.push({ refs, descriptor });
  }
  return out;
}

// ---- oci-archive ------------------------------------------------------------------------------------------

async function ociImages(
  store: ContentStore,
  archive: Archive,
  opts: LoadOptions,
): Promise<{ refs: string[]; descriptor: Descriptor }[]> {
  if (!archive.metadata.has("oci-layout"))
    throw new LibctError("invalid", "the archive has index.json but no oci-layout");
  const version = archive.json<{ imageLayoutVersion?: unknown }>("oci-layout")?.imageLayoutVersion;
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new LibctError("invalid", `the archive's oci-layout has imageLayoutVersion ${String(version)}; expected 1.x`);
  }
  const index = archive.json<{ manifests?: unknown }>("index.json");
  if (!Array.isArray(index?.manifests))
    throw new LibctError("invalid", "the archive's index.json has no manifests array");

  const blob = (d: Descriptor): Member | undefined => archive.files.get(`blobs/sha256/${digestHex(d.digest)}`);
  const check = async (d: Descriptor, required: boolean, what: string): Promise<void> => {
    if (d === null || typeof d !== "object" || !isDigest(d.digest) || !Number.isSafeInteger(d.size)) {
      throw new LibctError("invalid", `${what} is not a valid descriptor`);
    }
    const m = blob(d);
    if (!m) {
      if (required) throw new LibctError("invalid", `the archive lacks blob ${d.digest} (${what})`);
      return;
    }
    if (m.size !== d.size)
      throw new LibctError("invalid", `${what}: descriptor says ${d.size} bytes, blob has ${m.size}`);
    if (isManifestType(d.mediaType)) {
      const doc = await readJsonBlob<{ config?: Descriptor; layers?: Descriptor[] }>(store, m, `manifest ${d.digest}`);
      if (!doc?.config || !Array.isArray(doc.layers))
        throw new LibctError("invalid", `manifest ${d.digest} has no config or layers`);
      await check(doc.config, true, `config of manifest ${d.digest}`);
      for (const [i, l] of doc.layers.entries()) await check(l, true, `layer ${i + 1} of manifest ${d.digest}`);
    } else if (isIndexType(d.mediaType)) {
      const doc = await readJsonBlob<{ manifests?: Descriptor[] }>(store, m, `index ${d.digest}`);
      if (!Array.isArray(doc?.manifests)) throw new LibctError("invalid", `index ${d.digest} has no manifests`);
      for (const c of doc.manifests) await check(c, false, `entry of index ${d.digest}`); // other platforms may be absent
    }
  };

  const out = [];
  for (const [n, entry] of (index.manifests as Descriptor[]).entries()) {
    const what = `index.json entry ${n + 1}`;
    if (!isManifestType(entry?.mediaType) && !isIndexType(entry?.mediaType)) {
      throw new LibctError(
        "invalid",
        `${what} has media type ${String(entry?.mediaType)}, not an image manifest or index`,
      );
    }
    await check(entry, true, what);
    const { [REF_NAME]: refName, [CONTAINERD_NAME]: fullName, ...rest } = entry.annotations ?? {};
    const name =
      fullName ??
      (refName !== undefined && opts.repository !== undefined && !/[/:@]/.test(refName)
        ? `${opts.repository}:${refName}`
        : refName);
    const descriptor: Descriptor = {
      mediaType: entry.mediaType,
      digest: entry.digest,
      size: entry.size,
      ...(entry.platform ? { platform: entry.platform } : {}),
      ...(Object.keys(rest).length > 0 ? { annotations: rest } : {}),
    };
    out.push({ refs: name === undefined ? [] : [normalizeTag(name, `name of ${what}`)], descriptor });
  }
  return out;
}
