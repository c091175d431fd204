/**
 * Unpacks an image's layers into a fresh rootfs, all or nothing: the layers are applied in order to a
 * temp dir beside `finalDir`, which is renamed onto `finalDir` only when every layer applied and matched
 * its diffId. On any failure the temp dir is removed, so a hostile layer leaves nothing behind.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { LibctError } from "../../errors.js";
import { UndoStack } from "../../undo.js";
import { type ApplyOptions, type ApplyResult, applyLayer } from "./apply.js";
import type { LayerCompression, LayerSource } from "./decompress.js";

export interface LayerInput {
  /** Opens the layer blob; called once, when its turn comes. */
  readonly open: () => LayerSource | Promise<LayerSource>;
  readonly compression: LayerCompression;
  /** The expected `sha256:...` from the image config's rootfs.diff_ids; checked when given. */
  readonly diffId?: string;
}

export type UnpackOptions = Omit<ApplyOptions, "compression">;

/**
 * Applies `layers` bottom first and renames the result onto `finalDir` (which must not exist).
 * Rejects with "conflict" when `finalDir` exists, "invalid" for a hostile or corrupt layer or a diffId mismatch.
 */
export async function unpackLayers(
  layers: readonly LayerInput[],
  finalDir: string,
  opts: UnpackOptions = {},
): Promise<ApplyResult[]> {
  if (await stat(finalDir).catch(() => undefined)) {
    throw new LibctError("conflict", `cannot unpack into ${finalDir}: it already exists`);
  }
  await mkdir(dirname(finalDir), { recursive: true });
  const tmp = join(dirname(finalDir), `.${basename(finalDir)}.unpack-${randomBytes(6).toString("hex")}`);
  await using undo = new UndoStack();
  await mkdir(tmp, { mode: 0o755 });
  undo.push(() => rm(tmp, { recursive: true, force: true }));
  await chmod(tmp, 0o755);
  const results: ApplyResult[] = [];
  for (const [i, layer] of layers.entries()) {
    const result = await applyLayer(tmp, await layer.open(), { ...opts, compression: layer.compression });
    if (layer.diffId !== undefined && layer.diffId !== result.diffId) {
      throw new LibctError(
        "invalid",
        `layer ${i}: its content hashes to ${result.diffId} but the image config says ${layer.diffId}; the layer is corrupt or was tampered with`,
      );
    }
    results.push(result);
  }
  try {
    await rename(tmp, finalDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTEMPTY") {
      throw new LibctError("conflict", `cannot unpack into ${finalDir}: it appeared while unpacking`, { cause: err });
    }
    throw err;
  }
  undo.release();
  return results;
}
