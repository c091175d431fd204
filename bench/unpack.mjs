// unpack: the 200 MB, 5-layer image from its OCI layout into a root filesystem, through libct's
// unpackLayers (streaming gunzip, diffId check, OCI whiteouts, safe paths) against `umoci unpack` of
// the same layout in the same run. Target: ratio <= 1.0.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ensureBigImage } from "./lib/bigimage.mjs";

export const name = "unpack";
export const anchor = "umoci unpack";
export const target = { maxRatio: 1.0 };

const run = (file, args) =>
  new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (b) => (err += b));
    c.on("error", reject);
    c.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} ${args.join(" ")}: exit ${code}: ${err}`)),
    );
  });

export async function setup(ctx) {
  if (process.getuid?.() !== 0) throw new Error("unpack needs root (ownership and devices as in the image)");
  if (spawnSync("sh", ["-c", "command -v umoci"]).status !== 0)
    throw new Error("umoci is not installed: scripts/setup.sh");
  ctx.state.image = await ensureBigImage();
  const mod = await import("../packages/libct/dist/image/unpack/index.js");
  ctx.state.unpackLayers = mod.unpackLayers;
}

export async function subject(ctx) {
  const { image, unpackLayers } = ctx.state;
  const dir = join(ctx.tmp, ctx.uniqueId("berth"));
  await unpackLayers(
    image.layers.map((l) => ({
      open: () => createReadStream(join(image.layout, "blobs", "sha256", l.digest.slice(7))),
      compression: "gzip",
      diffId: l.diffId,
    })),
    dir,
  );
  await rm(dir, { recursive: true, force: true });
}

export async function anchorRun(ctx) {
  const { image } = ctx.state;
  const dir = join(ctx.tmp, ctx.uniqueId("umoci"));
  await run("umoci", ["unpack", "--image", `${image.layout}:${image.tag}`, dir]);
  await rm(dir, { recursive: true, force: true });
}
