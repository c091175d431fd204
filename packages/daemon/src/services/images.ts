/**
 * Images for containers: the OCI content store at <root>/images, and each layer unpacked once into a
 * committed storage snapshot keyed by its chain id, which containers then use as their lower layers.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { BerthEvent } from "@berth/api";
import {
  type ContentStore,
  type Descriptor,
  ensureBusyboxImage,
  type ImageConfig,
  type ImageManifest,
  LibctError,
  type StorageDriver,
} from "@berth/libct";
import { applyLayer } from "@berth/libct/image/unpack/index";
import type { Logger } from "../log.js";

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
}

export interface ImageBootstrapRequest {
  kind?: string;
  name?: string;
  ref?: string;
  variant?: string;
  suite?: string;
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
    return [...byDigest.values()];
  }

  async get(ref: string): Promise<ImageSummary> {
    const { ref: found, descriptor } = await this.find(ref);
    const s = await this.summary(found, descriptor);
    s.tags = (await this.store.listImages()).filter((e) => e.descriptor.digest === descriptor.digest).map((e) => e.ref);
    return s;
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
      const d = await this.store.resolve(c).catch(() => undefined);
      if (d) return { ref: c, descriptor: d };
    }
    const have = (await this.store.listImages()).map((e) => e.ref);
    throw new LibctError(
      "not-found",
      `no such image '${ref}'; ${have.length ? `local images: ${have.join(", ")}` : "there are no local images"}` +
        ` (bootstrap one with POST /1.0/images/bootstrap {"kind":"busybox"}, or pull it)`,
    );
  }

  /** The image's manifest, config and top layer snapshot, unpacking layers not unpacked yet. */
  async resolve(ref: string): Promise<ResolvedImage> {
    const { ref: found, descriptor } = await this.find(ref);
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

  /** Builds a base image offline. Only busybox (from the host's busybox-static) for now. */
  bootstrap(req: ImageBootstrapRequest): AsyncGenerator<ProgressLine> {
    const kind = req.kind ?? req.name;
    if (kind === undefined) throw new LibctError("invalid", 'say which image to bootstrap: {"kind":"busybox"}');
    if (kind !== "busybox") {
      throw new LibctError(
        "invalid",
        `bootstrapping '${kind}' is not supported by this berthd yet; use {"kind":"busybox"}`,
      );
    }
    if (req.variant === "system")
      throw new LibctError("invalid", "the busybox system variant is not supported yet; leave variant out");
    return this.bootstrapBusybox(req.ref);
  }

  private async *bootstrapBusybox(wantRef: string | undefined): AsyncGenerator<ProgressLine> {
    yield { status: "building busybox rootfs from the host's busybox-static" };
    const img = await ensureBusyboxImage(join(this.root, "cache", "busybox"));
    yield { status: "importing", digest: img.manifestDigest };
    const entries = await this.store.importLayout(img.layout);
    let ref = entries[0]?.ref ?? "busybox:latest";
    if (wantRef && wantRef !== ref) {
      const d = await this.store.resolve(ref);
      await this.store.tag(wantRef, d);
      ref = wantRef;
    }
    this.publish({ type: "image.built", ref, digest: img.manifestDigest, at: new Date().toISOString() });
    yield { status: "done", ref, digest: img.manifestDigest };
  }
}
