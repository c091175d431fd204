import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProcessRunner } from "../../system/command.js";
import { needsRoot } from "../../testing/slow.js";
import { storageDriverSuite } from "../conformance.js";
import { OverlayDriver } from "./overlay.js";

storageDriverSuite("overlay", (root) => OverlayDriver.open(root, new ProcessRunner()));

describe("overlay driver's own metadata", needsRoot, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-overlay-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("prepares over a directory a crash left under the next number, starting it afresh", async () => {
    const root = join(dir, "leftover");
    const first = await OverlayDriver.open(root, new ProcessRunner());
    await first.prepare("a");
    const next = (JSON.parse(await readFile(join(root, "meta.json"), "utf8")) as { next: number }).next;
    // What a berthd killed between its mkdir and its meta.json write leaves behind.
    await mkdir(join(root, "snapshots", String(next), "fs", "stale"), { recursive: true });
    await writeFile(join(root, "snapshots", String(next), "fs", "stale", "file"), "old\n");
    const again = await OverlayDriver.open(root, new ProcessRunner());
    await again.prepare("b");
    assert.deepEqual(await readdir(join(await again.writableDir("b"))), []);
    assert.deepEqual((await again.list()).map((s) => s.key).sort(), ["a", "b"]);
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
