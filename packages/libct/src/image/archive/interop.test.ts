import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { needsRoot } from "../../testing/slow.js";
import { ContentStore } from "../store/content-store.js";
import { type ArchiveFormat, loadImages, saveImages } from "./index.js";
import { busyboxStore, tempRoot } from "./testutil.js";

const run = promisify(execFile);
const has = async (bin: string) =>
  await run(bin, ["--version"])
    .then(() => true)
    .catch(() => false);
const skopeo = { skip: false as string | false };
const BUSYBOX = "docker.io/library/busybox:latest";

let tmp: Awaited<ReturnType<typeof tempRoot>>;
let n = 0;
let source: Awaited<ReturnType<typeof busyboxStore>>;
/** The busybox image's manifest and config digests and diffIDs in the source store. */
let want: { manifest: string; config: string; diffIds: readonly string[] };

before(async () => {
  tmp = await tempRoot("berth-archive-interop-");
  if (!(await has("skopeo"))) skopeo.skip = "skopeo is not installed";
  source = await busyboxStore(tmp.path("source"));
  const { descriptor, manifest } = await source.store.getManifest(source.ref);
  const config = await source.store.imageConfig(manifest);
  want = { manifest: descriptor.digest, config: manifest.config.digest, diffIds: config.rootfs.diff_ids };
});
after(() => tmp.cleanup());

async function berthSave(format: ArchiveFormat): Promise<string> {
  const file = tmp.path(`berth-${n++}.tar`);
  await saveImages(source.store, [source.ref], createWriteStream(file), format);
  return file;
}

/** The manifest and config of the one image in an OCI layout directory. */
async function layoutImage(dir: string): Promise<{ manifest: string; config: string; diffIds: string[] }> {
  const blob = async (d: string) => JSON.parse(await readFile(join(dir, "blobs", "sha256", d.slice(7)), "utf8"));
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const manifest = (await blob(index.manifests[0]!.digest)) as { config: { digest: string } };
  const config = (await blob(manifest.config.digest)) as { rootfs: { diff_ids: string[] } };
  return { manifest: index.manifests[0]!.digest, config: manifest.config.digest, diffIds: config.rootfs.diff_ids };
}

async function berthLoad(file: string, opts = {}) {
  const store = await ContentStore.open(tmp.path(`store-${n++}`));
  const result = await loadImages(store, createReadStream(file), opts);
  return { store, result };
}

describe("skopeo reads berth's archives", () => {
  it("docker-archive → oci: same config and diffIDs", skopeo, async () => {
    const dir = tmp.path(`skopeo-oci-${n++}`);
    await run("skopeo", ["copy", "-q", `docker-archive:${await berthSave("docker-archive")}`, `oci:${dir}:x`]);
    const got = await layoutImage(dir);
    assert.equal(got.config, want.config);
    assert.deepEqual(got.diffIds, want.diffIds);
  });

  it("oci-archive → oci: the same manifest digest", skopeo, async () => {
    const dir = tmp.path(`skopeo-oci-${n++}`);
    await run("skopeo", ["copy", "-q", `oci-archive:${await berthSave("oci-archive")}`, `oci:${dir}:x`]);
    assert.equal((await layoutImage(dir)).manifest, want.manifest);
  });
});

describe("berth loads skopeo's archives", () => {
  it("docker-archive (layers as <diffID>.tar, legacy symlinks, json and VERSION)", skopeo, async () => {
    const file = tmp.path(`skopeo-${n++}.tar`);
    await run("skopeo", ["copy", "-q", `oci:${source.layout}:latest`, `docker-archive:${file}:busybox:latest`]);
    const { store, result } = await berthLoad(file);
    assert.equal(result.format, "docker-archive");
    assert.deepEqual(result.images[0]!.refs, [BUSYBOX]);
    const { manifest } = await store.getManifest(BUSYBOX);
    assert.equal(manifest.config.digest, want.config);
    assert.deepEqual((await store.imageConfig(manifest)).rootfs.diff_ids, want.diffIds);
  });

  it("oci-archive, named busybox:latest or by a bare tag plus a repository", skopeo, async () => {
    const named = tmp.path(`skopeo-${n++}.tar`);
    await run("skopeo", ["copy", "-q", `oci:${source.layout}:latest`, `oci-archive:${named}:busybox:latest`]);
    const { store, result } = await berthLoad(named);
    assert.equal(result.format, "oci-archive");
    assert.equal((await store.resolve(BUSYBOX)).digest, want.manifest);

    const bare = tmp.path(`skopeo-${n++}.tar`);
    await run("skopeo", ["copy", "-q", `oci:${source.layout}:latest`, `oci-archive:${bare}:v2`]);
    const again = await berthLoad(bare, { repository: "example.com/bb" });
    assert.deepEqual(again.result.images[0]!.refs, ["example.com/bb:v2"]);
    assert.equal((await again.store.resolve("example.com/bb:v2")).digest, want.manifest);
  });
});

describe("podman load and save", () => {
  const podman = async (...args: string[]) => {
    const roots = [
      ...["--root", tmp.path("podman-root"), "--runroot", tmp.path("podman-run"), "--tmpdir", tmp.path("podman-tmp")],
      ...["--storage-driver", "vfs"],
    ];
    const env = { ...process.env, CONTAINERS_CONF: "/work/shared/anchors/podman-containers.conf" };
    return (await run("podman", [...roots, ...args], { env })).stdout;
  };
  let skipReason: string | false = false;
  before(async () => {
    if (needsRoot.skip) skipReason = needsRoot.skip;
    else if (!(await has("podman"))) skipReason = "podman is not installed";
    else await podman("info").catch((err: Error) => (skipReason = `podman cannot run here: ${err.message}`));
  });

  for (const format of ["docker-archive", "oci-archive"] as const) {
    it(`podman loads berth's ${format}, and berth loads what podman saves from it`, async (t) => {
      if (skipReason) return t.skip(skipReason);
      const out = await podman("load", "-i", await berthSave(format));
      assert.match(out, /Loaded image: docker\.io\/library\/busybox:latest/);
      const images = JSON.parse(await podman("images", "--format", "json")) as { Id: string; Names: string[] }[];
      const img = images.find((i) => i.Names?.includes(BUSYBOX));
      assert.equal(img?.Id, want.config.slice(7), "podman's image ID is berth's config digest");

      const back = tmp.path(`podman-${n++}.tar`);
      await podman("save", "--format", format, "-o", back, BUSYBOX);
      const { store, result } = await berthLoad(back);
      assert.equal(result.format, format);
      const { manifest } = await store.getManifest(BUSYBOX);
      assert.equal(manifest.config.digest, want.config);
      assert.deepEqual((await store.imageConfig(manifest)).rootfs.diff_ids, want.diffIds);
    });
  }
});
