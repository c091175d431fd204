/** `berth commit`: a container's upper dir becomes a new layer on top of its image (a running one is paused meanwhile). */
import type { ContentStore, ImageConfig, Libct, StorageDriver } from "@berth/libct";
import { normalizeTag } from "@berth/libct/image/archive/refs";
import { storeLayer, upperDirEntries } from "@berth/libct/image/diff/index";
import { MT } from "@berth/libct/image/store/media-types";
import type { ContainerService } from "./containers.js";
import type { ImageService, ImageSummary } from "./images.js";

export async function commitContainer(
  d: { containers: ContainerService; images: ImageService; store: ContentStore; storage: StorageDriver; libct: Libct },
  ref: string,
  tag: string,
): Promise<ImageSummary> {
  const full = normalizeTag(tag, "commit reference");
  const row = d.containers.find(ref);
  const st = await d.libct.state(row.id).catch(() => undefined);
  const pause = st?.status === "running";
  if (pause) await d.libct.pause(row.id);
  let result: Awaited<ReturnType<typeof storeLayer>>;
  try {
    const upper = await d.storage.writableDir!(`container/${row.id}`);
    result = await storeLayer(d.store, await upperDirEntries(upper));
  } finally {
    if (pause) await d.libct.resume(row.id).catch(() => {});
  }
  const { manifest } = await d.store.getManifest(row.imageId ?? row.image);
  const base = await d.store.imageConfig(manifest);
  const c = row.config as { cmd?: string[]; entrypoint?: string[]; env?: string[]; workingDir?: string; user?: string };
  const cfg = { ...(base.config ?? {}) } as Record<string, unknown>;
  if (c.entrypoint) {
    cfg.Entrypoint = c.entrypoint;
    delete cfg.Cmd;
  }
  if (c.cmd) cfg.Cmd = c.cmd;
  if (c.env) {
    const env = [...((cfg.Env as string[]) ?? [])];
    for (const e of c.env) {
      const k = e.split("=")[0]!;
      const at = env.findIndex((x) => x.split("=")[0] === k);
      if (at >= 0) env[at] = e;
      else env.push(e);
    }
    cfg.Env = env;
  }
  if (c.workingDir) cfg.WorkingDir = c.workingDir;
  if (c.user) cfg.User = c.user;
  const created = new Date().toISOString();
  const config: ImageConfig = {
    ...base,
    created,
    config: cfg as ImageConfig["config"],
    rootfs: { type: "layers", diff_ids: [...(base.rootfs?.diff_ids ?? []), result.diffId] },
    history: [...(base.history ?? []), { created, created_by: `berth commit ${row.name}` }],
  };
  const configDesc = await d.store.putJson(config, MT.ociConfig);
  const m = await d.store.putJson(
    { schemaVersion: 2, mediaType: MT.ociManifest, config: configDesc, layers: [...manifest.layers, result.layer] },
    MT.ociManifest,
  );
  await d.store.tag(full, m);
  return d.images.get(full);
}
