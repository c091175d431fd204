/**
 * Libct against the real thing: runc, conmon, the kernel's namespaces, cgroups and seccomp on this host.
 * No mocks. Each test opens its own Libct on a temp root (testing/libct-env.ts) and fails if it leaks a
 * cgroup, a conmon, runc state or a container directory.
 *
 * Run: npx tsc -b && node --test --test-concurrency=1 packages/libct/dist/lifecycle/libct.test.js
 */

import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { isLibctError } from "../errors.js";
import type { ContainerDescription } from "../model/description.js";
import {
  eventually,
  initPid,
  leftoverCgroups,
  openTestLibct,
  processesMentioning,
  runcList,
  type TestLibct,
} from "../testing/libct-env.js";
import { needsRoot, slow } from "../testing/slow.js";
import { Libct } from "./libct.js";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates, starts and waits; returns the exit result and the log. The container stays for inspection. */
async function runToExit(env: TestLibct, id: string, description: ContainerDescription) {
  await env.lib.create({ id, description });
  await env.lib.start(id);
  const exit = await env.lib.wait(id);
  return { ...exit, logs: await env.lib.logs(id) };
}

const stdout = (logs: { stream: string; text: string }[]) =>
  logs
    .filter((l) => l.stream === "stdout")
    .map((l) => l.text)
    .join("\n");

/** Starts a long-running container and returns its id once it runs. */
async function startSleeper(env: TestLibct, prefix: string, over: Partial<ContainerDescription> = {}) {
  const id = env.id(prefix);
  await env.lib.create({ id, description: env.app({ process: { args: ["/bin/sleep", "1000"] }, ...over }) });
  await env.lib.start(id);
  return id;
}

describe("Libct on runc + conmon (integration)", { ...needsRoot, timeout: 120_000 }, () => {
  it("gives system containers created at the same time distinct id ranges", async (t) => {
    const env = await openTestLibct(t);
    const ids = [env.id("race-a"), env.id("race-b"), env.id("race-c")];
    await Promise.all(
      ids.map((id) =>
        env.lib.create({
          id,
          description: {
            kind: "system",
            rootfs: { path: env.image.rootfs, readonly: true },
            process: { args: ["/bin/true"] },
          },
        }),
      ),
    );
    const bases = await Promise.all(
      ids.map(async (id) => (await env.lib.state(id)).description.idMap?.uidMappings[0]?.hostID),
    );
    assert.equal(new Set(bases).size, 3, `ranges ${bases}`);
  });

  it("runs PID 1 in its own PID namespace with the hostname set", async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("pidns");
    const r = await runToExit(
      env,
      id,
      env.app({
        hostname: "berth-box",
        process: { args: ["/bin/sh", "-c", "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname"] },
      }),
    );
    assert.equal(r.exitCode, 0, JSON.stringify(r.logs));
    const lines = stdout(r.logs).split("\n");
    assert.equal(lines[0], "pid=1");
    assert.equal(lines[1]?.trim(), "/bin/sh -c echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname");
    assert.equal(lines[2], "berth-box");
  });

  it("joins a network namespace made outside it, by path; a path that is gone is refused first", async (t) => {
    const env = await openTestLibct(t);
    const ns = `berth-t-${process.pid}`;
    const ip = (...args: string[]) => {
      const r = spawnSync("ip", args, { encoding: "utf8" });
      assert.equal(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    };
    ip("netns", "add", ns);
    t.after(() => spawnSync("ip", ["netns", "delete", ns]));
    const r = await runToExit(
      env,
      env.id("netns"),
      env.app({
        namespaces: { network: { path: `/run/netns/${ns}` } },
        process: { args: ["/bin/readlink", "/proc/self/ns/net"] },
      }),
    );
    assert.equal(r.exitCode, 0, JSON.stringify(r.logs));
    const inode = statSync(`/run/netns/${ns}`).ino;
    assert.equal(stdout(r.logs).trim(), `net:[${inode}]`, "the container runs in that very namespace");
    await assert.rejects(
      env.lib.create({
        id: env.id("gone"),
        description: env.app({ namespaces: { network: { path: `/run/netns/${ns}-gone` } } }),
      }),
      (err) => isLibctError(err) && /does not exist/.test(err.message),
    );
  });

  it("shows the memory limit inside and reports an OOM kill from the kernel", async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("oom");
    const limit = 32 * MiB;
    const r = await runToExit(
      env,
      id,
      env.app({
        limits: { memory: { limitBytes: limit, swapBytes: limit } },
        process: {
          args: [
            "/bin/sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; " +
              "exec dd if=/dev/zero of=/dev/null bs=100M count=1",
          ],
        },
      }),
    );
    assert.equal(stdout(r.logs).split("\n")[0], String(limit));
    assert.deepEqual({ exitCode: r.exitCode, oomKilled: r.oomKilled }, { exitCode: 137, oomKilled: true });
    // The verdict comes from the kernel: conmon's oom file or the cgroup's oom_kill counter.
    const oomFile = existsSync(join(env.lib.bundlePath(id), "oom"));
    const kills = (await env.lib.stats(id)).memory?.oomKills ?? 0n;
    assert.ok(oomFile || kills > 0n, `no oom evidence: oom file ${oomFile}, oom_kill ${kills}`);
    assert.equal((await env.lib.state(id)).oomKilled, true);

    // A plain SIGKILL also exits 137, but is not an OOM kill.
    const other = await startSleeper(env, "kill9", { limits: { memory: { limitBytes: limit } } });
    await env.lib.kill(other, "SIGKILL");
    assert.deepEqual(await env.lib.wait(other), { exitCode: 137, oomKilled: false });
  });

  it("holds a fork bomb at the pids limit and still answers exec afterwards", async (t) => {
    const env = await openTestLibct(t);
    // busybox init as PID 1 reaps the bomb's orphans, so the slots come back once they exit.
    const id = await startSleeper(env, "pids", { limits: { pids: { limit: 20 } }, process: { args: ["/sbin/init"] } });
    const bomb = "i=0; while [ $i -lt 100 ]; do sleep 2 & i=$((i+1)); done; echo survived";
    const ex = await env.lib.exec(id, { args: ["/bin/sh", "-c", bomb], timeoutMs: 10_000 });
    assert.notEqual(ex.exitCode, 0, "the bomb ran 100 sleeps under a limit of 20");
    assert.match(ex.stderr, /can't fork|Resource temporarily unavailable/);
    const during = await env.lib.stats(id);
    assert.equal(during.pids?.limit, 20n);
    assert.ok(during.pids!.current <= 20n, `pids.current ${during.pids?.current} > 20`);
    assert.ok(during.pids!.current >= 10n, `the bomb left only ${during.pids?.current} tasks`);
    await eventually(async () => (await env.lib.stats(id)).pids!.current <= 2n, 10_000);
    assert.deepEqual(await env.lib.exec(id, { args: ["/bin/echo", "alive"], timeoutMs: 10_000 }), {
      exitCode: 0,
      stdout: "alive\n",
      stderr: "",
    });
    assert.equal((await env.lib.state(id)).status, "running");
  });

  it("holds two busy loops to a 0.5-CPU quota (at most +20%, throttled)", slow, async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("cpu");
    await env.lib.create({
      id,
      description: env.app({
        limits: { cpu: { cpus: 0.5 } },
        process: { args: ["/bin/sh", "-c", "while :; do :; done & while :; do :; done"] },
      }),
    });
    await env.lib.start(id);
    await sleep(500); // let both loops start and the first periods settle
    const a = await env.lib.stats(id);
    const t0 = process.hrtime.bigint();
    await sleep(3000);
    const b = await env.lib.stats(id);
    const wallNs = process.hrtime.bigint() - t0;
    const cpus = Number(b.cpu!.totalNs - a.cpu!.totalNs) / Number(wallNs);
    t.diagnostic(`${cpus.toFixed(3)} CPUs`);
    // The quota is the upper bound. The lower one only shows the loops ran: a loaded machine may give them less.
    assert.ok(cpus >= 0.2 && cpus <= 0.6, `used ${cpus.toFixed(3)} CPUs under a 0.5 quota`);
    assert.ok((b.cpu?.throttledPeriods ?? 0n) > 0n, "the quota never throttled");
  });

  it("refuses writes to a read-only rootfs, a dropped capability, and syscalls seccomp forbids", async (t) => {
    const env = await openTestLibct(t);
    const tmp = [{ type: "tmpfs" as const, destination: "/tmp" }];
    const locked = await startSleeper(env, "ro", { mounts: tmp, capabilities: { drop: ["CHOWN"] } });
    const plain = await startSleeper(env, "caps", { mounts: tmp });
    const sh = (id: string, cmd: string) => env.lib.exec(id, { args: ["/bin/sh", "-c", cmd], timeoutMs: 10_000 });

    const rootWrite = await sh(locked, "touch /x");
    assert.notEqual(rootWrite.exitCode, 0);
    assert.match(rootWrite.stderr, /Read-only file system/);
    assert.equal((await sh(locked, "echo hi > /tmp/f && cat /tmp/f")).stdout, "hi\n");

    const denied = await sh(locked, "chown 1 /tmp/f");
    assert.notEqual(denied.exitCode, 0);
    assert.match(denied.stderr, /Operation not permitted/);
    const allowed = await sh(plain, "touch /tmp/f && chown 1 /tmp/f && stat -c %u /tmp/f");
    assert.deepEqual(allowed, { exitCode: 0, stdout: "1\n", stderr: "" });

    // unshare(CLONE_NEWUSER) needs no capability, so with the same capabilities only seccomp can refuse it.
    const confined = await sh(plain, "unshare -U true");
    assert.notEqual(confined.exitCode, 0);
    assert.match(confined.stderr, /Operation not permitted/);
    const free = await startSleeper(env, "noseccomp", { mounts: tmp, seccomp: "unconfined" });
    assert.deepEqual(await sh(free, "unshare -U true && echo ok"), { exitCode: 0, stdout: "ok\n", stderr: "" });
  });

  it("maps a system container's root to its own unprivileged host range and stops it with SIGRTMIN+3", async (t) => {
    const env = await openTestLibct(t);
    // PID 1 ignores signals it has no handler for; this one powers off on systemd's halt signal (37).
    const init = "trap 'echo halting; exit 0' 37; while :; do sleep 1 & wait; done";
    const system = (): ContainerDescription => ({
      kind: "system",
      rootfs: { path: env.image.rootfs, readonly: true },
      process: { args: ["/bin/sh", "-c", init] },
    });
    const a = env.id("sys-a");
    const b = env.id("sys-b");
    for (const id of [a, b]) {
      await env.lib.create({ id, description: system() });
      await env.lib.start(id);
    }
    const ranges: number[] = [];
    for (const id of [a, b]) {
      const inside = await env.lib.exec(id, { args: ["/bin/sh", "-c", "cat /proc/self/uid_map; id -u"] });
      const [map, uid] = inside.stdout.trim().split("\n");
      const [inner, hostBase, size] = map!.trim().split(/\s+/).map(Number);
      assert.equal(inner, 0);
      assert.equal(size, 65536);
      assert.ok(hostBase! >= 1_000_000, `mapped to host uid ${hostBase}`);
      assert.equal(uid, "0");
      const status = readFileSync(`/proc/${await initPid(env.lib, id)}/status`, "utf8");
      const hostUids = /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
      assert.ok(
        hostUids.every((u) => u === hostBase),
        `init runs as host uids ${hostUids}, expected ${hostBase}`,
      );
      ranges.push(hostBase!);
    }
    assert.equal(ranges[0], 1_000_000);
    assert.ok(Math.abs(ranges[0]! - ranges[1]!) >= 65536, `overlapping ranges ${ranges}`);

    const t0 = Date.now();
    const exit = await env.lib.stop(a, { timeoutMs: 10_000 });
    assert.deepEqual(exit, { exitCode: 0, oomKilled: false });
    assert.ok(Date.now() - t0 < 5000, "stop fell back to SIGKILL");
    assert.match(stdout(await env.lib.logs(a)), /halting/);
  });

  it("propagates exit codes and captures both log streams in order, with timestamps", async (t) => {
    const env = await openTestLibct(t);
    const ids = new Map<number, string>();
    for (const code of [0, 3, 255]) {
      ids.set(code, env.id(`exit${code}`));
      const r = await runToExit(env, ids.get(code)!, env.app({ process: { args: ["/bin/sh", "-c", `exit ${code}`] } }));
      assert.deepEqual({ exitCode: r.exitCode, oomKilled: r.oomKilled }, { exitCode: code, oomKilled: false });
    }
    // conmon's own copy of the exit code goes to the run root's tmpfs, with the bundle: an exit makes no file on
    // the root's disk (where the container's directory, its record and its log live).
    const onDisk = dirname(env.lib.logPath(ids.get(3)!));
    assert.ok(existsSync(join(onDisk, "berth.json")), `${onDisk} is not the container's directory`);
    assert.equal(existsSync(join(onDisk, "exit")), false, "conmon wrote an exit file on the disk");
    assert.equal(readFileSync(join(env.lib.bundlePath(ids.get(3)!), "exit"), "utf8"), "3");
    const killed = await startSleeper(env, "sigkill");
    await env.lib.kill(killed, "KILL");
    assert.equal((await env.lib.wait(killed)).exitCode, 128 + 9);
    assert.equal((await env.lib.state(killed)).exitCode, 137);

    // conmon reads stdout and stderr from two pipes: lines 200 ms apart are logged in the order written even
    // when it is slow to be scheduled.
    const script =
      "echo out1; usleep 200000; echo err1 >&2; usleep 200000; echo out2; usleep 200000; echo err2 >&2; exit 3";
    const r = await runToExit(env, env.id("logs"), env.app({ process: { args: ["/bin/sh", "-c", script] } }));
    assert.equal(r.exitCode, 3);
    assert.deepEqual(
      r.logs.map((l) => [l.stream, l.text]),
      [
        ["stdout", "out1"],
        ["stderr", "err1"],
        ["stdout", "out2"],
        ["stderr", "err2"],
      ],
    );
    const times = r.logs.map((l) => Date.parse(l.time));
    for (const [i, ms] of times.entries()) {
      assert.ok(Number.isFinite(ms) && Math.abs(ms - Date.now()) < 60_000, `bad timestamp ${r.logs[i]?.time}`);
      if (i > 0) assert.ok(ms >= times[i - 1]!, "timestamps go backwards");
    }
  });

  it("lets a process created to be started go as soon as runc has it ready, before start is asked", async (t) => {
    const env = await openTestLibct(t);
    // Its first output appears with no start call at all: the create itself let it go (runc's exec fifo read
    // as soon as runc made it, as `runc run` does).
    const id = env.id("armed");
    await env.lib.create({
      id,
      description: env.app({ process: { args: ["/bin/sh", "-c", "echo early; exec sleep 30"] } }),
      start: true,
    });
    await eventually(async () => stdout(await env.lib.logs(id)) === "early");
    assert.ok(!existsSync(join(env.runRoot, "runc", id, "exec.fifo")), "the exec fifo is gone, as after runc start");
    const { pid } = await env.lib.start(id); // reports that start: the pid, no error
    assert.ok(pid && pid > 0);
    assert.equal((await env.lib.state(id)).status, "running");
    await env.lib.delete(id, { force: true });

    // A process that is done before start is asked: start still reports it, and wait has its exit.
    const quick = env.id("armed-quick");
    await env.lib.create({
      id: quick,
      description: env.app({ process: { args: ["/bin/sh", "-c", "exit 5"] } }),
      start: true,
    });
    await env.lib.start(quick);
    assert.equal((await env.lib.wait(quick)).exitCode, 5);

    // Created to be started and deleted instead (its process may have run by then): nothing is left.
    const dropped = env.id("armed-drop");
    await env.lib.create({
      id: dropped,
      description: env.app({ process: { args: ["/bin/sh", "-c", "echo ran"] } }),
      start: true,
    });
    await env.lib.delete(dropped, { force: true });
    await assert.rejects(env.lib.state(dropped), /no such container/);
    assert.ok(!runcList(join(env.runRoot, "runc")).includes(dropped), "runc has no such container");
  });

  it("a system container created to be started on cgroup v1 runs only once its cgroups are its root's", async (t) => {
    const env = await openTestLibct(t);
    if (env.lib.host.cgroup.mode === "v2") return t.skip("cgroup v1 only: berth chowns no cgroup on v2");
    // Its very first command looks at the owner of its own pids cgroup, which it sees at /sys/fs/cgroup/pids:
    // its root (0) once berth has chowned it, the overflow uid (65534) before. systemd fails on the latter.
    const id = env.id("sys-armed");
    await env.lib.create({
      id,
      description: {
        kind: "system",
        rootfs: { path: env.image.rootfs, readonly: true },
        process: { args: ["/bin/sh", "-c", "stat -c %u /sys/fs/cgroup/pids /sys/fs/cgroup/memory"] },
      },
      start: true,
    });
    await env.lib.start(id);
    assert.equal((await env.lib.wait(id)).exitCode, 0);
    assert.equal(stdout(await env.lib.logs(id)), "0\n0");
  });

  it("followExit tells each follower its own container's exit once, never synchronously; a stopped one hears nothing", async (t) => {
    const env = await openTestLibct(t);
    const a = await startSleeper(env, "follow-a");
    const b = await startSleeper(env, "follow-b");
    const heard: Record<string, { exitCode: number; oomKilled: boolean }[]> = { a: [], b: [] };
    const stopA = env.lib.followExit(a, (res) => heard.a!.push(res));
    const stopB = env.lib.followExit(b, (res) => heard.b!.push(res));
    stopB();
    await sleep(100);
    assert.deepEqual(heard, { a: [], b: [] }, "nothing before an exit");
    await env.lib.kill(a, "SIGKILL");
    await env.lib.kill(b, "SIGKILL");
    await eventually(() => heard.a!.length > 0);
    assert.equal((await env.lib.wait(b)).exitCode, 137);
    await sleep(200);
    assert.deepEqual(heard.a, [{ exitCode: 137, oomKilled: false }]);
    assert.deepEqual(heard.b, [], "a stopped follower is not told");
    stopA(); // after the report: a no-op

    // Followed after it exited: told at once, but not within the call.
    let called = false;
    const late = env.lib.followExit(b, (res) => {
      called = true;
      assert.equal(res.exitCode, 137);
    });
    assert.equal(called, false, "not called synchronously");
    await eventually(() => called);
    late();

    // No such container: never told, and stopping is harmless.
    let ghost = false;
    env.lib.followExit("no-such-container", () => {
      ghost = true;
    })();
    await sleep(100);
    assert.equal(ghost, false);
    for (const id of [a, b]) await env.lib.delete(id);
  });

  it(
    "followExit reports 255 for a container whose conmon died without writing its exit (the recheck)",
    slow,
    async (t) => {
      const env = await openTestLibct(t);
      const id = await startSleeper(env, "follow-orphan");
      const pid = await initPid(env.lib, id);
      let heard: { exitCode: number; oomKilled: boolean } | undefined;
      env.lib.followExit(id, (res) => {
        heard = res;
      });
      const conmons = processesMentioning(id).filter((p) => p.cmdline.includes("conmon"));
      assert.ok(conmons.length > 0, "the container's conmon");
      for (const c of conmons) process.kill(c.pid, "SIGKILL");
      await eventually(() => processesMentioning(id).every((p) => !p.cmdline.includes("conmon")));
      await sleep(300);
      assert.equal(heard, undefined, "conmon's death alone is no exit: the container still runs");
      process.kill(pid, "SIGKILL");
      await eventually(() => heard !== undefined, 12_000); // the next recheck, at most EXIT_RECHECK_MS (5 s) away
      assert.deepEqual(heard, { exitCode: 255, oomKilled: false });
      await env.lib.delete(id, { force: true });
    },
  );

  it("creates with a monitor held ahead of the description; a cancelled or mismatched hold leaves nothing", async (t) => {
    const env = await openTestLibct(t);
    // Used: the held conmon runs the runtime once create has written the bundle.
    const id = env.id("held");
    const monitor = env.lib.holdMonitor(id, { terminal: false, stdin: false });
    assert.ok(monitor, "conmon can be held here (posix_spawn)");
    assert.equal(env.lib.holdMonitor(id, { terminal: false, stdin: false }), undefined, "one hold per id");
    await env.lib.create({
      id,
      description: env.app({ process: { args: ["/bin/sh", "-c", "echo held; exit 4"] } }),
      monitor,
    });
    await env.lib.start(id);
    assert.equal((await env.lib.wait(id)).exitCode, 4);
    assert.deepEqual(stdout(await env.lib.logs(id)), "held");
    monitor.cancel(); // a no-op: create took it
    assert.equal((await env.lib.state(id)).status, "stopped");

    // Cancelled before create: conmon is killed and the directory it worked in goes.
    const gone = env.id("held-cancel");
    const dropped = env.lib.holdMonitor(gone, { terminal: false, stdin: false });
    assert.ok(dropped);
    await eventually(() => processesMentioning(gone).length > 0);
    dropped.cancel();
    await eventually(() => processesMentioning(gone).length === 0);
    await assert.rejects(env.lib.state(gone), /no such container/);
    assert.ok(!runcList(join(env.runRoot, "runc")).includes(gone), "runc has no such container");

    // Held for other stdio than the description's (a terminal): create drops it and starts its own conmon.
    const tty = env.id("held-tty");
    const other = env.lib.holdMonitor(tty, { terminal: false, stdin: false });
    assert.ok(other);
    await env.lib.create({
      id: tty,
      description: env.app({ process: { args: ["/bin/sleep", "30"], terminal: true } }),
      monitor: other,
    });
    await env.lib.start(tty);
    assert.equal((await env.lib.state(tty)).status, "running");
    assert.ok(processesMentioning(tty).length >= 1, "the container's own conmon runs");
    await env.lib.delete(tty, { force: true });

    // A description that fails validation cancels the hold: no conmon, no directory.
    const bad = env.id("held-bad");
    const doomed = env.lib.holdMonitor(bad, { terminal: false, stdin: false });
    assert.ok(doomed);
    await assert.rejects(env.lib.create({ id: bad, description: { kind: "app" }, monitor: doomed }));
    await eventually(() => processesMentioning(bad).length === 0);
    await assert.rejects(env.lib.state(bad), /no such container/);
  });

  it("runs runc from one sealed copy, so that its init makes no copy of its own", async (t) => {
    const env = await openTestLibct(t);
    assert.equal(env.lib.runtime.binary, join(env.runRoot, "bin", String(process.pid), "runc"));
    // A created container's process is runc's init, waiting to exec: its executable tells where it runs from.
    const sealed = env.id("sealed");
    await env.lib.create({ id: sealed, description: env.app({ process: { args: ["/bin/true"] } }) });
    assert.match(readlinkSync(`/proc/${await initPid(env.lib, sealed)}/exe`), /^\/memfd:runc_cloned:/);
    // Without the sealed copy, runc's init runs from a copy of its own, made in its state directory (which
    // is outside the container's mounts, so /proc shows the path as "/").
    const plain = await Libct.open({ root: env.root, runRoot: env.runRoot, host: env.lib.host, sealRuntime: false });
    assert.equal(plain.runtime.binary, plain.host.runtimes.find((r) => r.name === "runc")?.path);
    const copied = env.id("copied");
    await plain.create({ id: copied, description: env.app({ process: { args: ["/bin/true"] } }) });
    assert.doesNotMatch(readlinkSync(`/proc/${await initPid(plain, copied)}/exe`), /memfd/);
    for (const id of [sealed, copied]) {
      await env.lib.start(id);
      assert.equal((await env.lib.wait(id)).exitCode, 0);
    }
  });

  it("keeps a container running after the process that started it is SIGKILLed", async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("orphan");
    const libUrl = new URL("./libct.js", import.meta.url).href;
    const script = `
      const { Libct } = await import(${JSON.stringify(libUrl)});
      const lib = await Libct.open({ root: ${JSON.stringify(env.root)}, runRoot: ${JSON.stringify(env.runRoot)} });
      await lib.create({ id: ${JSON.stringify(id)}, description: ${JSON.stringify(env.app({ process: { args: ["/bin/sleep", "1000"] } }))} });
      await lib.start(${JSON.stringify(id)});
      console.log("ready");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    child.stderr.on("data", (b: Buffer) => (err += b));
    const exited = new Promise((r) => child.on("exit", r));
    await eventually(() => out.includes("ready") || child.exitCode !== null, 20_000);
    assert.ok(out.includes("ready"), `starter failed: ${err}`);
    child.kill("SIGKILL");
    await exited;

    const fresh = await Libct.open({ root: env.root, runRoot: env.runRoot, host: env.lib.host });
    const st = await fresh.state(id);
    assert.equal(st.status, "running");
    assert.ok(existsSync(`/proc/${st.pid}`), "the container's init is gone");
    await sleep(300);
    assert.equal((await fresh.state(id)).status, "running");
    // The leak detector sees a live container (so an empty report below means something).
    const live = (await env.leaks([id])).join("\n");
    for (const what of [/^cgroup /m, /^process \d+: \S*conmon /m, /^runc state: /m, /^container dir /m])
      assert.match(live, what);

    const exit = await fresh.stop(id, { timeoutMs: 500 });
    assert.equal(exit?.exitCode, 137); // sleep as PID 1 ignores SIGTERM: killed after the timeout
    await fresh.delete(id);
    assert.deepEqual(await env.leaks([id]), []);
    assert.deepEqual(await fresh.list(), []);
  });

  it("pauses and resumes for real, execs with env/cwd/user, updates memory live, lists", async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("pause");
    const counter = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; usleep 10000; done";
    await env.lib.create({
      id,
      description: env.app({
        mounts: [{ type: "tmpfs", destination: "/tmp" }],
        limits: { memory: { limitBytes: 32 * MiB, swapBytes: 32 * MiB } },
        process: { args: ["/bin/sh", "-c", counter] },
      }),
    });
    await env.lib.start(id);
    const pid = await initPid(env.lib, id);
    const count = async () => Number((await readFile(`/proc/${pid}/root/tmp/c`, "utf8")).trim() || "0");
    await eventually(async () => (await count()) > 2);

    await env.lib.pause(id);
    assert.equal((await env.lib.state(id)).status, "paused");
    const frozen = await count();
    await sleep(300);
    assert.equal(await count(), frozen, "the counter advanced while paused");
    await env.lib.resume(id);
    assert.equal((await env.lib.state(id)).status, "running");
    await eventually(async () => (await count()) > frozen + 5, 3000);

    const ex = await env.lib.exec(id, {
      args: ["/bin/sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g'],
      env: ["GREETING=hello there"],
      cwd: "/tmp",
      user: { uid: 1234, gid: 4321 },
    });
    assert.deepEqual(ex, { exitCode: 0, stdout: "hello there\n/tmp\n1234\n4321\n", stderr: "" });

    if (env.lib.host.cgroup.mode !== "v2") {
      // v1: a limit above memory+swap (32 MiB here) needs swap raised with it; the error says so.
      await assert.rejects(env.lib.update(id, { memory: { limit: 48 * MiB } }), (err: unknown) => {
        assert.ok(isLibctError(err, "invalid"), String(err));
        assert.match(err.message, /update memory\.swap at the same time/);
        return true;
      });
    }
    await env.lib.update(id, { memory: { limit: 48 * MiB, swap: 48 * MiB } });
    const lim = await env.lib.exec(id, {
      args: [
        "/bin/sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
      ],
    });
    assert.equal(lim.stdout.trim(), String(48 * MiB));
    assert.equal((await env.lib.stats(id)).memory?.limitBytes, BigInt(48 * MiB));

    const other = await startSleeper(env, "listed");
    const listed = (await env.lib.list()).map((s) => [s.id, s.status]).sort();
    assert.deepEqual(
      listed,
      [
        [id, "running"],
        [other, "running"],
      ].sort(),
    );
  });

  it("rejects bad input with a field and a fix, leaving nothing behind", async (t) => {
    const env = await openTestLibct(t);
    const existing = env.id("dup");
    await env.lib.create({ id: existing, description: env.app() });
    const stopped = env.id("stopped");
    await runToExit(env, stopped, env.app());
    const fileRootfs = join(env.image.rootfs, "bin", "busybox");
    const cases: {
      name: string;
      id?: string;
      desc: ContainerDescription;
      kind?: string;
      field: string;
      fix: RegExp;
    }[] = [
      {
        name: "negative memory",
        desc: env.app({ limits: { memory: { limitBytes: -1 } } }),
        field: "limits.memory.limitBytes",
        fix: /use|at least/,
      },
      {
        name: "unknown capability",
        desc: env.app({ capabilities: { add: ["NET_ADMINN"] } }),
        field: "capabilities.add[0]",
        fix: /did you mean CAP_NET_ADMIN/,
      },
      {
        name: "relative mount destination",
        desc: env.app({ mounts: [{ type: "tmpfs", destination: "tmp" }] }),
        field: "mounts[0].destination",
        fix: /use "\/tmp"/,
      },
      {
        name: "missing rootfs",
        desc: { ...env.app(), rootfs: { path: "/nonexistent/rootfs" } },
        field: "rootfs.path",
        fix: /unpack an image/,
      },
      {
        name: "rootfs is a file",
        desc: { ...env.app(), rootfs: { path: fileRootfs } },
        field: "rootfs.path",
        fix: /give the directory/,
      },
      {
        name: "overlapping id maps",
        desc: env.app({
          idMap: {
            uidMappings: [
              { containerID: 0, hostID: 2_000_000, size: 65536 },
              { containerID: 1000, hostID: 3_000_000, size: 10 },
            ],
            gidMappings: [{ containerID: 0, hostID: 2_000_000, size: 65536 }],
          },
        }),
        field: "idMap.uidMappings",
        fix: /overlaps .*move it|shrink/,
      },
      { name: "id with a path", id: "../x", desc: env.app(), field: "id", fix: /use 1-64 letters/ },
      { name: "empty id", id: "", desc: env.app(), field: "id", fix: /use 1-64 letters/ },
      { name: "200-char id", id: "a".repeat(200), desc: env.app(), field: "id", fix: /use 1-64 letters/ },
      {
        name: "bind of a missing host path",
        desc: env.app({ mounts: [{ type: "bind", source: "/nonexistent/src", destination: "/src" }] }),
        field: "mounts[0].source",
        fix: /create it first/,
      },
      {
        name: "join of a missing container",
        desc: env.app({ namespaces: { network: { container: "no-such-ctr" } } }),
        field: "namespaces.network",
        fix: /start it before joining/,
      },
      {
        name: "join of a stopped container",
        desc: env.app({ namespaces: { network: { container: stopped } } }),
        field: "namespaces.network",
        fix: /start it before joining/,
      },
      {
        name: "duplicate id",
        id: existing,
        desc: env.app(),
        kind: "conflict",
        field: existing,
        fix: /pick another id or delete it/,
      },
      {
        name: "rlimit above the host hard limit",
        desc: env.app({
          process: { args: ["/bin/true"], rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 10_000_000 }] },
        }),
        field: "process.rlimits[0].hard",
        fix: /use at most \d+/,
      },
      { name: "not an object", desc: "nope" as unknown as ContainerDescription, field: "(description)", fix: /./ },
    ];
    const before = new Set((await env.lib.list()).map((s) => s.id));
    for (const c of cases) {
      const id = c.id ?? env.id("bad");
      await assert.rejects(
        env.lib.create({ id, description: c.desc }),
        (err: unknown) => {
          assert.ok(isLibctError(err), `${c.name}: not a LibctError: ${String(err)}`);
          assert.equal(err.kind, c.kind ?? "invalid", `${c.name}: ${err.message}`);
          assert.ok(err.message.includes(c.field), `${c.name}: message does not name ${c.field}: ${err.message}`);
          assert.match(err.message, c.fix, `${c.name}: message does not say how to fix it: ${err.message}`);
          return true;
        },
        c.name,
      );
      if (c.id === undefined) assert.deepEqual(await env.leaks([id]), [], `${c.name} leaked`);
    }
    assert.deepEqual(new Set((await env.lib.list()).map((s) => s.id)), before);
    assert.deepEqual(runcList(join(env.runRoot, "runc")).sort(), [existing, stopped].sort());
    assert.ok(!existsSync(join(env.root, "containers", "x")) && !existsSync(join(env.root, "x")));
  });

  it("undoes a create that runc rejects, passing runc's message on", async (t) => {
    const env = await openTestLibct(t);
    const id = env.id("noexec");
    await assert.rejects(
      env.lib.create({ id, description: env.app({ process: { args: ["/nonexistent"] } }) }),
      (err: unknown) => {
        assert.ok(isLibctError(err, "invalid"), String(err));
        assert.match(err.message, /\/nonexistent/);
        assert.match(err.message, /no such file or directory/);
        return true;
      },
    );
    assert.deepEqual(await env.leaks([id]), []);
    assert.deepEqual(runcList(join(env.runRoot, "runc")), []);
    assert.deepEqual(processesMentioning(env.root), []);
    assert.deepEqual(leftoverCgroups(id), []);
    assert.equal(existsSync(join(env.root, "containers", id)), false);
    assert.equal(existsSync(join(env.runRoot, "exits", id)), false);
  });
});
