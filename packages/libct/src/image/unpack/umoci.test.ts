import { strict as assert } from "node:assert";
import { createReadStream } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ProcessRunner } from "../../system/command.js";
import { needsRoot } from "../../testing/slow.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../busybox.js";
import { type LayerInput, unpackLayers } from "./index.js";

let dir = "";
after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

/** path -> "type mode uid:gid mtime size|target" for every entry under root. */
async function describeTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    const st = await lstat(join(root, rel));
    const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : "o";
    const extra = st.isSymbolicLink() ? await readlink(join(root, rel)) : st.isFile() ? String(st.size) : "";
    out.set(rel, `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${extra}`);
  }
  return out;
}

describe("unpackLayers agrees with umoci", () => {
  it("unpacks the busybox OCI layout like `umoci unpack`", needsRoot, async () => {
    const img = await ensureBusyboxImage(defaultBusyboxCacheDir());
    dir = await mkdtemp(join(tmpdir(), "berth-unpack-umoci-"));
    const blob = (digest: string) => join(img.layout, "blobs", ...digest.split(":"));
    const manifest = JSON.parse(await readFile(blob(img.manifestDigest), "utf8")) as {
      config: { digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    const config = JSON.parse(await readFile(blob(manifest.config.digest), "utf8")) as {
      rootfs: { diff_ids: string[] };
    };
    const layers: LayerInput[] = manifest.layers.map((l, i) => ({
      open: () => createReadStream(blob(l.digest)),
      compression: l.mediaType.endsWith("+gzip") ? "gzip" : l.mediaType.endsWith("+zstd") ? "zstd" : "none",
      diffId: config.rootfs.diff_ids[i]!,
    }));
    const ours = join(dir, "ours");
    const results = await unpackLayers(layers, ours);
    assert.ok(results[0]!.entries > 100);

    await new ProcessRunner().run("umoci", [
      "--log",
      "error",
      "unpack",
      "--image",
      `${img.layout}:${img.ref.tag}`,
      join(dir, "bundle"),
    ]);
    const theirs = await describeTree(join(dir, "bundle/rootfs"));
    const mine = await describeTree(ours);
    assert.deepEqual([...mine.keys()], [...theirs.keys()], "same file list");
    for (const [path, desc] of theirs) assert.equal(mine.get(path), desc, path);
    assert.equal(
      ((await lstat(ours)).mode & 0o7777).toString(8),
      ((await lstat(join(dir, "bundle/rootfs"))).mode & 0o7777).toString(8),
    );
  });
});
