import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Trash } from "./trash.js";

describe("Trash", () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), "trash-"));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const tree = async (dir: string) => {
    await mkdir(join(dir, "a", "b"), { recursive: true });
    await writeFile(join(dir, "a", "b", "f"), "x");
    await writeFile(join(dir, "top"), "y");
  };

  it("takes a tree out of its place at once and removes it in the background", async () => {
    const trash = await new Trash(join(base, "t1")).open();
    const victim = join(base, "victim");
    await tree(victim);
    await trash.discard(victim);
    assert.equal(existsSync(victim), false, "gone from its place when discard returns");
    await trash.drain();
    assert.deepEqual(await readdir(trash.dir), [], "and from the trash once drained");
    // The same name again (a container id reused) does not collide.
    await tree(victim);
    await trash.discard(victim);
    await trash.drain();
    assert.deepEqual(await readdir(trash.dir), []);
  });

  it("a missing path is fine; a missing trash directory is made on demand", async () => {
    const trash = new Trash(join(base, "t2")); // never opened
    await trash.discard(join(base, "no-such-dir"));
    const victim = join(base, "victim2");
    await tree(victim);
    await trash.discard(victim);
    assert.equal(existsSync(victim), false);
    await trash.drain();
    assert.deepEqual(await readdir(trash.dir), []);
  });

  it("open() sweeps what an earlier process left behind", async () => {
    const dir = join(base, "t3");
    await tree(join(dir, "left.abc123"));
    const trash = await new Trash(dir).open();
    await trash.drain();
    assert.deepEqual(await readdir(dir), []);
  });
});
