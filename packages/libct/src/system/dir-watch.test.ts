import { strict as assert } from "node:assert";
import { renameSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DirWatch } from "./dir-watch.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("DirWatch (inotify through fs.watch)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "dirwatch-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("tells each name's listeners only of that name, until they stop listening", async () => {
    const w = new DirWatch(dir);
    const heard: string[] = [];
    const offA = w.on("a", () => heard.push("a"));
    const offB = w.on("b", () => heard.push("b"));
    writeFileSync(join(dir, "a.tmp"), "1");
    renameSync(join(dir, "a.tmp"), join(dir, "a")); // as conmon writes its exit files
    for (let i = 0; i < 100 && !heard.includes("a"); i++) await sleep(10);
    assert.ok(heard.includes("a"));
    assert.ok(!heard.includes("b"), "b heard of a");
    offB();
    writeFileSync(join(dir, "b"), "1");
    await sleep(200);
    assert.ok(!heard.includes("b"), "a listener that stopped was told");
    offA();
  });

  it("wait resolves at once for a name that exists, at its event, or after its time", async () => {
    const w = new DirWatch(dir);
    writeFileSync(join(dir, "there"), "0");
    let t0 = Date.now();
    await w.wait("there", 5000);
    assert.ok(Date.now() - t0 < 1000);
    t0 = Date.now();
    setTimeout(() => writeFileSync(join(dir, "later"), "0"), 50);
    await w.wait("later", 5000);
    assert.ok(Date.now() - t0 < 2000, "the event, not the timeout, ended the wait");
    t0 = Date.now();
    await w.wait("never", 100);
    assert.ok(Date.now() - t0 >= 90);
  });

  it("on throws for a directory it cannot watch and keeps nothing; wait falls back to its timer", async () => {
    const w = new DirWatch(join(dir, "missing"));
    assert.throws(() => w.on("x", () => {}), /ENOENT/);
    const t0 = Date.now();
    await w.wait("x", 100);
    assert.ok(Date.now() - t0 >= 90);
  });
});
