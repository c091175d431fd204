import { strict as assert } from "node:assert";
import { chmod, link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { needsRoot } from "../testing/slow.js";
import { shiftOwnership } from "./shift.js";

describe("shiftOwnership", needsRoot, () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  const tree = async () => {
    const base = await mkdtemp(join(tmpdir(), "shift-"));
    dirs.push(base);
    const root = join(base, "rootfs");
    await mkdir(join(root, "bin"), { recursive: true });
    await writeFile(join(root, "bin/su"), "x");
    await chmod(join(root, "bin/su"), 0o4755);
    await writeFile(join(root, "bin/a"), "a");
    await link(join(root, "bin/a"), join(root, "bin/b"));
    await symlink("a", join(root, "bin/l"));
    return { base, root, marker: join(base, "shifted") };
  };

  it("adds the offsets to every entry, keeps setuid bits, chowns hard links once, not symlink targets", async () => {
    const { root, marker } = await tree();
    const res = await shiftOwnership(root, 100000, 200000, { markerFile: marker });
    assert.equal(res.shifted, true);
    for (const p of ["", "bin", "bin/su", "bin/a", "bin/b"]) {
      const st = await lstat(join(root, p));
      assert.deepEqual([st.uid, st.gid], [100000, 200000], p);
    }
    assert.equal((await lstat(join(root, "bin/su"))).mode & 0o7777, 0o4755);
    const l = await lstat(join(root, "bin/l"));
    assert.ok(l.isSymbolicLink());
    assert.deepEqual([l.uid, l.gid], [100000, 200000]);
  });

  it("is a no-op the second time and refuses other offsets", async () => {
    const { root, marker } = await tree();
    await shiftOwnership(root, 100000, 100000, { markerFile: marker });
    assert.deepEqual(await shiftOwnership(root, 100000, 100000, { markerFile: marker }), {
      shifted: false,
      entries: 0,
    });
    assert.equal((await lstat(join(root, "bin/a"))).uid, 100000);
    await assert.rejects(shiftOwnership(root, 300000, 300000, { markerFile: marker }), /already shifted/);
  });
});
