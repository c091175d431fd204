// A 200 MB, 5-layer OCI image for the pull and unpack benchmarks, made offline once into
// .cache/bench-image/ (an OCI layout, tag "big"). Each layer: one 24 MiB file of random bytes and
// 2,000 small files (4 KiB each, random), gzip -1 (random data barely compresses, like real binaries).
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

const repo = new URL("../..", import.meta.url).pathname;
export const BIG_IMAGE_DIR = join(repo, ".cache", "bench-image");
const LAYERS = 5;

const sha256File = async (file) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");

export async function ensureBigImage() {
  const layout = join(BIG_IMAGE_DIR, "layout");
  if (existsSync(join(layout, "index.json")))
    return { layout, tag: "big", ...JSON.parse(await readFile(join(BIG_IMAGE_DIR, "meta.json"), "utf8")) };
  const work = `${BIG_IMAGE_DIR}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, "layout", "blobs", "sha256"), { recursive: true });
  const layers = [];
  for (let i = 0; i < LAYERS; i++) {
    const dir = join(work, `l${i}`);
    await mkdir(join(dir, `layer${i}`, "small"), { recursive: true });
    await writeFile(join(dir, `layer${i}`, "big.bin"), randomBytes(24 << 20));
    for (let f = 0; f < 2000; f++) await writeFile(join(dir, `layer${i}`, "small", `f${f}`), randomBytes(4096));
    const tarFile = join(work, `l${i}.tar`);
    const r = spawnSync("tar", ["-C", dir, "--numeric-owner", "--owner=0", "--group=0", "-cf", tarFile, "."]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    const diffId = `sha256:${await sha256File(tarFile)}`;
    spawnSync("gzip", ["-1", "-n", tarFile]);
    const gz = `${tarFile}.gz`;
    const digest = await sha256File(gz);
    const size = (await stat(gz)).size;
    await rename(gz, join(work, "layout", "blobs", "sha256", digest));
    await rm(dir, { recursive: true, force: true });
    layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${digest}`, size, diffId });
  }
  const put = async (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const digest = createHash("sha256").update(bytes).digest("hex");
    await writeFile(join(work, "layout", "blobs", "sha256", digest), bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const config = await put({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const manifest = await put({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map(({ diffId, ...l }) => l),
  });
  await writeFile(join(work, "layout", "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(work, "layout", "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "big" },
        },
      ],
    }),
  );
  const meta = { layers, manifestDigest: manifest.digest, totalBytes: layers.reduce((a, l) => a + l.size, 0) };
  await writeFile(join(work, "meta.json"), JSON.stringify(meta));
  await rm(BIG_IMAGE_DIR, { recursive: true, force: true });
  await rename(work, BIG_IMAGE_DIR);
  return { layout: join(BIG_IMAGE_DIR, "layout"), tag: "big", ...meta };
}
