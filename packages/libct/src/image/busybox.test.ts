import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { needsRoot } from "../testing/slow.js";
import { DEFAULT_BUSYBOX, elfInterpreter, ensureBusyboxImage, makeBusyboxRootfs } from "./busybox.js";

const noBusybox = existsSync(DEFAULT_BUSYBOX) ? false : "busybox-static is not installed (scripts/setup.sh)";

describe("makeBusyboxRootfs", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "berth-busybox-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("rejects a missing busybox as unavailable, with the fix", async () => {
    await assert.rejects(
      makeBusyboxRootfs(join(tmp, "r0"), { busybox: join(tmp, "no-such-busybox") }),
      (err: Error) => {
        assert.equal((err as { kind?: string }).kind, "unavailable");
        assert.match(err.message, /install busybox-static: scripts\/setup\.sh/);
        return true;
      },
    );
  });

  it("rejects a dynamically linked or non-ELF busybox as invalid", async () => {
    // node itself is a dynamically linked executable
    assert.notEqual(await elfInterpreter(process.execPath), null);
    await assert.rejects(makeBusyboxRootfs(join(tmp, "r1"), { busybox: process.execPath }), (err: Error) => {
      assert.equal((err as { kind?: string }).kind, "invalid");
      assert.match(err.message, /dynamically linked/);
      return true;
    });
    await writeFile(join(tmp, "script"), "#!/bin/sh\necho busybox\n", { mode: 0o755 });
    await assert.rejects(makeBusyboxRootfs(join(tmp, "r2"), { busybox: join(tmp, "script") }), { kind: "invalid" });
  });

  it("builds a rootfs with applet links, /etc files and the right modes", { skip: noBusybox }, async () => {
    const root = join(tmp, "rootfs");
    await makeBusyboxRootfs(root);
    assert.equal(await elfInterpreter(join(root, "bin/busybox")), null);
    assert.equal((await stat(join(root, "bin/busybox"))).mode & 0o7777, 0o755);
    assert.equal(await readlink(join(root, "bin/sh")), "busybox");
    for (const name of ["init", "halt", "poweroff", "reboot"]) {
      assert.equal(await readlink(join(root, "sbin", name)), "../bin/busybox", `sbin/${name}`);
    }
    const modes: Record<string, number> = { tmp: 0o1777, proc: 0o555, sys: 0o555, root: 0o700, dev: 0o755, run: 0o755 };
    for (const [dir, mode] of Object.entries(modes)) {
      const st = await lstat(join(root, dir));
      assert.ok(st.isDirectory(), dir);
      assert.equal(st.mode & 0o7777, mode, `mode of /${dir}`);
    }
    for (const dir of ["var", "home"]) assert.ok((await stat(join(root, dir))).isDirectory());
    const passwd = await readFile(join(root, "etc/passwd"), "utf8");
    assert.match(passwd, /^root:x:0:0:/m);
    assert.match(passwd, /^nobody:x:65534:65534:/m);
    assert.match(await readFile(join(root, "etc/group"), "utf8"), /^root:x:0:/m);
    assert.equal(await readFile(join(root, "etc/resolv.conf"), "utf8"), "");
    assert.match(await readFile(join(root, "etc/hosts"), "utf8"), /127\.0\.0\.1\s+localhost/);
    assert.ok((await readFile(join(root, "etc/hostname"), "utf8")).trim().length > 0);
    const inittab = await readFile(join(root, "etc/inittab"), "utf8");
    assert.match(inittab, /^::shutdown:/m);
    assert.match(inittab, /:respawn:/);
    assert.doesNotMatch(inittab, /^[^#]*sysinit:.*mount/m, "sysinit must not mount over the runtime's mounts");
  });

  it("refuses a non-empty directory", { skip: noBusybox }, async () => {
    await mkdir(join(tmp, "full"));
    await writeFile(join(tmp, "full", "x"), "");
    await assert.rejects(makeBusyboxRootfs(join(tmp, "full")), { kind: "conflict" });
  });

  it("runs busybox sh -c 'echo ok' in the rootfs through chroot", { skip: needsRoot.skip || noBusybox }, async () => {
    const root = join(tmp, "chrooted");
    await makeBusyboxRootfs(root);
    const out = execFileSync("chroot", [root, "/bin/busybox", "sh", "-c", "echo ok"]).toString("utf8");
    assert.equal(out, "ok\n");
    // and through the applet links and PATH
    const env = { PATH: "/bin:/sbin" };
    assert.equal(execFileSync("chroot", [root, "/bin/sh", "-c", "id -u; ls -d /tmp"], { env }).toString(), "0\n/tmp\n");
  });
});

describe("ensureBusyboxImage", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "berth-busybox-cache-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("builds once when called concurrently, then reuses the cache", { skip: noBusybox }, async () => {
    const cache = join(tmp, "cache", "busybox");
    const [a, b, c] = await Promise.all([
      ensureBusyboxImage(cache),
      ensureBusyboxImage(cache),
      ensureBusyboxImage(cache),
    ]);
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.equal(a.manifestDigest, c.manifestDigest);
    assert.equal(a.rootfs, join(cache, "rootfs"));
    assert.ok((await stat(join(a.rootfs, "bin/busybox"))).isFile());
    assert.ok((await stat(join(a.layout, "index.json"))).isFile());
    const before = (await stat(join(cache, "ready.json"))).mtimeMs;
    const again = await ensureBusyboxImage(cache);
    assert.equal(again.manifestDigest, a.manifestDigest);
    assert.equal((await stat(join(cache, "ready.json"))).mtimeMs, before, "the cache was reused, not rebuilt");
    // no temp dirs left behind next to the cache
    assert.deepEqual(await readdir(join(tmp, "cache")), ["busybox"]);
  });

  it("rebuilds a cache left incomplete", { skip: noBusybox }, async () => {
    const cache = join(tmp, "broken");
    await mkdir(join(cache, "rootfs"), { recursive: true });
    const img = await ensureBusyboxImage(cache);
    assert.ok((await stat(join(img.rootfs, "bin/busybox"))).isFile());
  });
});
