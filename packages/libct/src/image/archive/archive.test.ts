import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { loadImageSpecValidator } from "../../testing/oci-image-schema.js";
import { ContentStore } from "../store/content-store.js";
import { type ImageConfig, MT } from "../store/media-types.js";
import { makeTar, type TarEntry } from "../unpack/tartest.js";
import { type ArchiveFormat, type DockerArchiveItem, importRootfs, loadImages, saveImages } from "./index.js";
import { blobCount, busyboxStore, json, tarMembers, tempRoot } from "./testutil.js";

const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const hex = (d: string) => d.slice("sha256:".length);
const zstd = (b: Buffer) => execFileSync("zstd", ["-q", "-c"], { input: b });

let tmp: Awaited<ReturnType<typeof tempRoot>>;
let n = 0;
const fresh = () => ContentStore.open(tmp.path(`store-${n++}`));
let check: Awaited<ReturnType<typeof loadImageSpecValidator>>;

before(async () => {
  tmp = await tempRoot("berth-archive-");
  check = await loadImageSpecValidator();
});
after(() => tmp.cleanup());

async function save(store: ContentStore, refs: string[], format: ArchiveFormat): Promise<string> {
  const file = tmp.path(`archive-${n++}.tar`);
  await saveImages(store, refs, createWriteStream(file), format);
  return file;
}

/** Validates the layout, index and every manifest and config of an oci-archive file. */
async function validateOciArchive(file: string): Promise<void> {
  const m = await tarMembers(file);
  check("layout", json(m.get("oci-layout")), "oci-layout");
  const index = json<{ manifests: { digest: string }[] }>(m.get("index.json"));
  check("index", index, "index.json");
  for (const e of index.manifests) {
    const manifest = json<{ config: { digest: string } }>(m.get(`blobs/sha256/${hex(e.digest)}`));
    check("manifest", manifest, `manifest ${e.digest}`);
    check("config", json(m.get(`blobs/sha256/${hex(manifest.config.digest)}`)), `config ${manifest.config.digest}`);
  }
}

describe("save and load round trips", () => {
  it("oci-archive: same manifest and config digests, valid documents, deterministic tar", async () => {
    const { store, ref } = await busyboxStore(tmp.path(`store-${n++}`));
    const { descriptor, manifest } = await store.getManifest(ref);
    const file = await save(store, [ref], "oci-archive");
    await validateOciArchive(file);
    const members = await tarMembers(file);
    for (const [name, { header }] of members) {
      assert.equal(header.mtime.getTime(), 0, name);
      assert.equal(header.uid, 0, name);
      assert.equal(header.gid, 0, name);
      assert.equal(header.mode, header.type === "directory" ? 0o755 : 0o644, name);
    }
    const index = json<{ manifests: { annotations: Record<string, string> }[] }>(members.get("index.json"));
    assert.equal(
      index.manifests[0]!.annotations["org.opencontainers.image.ref.name"],
      "docker.io/library/busybox:latest",
    );
    assert.deepEqual(await readFile(await save(store, [ref], "oci-archive")), await readFile(file), "same bytes twice");

    const other = await fresh();
    const result = await loadImages(other, createReadStream(file));
    assert.equal(result.format, "oci-archive");
    assert.deepEqual(
      result.images.map((i) => i.refs),
      [["docker.io/library/busybox:latest"]],
    );
    const loaded = await other.getManifest("docker.io/library/busybox:latest");
    assert.equal(loaded.descriptor.digest, descriptor.digest);
    assert.equal(loaded.manifest.config.digest, manifest.config.digest);
  });

  it("docker-archive: manifest.json, repositories, uncompressed layers with the same diffIDs", async () => {
    const { store, ref } = await busyboxStore(tmp.path(`store-${n++}`));
    const { manifest } = await store.getManifest(ref);
    const config = await store.imageConfig(manifest);
    const file = await save(store, [ref], "docker-archive");
    const members = await tarMembers(file);
    const items = json<DockerArchiveItem[]>(members.get("manifest.json"));
    const diffId = config.rootfs.diff_ids[0]!;
    assert.deepEqual(items, [
      {
        Config: `${hex(manifest.config.digest)}.json`,
        RepoTags: ["docker.io/library/busybox:latest"],
        Layers: [`${hex(diffId)}/layer.tar`],
      },
    ]);
    assert.deepEqual(json(members.get("repositories")), { "docker.io/library/busybox": { latest: hex(diffId) } });
    assert.equal(sha(members.get(`${hex(diffId)}/layer.tar`)!.body), diffId, "layer.tar is the uncompressed layer");
    assert.deepEqual(
      await readFile(await save(store, [ref], "docker-archive")),
      await readFile(file),
      "same bytes twice",
    );

    const other = await fresh();
    const result = await loadImages(other, createReadStream(file));
    assert.equal(result.format, "docker-archive");
    const loaded = await other.getManifest("docker.io/library/busybox:latest");
    const loadedConfig = await other.imageConfig(loaded.manifest);
    assert.deepEqual(loadedConfig.rootfs.diff_ids, config.rootfs.diff_ids);
    assert.equal(loaded.manifest.config.digest, manifest.config.digest, "the config is kept byte for byte");
    assert.equal(loaded.manifest.layers[0]!.mediaType, "application/vnd.oci.image.layer.v1.tar");
    assert.equal(loaded.manifest.layers[0]!.digest, diffId);

    // ... and what it loaded saves again as a valid oci-archive, and loads from gzip too.
    await validateOciArchive(await save(other, ["docker.io/library/busybox:latest"], "oci-archive"));
    const gz = gzipSync(await readFile(file));
    const third = await fresh();
    await loadImages(third, Readable.from([gz]));
    assert.equal(
      (await third.getManifest("docker.io/library/busybox:latest")).manifest.config.digest,
      manifest.config.digest,
    );
  });

  it("several references: one docker-archive item per image, tags grouped", async () => {
    const { store, ref } = await busyboxStore(tmp.path(`store-${n++}`));
    await store.tag("example.com/bb:v1", await store.resolve(ref));
    const rootfs = await makeTar([{ name: "hello", body: "hi\n" }]);
    await importRootfs(store, Readable.from([rootfs]), "example.com/hello:1", { created: "2020-01-01T00:00:00Z" });
    const file = await save(store, [ref, "example.com/bb:v1", "example.com/hello:1"], "docker-archive");
    const items = json<DockerArchiveItem[]>((await tarMembers(file)).get("manifest.json"));
    assert.deepEqual(
      items.map((i) => i.RepoTags),
      [["docker.io/library/busybox:latest", "example.com/bb:v1"], ["example.com/hello:1"]],
    );
    const other = await fresh();
    await loadImages(other, createReadStream(file));
    assert.deepEqual((await other.listImages()).map((i) => i.ref).sort(), [
      "docker.io/library/busybox:latest",
      "example.com/bb:v1",
      "example.com/hello:1",
    ]);

    const oci = await save(store, [ref, "example.com/hello:1"], "oci-archive");
    await validateOciArchive(oci);
    const third = await fresh();
    const r = await loadImages(third, createReadStream(oci));
    assert.deepEqual(
      r.images.map((i) => i.refs[0]),
      ["docker.io/library/busybox:latest", "example.com/hello:1"],
    );
  });

  it("rejects an unknown reference before writing anything", async () => {
    const store = await fresh();
    const chunks: Buffer[] = [];
    const out = new (await import("node:stream")).Writable({
      write(c, _e, cb) {
        chunks.push(c as Buffer);
        cb();
      },
    });
    await assert.rejects(saveImages(store, ["nope:1"], out, "docker-archive"), { kind: "not-found" });
    assert.equal(chunks.length, 0);
  });
});

describe("importRootfs", () => {
  const entries: TarEntry[] = [
    { name: "bin/", type: "directory" },
    { name: "bin/hello", body: "#!/bin/sh\necho hello\n", mode: 0o755 },
    { name: "bin/sh", type: "symlink", linkname: "/bin/busybox" },
    { name: "bin/hello2", type: "link", linkname: "bin/hello" },
  ];

  for (const [kind, wrap, stored] of [
    ["gzip", (b: Buffer) => gzipSync(b), MT.ociLayerGzip],
    ["zstd", zstd, "application/vnd.oci.image.layer.v1.tar+zstd"],
    ["plain", (b: Buffer) => b, MT.ociLayerGzip],
  ] as const) {
    it(`imports a ${kind} rootfs tar as a one-layer image`, async () => {
      const store = await fresh();
      const tar = await makeTar(entries);
      const input = wrap(tar);
      const r = await importRootfs(
        store,
        Readable.from([input.subarray(0, 7), input.subarray(7)]),
        "example.com/rootfs",
        {
          config: { cmd: ["/bin/hello"], env: ["PATH=/bin"], labels: { a: "b" } },
        },
      );
      assert.equal(r.ref, "example.com/rootfs:latest");
      assert.equal(r.diffId, sha(tar));
      assert.equal(r.entries, 4);
      assert.equal(r.layer.mediaType, stored);
      if (kind !== "plain") assert.equal(r.layer.digest, sha(input), "stored as given");
      const { manifest } = await store.getManifest("example.com/rootfs:latest");
      check("manifest", JSON.parse((await store.readBlob(r.manifest.digest)).toString()), "manifest");
      const config: ImageConfig = await store.imageConfig(manifest);
      check("config", config, "config");
      assert.deepEqual(config.rootfs.diff_ids, [sha(tar)]);
      assert.deepEqual(config.config, { Cmd: ["/bin/hello"], Env: ["PATH=/bin"], Labels: { a: "b" } });
      assert.equal(config.history?.[0]?.["comment"], "imported from tarball");
      await validateOciArchive(await save(store, [r.ref], "oci-archive"));
      // docker-archive decompresses the stored layer (twice: to size it, then into the tar).
      const other = await fresh();
      await loadImages(other, createReadStream(await save(store, [r.ref], "docker-archive")));
      const back = await other.getManifest(r.ref);
      assert.deepEqual((await other.imageConfig(back.manifest)).rootfs.diff_ids, [sha(tar)]);
      assert.equal(back.manifest.layers[0]!.digest, sha(tar));
    });
  }

  it("honours an explicit compression and refuses xz", async () => {
    const store = await fresh();
    const tar = await makeTar(entries);
    const r = await importRootfs(store, Readable.from([gzipSync(tar)]), "x:1", { compression: "gzip" });
    assert.equal(r.diffId, sha(tar));
    const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]);
    await assert.rejects(importRootfs(store, Readable.from([xz]), "x:2"), { kind: "invalid", message: /xz/ });
    await assert.rejects(importRootfs(store, Readable.from([Buffer.alloc(0)]), "x:3"), { kind: "invalid" });
    await assert.rejects(importRootfs(store, Readable.from([Buffer.from("not a tar at all, no")]), "x:4"), {
      kind: "invalid",
    });
  });

  for (const [title, bad] of [
    ["a ../ path", { name: "../evil", body: "x" }],
    ["a ../ in the middle", { name: "etc/../../evil", body: "x" }],
    ["an absolute path", { name: "/etc/evil", body: "x" }],
    ["a hard link out", { name: "evil", type: "link", linkname: "../../etc/passwd" }],
  ] as const) {
    it(`rejects ${title} and stores nothing`, async () => {
      const store = await fresh();
      const tar = await makeTar([{ name: "ok", body: "fine" }, bad as TarEntry]);
      await assert.rejects(importRootfs(store, Readable.from([gzipSync(tar)]), "evil:1"), {
        kind: "invalid",
        message: /'\.\.' component|absolute/,
      });
      assert.deepEqual(await store.listImages(), []);
      assert.equal(await blobCount(store), 0);
    });
  }
});
