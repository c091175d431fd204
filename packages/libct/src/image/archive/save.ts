/**
 * `berth save`: images from the store into one tar stream, as a docker-archive or an oci-archive.
 *
 * ```ts
 * await saveImages(store, ["busybox:latest"], createWriteStream("busybox.tar"), "docker-archive");
 * ```
 *
 * docker-archive: `manifest.json`, `repositories`, `<config hex>.json` and `<diffID hex>/layer.tar`, the
 * layers uncompressed (what `docker save` writes; docker load, podman load and skopeo all read it).
 * oci-archive: the tar of an OCI image layout whose index names each image with
 * `org.opencontainers.image.ref.name` and `io.containerd.image.name` (the full reference).
 * Every member has mtime 0, owner 0:0, mode 0644 (directories 0755), so the same images give the same bytes.
 */
import type { Writable } from "node:stream";
import { LibctError } from "../../errors.js";
import type { ContentStore } from "../store/content-store.js";
import { digestHex } from "../store/digest.js";
import {
  CONTAINERD_NAME,
  type Descriptor,
  type ImageManifest,
  isIndexType,
  isManifestType,
  REF_NAME,
} from "../store/media-types.js";
import { decompress } from "../unpack/decompress.js";
import type { ArchiveFormat, DockerArchiveItem } from "./formats.js";
import { normalizeTag, resolveStoreRef } from "./refs.js";
import { compressionOf, hashUncompressed, TarWriter } from "./tar.js";

export interface SavedImage {
  /** The reference as written into the archive (normalized). */
  readonly ref: string;
  /** The manifest (docker-archive) or tagged descriptor (oci-archive) digest. */
  readonly digest: string;
}

export interface SaveResult {
  readonly format: ArchiveFormat;
  readonly images: SavedImage[];
}

/**
 * Writes the images `refs` (store references, tried as given and normalized) into `out` as one archive and
 * ends `out`. Every reference is resolved before the first byte is written, so an unknown one ("not-found")
 * leaves `out` untouched. A multi-platform image is saved for the store's platform in a docker-archive and
 * whole (the index and whatever children are present) in an oci-archive.
 */
export async function saveImages(
  store: ContentStore,
  refs: readonly string[],
  out: Writable,
  format: ArchiveFormat,
): Promise<SaveResult> {
  if (refs.length === 0) throw new LibctError("invalid", "save needs at least one image reference");
  const resolved = [];
  for (const r of refs) resolved.push(await resolveStoreRef(store, r));
  return format === "docker-archive" ? saveDocker(store, resolved, out) : saveOci(store, resolved, out);
}

/** The name an archive carries for a store reference: the normalized full form when it parses. */
function archiveName(ref: string): string {
  try {
    return normalizeTag(ref, "image reference");
  } catch {
    return ref;
  }
}

interface DockerImage {
  readonly manifestDigest: string;
  readonly manifest: ImageManifest;
  readonly diffIds: readonly string[];
  readonly tags: string[];
}

async function saveDocker(
  store: ContentStore,
  resolved: readonly { ref: string }[],
  out: Writable,
): Promise<SaveResult> {
  const images = new Map<string, DockerImage>(); // by manifest digest: two tags of one image are one item
  const saved: SavedImage[] = [];
  for (const { ref } of resolved) {
    const { descriptor, manifest } = await store.getManifest(ref);
    const name = archiveName(ref);
    saved.push({ ref: name, digest: descriptor.digest });
    const known = images.get(descriptor.digest);
    if (known) {
      if (!known.tags.includes(name)) known.tags.push(name);
      continue;
    }
    const config = await store.imageConfig(manifest);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw new LibctError(
        "invalid",
        `image ${ref}: config lists ${diffIds?.length ?? 0} diff_ids for ${manifest.layers.length} layers`,
      );
    }
    for (const l of manifest.layers) {
      if (compressionOf(l.mediaType) === undefined) {
        throw new LibctError("invalid", `image ${ref}: cannot save layer ${l.digest} of media type ${l.mediaType}`);
      }
    }
    images.set(descriptor.digest, { manifestDigest: descriptor.digest, manifest, diffIds, tags: [name] });
  }

  const items: DockerArchiveItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images.values()) {
    const layers = img.diffIds.map((d) => `${digestHex(d)}/layer.tar`);
    items.push({ Config: `${digestHex(img.manifest.config.digest)}.json`, RepoTags: img.tags, Layers: layers });
    const top = img.diffIds.at(-1);
    for (const tag of img.tags) {
      const colon = tag.lastIndexOf(":");
      if (top === undefined || colon <= tag.lastIndexOf("/")) continue;
      const repo = tag.slice(0, colon);
      repositories[repo] = { ...repositories[repo], [tag.slice(colon + 1)]: digestHex(top) };
    }
  }

  const tar = new TarWriter(out);
  try {
    await tar.file("manifest.json", ...json(items));
    await tar.file("repositories", ...json(repositories));
    const written = new Set<string>();
    for (const img of images.values()) {
      const cfg = img.manifest.config;
      if (!written.has(cfg.digest)) {
        written.add(cfg.digest);
        await tar.file(`${digestHex(cfg.digest)}.json`, await store.blobSize(cfg.digest), store.openBlob(cfg.digest));
      }
      for (const [i, layer] of img.manifest.layers.entries()) {
        const diffId = img.diffIds[i]!;
        if (written.has(diffId)) continue;
        written.add(diffId);
        await writeDockerLayer(store, tar, layer, diffId);
      }
    }
    await tar.close();
  } catch (err) {
    await tar.abort(err as Error);
    throw err;
  }
  return { format: "docker-archive", images: saved };
}

/**
 * `<diffID hex>/layer.tar`, uncompressed. The tar header needs the size first, so a compressed layer is
 * decompressed twice: once to count (and check the diffID), once into the archive; nothing is buffered.
 */
async function writeDockerLayer(store: ContentStore, tar: TarWriter, layer: Descriptor, diffId: string): Promise<void> {
  const compression = compressionOf(layer.mediaType)!;
  const hex = digestHex(diffId);
  let size: number;
  if (compression === "none") {
    if (layer.digest !== diffId) {
      throw new LibctError("invalid", `uncompressed layer ${layer.digest} does not match its diff_id ${diffId}`);
    }
    size = await store.blobSize(layer.digest);
  } else {
    const measured = await hashUncompressed(store.openBlob(layer.digest), compression);
    if (measured.digest !== diffId) {
      throw new LibctError(
        "invalid",
        `layer ${layer.digest} decompresses to ${measured.digest}, not its diff_id ${diffId}`,
      );
    }
    size = measured.size;
  }
  await tar.directory(hex);
  await tar.file(`${hex}/layer.tar`, size, decompress(store.openBlob(layer.digest), compression));
}

async function saveOci(
  store: ContentStore,
  resolved: readonly { ref: string; descriptor: Descriptor }[],
  out: Writable,
): Promise<SaveResult> {
  const entries: Descriptor[] = [];
  const saved: SavedImage[] = [];
  for (const { ref, descriptor } of resolved) {
    const name = archiveName(ref);
    const { [REF_NAME]: _r, [CONTAINERD_NAME]: _c, ...rest } = descriptor.annotations ?? {};
    entries.push({ ...descriptor, annotations: { ...rest, [REF_NAME]: name, [CONTAINERD_NAME]: name } });
    saved.push({ ref: name, digest: descriptor.digest });
  }
  // Every blob to write, in a stable order: each entry depth-first (the document, then its children).
  const blobs = new Map<string, number>();
  const walk = async (d: Descriptor, required: boolean): Promise<void> => {
    if (blobs.has(d.digest)) return;
    if (!required && !(await store.hasBlob(d.digest))) return;
    blobs.set(d.digest, await store.blobSize(d.digest));
    if (isManifestType(d.mediaType)) {
      const { manifest } = await store.getManifest(d.digest);
      await walk(manifest.config, true);
      for (const l of manifest.layers) await walk(l, true);
    } else if (isIndexType(d.mediaType)) {
      const index = JSON.parse((await store.readBlob(d.digest)).toString("utf8")) as { manifests?: Descriptor[] };
      for (const m of index.manifests ?? []) await walk(m, false); // other platforms may be absent
    }
  };
  for (const e of entries) await walk(e, true);

  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries };
  const tar = new TarWriter(out);
  try {
    await tar.file("oci-layout", ...json({ imageLayoutVersion: "1.0.0" }));
    await tar.file("index.json", ...json(index));
    await tar.directory("blobs");
    await tar.directory("blobs/sha256");
    for (const [digest, size] of blobs) {
      await tar.file(`blobs/sha256/${digestHex(digest)}`, size, store.openBlob(digest));
    }
    await tar.close();
  } catch (err) {
    await tar.abort(err as Error);
    throw err;
  }
  return { format: "oci-archive", images: saved };
}

/** A JSON member's size and bytes. */
function json(value: unknown): [number, Buffer] {
  const bytes = Buffer.from(JSON.stringify(value), "utf8");
  return [bytes.length, bytes];
}
