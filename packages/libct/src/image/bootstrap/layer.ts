/**
 * A rootfs directory into a one-layer OCI image in the content store: GNU tar (sorted names, numeric owners,
 * xattrs, mtimes clamped, no atime/ctime), the diffId hashed from the tar, `zstd -T0 -3` into a blob, then
 * config, manifest and tag. tar and zstd run through the CommandRunner on files in a work dir, because the
 * port collects output in memory and a layer is hundreds of MB.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { CommandRunner } from "../../system/command.js";
import type { ContentStore, Descriptor, Lease } from "../store/index.js";
import { MT } from "../store/index.js";
import { LAYER_ZSTD, ociPlatform } from "./spec.js";

export interface PackOptions {
  readonly runner: CommandRunner;
  /** A private directory for the tar and zstd files (the caller removes it). */
  readonly workDir: string;
  /** Unix seconds: mtimes later than this are clamped to it, so files made during the build do not vary. */
  readonly clampMtime: number;
  readonly lease?: Lease;
  readonly signal?: AbortSignal;
}

/** The GNU tar command line that packs `rootfs` into `tarFile` reproducibly. */
export function tarArgs(rootfs: string, tarFile: string, clampMtime: number): string[] {
  return [
    "--create",
    "--file",
    tarFile,
    "--directory",
    rootfs,
    "--format=posix",
    // pax headers without the pid in their names and without atime/ctime, so they depend only on the tree
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "--sort=name",
    "--numeric-owner",
    "--xattrs",
    "--no-acls",
    "--no-selinux",
    `--mtime=@${clampMtime}`,
    "--clamp-mtime",
    ".",
  ];
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest("hex")}`;
}

/** Packs `rootfs` and stores the zstd layer blob; returns its descriptor and the diffId of the tar. */
export async function packLayer(
  store: ContentStore,
  rootfs: string,
  opts: PackOptions,
): Promise<{ layer: Descriptor; diffId: string; tarBytes: number }> {
  const tarFile = join(opts.workDir, "layer.tar");
  const zstFile = join(opts.workDir, "layer.tar.zst");
  await opts.runner.run("tar", tarArgs(rootfs, tarFile, opts.clampMtime), { signal: opts.signal });
  const diffId = await sha256File(tarFile);
  const tarBytes = (await stat(tarFile)).size;
  await opts.runner.run("zstd", ["-T0", "-3", "-q", "-f", "-o", zstFile, tarFile], { signal: opts.signal });
  const size = (await stat(zstFile)).size;
  const layer = await store.writeBlob(undefined, createReadStream(zstFile), {
    size,
    mediaType: LAYER_ZSTD,
    ...(opts.lease ? { lease: opts.lease } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { layer: { mediaType: LAYER_ZSTD, digest: layer.digest, size }, diffId, tarBytes };
}

/** Stores `config` and a manifest over `layer`, then tags the manifest as `ref`. Returns the manifest descriptor. */
export async function commitImage(
  store: ContentStore,
  ref: string,
  layer: Descriptor,
  config: Record<string, unknown>,
  opts: { arch: string; created: string; lease?: Lease },
): Promise<Descriptor> {
  const lease = opts.lease ? { lease: opts.lease } : {};
  const configDesc = await store.putJson(config, MT.ociConfig, lease);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDesc.digest, size: configDesc.size },
    layers: [layer],
    annotations: { "org.opencontainers.image.created": opts.created },
  };
  const m = await store.putJson(manifest, MT.ociManifest, lease);
  const { os, architecture, variant } = ociPlatform(opts.arch);
  const descriptor: Descriptor = {
    mediaType: MT.ociManifest,
    digest: m.digest,
    size: m.size,
    platform: { architecture, os, ...(variant ? { variant } : {}) },
  };
  await store.tag(ref, descriptor);
  return descriptor;
}
