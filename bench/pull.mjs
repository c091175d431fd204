// pull: the 200 MB, 5-layer image of bench/lib/bigimage.mjs, pushed once (by skopeo) into a loopback
// docker-registry (distribution, plain http on 127.0.0.1), pulled by berth into a fresh ContentStore each run
// (libct's registry client `pullImage` through `storeBlobs`, then the tag: berthd has no pull route yet), against
// `skopeo copy --src-tls-verify=false docker://127.0.0.1:PORT/big:1 oci:DIR:big` in the same run. Both write
// every blob to disk; the pulled copies are removed after each run, outside the timing. Target: ratio <= 1.0.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ensureBigImage } from "./lib/bigimage.mjs";
import { run, which } from "./lib/procs.mjs";

export const name = "pull";
export const anchor = "skopeo copy";
export const target = { maxRatio: 1.0 };

export async function setup(ctx) {
  const skopeo = which("skopeo");
  if (!skopeo) throw new Error("skopeo is not installed: scripts/setup.sh");
  ctx.state.skopeo = skopeo;
  const image = await ensureBigImage();
  const { startRegistry } = await import("../packages/libct/dist/testing/registry.js");
  ctx.state.reg = await startRegistry();
  ctx.state.ref = `${ctx.state.reg.url}/big:1`;
  await run(skopeo, [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `oci:${image.layout}:${image.tag}`,
    `docker://${ctx.state.ref}`,
  ]);
  ctx.state.manifestDigest = image.manifestDigest;
  const reg = await import("../packages/libct/dist/image/registry/index.js");
  const store = await import("../packages/libct/dist/image/store/index.js");
  ctx.state.lib = { pullImage: reg.pullImage, storeBlobs: reg.storeBlobs, ContentStore: store.ContentStore };
}

export async function subject(ctx) {
  const { lib, ref } = ctx.state;
  const dir = join(ctx.tmp, ctx.uniqueId("berth"));
  const store = await lib.ContentStore.open(dir);
  const pulled = await lib.pullImage(ref, lib.storeBlobs(store), { tlsVerify: false });
  const size = await store.blobSize(pulled.manifestDigest);
  await store.tag("big:1", { mediaType: pulled.manifestMediaType, digest: pulled.manifestDigest, size });
  if (pulled.manifestDigest !== ctx.state.manifestDigest) throw new Error(`pulled ${pulled.manifestDigest}`);
  return () => rm(dir, { recursive: true, force: true });
}

export async function anchorRun(ctx) {
  const dir = join(ctx.tmp, ctx.uniqueId("skopeo"));
  await run(ctx.state.skopeo, [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${ctx.state.ref}`,
    `oci:${dir}:big`,
  ]);
  return () => rm(dir, { recursive: true, force: true });
}

export const teardown = (ctx) => ctx.state.reg?.stop();
