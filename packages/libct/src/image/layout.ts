/**
 * Writes a directory tree as a one-layer OCI image layout, reproducibly: the same tree gives the same
 * manifest digest (tar with sorted names, owner 0:0, mtime 0; gzip without a timestamp; a fixed `created`).
 *
 * ```ts
 * const { manifestDigest } = await writeOciLayout("rootfs", "oci", { name: "busybox", tag: "latest" }, { cmd: ["/bin/sh"] });
 * // umoci unpack --image oci:latest bundle
 * ```
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { LibctError } from "../errors.js";
import { type CommandRunner, ProcessRunner } from "../system/command.js";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** The annotation that names a manifest's tag inside an image layout's index.json. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** containerd's annotation for the full image name (`ctr image import` reads it). */
export const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";

/** The fixed creation date of reproducible images. */
export const EPOCH = "1970-01-01T00:00:00Z";

export interface OciDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
  readonly platform?: { readonly architecture: string; readonly os: string };
}

export interface ImageConfigOptions {
  readonly cmd?: string[];
  readonly entrypoint?: string[];
  readonly env?: string[];
  readonly labels?: Record<string, string>;
}

export interface LayoutOptions {
  /** Runs `tar`; injectable for tests. Default: a ProcessRunner. */
  readonly runner?: CommandRunner;
  /** The GNU tar binary. Default "tar". */
  readonly tar?: string;
}

export interface LayoutResult {
  readonly manifestDigest: string;
  /** Digest of the compressed layer blob. */
  readonly layerDigest: string;
  readonly configDigest: string;
  /** Digest of the uncompressed layer tar (the config's rootfs.diff_ids entry). */
  readonly diffId: string;
}

/** Go's GOARCH names, as OCI image configs use them. */
export function ociArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" };
  if (arch === "ppc64") return "ppc64le"; // Node reports ppc64 for the little-endian Linux port too
  return map[arch] ?? arch;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** Writes `data` under blobs/sha256/ (temp file + rename, so readers never see a partial blob). */
async function putBlob(layoutDir: string, data: Buffer, mediaType: string): Promise<OciDescriptor> {
  const digest = sha256(data);
  const path = join(layoutDir, "blobs", "sha256", digest.slice("sha256:".length));
  const tmp = `${path}.tmp-${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
  return { mediaType, digest, size: data.length };
}

/** A pass-through stream that hashes and counts what flows through it. */
function hasher(): Transform & { digest(): string; bytes(): number } {
  const hash = createHash("sha256");
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  return Object.assign(t, { digest: () => `sha256:${hash.digest("hex")}`, bytes: () => bytes });
}

/** Makes the layer: a reproducible tar of `rootfsDir` by GNU tar, gzipped into a blob. */
async function putLayer(
  rootfsDir: string,
  layoutDir: string,
  opts: LayoutOptions,
): Promise<{ layer: OciDescriptor; diffId: string }> {
  const runner = opts.runner ?? new ProcessRunner();
  const blobs = join(layoutDir, "blobs", "sha256");
  const nonce = randomBytes(4).toString("hex");
  const tarFile = join(blobs, `.layer-${nonce}.tar`);
  const gzFile = join(blobs, `.layer-${nonce}.tar.gz`);
  try {
    await runner.run(opts.tar ?? "tar", [
      "--create",
      "--file",
      tarFile,
      "--directory",
      rootfsDir,
      "--format=gnu",
      "--sort=name",
      "--numeric-owner",
      "--owner=0",
      "--group=0",
      "--mtime=@0",
      "--no-acls",
      "--no-xattrs",
      "--no-selinux",
      ".",
    ]);
    const raw = hasher();
    const compressed = hasher();
    // Node's gzip header carries no timestamp or file name, so the output depends only on the input.
    await pipeline(createReadStream(tarFile), raw, createGzip({ level: 6 }), compressed, createWriteStream(gzFile));
    const digest = compressed.digest();
    await rename(gzFile, join(blobs, digest.slice("sha256:".length)));
    return { layer: { mediaType: MEDIA_TYPES.layerGzip, digest, size: compressed.bytes() }, diffId: raw.digest() };
  } finally {
    await rm(tarFile, { force: true });
    await rm(gzFile, { force: true });
  }
}

interface IndexJson {
  schemaVersion: 2;
  mediaType: string;
  manifests: OciDescriptor[];
}

async function readIndex(layoutDir: string): Promise<IndexJson> {
  let text: string;
  try {
    text = await readFile(join(layoutDir, "index.json"), "utf8");
  } catch {
    return { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [] };
  }
  try {
    const index = JSON.parse(text) as IndexJson;
    if (!Array.isArray(index.manifests)) throw new Error("manifests is not an array");
    return index;
  } catch (err) {
    throw new LibctError("invalid", `${join(layoutDir, "index.json")} is not an OCI image index`, { cause: err });
  }
}

/**
 * Writes `rootfsDir` as a one-layer image into the OCI image layout `layoutDir` (created if missing; an
 * existing layout keeps its other tags) and tags it `ref.tag` in index.json. The layer is a gzipped tar made
 * by the host's GNU tar; `created` is the epoch, so the same tree always gives the same manifest digest.
 */
export async function writeOciLayout(
  rootfsDir: string,
  layoutDir: string,
  ref: { name: string; tag: string },
  config: ImageConfigOptions = {},
  opts: LayoutOptions = {},
): Promise<LayoutResult> {
  if (!(await stat(rootfsDir).catch(() => undefined))?.isDirectory()) {
    throw new LibctError("not-found", `rootfs ${rootfsDir} is not a directory`);
  }
  if (!/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(ref.tag)) {
    throw new LibctError("invalid", `tag ${JSON.stringify(ref.tag)} is not a valid image tag`);
  }
  await mkdir(join(layoutDir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layoutDir, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);

  const { layer, diffId } = await putLayer(rootfsDir, layoutDir, opts);
  const architecture = ociArchitecture();
  const imageConfig: Record<string, unknown> = {};
  if (config.env) imageConfig["Env"] = config.env;
  if (config.entrypoint) imageConfig["Entrypoint"] = config.entrypoint;
  if (config.cmd) imageConfig["Cmd"] = config.cmd;
  if (config.labels) imageConfig["Labels"] = config.labels;
  const configBlob = await putBlob(
    layoutDir,
    Buffer.from(
      JSON.stringify({
        created: EPOCH,
        architecture,
        os: "linux",
        config: imageConfig,
        rootfs: { type: "layers", diff_ids: [diffId] },
        history: [{ created: EPOCH, created_by: "berth writeOciLayout" }],
      }),
    ),
    MEDIA_TYPES.config,
  );
  const manifest = await putBlob(
    layoutDir,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: configBlob,
        layers: [layer],
        annotations: { "org.opencontainers.image.created": EPOCH },
      }),
    ),
    MEDIA_TYPES.manifest,
  );

  const index = await readIndex(layoutDir);
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== ref.tag);
  index.manifests.push({
    ...manifest,
    annotations: { [IMAGE_NAME_ANNOTATION]: `${ref.name}:${ref.tag}`, [REF_NAME_ANNOTATION]: ref.tag },
    platform: { architecture, os: "linux" },
  });
  const indexTmp = join(layoutDir, `.index.json.tmp-${randomBytes(4).toString("hex")}`);
  await writeFile(indexTmp, `${JSON.stringify(index, null, 2)}\n`);
  await rename(indexTmp, join(layoutDir, "index.json"));

  return { manifestDigest: manifest.digest, layerDigest: layer.digest, configDigest: configBlob.digest, diffId };
}
