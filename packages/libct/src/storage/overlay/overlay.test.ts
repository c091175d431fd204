import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProcessRunner } from "../../system/command.js";
import { drainRemovals } from "../../system/trash.js";
import { needsRoot } from "../../testing/slow.js";
import { storageDriverSuite } from "../conformance.js";
import { OverlayDriver } from "./overlay.js";

storageDriverSuite("overlay", (root) => OverlayDriver.open(root, new ProcessRunner()));

describe("overlay driver's own metadata", needsRoot, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-overlay-"));
  });
  after(async () => {
    await drainRemovals();
    await rm(dir, { recursive: true, force: true });
  });

  const numbers = async (root: string) =>
    (await readdir(join(root, "snapshots")))
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  const info = async (root: string, n: number) =>
    JSON.parse(await readFile(join(root, "snapshots", String(n), "snapshot.json"), "utf8")) as {
      key: string;
      kind: string;
    };

  it("prepares over a directory a crash left under the next number, starting it afresh", async () => {
    const root = join(dir, "leftover");
    const first = await OverlayDriver.open(root, new ProcessRunner());
    await first.prepare("a");
    const [a] = await numbers(root);
    // What a berthd killed between prepare's mkdir and its snapshot.json write leaves behind.
    await mkdir(join(root, "snapshots", String(a! + 1), "fs", "stale"), { recursive: true });
    await writeFile(join(root, "snapshots", String(a! + 1), "fs", "stale", "file"), "old\n");
    const again = await OverlayDriver.open(root, new ProcessRunner());
    await again.prepare("b");
    assert.deepEqual(await readdir(join(await again.writableDir("b"))), []);
    assert.deepEqual((await again.list()).map((s) => s.key).sort(), ["a", "b"]);
  });

  it("keeps each snapshot's metadata in its own directory: a prepare or remove rewrites no other", async () => {
    const root = join(dir, "own");
    const d = await OverlayDriver.open(root, new ProcessRunner());
    await d.prepare("base-active");
    await d.commit("base", "base-active", { layer: "1" });
    const [base] = await numbers(root);
    const committed = await info(root, base!);
    assert.deepEqual([committed.key, committed.kind], ["base", "committed"]);
    const before = (await stat(join(root, "snapshots", String(base), "snapshot.json"))).mtimeMs;
    await d.prepare("c1", "base");
    await d.prepare("c2", "base");
    await d.remove("c1");
    assert.equal((await stat(join(root, "snapshots", String(base), "snapshot.json"))).mtimeMs, before);
    assert.deepEqual(await readdir(root).then((n) => n.filter((x) => x.endsWith(".json"))), [], "no store-wide file");
    const c2 = (await numbers(root)).find((n) => n !== base);
    assert.deepEqual([(await info(root, c2!)).key, (await info(root, c2!)).kind], ["c2", "active"]);
    // A reopen (berthd restarted) sees the same store, and a removed snapshot stays removed.
    const again = await OverlayDriver.open(root, new ProcessRunner());
    assert.deepEqual((await again.list()).map((s) => `${s.key}:${s.kind}:${s.parent ?? ""}`).sort(), [
      "base:committed:",
      "c2:active:base",
    ]);
    assert.equal((await again.stat("base")).labels.layer, "1");
    await again.prepare("c3", "base");
    assert.ok((await numbers(root)).length === 3, "a new number, no clash with the ones on disk");
  });

  it("converts a store with the single meta.json of earlier versions, dropping what it did not list", async () => {
    const root = join(dir, "legacy");
    await mkdir(join(root, "snapshots", "1", "fs"), { recursive: true });
    await writeFile(join(root, "snapshots", "1", "fs", "etc"), "layer\n");
    await mkdir(join(root, "snapshots", "2", "fs"), { recursive: true });
    await mkdir(join(root, "snapshots", "2", "work"), { recursive: true });
    await mkdir(join(root, "snapshots", "3", "fs"), { recursive: true }); // removed, its trash rename cut short
    const createdAt = new Date(0).toISOString();
    await writeFile(
      join(root, "meta.json"),
      JSON.stringify({
        next: 4,
        snapshots: {
          img: { id: 1, key: "img", kind: "committed", createdAt, labels: { a: "b" } },
          ctr: { id: 2, key: "ctr", kind: "active", parent: "img", createdAt, labels: {} },
        },
      }),
    );
    const d = await OverlayDriver.open(root, new ProcessRunner());
    assert.deepEqual((await d.list()).map((s) => [s.key, s.kind, s.parent, s.labels]).sort(), [
      ["ctr", "active", "img", {}],
      ["img", "committed", undefined, { a: "b" }],
    ]);
    await assert.rejects(readFile(join(root, "meta.json")), /ENOENT/);
    assert.deepEqual(await numbers(root), [1, 2]);
    assert.equal((await info(root, 1)).key, "img");
    await d.prepare("new", "img");
    assert.deepEqual(await numbers(root), [1, 2, 4], "numbers go on from the old store's next");
    const again = await OverlayDriver.open(root, new ProcessRunner());
    assert.deepEqual((await again.list()).map((s) => s.key).sort(), ["ctr", "img", "new"]);
    assert.equal(await readFile(join(await again.writableDir("ctr"), "..", "..", "1", "fs", "etc"), "utf8"), "layer\n");
  });

  it("refuses to open over a damaged snapshot.json, naming it, and removes nothing", async () => {
    const root = join(dir, "damaged");
    const d = await OverlayDriver.open(root, new ProcessRunner());
    await d.prepare("x");
    const [x] = await numbers(root);
    await writeFile(join(root, "snapshots", String(x), "snapshot.json"), '{"key": "x", "ki');
    const again = await OverlayDriver.open(root, new ProcessRunner());
    await assert.rejects(again.list(), /snapshot\.json is damaged; move snapshot directory .* aside/);
    assert.deepEqual(await numbers(root), [x]);
  });

  it("hands out copies: changing what stat or list returned does not change the store", async () => {
    const driver = await OverlayDriver.open(join(dir, "copies"), new ProcessRunner());
    await driver.prepare("c", undefined, { role: "web" });
    const writable = (labels: Readonly<Record<string, string>>) => labels as Record<string, string>;
    writable((await driver.stat("c")).labels).role = "changed";
    for (const s of await driver.list()) writable(s.labels).role = "changed";
    assert.equal((await driver.stat("c")).labels.role, "web");
    await driver.remove("c");
  });
});
