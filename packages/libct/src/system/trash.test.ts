import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, readdirSync, statSync, symlinkSync } from "node:fs";
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

  describe("recycling", () => {
    const shape = { mode: 0o711, dirs: { keep: 0o755, work: 0o700 } };
    /** A used tree: the kept directories hold files and directories, owner and modes changed. */
    const used = async (dir: string) => {
      await mkdir(join(dir, "keep", "sub", "deeper"), { recursive: true });
      await writeFile(join(dir, "keep", "sub", "deeper", "f"), "x");
      await writeFile(join(dir, "keep", "g"), "y");
      await mkdir(join(dir, "work", "work"), { recursive: true });
      await mkdir(join(dir, "other"), { recursive: true });
      await writeFile(join(dir, "record.json"), "{}");
      chmodSync(join(dir, "keep"), 0o777);
      chmodSync(dir, 0o700);
      if (process.getuid?.() === 0) chownSync(join(dir, "keep"), 1234, 1234);
    };

    it("empties a discarded tree to its skeleton and reuses its directories (the same inodes)", async () => {
      const trash = await new Trash(join(base, "r1"), { shape }).open();
      const a = join(base, "ra");
      await used(a);
      const inodes = ["", "keep", "work"].map((d) => statSync(join(a, d)).ino);
      await trash.discard(a);
      assert.equal(existsSync(a), false);
      await trash.drain();
      const b = join(base, "rb");
      assert.equal(trash.reuse(b), true);
      assert.deepEqual(
        ["", "keep", "work"].map((d) => statSync(join(b, d)).ino),
        inodes,
        "the same directories, not new ones",
      );
      assert.deepEqual(readdirSync(b).sort(), ["keep", "work"], "only the skeleton: no files, no other directories");
      assert.deepEqual(readdirSync(join(b, "keep")), []);
      assert.deepEqual(readdirSync(join(b, "work")), []);
      const uid = process.getuid?.() ?? 0;
      for (const [d, mode] of [
        ["", 0o711],
        ["keep", 0o755],
        ["work", 0o700],
      ] as const) {
        const st = statSync(join(b, d));
        assert.equal(st.mode & 0o7777, mode, `mode of '${d}'`);
        assert.equal(st.uid, uid, `owner of '${d}'`);
      }
      assert.equal(trash.reuse(join(base, "rc")), false, "one skeleton was kept, and it is taken");
    });

    it("makes a kept directory the tree lacked, removes one that is a symlink, and never empties a link's target", async () => {
      const trash = await new Trash(join(base, "r2"), { shape }).open();
      const outside = join(base, "outside");
      await mkdir(outside);
      await writeFile(join(outside, "precious"), "z");
      const a = join(base, "r2a");
      await mkdir(a);
      symlinkSync(outside, join(a, "keep")); // a link where a kept directory belongs
      await trash.discard(a);
      symlinkSync(outside, join(base, "r2link"));
      await trash.discard(join(base, "r2link")); // a discarded link is unlinked, its target untouched
      await trash.drain();
      assert.deepEqual(readdirSync(outside), ["precious"]);
      const b = join(base, "r2b");
      assert.equal(trash.reuse(b), true);
      assert.equal(statSync(join(b, "keep")).isDirectory(), true);
      assert.deepEqual(readdirSync(join(b, "keep")), []);
      assert.equal(trash.reuse(join(base, "r2c")), false, "the link was not recycled");
    });

    it("keeps at most maxSpares; reuse refuses an existing path or a missing parent and keeps the skeleton", async () => {
      const trash = await new Trash(join(base, "r3"), { shape, maxSpares: 2 }).open();
      for (const n of [1, 2, 3]) {
        const p = join(base, `r3-${n}`);
        await used(p);
        await trash.discard(p);
      }
      await trash.drain();
      const pool = readdirSync(trash.dir).filter((n) => n.startsWith(".spare-"));
      assert.equal(pool.length, 1);
      assert.equal(readdirSync(join(trash.dir, pool[0]!)).length, 2, "two kept, the third removed");
      assert.equal(readdirSync(trash.dir).length, 1, "nothing else left in the trash");
      const existing = join(base, "r3-exists");
      await mkdir(existing);
      assert.equal(trash.reuse(existing), false, "an existing path is never replaced");
      assert.equal(trash.reuse(join(base, "no-parent", "x")), false);
      assert.equal(trash.reuse(join(base, "r3-a")), true, "the skeletons are still there");
      assert.equal(trash.reuse(join(base, "r3-b")), true);
      assert.equal(trash.reuse(join(base, "r3-c")), false);
    });

    it("a kept directory that is still a mount point is not recycled", { skip: process.getuid?.() !== 0 }, async () => {
      const trash = await new Trash(join(base, "r6"), { shape }).open();
      const p = join(base, "r6a");
      await mkdir(join(p, "keep"), { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", join(p, "keep")]);
      try {
        await trash.discard(p);
        await trash.drain();
        assert.equal(trash.reuse(join(base, "r6b")), false, "no skeleton with a mount in it");
      } finally {
        const left = readdirSync(trash.dir).filter((n) => !n.startsWith(".spare-"));
        for (const n of left) execFileSync("umount", [join(trash.dir, n, "keep")]);
      }
    });

    it("a new process starts its own pool: open() removes an earlier one", async () => {
      const dir = join(base, "r4");
      const first = await new Trash(dir, { shape }).open();
      const p = join(base, "r4a");
      await used(p);
      await first.discard(p);
      await first.drain();
      const second = await new Trash(dir, { shape }).open();
      await second.drain();
      assert.equal(readdirSync(dir).length, 1, "only the new, empty pool");
      assert.equal(second.reuse(join(base, "r4b")), false);
      assert.equal(first.reuse(join(base, "r4c")), false, "the old one's skeletons are gone");
    });

    it("a trash without a shape does not recycle", async () => {
      const trash = await new Trash(join(base, "r5")).open();
      const p = join(base, "r5a");
      await used(p);
      await trash.discard(p);
      await trash.drain();
      assert.deepEqual(await readdir(trash.dir), []);
      assert.equal(trash.reuse(join(base, "r5b")), false);
    });
  });
});
