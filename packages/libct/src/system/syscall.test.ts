import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { spreadSubtrees } from "./syscall.js";

const EXT_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;
/** lsattr's letters for a directory. */
const attrs = (dir: string) => execFileSync("lsattr", ["-d", dir], { encoding: "utf8" }).split(" ")[0] ?? "";

describe("spreadSubtrees", () => {
  // A directory on the disk the project lives on (where berthd's root is in these tests), not /tmp (a tmpfs on
  // some hosts).
  const base = mkdtempSync(join(new URL("../../../..", import.meta.url).pathname, ".cache-spread-"));
  after(() => rmSync(base, { recursive: true, force: true }));

  it("sets ext4's top-directory flag (chattr +T) and keeps the others; elsewhere it says it could not", () => {
    const dir = join(base, "containers");
    mkdirSync(dir);
    if (Number(statfsSync(dir).type) !== EXT_MAGIC) {
      assert.equal(spreadSubtrees(dir), false, "no such flag off ext2/3/4");
      return;
    }
    execFileSync("chattr", ["+A", dir]); // noatime: a flag of its own that must stay
    assert.doesNotMatch(attrs(dir), /T/);
    assert.equal(spreadSubtrees(dir), true);
    assert.match(attrs(dir), /T/);
    assert.match(attrs(dir), /A/);
    assert.equal(spreadSubtrees(dir), true, "already set");
  });

  it("is false for a missing directory and on a filesystem without the flag (tmpfs)", () => {
    assert.equal(spreadSubtrees(join(base, "missing")), false);
    if (Number(statfsSync("/dev/shm").type) === TMPFS_MAGIC) assert.equal(spreadSubtrees("/dev/shm"), false);
  });
});
