import { strict as assert } from "node:assert";
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { loadImageSpecValidator } from "../../testing/oci-image-schema.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../busybox.js";
import { ociArchitecture } from "../layout.js";
import { ContentStore } from "./content-store.js";
import { canonicalJson } from "./digest.js";
import { type Descriptor, MT, REF_NAME } from "./media-types.js";

const loadValidator = loadImageSpecValidator;

const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251));
async function* chunks(data: Buffer, size = 1000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) {
    await new Promise((r) => setImmediate(r));
    yield data.subarray(i, i + size);
  }
}
const listDir = async (dir: string) => (await readdir(dir)).sort();
/** The pid of a process that has exited (so it is not alive). */
const deadPid = () => spawnSync("true").pid!;

let tmp: string;
let n = 0;
const freshStore = async (opts = {}) => ContentStore.open(join(tmp, `s${n++}`), opts);

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "berth-store-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("ContentStore blobs", () => {
  it("creates a layout that validates, and reopens it", async () => {
    const check = await loadValidator();
    const store = await freshStore();
    assert.deepEqual(await listDir(store.root), ["blobs", "index.json", "ingest", "oci-layout"]);
    check("layout", JSON.parse(await readFile(join(store.root, "oci-layout"), "utf8")), "oci-layout");
    check("index", JSON.parse(await readFile(join(store.root, "index.json"), "utf8")), "index.json");
    await ContentStore.open(store.root);
    await writeFile(join(store.root, "oci-layout"), '{"imageLayoutVersion":"2.0.0"}');
    await assert.rejects(ContentStore.open(store.root), { kind: "invalid" });
  });

  it("round-trips blobs from a Readable, an async generator and an unknown digest", async () => {
    const store = await freshStore();
    const a = bytes(200_000);
    const d1 = await store.writeBlob(sha(a), Readable.from([a.subarray(0, 5), a.subarray(5)]), { size: a.length });
    assert.deepEqual(d1, { mediaType: "application/octet-stream", digest: sha(a), size: a.length });
    assert.ok((await store.readBlob(sha(a))).equals(a));
    assert.equal(await store.blobSize(sha(a)), a.length);
    assert.ok(await store.hasBlob(sha(a)));
    assert.equal(store.blobPath(sha(a)), join(store.root, "blobs", "sha256", sha(a).slice(7)));
    const b = bytes(3000, 7);
    const d2 = await store.writeBlob(undefined, chunks(b), { mediaType: "x/y" });
    assert.deepEqual(d2, { mediaType: "x/y", digest: sha(b), size: b.length });
    const empty = await store.writeBlob(undefined, []);
    assert.equal(empty.digest, sha(""));
    assert.deepEqual(await listDir(join(store.root, "ingest")), [], "no ingest files left");
    await assert.rejects(store.readBlob(sha("nope")), { kind: "not-found" });
    await assert.rejects(store.blobSize(sha("nope")), { kind: "not-found" });
    assert.equal(await store.hasBlob(sha("nope")), false);
  });

  it("rejects malformed digests before they reach a path", async () => {
    const store = await freshStore();
    for (const bad of ["../../etc/passwd", "sha256:../../x", `sha256:${"A".repeat(64)}`, `sha512:${"a".repeat(128)}`]) {
      assert.throws(() => store.blobPath(bad), { kind: "invalid" }, bad);
      await assert.rejects(store.hasBlob(bad), { kind: "invalid" });
      await assert.rejects(store.readBlob(bad), { kind: "invalid" });
      await assert.rejects(store.writeBlob(bad, [Buffer.from("x")]), { kind: "invalid" });
      await assert.rejects(store.ingestStatus(bad), { kind: "invalid" });
    }
  });

  it("leaves nothing after a digest mismatch, a truncated stream or a stream too long", async () => {
    const store = await freshStore();
    const data = bytes(5000);
    const wrong = sha("something else");
    await assert.rejects(store.writeBlob(wrong, chunks(data)), (err: Error & { kind: string }) => {
      assert.equal(err.kind, "invalid");
      assert.match(err.message, new RegExp(`expected ${wrong}, got ${sha(data)}`));
      return true;
    });
    await assert.rejects(store.writeBlob(sha(data), chunks(data.subarray(0, 4000)), { size: 5000 }), {
      kind: "invalid",
      message: /expected 5000 bytes, got 4000/,
    });
    await assert.rejects(store.writeBlob(sha(data), chunks(data.subarray(0, 4000))), { kind: "invalid" });
    await assert.rejects(store.writeBlob(sha(data), chunks(data), { size: 10 }), {
      kind: "invalid",
      message: /expected 10 bytes, got more/,
    });
    await assert.rejects(store.writeBlob(undefined, chunks(data), { size: 10 }), { kind: "invalid" });
    assert.deepEqual(await listDir(join(store.root, "blobs", "sha256")), []);
    assert.deepEqual(await listDir(join(store.root, "ingest")), []);
  });

  it("does not rewrite an existing blob and does not consume the source", async () => {
    const store = await freshStore();
    const data = bytes(100);
    await store.writeBlob(sha(data), [data]);
    let iterated = false;
    const gen = (async function* () {
      iterated = true;
      yield data;
    })();
    const readable = Readable.from([data]);
    assert.equal((await store.writeBlob(sha(data), gen, { size: 100 })).size, 100);
    assert.equal((await store.writeBlob(sha(data), readable)).size, 100);
    assert.equal(iterated, false);
    assert.ok(readable.destroyed, "a Readable source is destroyed");
    assert.deepEqual(store.stats, { ingests: 1, deduplicated: 2 });
    await assert.rejects(store.writeBlob(sha(data), [data], { size: 99 }), { kind: "invalid" });
  });

  it("does the work once for 10 concurrent writes of one digest", async () => {
    const store = await freshStore();
    const other = await ContentStore.open(store.root); // a second handle on the same root shares the work too
    const data = bytes(300_000, 3);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? other : store).writeBlob(sha(data), chunks(data, 16_384), { size: data.length }),
      ),
    );
    for (const r of results) assert.equal(r.digest, sha(data));
    assert.equal(store.stats.ingests + other.stats.ingests, 1);
    assert.equal(store.stats.deduplicated + other.stats.deduplicated, 9);
    assert.deepEqual(await listDir(join(store.root, "blobs", "sha256")), [sha(data).slice(7)]);
    assert.deepEqual(await listDir(join(store.root, "ingest")), []);
  });

  it("a second writer retries with its own source when the first one fails", async () => {
    const store = await freshStore();
    const data = bytes(10_000, 5);
    const [bad, good] = await Promise.allSettled([
      store.writeBlob(sha(data), chunks(data.subarray(0, 9000)), { size: data.length }),
      store.writeBlob(sha(data), chunks(data), { size: data.length }),
    ]);
    assert.equal(bad.status, "rejected");
    assert.equal(good.status, "fulfilled");
    assert.ok((await store.readBlob(sha(data))).equals(data));
  });

  it("waits for another process holding the digest's lock and uses its blob", async () => {
    const store = await freshStore();
    const data = bytes(1000, 9);
    const hex = sha(data).slice(7);
    const holder = spawn("sleep", ["10"], { stdio: "ignore" });
    try {
      await writeFile(join(store.root, "ingest", `${hex}.lock`), `${holder.pid} other\n`);
      let done = false;
      const pending = store.writeBlob(sha(data), [data]).then((d) => {
        done = true;
        return d;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(done, false, "waits while a live process holds the lock");
      // The other process commits its blob and releases its lock.
      await writeFile(join(store.root, "blobs", "sha256", hex), data);
      await rm(join(store.root, "ingest", `${hex}.lock`));
      assert.equal((await pending).digest, sha(data));
      assert.equal(store.stats.ingests, 0);
    } finally {
      holder.kill();
    }
  });

  it("completes after a crash left an ingest file and a stale lock with a dead pid", async () => {
    const store = await freshStore();
    const data = bytes(50_000, 11);
    const hex = sha(data).slice(7);
    await writeFile(join(store.root, "ingest", `${hex}.data`), Buffer.concat([data.subarray(0, 20_000), bytes(7)]));
    await writeFile(join(store.root, "ingest", `${hex}.lock`), `${deadPid()} crashed\n`);
    const d = await store.writeBlob(sha(data), chunks(data), { size: data.length });
    assert.equal(d.digest, sha(data));
    assert.ok((await store.readBlob(sha(data))).equals(data));
    assert.deepEqual(await listDir(join(store.root, "ingest")), []);
  });

  it("resumes an interrupted ingest from ingestStatus", async () => {
    const store = await freshStore();
    const data = bytes(40_000, 13);
    async function* dropsAfter(limit: number) {
      yield data.subarray(0, limit);
      throw new Error("connection reset");
    }
    await assert.rejects(store.writeBlob(sha(data), dropsAfter(25_000), { size: data.length }), {
      kind: "unavailable",
      message: /after 25000 bytes/,
    });
    assert.equal(await store.ingestStatus(sha(data)), 25_000);
    await assert.rejects(
      store.writeBlob(sha(data), [data.subarray(30_000)], { size: data.length, resumeFrom: 30_000 }),
      { kind: "precondition" },
    );
    const d = await store.writeBlob(sha(data), chunks(data.subarray(20_000)), {
      size: data.length,
      resumeFrom: 20_000,
    });
    assert.equal(d.size, data.length);
    assert.ok((await store.readBlob(sha(data))).equals(data));
    assert.equal(await store.ingestStatus(sha(data)), 0);
  });

  it("writes through its buffers whatever the chunk sizes, and keeps every byte that arrived before a drop", async () => {
    // Several times the writer's 512 KiB buffers, in chunks that straddle their boundaries (network-sized,
    // one byte, larger than a buffer).
    const store = await freshStore();
    const data = bytes(3 * 1024 * 1024 + 12_345, 29);
    const sizes = [65_536, 1, 700_000, 4096, 524_288, 3, 1_000_000];
    function* pieces(from: number, to: number) {
      for (let at = from, i = 0; at < to; i++) {
        const n = Math.min(sizes[i % sizes.length]!, to - at);
        yield data.subarray(at, at + n);
        at += n;
      }
    }
    const cut = 2_345_678;
    async function* dropsAt() {
      yield* pieces(0, cut);
      throw new Error("connection reset");
    }
    await assert.rejects(store.writeBlob(sha(data), dropsAt(), { size: data.length }), { kind: "unavailable" });
    assert.equal(await store.ingestStatus(sha(data)), cut, "every byte that arrived is in the ingest file");
    const d = await store.writeBlob(sha(data), pieces(cut, data.length), { size: data.length, resumeFrom: cut });
    assert.equal(d.size, data.length);
    assert.ok((await store.readBlob(sha(data))).equals(data));
    const whole = await store.writeBlob(undefined, pieces(0, data.length), {});
    assert.equal(whole.digest, sha(data));
  });
});

/** Puts a one-layer image (config + layer + manifest) and returns its parts. */
async function putImage(store: ContentStore, layers: Buffer[], label: string) {
  const layerDescs: Descriptor[] = [];
  for (const l of layers) layerDescs.push(await store.writeBlob(sha(l), [l], { mediaType: MT.ociLayerGzip }));
  const configDoc = {
    architecture: ociArchitecture(),
    os: "linux",
    created: "2024-01-01T00:00:00Z",
    config: { Labels: { label } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => sha(l)) },
  };
  const config = await store.putJson(configDoc, MT.ociConfig);
  const manifestDoc = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: layerDescs };
  const manifest = await store.putJson(manifestDoc, MT.ociManifest);
  return { manifest, config, layers: layerDescs, manifestDoc, configDoc };
}

describe("ContentStore index", () => {
  it("tags, resolves, lists and untags full references", async () => {
    const store = await freshStore();
    const img = await putImage(store, [bytes(100)], "a");
    await store.tag("docker.io/library/busybox:latest", img.manifest);
    await store.tag("localhost:5000/x/y:v1", img.manifest);
    const got = await store.resolve("docker.io/library/busybox:latest");
    assert.equal(got.digest, img.manifest.digest);
    assert.equal(got.annotations?.[REF_NAME], "docker.io/library/busybox:latest");
    const img2 = await putImage(store, [bytes(200)], "b");
    await store.tag("docker.io/library/busybox:latest", img2.manifest); // retag replaces
    assert.deepEqual(
      (await store.listImages()).map((e) => [e.ref, e.descriptor.digest]),
      [
        ["localhost:5000/x/y:v1", img.manifest.digest],
        ["docker.io/library/busybox:latest", img2.manifest.digest],
      ],
    );
    assert.equal(await store.untag("localhost:5000/x/y:v1"), true);
    assert.equal(await store.untag("localhost:5000/x/y:v1"), false);
    await assert.rejects(store.resolve("localhost:5000/x/y:v1"), { kind: "not-found" });
    await assert.rejects(store.tag("bad ref", img.manifest), { kind: "invalid" });
    await assert.rejects(store.tag("../x", img.manifest), { kind: "invalid" });
    await assert.rejects(store.tag("a:b", { ...img.manifest, digest: sha("missing") }), { kind: "not-found" });
    await assert.rejects(store.tag("a:b", { ...img.manifest, size: 1 }), { kind: "invalid" });
  });

  it("loses no update when 30 tags race through two handles, and leaves no temp file", async () => {
    const store = await freshStore();
    const other = await ContentStore.open(store.root);
    const img = await putImage(store, [bytes(10)], "t");
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? other : store).tag(`r/x:t${i}`, img.manifest)));
    assert.equal((await store.listImages()).length, 30);
    assert.deepEqual(await listDir(store.root), ["blobs", "index.json", "ingest", "oci-layout"]);
  });

  it("sees what another handle (another process) changed in index.json, and callers cannot change its copy", async () => {
    const store = await freshStore();
    const other = await ContentStore.open(store.root);
    const a = await putImage(store, [bytes(10)], "a");
    const b = await putImage(store, [bytes(20)], "b");
    await store.tag("r/x:1", a.manifest);
    assert.equal((await store.resolve("r/x:1")).digest, a.manifest.digest); // read (and kept) by `store`
    await other.tag("r/x:1", b.manifest);
    assert.equal((await store.resolve("r/x:1")).digest, b.manifest.digest);
    await other.untag("r/x:1");
    await assert.rejects(store.resolve("r/x:1"), { kind: "not-found" });
    // index.json rewritten behind the store's back (same size, new content) is read again too
    await store.tag("r/y:1", a.manifest);
    const text = await readFile(join(store.root, "index.json"), "utf8");
    await writeFile(join(store.root, "index.json"), text.replace(a.manifest.digest, b.manifest.digest));
    assert.equal((await store.resolve("r/y:1")).digest, b.manifest.digest);
    const got = await store.resolve("r/y:1");
    (got.annotations as Record<string, string>)[REF_NAME] = "changed";
    (got as { digest: string }).digest = "sha256:0";
    assert.equal((await store.resolve("r/y:1")).digest, b.manifest.digest);
    assert.deepEqual(
      (await store.listImages()).map((e) => e.ref),
      ["r/y:1"],
    );
  });

  it("hands out manifests and configs that callers may change, and forgets pruned ones", async () => {
    const store = await freshStore();
    const a = await putImage(store, [bytes(30)], "a");
    const first = await store.getManifest(a.manifest.digest);
    (first.manifest.layers as Descriptor[]).push(first.manifest.layers[0]!);
    ((await store.imageConfig(first.manifest)) as { rootfs?: unknown }).rootfs = { type: "x", diff_ids: [] };
    const again = await store.getManifest(a.manifest.digest);
    assert.equal(again.manifest.layers.length, 1);
    assert.deepEqual((await store.imageConfig(again.manifest)).rootfs?.diff_ids, [sha(bytes(30))]);
    await store.prune({ minAgeMs: 0 });
    await assert.rejects(store.getManifest(a.manifest.digest), { kind: "not-found" });
  });

  it("takes over an index lock left by a dead process", async () => {
    const store = await freshStore();
    const img = await putImage(store, [bytes(10, 41)], "stale");
    await writeFile(join(store.root, "index.json.lock"), `${deadPid()} crashed\n`);
    await store.tag("r/after-crash:1", img.manifest);
    assert.equal((await store.resolve("r/after-crash:1")).digest, img.manifest.digest);
    assert.deepEqual(await listDir(store.root), ["blobs", "index.json", "ingest", "oci-layout"]);
  });

  it("writes documents that validate, canonically, and picks the host platform from an index", async () => {
    const check = await loadValidator();
    const store = await freshStore();
    const img = await putImage(store, [bytes(100), bytes(200)], "p");
    const other = await putImage(store, [bytes(300)], "other-arch");
    const indexDoc = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { ...other.manifest, platform: { os: "linux", architecture: "s390x" } },
        { ...img.manifest, platform: { os: "linux", architecture: ociArchitecture() } },
      ],
    };
    const index = await store.putJson(indexDoc, MT.ociIndex);
    assert.ok((await store.readBlob(index.digest)).equals(canonicalJson(indexDoc)));
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }).toString(), '{"a":[{"c":2,"d":1}],"b":1}');
    await store.tag("example.com/multi:1", index);
    const { descriptor, manifest } = await store.getManifest("example.com/multi:1");
    assert.equal(descriptor.digest, img.manifest.digest);
    assert.deepEqual((await store.imageConfig(manifest)).config, { Labels: { label: "p" } });
    assert.equal((await store.getManifest(index.digest)).descriptor.digest, img.manifest.digest);
    assert.equal((await store.getManifest(other.manifest.digest)).descriptor.digest, other.manifest.digest);

    const s390 = await ContentStore.open(store.root, { platform: { os: "linux", architecture: "s390x" } });
    assert.equal((await s390.getManifest("example.com/multi:1")).descriptor.digest, other.manifest.digest);
    const arm = await ContentStore.open(store.root, { platform: { os: "linux", architecture: "riscv64" } });
    await assert.rejects(arm.getManifest("example.com/multi:1"), { kind: "not-found", message: /riscv64/ });
    const cfgOnly = await store.putJson({ foo: 1 }, MT.ociConfig);
    await store.tag("example.com/notimage:1", cfgOnly);
    await assert.rejects(store.getManifest("example.com/notimage:1"), { kind: "invalid" });

    const json = async (d: Descriptor) => JSON.parse((await store.readBlob(d.digest)).toString()) as unknown;
    check("manifest", await json(img.manifest), "manifest from putJson");
    check("config", await json(img.config), "config from putJson");
    check("index", await json(index), "index from putJson");
    check("index", JSON.parse(await readFile(join(store.root, "index.json"), "utf8")), "store index.json");
    check("layout", JSON.parse(await readFile(join(store.root, "oci-layout"), "utf8")), "store oci-layout");
  });
});

describe("ContentStore garbage collection and disk use", () => {
  it("prune keeps tagged images and extraRoots and removes the rest and stale ingests", async () => {
    let inUse: string[] = [];
    const store = await freshStore({ extraRoots: async () => inUse });
    const shared = bytes(1000, 21);
    const kept = await putImage(store, [shared, bytes(500, 22)], "kept");
    const dropped = await putImage(store, [shared, bytes(700, 23)], "dropped");
    const container = await putImage(store, [bytes(900, 24)], "used by a container");
    const stray = await store.writeBlob(undefined, [bytes(50, 25)]);
    await store.tag("r/kept:1", kept.manifest);
    await store.tag("r/dropped:1", dropped.manifest);
    inUse = [container.layers[0]!.digest];

    const usage = await store.diskUsage();
    const byRef = new Map(usage.images.map((i) => [i.ref, i]));
    const sizeOf = (ds: Descriptor[]) => ds.reduce((s, d) => s + d.size, 0);
    assert.equal(byRef.get("r/kept:1")!.size, sizeOf([kept.manifest, kept.config, ...kept.layers]));
    assert.equal(byRef.get("r/kept:1")!.sharedSize, 1000);
    assert.equal(byRef.get("r/dropped:1")!.sharedSize, 1000);
    assert.equal(usage.unreferencedBytes, sizeOf([container.manifest, container.config, ...container.layers, stray]));

    const hex = sha("partial").slice(7);
    await writeFile(join(store.root, "ingest", `${hex}.data`), "partial");
    await writeFile(join(store.root, "ingest", "fresh.data"), "fresh");
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(store.root, "ingest", `${hex}.data`), old, old);
    await writeFile(join(store.root, "ingest", `${hex}.lock`), `${deadPid()} x\n`);

    assert.equal(await store.untag("r/dropped:1"), true);
    const res = await store.prune();
    const removed = [dropped.manifest, dropped.config, dropped.layers[1]!, container.manifest, container.config, stray];
    assert.deepEqual(res.removedBlobs.sort(), removed.map((d) => d.digest).sort());
    assert.equal(res.reclaimedBytes, sizeOf(removed));
    assert.equal(res.removedIngests, 2);
    assert.deepEqual(await listDir(join(store.root, "ingest")), ["fresh.data"]);
    for (const d of [kept.manifest, kept.config, ...kept.layers, container.layers[0]!]) {
      assert.ok(await store.hasBlob(d.digest), `${d.digest} kept`);
    }
    assert.equal((await store.getManifest("r/kept:1")).descriptor.digest, kept.manifest.digest);
    const after = await store.diskUsage();
    assert.equal(after.totalBytes, sizeOf([kept.manifest, kept.config, ...kept.layers, container.layers[0]!]));
    assert.equal(after.images[0]!.sharedSize, 0);
    inUse = [];
    {
      using lease = store.lease();
      const pulling = await store.writeBlob(undefined, [bytes(64, 26)], { lease });
      const json = await store.putJson({ pulling: true }, MT.ociConfig, { lease });
      assert.deepEqual((await store.prune()).removedBlobs, [container.layers[0]!.digest]);
      assert.ok((await store.hasBlob(pulling.digest)) && (await store.hasBlob(json.digest)), "leased blobs kept");
      assert.equal(lease.digests.size, 2);
    }
    assert.equal((await store.prune()).removedBlobs.length, 2, "released lease: blobs go");
  });
});

describe("ContentStore import and export", () => {
  const skopeo = ["/usr/bin/skopeo", "/usr/local/bin/skopeo"].find((p) => existsSync(p));
  const busyboxSkip = existsSync("/bin/busybox") ? false : "busybox-static is not installed (scripts/setup.sh)";

  it("imports the busybox layout and exports one that validates and skopeo copies", { skip: busyboxSkip }, async () => {
    const check = await loadValidator();
    const img = await ensureBusyboxImage(defaultBusyboxCacheDir());
    const store = await freshStore();
    const imported = await store.importLayout(img.layout, { repository: "docker.io/library/busybox" });
    // The layout's containerd annotation (busybox:latest) wins over repository + ref.name.
    assert.deepEqual(
      imported.map((e) => [e.ref, e.descriptor.digest]),
      [["busybox:latest", img.manifestDigest]],
    );
    const { manifest } = await store.getManifest("busybox:latest");
    assert.equal(manifest.layers[0]!.digest, img.layerDigest);
    assert.deepEqual((await store.imageConfig(manifest)).config?.["Cmd"], ["/bin/sh"]);
    await store.importLayout(img.layout); // importing again changes nothing
    assert.equal((await store.listImages()).length, 1);

    await store.tag("docker.io/library/busybox:latest", await store.resolve("busybox:latest"));
    const out = join(tmp, "export");
    await store.exportLayout("docker.io/library/busybox:latest", out, { refName: "latest" });
    check("layout", JSON.parse(await readFile(join(out, "oci-layout"), "utf8")), "exported oci-layout");
    const exportedIndex = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: Descriptor[] };
    check("index", exportedIndex, "exported index.json");
    assert.equal(exportedIndex.manifests[0]!.annotations?.[REF_NAME], "latest");
    assert.deepEqual(
      await listDir(join(out, "blobs", "sha256")),
      [img.manifestDigest, img.layerDigest, manifest.config.digest].map((d) => d.slice(7)).sort(),
    );

    // Round trip through a second store with full references.
    const again = await freshStore();
    assert.deepEqual(
      (await again.importLayout(out)).map((e) => e.ref),
      ["docker.io/library/busybox:latest"],
    );
  });

  const skopeoSkip = skopeo ? false : "skopeo is not installed (scripts/setup.sh)";
  it("exports a layout that skopeo copies, and imports skopeo's copy", {
    skip: busyboxSkip || skopeoSkip,
  }, async () => {
    const img = await ensureBusyboxImage(defaultBusyboxCacheDir());
    const store = await freshStore();
    await store.importLayout(img.layout);
    await store.tag("docker.io/library/busybox:latest", await store.resolve("busybox:latest"));
    const out = join(tmp, "export-skopeo");
    await store.exportLayout("docker.io/library/busybox:latest", out, { refName: "latest" });
    const copied = join(tmp, "skopeo-copy");
    await promisify(execFile)(skopeo!, ["copy", "--quiet", `oci:${out}:latest`, `oci:${copied}:latest`]);
    const fromSkopeo = await freshStore();
    const [entry] = await fromSkopeo.importLayout(copied, { repository: "docker.io/library/busybox" });
    assert.equal(entry?.ref, "docker.io/library/busybox:latest");
    assert.equal((await fromSkopeo.getManifest(entry.ref)).manifest.layers[0]!.digest, img.layerDigest);
  });

  it("rejects a layout with a missing layer and imports nothing under its name", async () => {
    const src = await freshStore();
    const img = await putImage(src, [bytes(100, 31)], "broken");
    await src.tag("r/broken:1", img.manifest);
    const out = join(tmp, "broken-export");
    await mkdir(out);
    await src.exportLayout("r/broken:1", out);
    await rm(join(out, "blobs", "sha256", img.layers[0]!.digest.slice(7)));
    const dst = await freshStore();
    await assert.rejects(dst.importLayout(out), { kind: "invalid", message: /lacks blob/ });
    assert.deepEqual(await dst.listImages(), []);
    await assert.rejects(dst.importLayout(join(tmp, "nowhere")), { kind: "invalid" });
  });
});
