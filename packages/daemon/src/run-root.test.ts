/**
 * The run root on a persistent filesystem: berthd mounts its tmpfs there, only over nothing of this boot's, and
 * takes it away when it stops with no container left. The persistent filesystem is a loop-mounted ext4 image, so
 * that the tests mean the same on a host whose /tmp is already tmpfs. Root only.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Libct, mountAll, ProcessRunner, unmount } from "@berth/libct";
import { createLogger } from "./log.js";
import { prepareRunRoot, RUN_ROOT_SOURCE, releaseRunRoot } from "./run-root.js";
import { startTestDaemon } from "./testing/daemon.js";

const needsRoot = { skip: process.getuid?.() === 0 ? false : "needs root (integration test)" };
const TMPFS_MAGIC = 0x01021994;
const cmd = new ProcessRunner();
const log = createLogger("error");
/** What berthd passes: its libct run root and socket are its own; containers run when libct says so. */
const opts = (dir: string) => ({ ours: ["libct", "berth.sock"], inUse: () => Libct.runRootInUse(join(dir, "libct")) });

/** The mounts whose mount point is exactly `dir`, bottom first: "type source". */
function mountsAt(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (left?.split(" ")[4] !== dir || !right) continue;
    const [type, source] = right.split(" ");
    out.push(`${type} ${source}`);
  }
  return out;
}

describe("the run root", needsRoot, () => {
  let base: string;
  let disk: string;
  let n = 0;
  /** A fresh directory on the ext4 image. */
  const fresh = () => {
    const dir = join(disk, `d${++n}`);
    mkdirSync(dir);
    return dir;
  };

  before(async () => {
    base = await mkdtemp(join(tmpdir(), "rr-"));
    disk = join(base, "disk");
    mkdirSync(disk);
    execFileSync("truncate", ["-s", "32M", join(base, "ext4.img")]);
    execFileSync("mkfs.ext4", ["-q", "-F", join(base, "ext4.img")]);
    execFileSync("mount", ["-o", "loop", join(base, "ext4.img"), disk]);
    assert.notEqual(Number(statfsSync(disk).type), TMPFS_MAGIC);
  });
  after(async () => {
    if (!base) return;
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n").reverse()) {
      const mp = line.split(" ")[4];
      if (mp?.startsWith(`${disk}/`)) await unmount(cmd, mp);
    }
    await unmount(cmd, disk);
    await rm(base, { recursive: true, force: true });
  });

  it("mounts a tmpfs on an empty run root on a persistent filesystem, once, and releases it when asked", async () => {
    const dir = fresh();
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "mounted");
    assert.deepEqual(mountsAt(dir), [`tmpfs ${RUN_ROOT_SOURCE}`]);
    assert.equal(Number(statfsSync(dir).type), TMPFS_MAGIC);
    // Restarted berthd: already volatile, nothing more is mounted.
    writeFileSync(join(dir, "state"), "x");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "volatile");
    assert.deepEqual(mountsAt(dir), [`tmpfs ${RUN_ROOT_SOURCE}`]);
    // Containers left: it stays.
    assert.equal(await releaseRunRoot(dir, cmd, () => true, log), false);
    assert.deepEqual(mountsAt(dir), [`tmpfs ${RUN_ROOT_SOURCE}`]);
    assert.equal(await releaseRunRoot(dir, cmd, () => false, log), true);
    assert.deepEqual(mountsAt(dir), []);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("leaves a run root in use (this boot's, or unmarked) where it is, and marks it with the boot id", async () => {
    const dir = fresh();
    mkdirSync(join(dir, "libct", "runc", "abc"), { recursive: true });
    writeFileSync(join(dir, "libct", "runc", "abc", "state.json"), "{}");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "in-use");
    assert.deepEqual(mountsAt(dir), []);
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    assert.equal(readFileSync(join(dir, "boot-id"), "utf8").trim(), boot);
    assert.equal(readFileSync(join(dir, "libct", "runc", "abc", "state.json"), "utf8"), "{}");
    // Marked with this boot now: still in use.
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "in-use");
    assert.deepEqual(mountsAt(dir), []);
    // Not berthd's tmpfs: release does nothing.
    assert.equal(await releaseRunRoot(dir, cmd, () => false, log), false);
  });

  it("replaces what another boot left: its files go and the tmpfs is mounted", async () => {
    const dir = fresh();
    mkdirSync(join(dir, "libct", "runc", "abc"), { recursive: true });
    writeFileSync(join(dir, "libct", "runc", "abc", "state.json"), "{}");
    writeFileSync(join(dir, "boot-id"), "00000000-0000-0000-0000-000000000000\n");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "mounted");
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(await releaseRunRoot(dir, cmd, () => false, log), true);
    assert.deepEqual(readdirSync(dir), [], "the stale files were removed, not only hidden");
  });

  it("replaces this boot's leftovers where no container runs: exit files, a stale socket", async () => {
    const dir = fresh();
    mkdirSync(join(dir, "libct", "exits"), { recursive: true });
    mkdirSync(join(dir, "libct", "runc"));
    mkdirSync(join(dir, "libct", "containers"));
    writeFileSync(join(dir, "libct", "exits", "abc"), "0");
    writeFileSync(join(dir, "berth.sock"), "");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "mounted");
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(await releaseRunRoot(dir, cmd, () => false, log), true);
    assert.deepEqual(readdirSync(dir), []);
    // A bundle means a container: in use.
    mkdirSync(join(dir, "libct", "containers", "abc"), { recursive: true });
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "in-use");
  });

  it("leaves a run root holding files berthd did not put there on its filesystem, untouched", async () => {
    const dir = fresh();
    writeFileSync(join(dir, "someone-elses"), "keep");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "in-use");
    assert.deepEqual(mountsAt(dir), []);
    assert.equal(readFileSync(join(dir, "someone-elses"), "utf8"), "keep");
    // Even with another boot's marker: only what is berthd's may go.
    writeFileSync(join(dir, "boot-id"), "00000000-0000-0000-0000-000000000000\n");
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "in-use");
    assert.equal(readFileSync(join(dir, "someone-elses"), "utf8"), "keep");
  });

  it("leaves a tmpfs someone else mounted alone", async () => {
    const dir = fresh();
    await mountAll(cmd, [{ type: "tmpfs", source: "admin", options: ["mode=0755"] }], dir);
    assert.equal(await prepareRunRoot(dir, cmd, log, opts(dir)), "volatile");
    assert.equal(await releaseRunRoot(dir, cmd, () => false, log), false);
    assert.deepEqual(mountsAt(dir), ["tmpfs admin"]);
    await unmount(cmd, dir);
  });

  it("berthd keeps its containers' runtime files in the tmpfs, across kill -9, and unmounts it when it stops with none left", async () => {
    const runRoot = fresh();
    const d = await startTestDaemon({ runRoot });
    try {
      assert.deepEqual(mountsAt(runRoot), [`tmpfs ${RUN_ROOT_SOURCE}`]);
      const boot = await d.request("POST", "/1.0/images/bootstrap", { kind: "busybox" });
      assert.equal(boot.status, 200, boot.text);
      const c = await d.request("POST", "/1.0/containers", {
        image: "busybox",
        cmd: ["sh", "-c", "echo up; exec sleep 300"],
        start: true,
      });
      assert.equal(c.status, 201, c.text);
      const id = c.json.id as string;
      // The bundle and conmon's files are runtime files; the record and the log are the root's.
      const bundle = join(runRoot, "libct", "containers", id);
      for (const f of ["config.json", "attach", "ctl", "winsz", "pidfile", "conmon.pid"])
        assert.ok(existsSync(join(bundle, f)), `${f} in the run root`);
      const kept = readdirSync(join(d.root, "libct", "containers", id)).sort();
      assert.deepEqual(kept, ["berth.json", "ctr.log"]);
      // Docker's /etc files are made from the container's settings: run root too, and nothing but the rootfs
      // mount point in the container's directory on the disk.
      const etc = join(runRoot, "containers", id);
      assert.deepEqual(readdirSync(etc).sort(), ["hostname", "hosts", "resolv.conf"]);
      assert.deepEqual(readdirSync(join(d.root, "containers", id)), ["rootfs"]);

      await d.kill9();
      await d.restart();
      assert.deepEqual(mountsAt(runRoot), [`tmpfs ${RUN_ROOT_SOURCE}`], "a restart mounts nothing more");
      const after = await d.request("GET", `/1.0/containers/${id}`);
      assert.equal(after.json.state.status, "running", after.text);
      const ex = await d.request("POST", `/1.0/containers/${id}/exec`, { cmd: ["echo", "still"] });
      assert.deepEqual(ex.json, { exitCode: 0, stdout: "still\n", stderr: "" });

      // SIGTERM with a container defined: the tmpfs stays for it.
      assert.equal(await d.terminate(), 0);
      assert.deepEqual(mountsAt(runRoot), [`tmpfs ${RUN_ROOT_SOURCE}`]);
      await d.restart();
      // What a reboot leaves of them: nothing. A start makes them again, as create made them.
      const stop = await d.request("POST", `/1.0/containers/${id}/stop?t=0`);
      assert.equal(stop.status, 204, stop.text);
      rmSync(etc, { recursive: true });
      const start = await d.request("POST", `/1.0/containers/${id}/start`);
      assert.equal(start.status, 204, start.text);
      const names = await d.request("POST", `/1.0/containers/${id}/exec`, {
        cmd: ["sh", "-c", "hostname; cat /etc/hostname; head -n 1 /etc/hosts"],
      });
      assert.equal(names.json.stdout, `${id.slice(0, 12)}\n${id.slice(0, 12)}\n127.0.0.1\tlocalhost\n`, names.text);
      assert.deepEqual(readdirSync(etc).sort(), ["hostname", "hosts", "resolv.conf"]);
      const del = await d.request("DELETE", `/1.0/containers/${id}?force=true`);
      assert.equal(del.status, 204, del.text);
      assert.ok(!existsSync(bundle), "the bundle went with the container");
      assert.ok(!existsSync(etc), "its /etc files too");
      assert.equal(await d.terminate(), 0);
      assert.deepEqual(mountsAt(runRoot), [], "stopped with no container: no mount left");
    } finally {
      const problems = await d.cleanup();
      assert.deepEqual(problems, [], `leaked (log: ${d.logFile})`);
    }
  });
});
