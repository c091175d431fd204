import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SealedExecutable, sealedMemfd } from "./sealed-exe.js";

describe("sealed executables (memfd_create + F_ADD_SEALS through koffi)", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-sealed-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (text: string) => {
    const p = join(dir, `s-${Math.random().toString(36).slice(2)}`);
    writeFileSync(p, `#!/bin/sh\necho ${text} "$@"\n`, { mode: 0o755 });
    return p;
  };

  it("copies a binary into a memfd nobody can write, grow or shrink, and that still runs", () => {
    const fd = sealedMemfd(script("sealed"));
    assert.ok(fd !== undefined, "koffi and memfd_create work here");
    try {
      assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^\/memfd:runc_cloned:.* \(deleted\)$/);
      assert.throws(() => writeSync(fd, "x", 0), { code: "EPERM" });
      assert.throws(() => ftruncateSync(fd, 0), { code: "EPERM" });
      assert.equal(execFileSync(`/proc/${process.pid}/fd/${fd}`, ["a"], { encoding: "utf8" }).trim(), "sealed a");
    } finally {
      closeSync(fd);
    }
  });

  it("runs through a link named after the binary, and follows the binary when it is replaced", () => {
    const src = script("one");
    const link = join(dir, "bin", String(process.pid), "runc");
    const sealed = SealedExecutable.open(src, join(dir, "bin"), { name: "runc", recheckMs: 0 });
    assert.ok(sealed);
    assert.equal(sealed.path, link);
    assert.match(readlinkSync(link), new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    assert.equal(execFileSync(sealed.path, { encoding: "utf8" }).trim(), "one");
    const before = readlinkSync(link);
    renameSync(script("two"), src); // as an upgrade replaces the file
    assert.equal(execFileSync(sealed.path, { encoding: "utf8" }).trim(), "two");
    assert.notEqual(readlinkSync(link), before);
    // Unchanged binary: the same copy, no new memfd.
    const now = readlinkSync(link);
    void sealed.path;
    assert.equal(readlinkSync(link), now);
    // A second opener of the same binary shares the copy.
    const other = SealedExecutable.open(src, join(dir, "bin2"), { name: "runc", recheckMs: 0 });
    assert.equal(readlinkSync(join(dir, "bin2", String(process.pid), "runc")), now);
    assert.ok(other);
    // Link directories of processes that are gone go when the next one opens; live ones stay.
    mkdirSync(join(dir, "bin", "999999999"));
    mkdirSync(join(dir, "bin", "1"));
    SealedExecutable.open(src, join(dir, "bin"), { name: "runc" });
    assert.deepEqual(readdirSync(join(dir, "bin")).sort(), ["1", String(process.pid)].sort());
  });

  it("gives the binary's own path when no copy can be made", () => {
    assert.equal(SealedExecutable.open(join(dir, "missing"), join(dir, "r3")), undefined);
    const src = script("gone");
    const sealed = SealedExecutable.open(src, join(dir, "r4"), { recheckMs: 0 });
    assert.ok(sealed);
    rmSync(src);
    assert.equal(sealed.path, src, "a vanished binary is reported by its real path");
  });
});
