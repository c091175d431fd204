import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { lstat, mkdir, readdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { ProcessRunner } from "../../system/command.js";
import { needsRoot } from "../../testing/slow.js";
import { applyLayer, getXattr, unpackLayers } from "./index.js";
import { EPOCH_MS, makeTar, scratch, sha256 } from "./tartest.js";

const runner = new ProcessRunner();
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});
async function area() {
  const s = await scratch();
  cleanups.push(s.cleanup);
  return s;
}

const ALL_TYPES = [
  { name: "etc/", type: "directory" as const, mode: 0o750, mtime: new Date(1_000_000_000_000) },
  { name: "etc/hosts", body: "127.0.0.1 localhost\n", uid: 1000, gid: 1001 },
  { name: "bin/", type: "directory" as const },
  { name: "bin/su", body: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0 },
  { name: "bin/wall", body: "x", mode: 0o2755, uid: 0, gid: 5 },
  { name: "tmp/", type: "directory" as const, mode: 0o1777 },
  { name: "bin/sh", type: "symlink" as const, linkname: "busybox" },
  { name: "bin/hosts-link", type: "link" as const, linkname: "etc/hosts" },
  { name: "dev/", type: "directory" as const },
  { name: "dev/null", type: "character-device" as const, devmajor: 1, devminor: 3, mode: 0o666 },
  { name: "dev/loop0", type: "block-device" as const, devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { name: "run/initctl", type: "fifo" as const, mode: 0o600 },
  { name: "./", type: "directory" as const, mode: 0o755 },
];

describe("applyLayer", () => {
  it("applies every entry type with modes, owners, links, devices and mtimes", needsRoot, async () => {
    const { target } = await area();
    const tar = await makeTar(ALL_TYPES);
    const seen: string[] = [];
    const r = await applyLayer(target, Readable.from([tar]), {
      compression: "none",
      onEntry: (e) => seen.push(e.type),
    });
    assert.equal(r.entries, ALL_TYPES.length);
    assert.equal(r.bytes, tar.length);
    assert.equal(r.diffId, sha256(tar));
    assert.deepEqual(r.warnings, []);
    assert.ok(seen.includes("character-device") && seen.includes("fifo") && seen.includes("link"));

    const etc = await stat(join(target, "etc"));
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.mtimeMs, 1_000_000_000_000, "a directory's mtime is set after its contents");
    const hosts = await stat(join(target, "etc/hosts"));
    assert.deepEqual([hosts.uid, hosts.gid, hosts.mode & 0o7777, hosts.mtimeMs], [1000, 1001, 0o644, EPOCH_MS]);
    assert.equal(hosts.nlink, 2);
    assert.equal((await stat(join(target, "bin/hosts-link"))).ino, hosts.ino);
    assert.equal((await stat(join(target, "bin/su"))).mode & 0o7777, 0o4755);
    const wall = await stat(join(target, "bin/wall"));
    assert.deepEqual([wall.mode & 0o7777, wall.gid], [0o2755, 5]);
    assert.equal((await stat(join(target, "tmp"))).mode & 0o7777, 0o1777);
    assert.equal(await readlink(join(target, "bin/sh")), "busybox");
    assert.equal((await lstat(join(target, "bin/sh"))).mtimeMs, EPOCH_MS);
    const dnull = await lstat(join(target, "dev/null"));
    assert.ok(dnull.isCharacterDevice());
    assert.equal(dnull.rdev, (1 << 8) | 3);
    assert.equal(dnull.mode & 0o7777, 0o666);
    const loop = await lstat(join(target, "dev/loop0"));
    assert.ok(loop.isBlockDevice());
    assert.deepEqual([loop.rdev, loop.gid, loop.mode & 0o7777], [7 << 8, 6, 0o660]);
    assert.ok((await lstat(join(target, "run/initctl"))).isFIFO());
    assert.equal((await stat(join(target, "run"))).mode & 0o7777, 0o755, "implicit parents are 0755");
  });

  it("shifts ownership by idMap, implicit parents included", needsRoot, async () => {
    const { target } = await area();
    const tar = await makeTar([
      { name: "home/user/file", body: "x", uid: 1000, gid: 100, mode: 0o4750 },
      { name: "home/user/link", type: "symlink", linkname: "file", uid: 1000, gid: 100 },
    ]);
    await applyLayer(target, [tar], { compression: "none", idMap: { uidOffset: 100000, gidOffset: 200000 } });
    const f = await stat(join(target, "home/user/file"));
    assert.deepEqual([f.uid, f.gid, f.mode & 0o7777], [101000, 200100, 0o4750]);
    const l = await lstat(join(target, "home/user/link"));
    assert.deepEqual([l.uid, l.gid], [101000, 200100]);
    const home = await stat(join(target, "home"));
    assert.deepEqual([home.uid, home.gid], [100000, 200000]);
  });

  it("flattens whiteouts and opaque directories onto lower layers", async () => {
    const { target } = await area();
    const lower = await makeTar([
      { name: "a/", type: "directory" },
      { name: "a/gone", body: "1" },
      { name: "a/kept", body: "1" },
      { name: "b/", type: "directory" },
      { name: "b/old", body: "1" },
      { name: "b/sub/old", body: "1" },
      { name: "c/", type: "directory" },
      { name: "c/d/deep", body: "1" },
      { name: "e", type: "symlink", linkname: "/nowhere" },
    ]);
    const upper = await makeTar([
      { name: "a/.wh.gone" },
      { name: "b/new", body: "2" },
      { name: "b/sub/", type: "directory" },
      { name: "b/.wh..wh..opq" },
      { name: "b/later", body: "2" },
      { name: ".wh.c" },
      { name: ".wh.e" },
      { name: "f", body: "2" },
      { name: ".wh.f" }, // a whiteout hides lower content only, not this layer's own f
      { name: "a/.wh.never-existed" },
      { name: "zz/.wh.missing-dir" },
    ]);
    await applyLayer(target, [lower], { compression: "none" });
    const r = await applyLayer(target, [upper], { compression: "none" });
    assert.equal(r.entries, 11);
    assert.deepEqual((await readdir(target)).sort(), ["a", "b", "f"]);
    assert.deepEqual(await readdir(join(target, "a")), ["kept"]);
    assert.deepEqual((await readdir(join(target, "b"))).sort(), ["later", "new", "sub"]);
    assert.deepEqual(await readdir(join(target, "b/sub")), [], "an opaque dir hides lower content in kept subdirs too");
  });

  it("writes overlay whiteouts as 0:0 char devices and opaque dirs as trusted.overlay.opaque", needsRoot, async () => {
    const { target } = await area();
    const tar = await makeTar([{ name: "d/", type: "directory" }, { name: "d/.wh..wh..opq" }, { name: "d/.wh.x" }]);
    await applyLayer(target, [tar], { compression: "none", whiteouts: "overlay" });
    const wh = await lstat(join(target, "d/x"));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal((await getXattr(runner, join(target, "d"), "trusted.overlay.opaque"))?.toString(), "y");
  });

  it("sets xattrs from pax SCHILY.xattr records", async () => {
    const { target } = await area();
    const tar = await makeTar([
      { name: "f", body: "x", pax: { "SCHILY.xattr.user.berth": "hello", "SCHILY.xattr.user.empty": "" } },
      { name: "d/", type: "directory", pax: { "SCHILY.xattr.user.dir": "ok" } },
    ]);
    const r = await applyLayer(target, [tar], { compression: "none" });
    assert.deepEqual(r.warnings, []);
    assert.equal((await getXattr(runner, join(target, "f"), "user.berth"))?.toString(), "hello");
    assert.equal((await getXattr(runner, join(target, "f"), "user.empty"))?.length, 0);
    assert.equal((await getXattr(runner, join(target, "d"), "user.dir"))?.toString(), "ok");
  });

  it("reads gzip and zstd layers and hashes the uncompressed tar", async () => {
    const tar = await makeTar([
      { name: "data", body: Buffer.alloc(300_000, 7) },
      { name: "x/y", body: "z" },
    ]);
    const zst = execFileSync("zstd", ["-q", "-c"], { input: tar });
    for (const [compression, blob] of [
      ["gzip", gzipSync(tar)],
      ["zstd", zst],
    ] as const) {
      const { target } = await area();
      const r = await applyLayer(target, Readable.from([blob.subarray(0, 1000), blob.subarray(1000)]), { compression });
      assert.equal(r.diffId, sha256(tar), compression);
      assert.equal(r.bytes, tar.length);
      assert.equal((await readFile(join(target, "data"))).length, 300_000);
    }
  });

  it("rejects corrupt compressed data and truncated tars as invalid", async () => {
    const tar = await makeTar([{ name: "data", body: Buffer.alloc(5000, 1) }]);
    for (const [compression, blob, re] of [
      ["gzip", Buffer.from("not gzip at all"), /not valid gzip/],
      ["zstd", Buffer.from("not zstd at all"), /not valid zstd/],
      ["none", tar.subarray(0, 2048), /not a valid tar/],
    ] as const) {
      const { target } = await area();
      await assert.rejects(applyLayer(target, [blob], { compression }), (e: Error & { kind?: string }) => {
        assert.equal(e.kind, "invalid");
        assert.match(e.message, re);
        return true;
      });
    }
  });

  it("skips devices with a warning when told to", async () => {
    const { target } = await area();
    const tar = await makeTar([{ name: "dev/null", type: "character-device", devmajor: 1, devminor: 3 }]);
    const r = await applyLayer(target, [tar], { compression: "none", devices: "skip" });
    assert.deepEqual(r.warnings, ["dev/null: character-device 1:3 skipped"]);
    await assert.rejects(lstat(join(target, "dev/null")), { code: "ENOENT" });
  });
});

describe("unpackLayers", () => {
  it("applies layers in order into a temp dir and renames it, checking diffIds", async () => {
    const { dir } = await area();
    const l1 = await makeTar([
      { name: "a", body: "1" },
      { name: "b", body: "1" },
    ]);
    const l2 = await makeTar([{ name: ".wh.a" }, { name: "c", body: "2" }]);
    const final = join(dir, "rootfs");
    const results = await unpackLayers(
      [
        { open: () => [gzipSync(l1)], compression: "gzip", diffId: sha256(l1) },
        { open: () => [l2], compression: "none", diffId: sha256(l2) },
      ],
      final,
    );
    assert.equal(results.length, 2);
    assert.deepEqual((await readdir(final)).sort(), ["b", "c"]);
    assert.equal((await stat(final)).mode & 0o777, 0o755);
    assert.deepEqual((await readdir(dir)).sort(), ["outside", "rootfs", "target"]);
    await assert.rejects(unpackLayers([], final), { kind: "conflict" });
  });

  it("leaves nothing behind when a layer is hostile or its diffId does not match", async () => {
    const { dir } = await area();
    const good = await makeTar([{ name: "a", body: "1" }]);
    const evil = await makeTar([{ name: "../escape", body: "x" }]);
    const final = join(dir, "rootfs");
    await assert.rejects(
      unpackLayers(
        [
          { open: () => [good], compression: "none" },
          { open: () => [evil], compression: "none" },
        ],
        final,
      ),
      { kind: "invalid", message: /layer entry '..\/escape'/ },
    );
    await assert.rejects(
      unpackLayers([{ open: () => [good], compression: "none", diffId: `sha256:${"0".repeat(64)}` }], final),
      { kind: "invalid", message: /layer 0: its content hashes to sha256:/ },
    );
    assert.deepEqual((await readdir(dir)).sort(), ["outside", "target"]);
  });

  it("replaces lower entries of any kind in place, never writing through a lower symlink", async () => {
    const { target, canary, outside, outsideListing } = await area();
    const before = await outsideListing();
    const lower = await makeTar([
      { name: "out", type: "symlink", linkname: canary },
      { name: "outbig", type: "symlink", linkname: canary },
      { name: "outdir", type: "symlink", linkname: outside },
      { name: "d/", type: "directory" },
      { name: "d/child", body: "lower" },
      { name: "f", body: "lower" },
      { name: "s", body: "lower" },
      { name: "h", body: "lower" },
      { name: "src", body: "linked" },
    ]);
    const upper = await makeTar([
      { name: "out", body: "upper", mode: 0o600 },
      { name: "outbig", body: Buffer.alloc(300 * 1024, 7) },
      { name: "outdir/", type: "directory" },
      { name: "d", body: "was a directory" },
      { name: "f/", type: "directory" },
      { name: "f/inner", body: "in" },
      { name: "s", type: "symlink", linkname: "f" },
      { name: "h", type: "link", linkname: "src" },
    ]);
    await applyLayer(target, Readable.from([lower]), { compression: "none" });
    await applyLayer(target, Readable.from([upper]), { compression: "none" });
    assert.equal(await readFile(canary, "utf8"), "canary\n");
    assert.deepEqual(await outsideListing(), before);
    assert.equal(await readFile(join(target, "out"), "utf8"), "upper");
    assert.ok((await lstat(join(target, "out"))).isFile());
    assert.equal((await lstat(join(target, "outbig"))).size, 300 * 1024);
    assert.ok((await lstat(join(target, "outdir"))).isDirectory());
    assert.equal(await readFile(join(target, "d"), "utf8"), "was a directory");
    assert.equal(await readFile(join(target, "f/inner"), "utf8"), "in");
    assert.equal(await readlink(join(target, "s")), "f");
    assert.equal((await stat(join(target, "h"))).ino, (await stat(join(target, "src"))).ino);
  });

  it("refuses a target that is not a directory", async () => {
    const { dir } = await area();
    await mkdir(join(dir, "x"));
    await writeFile(join(dir, "x/file"), "");
    await assert.rejects(applyLayer(join(dir, "x/file"), [], { compression: "none" }), { kind: "not-found" });
  });
});
