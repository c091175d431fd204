// The one place where benchmarks import berth's compiled code. Adjust the paths and names here when the
// libct API moves; benchmarks call these helpers and get a clear reason when something is not built yet.

/** Returns `{ Libct }` or `{ reason }` when the lifecycle API is not exported (yet). */
export async function loadLibct() {
  let mod;
  try {
    mod = await import("../../packages/libct/dist/index.js");
  } catch (err) {
    return { reason: `cannot import packages/libct/dist/index.js (run npm run build): ${err.message}` };
  }
  if (typeof mod.Libct?.open !== "function") {
    return { reason: "packages/libct does not export Libct.open yet (the lifecycle API in src/lifecycle/)" };
  }
  return { Libct: mod.Libct };
}

/** The cached busybox rootfs and OCI layout (built once into <repo>/.cache/busybox). */
export async function busyboxImage() {
  const { ensureBusyboxImage, defaultBusyboxCacheDir } = await import("../../packages/libct/dist/image/busybox.js");
  return ensureBusyboxImage(defaultBusyboxCacheDir());
}
