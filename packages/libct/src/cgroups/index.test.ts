import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isLibctError } from "../errors.js";
import type { CgroupMode } from "../model/host.js";
import { needsRoot } from "../testing/slow.js";
import {
  cgroupDirs,
  cgroupExists,
  chownCgroup,
  readStats,
  removeCgroup,
  statsFromV1,
  statsFromV2,
  V1_STAT_FILES,
} from "./index.js";

const testdata = fileURLToPath(new URL("../../testdata/cgroup/", import.meta.url));
const hostWith = (mode: CgroupMode, root: string) => ({ cgroup: { mode, root, controllers: [] } });
const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});
function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "berth-cgroups-"));
  temps.push(dir);
  return dir;
}

/** A fake v1 root shaped like a systemd-managed v1 host: cpu and cpuacct share one hierarchy reached by symlinks. */
function fakeV1Root(withFixture: boolean): string {
  const root = tempRoot();
  for (const h of ["blkio", "cpu,cpuacct", "memory", "pids", "systemd", "unified"]) {
    mkdirSync(join(root, h, "berth/abc"), { recursive: true });
  }
  symlinkSync("cpu,cpuacct", join(root, "cpu"));
  symlinkSync("cpu,cpuacct", join(root, "cpuacct"));
  if (withFixture) {
    for (const controller of Object.keys(V1_STAT_FILES)) {
      cpSync(join(testdata, "v1/busy", controller), join(root, controller, "berth/abc"), { recursive: true });
    }
  }
  return root;
}

function fixtureFiles(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}

describe("cgroup housekeeping on a fake v1 root", () => {
  it("lists each hierarchy once, including name=systemd and the hybrid unified mount", () => {
    const root = fakeV1Root(false);
    const expected = ["blkio", "cpu,cpuacct", "memory", "pids", "systemd", "unified"].map((h) =>
      join(root, h, "berth/abc"),
    );
    assert.deepEqual(cgroupDirs(hostWith("hybrid", root), "/berth/abc"), expected);
    assert.deepEqual(cgroupDirs(hostWith("v1", root), "berth/abc/"), expected);
    assert.ok(cgroupExists(hostWith("v1", root), "/berth/abc"));
    assert.ok(!cgroupExists(hostWith("v1", root), "/berth/other"));
    assert.deepEqual(cgroupDirs(hostWith("v1", join(root, "nope")), "/berth/abc"), []);
  });

  it("rejects paths that escape the hierarchy or name its root", () => {
    const host = hostWith("v1", fakeV1Root(false));
    for (const bad of ["/", "", "/berth/../../etc", "system.slice:berth:abc"]) {
      assert.throws(
        () => cgroupDirs(host, bad),
        (err: unknown) => isLibctError(err, "invalid"),
        bad,
      );
    }
  });

  it("reads stats through combined hierarchies and symlinks, hybrid like v1", async () => {
    const root = fakeV1Root(true);
    for (const mode of ["v1", "hybrid"] as const) {
      const stats = await readStats(hostWith(mode, root), "/berth/abc");
      const files = new Map(Object.keys(V1_STAT_FILES).flatMap((c) => [...fixtureFiles(join(testdata, "v1/busy", c))]));
      assert.deepEqual(stats, statsFromV1(files, new Date(stats.readAt)));
      assert.equal(stats.memory?.usageBytes, 5005312n);
    }
  });

  it("reads what is there when controllers are missing, and not-found when the cgroup is nowhere", async () => {
    const root = tempRoot();
    mkdirSync(join(root, "pids/berth/abc"), { recursive: true });
    writeFileSync(join(root, "pids/berth/abc/pids.current"), "2\n");
    writeFileSync(join(root, "pids/berth/abc/pids.max"), "max\n");
    const stats = await readStats(hostWith("v1", root), "/berth/abc");
    assert.deepEqual({ ...stats, readAt: "" }, { pids: { current: 2n }, blockIO: [], readAt: "" });
    await assert.rejects(readStats(hostWith("v1", root), "/berth/gone"), (err: unknown) => {
      assert.ok(isLibctError(err, "not-found"));
      assert.match(err.message, /\/berth\/gone/);
      return true;
    });
  });

  it("removes leaf-first in every hierarchy, and again without complaint", async () => {
    const root = fakeV1Root(false);
    mkdirSync(join(root, "systemd/berth/abc/init.scope"));
    mkdirSync(join(root, "systemd/berth/abc/system.slice/cron.service"), { recursive: true });
    const host = hostWith("v1", root);
    await removeCgroup(host, "/berth/abc");
    assert.deepEqual(cgroupDirs(host, "/berth/abc"), []);
    assert.ok(existsSync(join(root, "memory/berth")), "the parent stays");
    await removeCgroup(host, "/berth/abc");
  });

  it("reports a cgroup that cannot be removed as a precondition, naming it, after removing the rest", async () => {
    const root = fakeV1Root(false);
    writeFileSync(join(root, "memory/berth/abc/stuck"), ""); // ENOTEMPTY on tmpfs, as EBUSY on cgroupfs
    const host = hostWith("v1", root);
    await assert.rejects(removeCgroup(host, "/berth/abc"), (err: unknown) => {
      assert.ok(isLibctError(err, "precondition"));
      assert.match(err.message, /cgroup \/berth\/abc still has processes/);
      assert.ok(err.message.includes(join(root, "memory/berth/abc")));
      return true;
    });
    assert.deepEqual(cgroupDirs(host, "/berth/abc"), [join(root, "memory/berth/abc")]);
  });

  it("chowns the directories and their delegation files, not the limit files", needsRoot, async () => {
    const root = fakeV1Root(true);
    for (const h of ["memory", "systemd"]) {
      writeFileSync(join(root, h, "berth/abc/cgroup.procs"), "");
      writeFileSync(join(root, h, "berth/abc/tasks"), "");
    }
    const host = hostWith("v1", root);
    await chownCgroup(host, "/berth/abc", 100000, 100001);
    for (const dir of cgroupDirs(host, "/berth/abc")) {
      assert.deepEqual([statSync(dir).uid, statSync(dir).gid], [100000, 100001], dir);
    }
    for (const f of ["memory/berth/abc/cgroup.procs", "memory/berth/abc/tasks", "systemd/berth/abc/tasks"]) {
      assert.equal(statSync(join(root, f)).uid, 100000, f);
    }
    assert.equal(statSync(join(root, "memory/berth/abc/memory.limit_in_bytes")).uid, 0);
    await assert.rejects(chownCgroup(host, "/berth/none", 1, 1), (err: unknown) => isLibctError(err, "not-found"));
  });
});

describe("cgroup v2 (fake root with kernel-format fixtures)", () => {
  it("finds, reads and removes the single directory", async () => {
    const root = tempRoot();
    const dir = join(root, "berth/abc");
    cpSync(join(testdata, "v2/limited"), dir, { recursive: true });
    const host = hostWith("v2", root);
    assert.deepEqual(cgroupDirs(host, "/berth/abc"), [dir]);
    const stats = await readStats(host, "/berth/abc");
    assert.deepEqual(stats, statsFromV2(fixtureFiles(dir), new Date(stats.readAt)));
    assert.equal(stats.memory?.peakBytes, 8001486848n);
    await assert.rejects(readStats(host, "/berth/zzz"), (err: unknown) => isLibctError(err, "not-found"));
    for (const f of readdirSync(dir)) rmSync(join(dir, f));
    mkdirSync(join(dir, "init.scope"));
    await removeCgroup(host, "/berth/abc");
    assert.ok(!existsSync(dir));
    assert.ok(!cgroupExists(host, "/berth/abc"));
  });
});

/** Probes this host's cgroup layout the way host/probe.ts does, enough for the integration test. */
function probeMode(root: string): CgroupMode {
  if (existsSync(join(root, "cgroup.controllers"))) return "v2";
  return existsSync(join(root, "unified/cgroup.controllers")) ? "hybrid" : "v1";
}

describe("cgroups on this host (root)", () => {
  it("reads stats of a real cgroup with a process in it, then removes it", needsRoot, async (t) => {
    const root = "/sys/fs/cgroup";
    const mode = probeMode(root);
    const host = hostWith(mode, root);
    const parent = `berth-test-${process.pid}`;
    const path = `/${parent}/c1`;
    const hierarchies =
      mode === "v2"
        ? [""]
        : ["memory", "cpu", "cpuacct", "pids", "blkio", "systemd", "unified"].filter((h) => existsSync(join(root, h)));
    let child: ChildProcess | undefined;
    t.after(() => {
      child?.kill("SIGKILL");
      for (const h of hierarchies) {
        for (const d of [join(root, h, path), join(root, h, parent)]) {
          try {
            rmdirSync(d);
          } catch {} // already removed by the test
        }
      }
    });

    // What runc does for linux.cgroupsPath: one directory per hierarchy (on v2, controllers enabled on the way).
    for (const h of hierarchies) mkdirSync(join(root, h, parent), { recursive: true });
    if (mode === "v2") {
      const available = readFileSync(join(root, parent, "cgroup.controllers"), "utf8")
        .trim()
        .split(/\s+/);
      const wanted = available.filter((c) => ["cpu", "memory", "pids", "io"].includes(c));
      writeFileSync(join(root, parent, "cgroup.subtree_control"), wanted.map((c) => `+${c}`).join(" "));
    }
    for (const h of hierarchies) mkdirSync(join(root, h, path));
    assert.ok(cgroupExists(host, path));
    assert.deepEqual(cgroupDirs(host, path).length, hierarchies.length);

    child = spawn("sh", [
      "-c",
      "read x; dd if=/dev/zero of=/dev/null bs=4M count=4 2>/dev/null; echo ready; exec sleep 60",
    ]);
    const ready = new Promise<void>((resolve) => child?.stdout?.on("data", () => resolve()));
    for (const dir of cgroupDirs(host, path)) writeFileSync(join(dir, "cgroup.procs"), String(child.pid));
    child.stdin?.write("go\n");
    await ready;

    const stats = await readStats(host, path);
    assert.ok(stats.pids && stats.pids.current >= 1n, `pids: ${stats.pids?.current}`);
    assert.ok(stats.memory && stats.memory.usageBytes > 0n, `memory: ${stats.memory?.usageBytes}`);
    assert.ok(stats.cpu && stats.cpu.totalNs > 0n, `cpu: ${stats.cpu?.totalNs}`);
    assert.ok(Math.abs(Date.parse(stats.readAt) - Date.now()) < 60_000);

    await assert.rejects(removeCgroup(host, path), (err: unknown) => isLibctError(err, "precondition"));
    assert.ok(cgroupExists(host, path), "a busy cgroup stays, and its process is not killed");
    assert.equal(child.exitCode, null);

    const exited = new Promise((resolve) => child?.on("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const dirs = hierarchies.map((h) => join(root, h, path));
    await removeCgroup(host, path);
    for (const d of dirs) assert.ok(!existsSync(d), `${d} still exists`);
    assert.ok(!cgroupExists(host, path));
    for (const h of hierarchies) rmdirSync(join(root, h, parent));
  });
});
