import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { needsRoot } from "../testing/slow.js";
import { ProcessRunner } from "./command.js";
import { bindMount, isMountPoint, mountAll, unmount } from "./mount.js";
import { MS, mountFlags } from "./syscall.js";

describe("mountFlags", () => {
  it("splits mount(8) options into mount(2) flags and data", () => {
    assert.deepEqual(mountFlags(["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"]), {
      flags: 0,
      data: "lowerdir=/a:/b,upperdir=/u,workdir=/w",
    });
    assert.deepEqual(mountFlags(["ro", "nosuid", "nodev", "size=1m"]), {
      flags: MS.RDONLY | MS.NOSUID | MS.NODEV,
      data: "size=1m",
    });
    assert.deepEqual(mountFlags(["rbind", "rw"]), { flags: MS.BIND | MS.REC, data: "" });
  });

  it("leaves options only mount(8) understands to mount(8)", () => {
    assert.equal(mountFlags(["loop", "ro"]), undefined);
    assert.equal(mountFlags(["offset=512"]), undefined);
    assert.equal(mountFlags(["X-mount.idmap=u:0:1000:1"]), undefined);
  });
});

describe("mountAll and unmount on the real kernel", { skip: needsRoot.skip }, () => {
  const cmd = new ProcessRunner();
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const scratch = async () => {
    const d = await mkdtemp(join(tmpdir(), "berth-mount-"));
    dirs.push(d);
    return d;
  };

  it("mounts a tmpfs with flags and data, and unmounting twice is fine", async () => {
    const d = await scratch();
    await mountAll(cmd, [{ type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=1m"] }], d);
    try {
      assert.ok(await isMountPoint(d));
      await writeFile(join(d, "f"), "x");
      await assert.rejects(writeFile(join(d, "big"), Buffer.alloc(2 << 20)), /ENOSPC/);
    } finally {
      await unmount(cmd, d);
    }
    assert.equal(await isMountPoint(d), false);
    await unmount(cmd, d);
    await unmount(cmd, join(d, "missing"));
  });

  it("a read-only bind mount refuses writes; a busy one is detached", async () => {
    const src = await scratch();
    const dst = await scratch();
    await writeFile(join(src, "f"), "x");
    await mountAll(cmd, [bindMount(src, true)], dst);
    const fh = await open(join(dst, "f"), "r");
    try {
      await assert.rejects(writeFile(join(dst, "g"), "y"), /EROFS/);
      await unmount(cmd, dst); // busy: an open file
      assert.equal(await isMountPoint(dst), false);
    } finally {
      await fh.close();
    }
  });

  it("a failed mount names the call and the errno", async () => {
    const d = await scratch();
    await mkdir(join(d, "t"));
    await assert.rejects(
      mountAll(cmd, [{ type: "no-such-fs", source: "none", options: [] }], join(d, "t")),
      /no-such-fs|ENODEV/,
    );
    assert.equal(await isMountPoint(join(d, "t")), false);
  });

  it("is all or nothing: when a later mount fails, the earlier ones on the target are undone", async () => {
    const d = await scratch();
    await assert.rejects(
      mountAll(
        cmd,
        [
          { type: "tmpfs", source: "tmpfs", options: ["size=1m"] },
          { type: "no-such-fs", source: "none", options: [] },
        ],
        d,
      ),
      /no-such-fs|ENODEV/,
    );
    assert.equal(await isMountPoint(d), false);
  });
});
