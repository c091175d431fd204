/**
 * The one test suite every StorageDriver runs (containerd's SnapshotterSuite): real mounts, as root.
 * A driver's test file is one line: storageDriverSuite("overlay", (root) => OverlayDriver.open(root, runner)).
 */
import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isLibctError } from "../errors.js";
import { ProcessRunner } from "../system/command.js";
import { type Mount, mountAll, unmount } from "../system/mount.js";
import { drainRemovals } from "../system/trash.js";
import { needsRoot } from "../testing/slow.js";
import type { StorageDriver } from "./driver.js";

export const storageDriverSuite = (name: string, open: (root: string) => Promise<StorageDriver>) =>
  describe(`${name} satisfies StorageDriver`, needsRoot, () => {
    const cmd = new ProcessRunner();
    let dir: string;
    let driver: StorageDriver;
    const mounted: string[] = [];

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `berth-storage-${name}-`));
      driver = await open(join(dir, "store"));
    });
    after(async () => {
      for (const m of mounted.reverse()) await unmount(cmd, m).catch(() => {});
      await drainRemovals(); // a removed snapshot is still being recycled in the driver's trash
      await rm(dir, { recursive: true, force: true });
    });

    /** Mounts `mounts` on a fresh directory and returns it; unmounted in `after` or by `done`. */
    const at = async (mounts: Mount[]): Promise<string> => {
      const target = await mkdtemp(join(dir, "mnt-"));
      await mountAll(cmd, mounts, target);
      mounted.push(target);
      return target;
    };
    const done = async (target: string) => {
      await unmount(cmd, target);
      mounted.splice(mounted.indexOf(target), 1);
    };

    it("rejects a second prepare with the same key, and an unknown parent", async () => {
      await driver.prepare("dup");
      await assert.rejects(driver.prepare("dup"), (e) => isLibctError(e, "conflict"));
      await assert.rejects(driver.prepare("orphan", "no-such-parent"), (e) => isLibctError(e, "not-found"));
      await driver.remove("dup");
    });

    it("stacks layers: a child sees its parent, changes stay in the child, deletes hide parent files", async () => {
      const base = await at(await driver.prepare("base-active"));
      await writeFile(join(base, "keep"), "base\n");
      await writeFile(join(base, "gone"), "base\n");
      await mkdir(join(base, "dir"));
      await done(base);
      await driver.commit("base", "base-active");
      await assert.rejects(driver.stat("base-active"), (e) => isLibctError(e, "not-found"));
      assert.equal((await driver.stat("base")).kind, "committed");

      const top = await at(await driver.prepare("c1", "base"));
      assert.equal(await readFile(join(top, "keep"), "utf8"), "base\n");
      await writeFile(join(top, "keep"), "changed\n");
      await rm(join(top, "gone"));
      await writeFile(join(top, "dir", "new"), "x");
      await done(top);

      const view = await at(await driver.mounts("base"));
      assert.equal(await readFile(join(view, "keep"), "utf8"), "base\n", "the parent is unchanged");
      assert.equal(await readFile(join(view, "gone"), "utf8"), "base\n");
      await assert.rejects(
        writeFile(join(view, "x"), "x"),
        /EROFS|read-only/i,
        "a committed snapshot mounts read-only",
      );
      await done(view);

      const again = await at(await driver.mounts("c1"));
      assert.equal(await readFile(join(again, "keep"), "utf8"), "changed\n", "the child keeps its changes");
      await assert.rejects(readFile(join(again, "gone")), /ENOENT/);
      await done(again);
      assert.ok((await driver.usage("c1")) > 0n);
    });

    it("refuses to remove a parent with children, then removes child and parent", async () => {
      await assert.rejects(driver.remove("base"), (e) => isLibctError(e, "precondition"));
      await driver.remove("c1");
      await driver.remove("base");
      assert.deepEqual(
        (await driver.list()).map((s) => s.key),
        [],
      );
    });

    it("survives a reopen: metadata is on disk", async () => {
      await driver.prepare("persist", undefined, { role: "test" });
      const reopened = await open(join(dir, "store"));
      assert.deepEqual((await reopened.stat("persist")).labels, { role: "test" });
      await reopened.remove("persist");
    });
  });
