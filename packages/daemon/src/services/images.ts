/**
 * Images for containers: the OCI content store at <root>/images, and each layer unpacked once into a
 * committed storage snapshot keyed by its chain id, which containers then use as their lower layers.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { type BerthEvent, namesRegistry } from "@berth/api";
import {
  type ContentStore,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  LibctError,
  type StorageDriver,
} from "@berth/libct";
import { importRootfs, loadImages, saveImages } from "@berth/libct/image/archive/index";
import { normalizeTag } from "@berth/libct/image/archive/refs";
import { bootstrapImage, checkBootstrapSpec } from "@berth/libct/image/bootstrap/index";
import {
  formatReference,
  type Platform,
  parseReference,
  pullImage,
  pushImage,
  type Reference,
  storeBlobs,
} from "@berth/libct/image/registry/index";
import { applyLayer } from "@berth/libct/image/unpack/index";
import type { Logger } from "../log.js";
import { connectOptions, parsePlatform, progressMapper, type RegistryAccess, streamWork } from "./images-transfer.js";

export interface ImageSummary {
  id: string;
  digest: string;
  ref: string;
  tags: string[];
  size: number;
  createdAt?: string;
}

export interface ResolvedImage {
  readonly ref: string;
  readonly digest: string;
  readonly config: ImageConfig;
  /** Committed snapshot of the top layer (the parent of a container's snapshot); undefined for an image with no layers. */
  readonly topSnapshot: string | undefined;
}

export interface ProgressLine {
  status: string;
  id?: string;
  ref?: string;
  digest?: string;
  [key: string]: unknown;
}

export interface ImagePullRequest extends RegistryAccess {
  ref: string;
  platform?: string;
}

export interface ImagePushRequest extends RegistryAccess {
  ref: string;
  destination?: string;
}

export interface ImageBootstrapRequest {
  kind?: string;
  name?: string;
  ref?: string;
  variant?: string;
  suite?: string;
  mirror?: string;
}

const sha256 = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

/** OCI chain ids: chain(0) = diff(0), chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

export const layerSnapshotKey = (chainId: string) => `layer/${chainId}`;

function compressionOf(d: Descriptor): "gzip" | "zstd" | "none" {
  if (/gzip$/.test(d.mediaType)) return "gzip";
  if (/zstd$/.test(d.mediaType)) return "zstd";
  return "none";
}

/** Refs a user may mean by `ref`: as given, with :latest, with and without docker.io/library/. */
export function refCandidates(ref: string): string[] {
  const tagged = /:[^/]+$/.test(ref) ? ref : `${ref}:latest`;
  const short = tagged.replace(/^docker\.io\/(library\/)?/, "");
  return [...new Set([ref, tagged, short, `docker.io/library/${short}`])];
}

export class ImageService {
  private readonly unpacking = new Map<string, Promise<void>>();

  constructor(
    private readonly store: ContentStore,
    private readonly storage: StorageDriver,
    private readonly root: string,
    private readonly publish: (e: BerthEvent) => void,
    private readonly log: Logger,
  ) {}

  /** Local images, counted by image id as `image ls` lists them (several tags of one image are one). */
  async count(): Promise<number> {
    return new Set((await this.store.listImages()).map((e) => e.descriptor.digest)).size;
  }

  async list(): Promise<ImageSummary[]> {
    const byDigest = new Map<string, ImageSummary>();
    for (const e of await this.store.listImages()) {
      const prev = byDigest.get(e.descriptor.digest);
      if (prev) {
        prev.tags.push(e.ref);
        continue;
      }
      byDigest.set(e.descriptor.digest, await this.summary(e.ref, e.descriptor));
    }
    const usage = await this.store.diskUsage().catch(() => undefined);
    for (const u of usage?.images ?? []) {
      const s = byDigest.get(u.digest);
      if (s) Object.assign(s, { size: u.size, sharedSize: u.sharedSize });
    }
    return [...byDigest.values()];
  }

  async get(ref: string): Promise<ImageSummary> {
    const { ref: found, descriptor } = await this.find(ref);
    const s = await this.summary(found, descriptor);
    s.tags = (await this.store.listImages()).filter((e) => e.descriptor.digest === descriptor.digest).map((e) => e.ref);
    return s;
  }

  /** Summary plus the manifest and config, for `image inspect`. */
  async inspect(ref: string): Promise<ImageSummary & Record<string, unknown>> {
    const s = await this.get(ref);
    try {
      const { descriptor, manifest } = await this.store.getManifest(s.digest);
      const config = await this.store.imageConfig(manifest);
      const usage = (await this.store.diskUsage()).images.find((u) => u.digest === s.digest);
      return {
        ...s,
        ...(usage ? { size: usage.size, sharedSize: usage.sharedSize } : {}),
        manifestDigest: descriptor.digest,
        mediaType: descriptor.mediaType,
        configDigest: manifest.config.digest,
        layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
        config,
      };
    } catch {
      return { ...s };
    }
  }

  private async summary(ref: string, d: Descriptor): Promise<ImageSummary> {
    let size = d.size;
    let createdAt: string | undefined;
    try {
      const { manifest } = await this.store.getManifest(d.digest);
      size += manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
      createdAt = (await this.store.imageConfig(manifest)).created;
    } catch {
      // an index whose platform is missing: list it anyway
    }
    return { id: d.digest, digest: d.digest, ref, tags: [ref], size, ...(createdAt ? { createdAt } : {}) };
  }

  private async find(ref: string): Promise<{ ref: string; descriptor: Descriptor }> {
    if (/^sha256:[0-9a-f]{64}$/.test(ref)) {
      const hit = (await this.store.listImages()).find((e) => e.descriptor.digest === ref);
      if (hit) return hit;
    }
    for (const c of refCandidates(ref)) {
      const d = await this.store.lookup(c).catch(() => undefined); // a candidate that is not a valid reference
      if (d) return { ref: c, descriptor: d };
    }
    const have = (await this.store.listImages()).map((e) => e.ref);
    throw new LibctError(
      "not-found",
      `no such image '${ref}'; ${have.length ? `local images: ${have.join(", ")}` : "there are no local images"}` +
        `; build one offline with 'berth image bootstrap busybox' (POST /1.0/images/bootstrap) or pull one from a registry with 'berth pull HOST/NAME:TAG'`,
    );
  }

  /** The image's manifest, config and top layer snapshot, unpacking layers not unpacked yet. */
  async resolve(ref: string, access: RegistryAccess = {}): Promise<ResolvedImage> {
    const { ref: found, descriptor } = await this.find(ref).catch(async (err: unknown) => {
      // Docker's behaviour: a missing image is pulled when it names a registry.
      if (!(err instanceof LibctError) || err.kind !== "not-found" || !namesRegistry(ref)) throw err;
      this.log.info("image not found locally, pulling", { ref, withCredentials: access.auth !== undefined });
      await this.pullInto(parseRef(ref), access, () => {});
      return this.find(ref);
    });
    const { descriptor: md, manifest } = await this.store.getManifest(descriptor.digest);
    const config = await this.store.imageConfig(manifest);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new LibctError(
        "invalid",
        `image ${found}: ${manifest.layers.length} layers but ${diffIds.length} diff_ids in its config; re-pull it`,
      );
    }
    const chain = chainIds(diffIds);
    for (let i = 0; i < chain.length; i++) {
      await this.unpackLayer(manifest, i, chain[i]!, i > 0 ? chain[i - 1] : undefined, diffIds[i]!);
    }
    const top = chain[chain.length - 1];
    return { ref: found, digest: md.digest, config, topSnapshot: top ? layerSnapshotKey(top) : undefined };
  }

  /** Unpacks layer `i` once into committed snapshot layer/<chainId>; concurrent callers share the work. */
  private unpackLayer(
    manifest: ImageManifest,
    i: number,
    chainId: string,
    parent: string | undefined,
    diffId: string,
  ): Promise<void> {
    const key = layerSnapshotKey(chainId);
    const running = this.unpacking.get(key);
    if (running) return running;
    const work = (async () => {
      if (await this.storage.stat(key).catch(() => undefined)) return;
      const layer = manifest.layers[i]!;
      const tmp = `extract/${process.pid}-${Date.now().toString(36)}-${chainId}`;
      await this.storage.prepare(tmp, parent ? layerSnapshotKey(parent) : undefined, { "berth.layer": layer.digest });
      try {
        if (!this.storage.writableDir)
          throw new LibctError(
            "unavailable",
            `storage driver ${this.storage.name} cannot unpack layers without mounting`,
          );
        const dir = await this.storage.writableDir(tmp);
        const started = Date.now();
        const res = await applyLayer(dir, this.store.openBlob(layer.digest), {
          compression: compressionOf(layer),
          whiteouts: "overlay",
        });
        if (res.diffId !== diffId) {
          throw new LibctError(
            "invalid",
            `layer ${layer.digest} unpacks to ${res.diffId}, but the image config says ${diffId}; the image is corrupt, re-pull it`,
          );
        }
        await this.storage.commit(key, tmp, { "berth.layer": layer.digest, "berth.diff-id": diffId });
        this.log.info("layer unpacked", {
          layer: layer.digest,
          chainId,
          entries: res.entries,
          ms: Date.now() - started,
        });
      } catch (err) {
        await this.storage.remove(tmp).catch(() => {});
        throw err;
      }
    })();
    this.unpacking.set(key, work);
    return work.finally(() => this.unpacking.delete(key));
  }

  // ---- registry ---------------------------------------------------------------------------------------------

  /** Pulls `req.ref` into the store and tags it; progress lines as it goes, `{status:"done"}` last. */
  pull(req: ImagePullRequest): AsyncGenerator<ProgressLine> {
    const reference = parseRef(req.ref);
    const platform = parsePlatform(req.platform);
    return streamWork(async (push) => {
      const r = await this.pullInto(reference, req, push, platform);
      return [{ status: "done", ref: r.ref, digest: r.digest }];
    });
  }

  private async pullInto(
    reference: Reference,
    access: RegistryAccess,
    push: (l: ProgressLine) => void,
    platform?: Platform,
  ): Promise<{ ref: string; digest: string }> {
    const ref = formatReference(reference);
    const { opts, cleanup } = await connectOptions(reference.registry, access, await this.tmp());
    try {
      push({ status: `pulling ${ref}` });
      using lease = this.store.lease();
      const pulled = await pullImage(reference, storeBlobs(this.store, lease), {
        ...opts,
        ...(platform ? { platform } : {}),
        onProgress: progressMapper(push),
      });
      const root = pulled.index
        ? { mediaType: pulled.index.mediaType, digest: pulled.index.digest }
        : { mediaType: pulled.manifestMediaType, digest: pulled.manifestDigest };
      const size = await this.store.blobSize(root.digest);
      const tag = reference.digest && !reference.tag ? ref : ref;
      await this.store.tag(tag, { ...root, size });
      this.publish({ type: "image.pulled", ref: tag, digest: root.digest, at: new Date().toISOString() });
      this.log.info("image pulled", { ref: tag, digest: root.digest });
      return { ref: tag, digest: root.digest };
    } finally {
      await cleanup();
    }
  }

  /** Pushes local image `req.ref` to `req.destination` (default: the same reference). */
  push(req: ImagePushRequest): AsyncGenerator<ProgressLine> {
    return streamWork(async (push) => {
      const { ref: local, descriptor } = await this.find(req.ref);
      const dest = parseRef(req.destination ?? req.ref);
      const { opts, cleanup } = await connectOptions(dest.registry, req, await this.tmp());
      try {
        push({ status: `pushing ${local} to ${formatReference(dest)}` });
        // Cross-repository mount: blobs the registry already has in another repository of ours.
        const mountFrom = (await this.store.listImages())
          .map((e) => parseRef(e.ref, false))
          .filter((r): r is Reference => !!r && r.registry === dest.registry && r.repository !== dest.repository)
          .map((r) => r.repository);
        const r = await pushImage(dest, storeBlobs(this.store), descriptor, {
          ...opts,
          mountFrom: [...new Set(mountFrom)],
          onProgress: progressMapper(push),
        });
        return [{ status: "done", ref: formatReference(r.reference), digest: r.digest }];
      } finally {
        await cleanup();
      }
    });
  }

  private async tmp(): Promise<string> {
    const dir = join(this.root, "tmp");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  // ---- tags, removal, garbage collection ---------------------------------------------------------------

  async tag(ref: string, tag: string): Promise<void> {
    const { descriptor } = await this.find(ref);
    const full = normalizeTag(tag, "tag");
    await this.store.tag(full, descriptor);
    this.publish({ type: "image.built", ref: full, digest: descriptor.digest, at: new Date().toISOString() });
  }

  /**
   * Removes tag `ref` (every tag when `ref` is a digest or id). `users` are the containers created from
   * the image: without `force` their presence is a conflict that names them. Unreferenced blobs go too.
   */
  async remove(
    ref: string,
    opts: { force: boolean; users: (digest: string, refs: string[]) => { id: string; name: string }[] },
  ): Promise<{ untagged: string[]; deleted: string[] }> {
    const { ref: found, descriptor } = await this.find(ref);
    const all = (await this.store.listImages()).filter((e) => e.descriptor.digest === descriptor.digest);
    const byDigest =
      ref === descriptor.digest || (/^(sha256:)?[0-9a-f]{12,64}$/.test(ref) && !all.some((e) => e.ref === ref));
    const untag = byDigest ? all.map((e) => e.ref) : [found];
    const last = untag.length === all.length;
    if (last && !opts.force) {
      const users = opts.users(
        descriptor.digest,
        all.map((e) => e.ref),
      );
      if (users.length) {
        throw new LibctError(
          "conflict",
          `image ${found} is used by container ${users.map((u) => `'${u.name}' (${u.id.slice(0, 12)})`).join(", ")};` +
            " remove the container first (berth rm), or force with -f",
        );
      }
    }
    for (const r of untag) await this.store.untag(r);
    let deleted: string[] = [];
    if (last) deleted = (await this.store.prune()).removedBlobs;
    this.publish({ type: "image.removed", ref: found, digest: descriptor.digest, at: new Date().toISOString() });
    return { untagged: untag, deleted };
  }

  /** Removes blobs nothing references and layer snapshots no image uses (those under containers stay). */
  /** Disk use of the content store, per image and in total (berth system df). */
  usage() {
    return this.store.diskUsage();
  }

  async prune(): Promise<{ removed: string[]; reclaimedBytes: number; removedLayers: string[] }> {
    const blobs = await this.store.prune();
    const keep = new Set<string>();
    for (const e of await this.store.listImages()) {
      try {
        const { manifest } = await this.store.getManifest(e.descriptor.digest);
        const cfg = await this.store.imageConfig(manifest);
        for (const c of chainIds(cfg.rootfs?.diff_ids ?? [])) keep.add(layerSnapshotKey(c));
      } catch {
        // an image without its platform's manifest keeps no layers
      }
    }
    let reclaimed = blobs.reclaimedBytes;
    const removedLayers: string[] = [];
    for (let progress = true; progress; ) {
      progress = false;
      for (const snap of await this.storage.list()) {
        if (!snap.key.startsWith("layer/") || keep.has(snap.key)) continue;
        const bytes = await this.storage.usage(snap.key).catch(() => 0n);
        try {
          await this.storage.remove(snap.key);
        } catch {
          continue; // a parent of a container's snapshot or of another layer
        }
        reclaimed += Number(bytes);
        removedLayers.push(snap.key);
        progress = true;
      }
    }
    this.log.info("images pruned", { blobs: blobs.removedBlobs.length, layers: removedLayers.length, reclaimed });
    return { removed: blobs.removedBlobs, removedLayers, reclaimedBytes: reclaimed };
  }

  // ---- archives ---------------------------------------------------------------------------------------------

  async import(source: Readable, ref: string): Promise<ImageSummary> {
    if (!ref) throw new LibctError("invalid", "say what to call the image: ?ref=NAME:TAG");
    const r = await importRootfs(this.store, source, ref);
    this.publish({ type: "image.built", ref: r.ref, digest: r.manifest.digest, at: new Date().toISOString() });
    return this.get(r.ref);
  }

  async load(source: Readable): Promise<ImageSummary[]> {
    const r = await loadImages(this.store, source);
    const out: ImageSummary[] = [];
    for (const img of r.images) {
      const ref = img.refs[0] ?? img.descriptor.digest;
      this.publish({ type: "image.built", ref, digest: img.descriptor.digest, at: new Date().toISOString() });
      out.push(img.refs[0] ? await this.get(img.refs[0]) : await this.summary(ref, img.descriptor));
    }
    return out;
  }

  /** Checks every ref first (so an unknown one is a 404 before any byte), then streams the archive. */
  async save(refs: readonly string[], format: string): Promise<AsyncIterable<Uint8Array>> {
    if (format !== "docker-archive" && format !== "oci-archive")
      throw new LibctError("invalid", `format must be docker-archive or oci-archive, not '${format}'`);
    const found: string[] = [];
    for (const r of refs) found.push((await this.find(r)).ref);
    const out = new PassThrough();
    saveImages(this.store, found, out, format).catch((err) => out.destroy(err as Error));
    return out;
  }

  // ---- offline base images ----------------------------------------------------------------------------------

  /** Builds a base image offline with the library's bootstrapImage (busybox-static or debootstrap). */
  bootstrap(req: ImageBootstrapRequest): AsyncGenerator<ProgressLine> {
    const kind = req.kind ?? req.name;
    if (kind === undefined) throw new LibctError("invalid", 'say which image to bootstrap: {"kind":"busybox"}');
    const spec = checkBootstrapSpec(
      kind === "debian"
        ? {
            distro: "debian",
            suite: req.suite ?? "bookworm",
            variant: req.variant ?? "minbase",
            ...(req.mirror ? { mirror: req.mirror } : {}),
          }
        : { distro: kind },
    );
    return streamWork(async (push) => {
      const r = await bootstrapImage(this.store, spec, {
        workDir: join(this.root, "tmp", "bootstrap"),
        cacheDir: join(this.root, "cache", "debootstrap"),
        onProgress: (msg) => push({ status: msg }),
      });
      let ref = r.ref;
      if (req.ref && req.ref !== ref) {
        await this.store.tag(req.ref, await this.store.resolve(ref));
        ref = req.ref;
      }
      this.publish({ type: "image.built", ref, digest: r.manifestDigest, at: new Date().toISOString() });
      return [{ status: "done", ref, digest: r.manifestDigest }];
    });
  }
}

function parseRef(ref: string): Reference;
function parseRef(ref: string, strict: false): Reference | undefined;
function parseRef(ref: string, strict = true): Reference | undefined {
  try {
    return parseReference(ref);
  } catch (err) {
    if (!strict) return undefined;
    throw new LibctError("invalid", `'${ref}' is not an image reference: ${(err as Error).message}`, { cause: err });
  }
}
