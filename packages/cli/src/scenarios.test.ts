/**
 * Scenarios of issue 4 through the real CLI bundle against a real berthd (real runc and conmon): kill -9 of
 * berthd under 10 chatty containers, restart policies, health checks, pause/unpause/restart, Incus's list, info,
 * config set, update, --env-file, bind mounts and volumes, capabilities, stop signals and timeouts, and
 * `berth daemon start`. What is checked is what a user would see (ps, logs, inspect) or what the kernel shows
 * (cgroup files, /proc), not only exit codes. Foreground `run`/`exec` output is read only where stdout alone
 * carries it (how stdout and stderr are merged there is not asserted).
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUNDLE, cliSkipReason, DAEMON, type Result, slow, TestBerthd } from "./testing/berthd.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `sh -c` that prints line-1, line-2, ... every `ms`, for ever. */
const counter = (prefix: string, ms: number) =>
  `i=0; while :; do i=$((i+1)); echo ${prefix}-$i; sleep ${ms / 1000}; done`;

/** A cgroup file of the process `pid`, read on the host (v1: the controller's hierarchy; v2: the unified one). */
async function cgroupFile(pid: number, controller: string, v1File: string, v2File: string): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, "utf8")).trim().split("\n");
  const v1 = lines.find((l) => l.split(":")[1]!.split(",").includes(controller));
  const path = (v1 ?? lines.find((l) => l.startsWith("0::")))!.split(":")[2]!;
  return (
    await readFile(v1 ? `/sys/fs/cgroup/${controller}${path}/${v1File}` : `/sys/fs/cgroup${path}/${v2File}`, "utf8")
  ).trim();
}

/** CapEff of a /proc/PID/status text, as a number. */
const capEff = (status: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "x"}`);
const bit = (n: number) => 1n << BigInt(n);
const CAP = { CHOWN: 0, NET_ADMIN: 12, NET_RAW: 13, SYS_ADMIN: 21 } as const;
/** Docker's default set of 14 capabilities (integration.test.ts checks it). */
const DOCKER_DEFAULT_CAPS = 0xa80425fbn;

describe("berth scenarios against a real berthd", { skip: cliSkipReason(), timeout: 300_000 }, () => {
  let d: TestBerthd;
  let tmp: string;
  const berth = (...args: string[]) => d.berth(...args);
  /** Runs berth; fails the test unless it exits 0; returns stdout. */
  const ok = async (...args: string[]): Promise<string> => {
    const r = await berth(...args);
    assert.equal(r.code, 0, `berth ${args.join(" ")} exited ${r.code}: ${r.err}${r.out}`);
    return r.out;
  };
  const inspectF = async (format: string, name: string) => (await ok("inspect", "-f", format, name)).trim();
  /** Polls `probe` until `done` holds of its value; fails with the last value after `ms`. */
  const until = async <T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (done(v)) return v;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
      await sleep(100);
    }
  };
  /** The numbers of a counter's lines in `berth logs NAME`, in order. */
  const counted = async (name: string, prefix: string) =>
    [...(await ok("logs", name)).matchAll(new RegExp(`^${prefix}-(\\d+)$`, "gm"))].map((m) => Number(m[1]));
  const stillRunning = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  before(async () => {
    d = await TestBerthd.start("bsc-", 60_000);
    tmp = mkdtempSync(join(tmpdir(), "berth-scn-"));
    await ok("image", "bootstrap", "busybox");
  });

  after(async () => {
    await d?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it(
    "kill -9 of berthd with 10 containers running: ps shows the same 10 running, logs have every line, an exit meanwhile is recorded",
    slow,
    async () => {
      const names = Array.from({ length: 10 }, (_, i) => `k${i}`);
      // Ten containers that count, and one that exits with 7 when the host creates a file in its bind mount:
      // while berthd is down, it exits at a moment the test chooses.
      const gate = join(tmp, "gate");
      mkdirSync(gate);
      await Promise.all(names.map((n) => ok("run", "-d", "--name", n, "busybox", "sh", "-c", counter("line", 200))));
      await ok("run", "-d", "--name", "quitter", "-v", `${gate}:/gate`, "busybox", "sh", "-c",
        "while [ ! -e /gate/go ]; do sleep 0.1; done; exit 7"); // biome-ignore format: one command
      const table = async (all = false) =>
        (await ok("ps", ...(all ? ["-a"] : []), "--no-trunc", "--format", "{{.Names}} {{.ID}} {{.State}}"))
          .trim()
          .split("\n")
          .sort();
      const before = (await table()).filter((l) => !l.startsWith("quitter "));
      assert.equal(before.length, 10, before.join("\n"));
      const pids = new Map<string, number>();
      for (const n of [...names, "quitter"]) pids.set(n, Number(await inspectF("{{.State.Pid}}", n)));
      for (const n of names)
        await until(
          `${n}'s first lines`,
          () => counted(n, "line"),
          (l) => l.length >= 2,
        );

      await d.kill9();
      const killedAt = Date.now();
      for (const [n, pid] of pids) assert.ok(stillRunning(pid), `${n} (pid ${pid}) outlives berthd`);
      writeFileSync(join(gate, "go"), "");
      await until(
        "the quitter's exit",
        async () => stillRunning(pids.get("quitter")!),
        (alive) => !alive,
        5000,
      );
      await sleep(Math.max(0, 1500 - (Date.now() - killedAt))); // the counters write ~7 lines with no berthd
      const restartedAt = Date.now();
      await d.restart();

      assert.deepEqual(await table(), before, "ps: the same names and ids, all running");
      for (const n of names) assert.equal(Number(await inspectF("{{.State.Pid}}", n)), pids.get(n), `${n}: same run`);
      const quit = (await table(true)).find((l) => l.startsWith("quitter "));
      assert.match(quit ?? "", /^quitter [0-9a-f]{64} exited$/);
      assert.match(
        await ok("ps", "-a", "--filter", "name=quitter", "--format", "{{.Status}}"),
        /^Exited \(7\) /,
        "ps -a shows the exit code it had while berthd was down",
      );
      assert.equal(await inspectF("{{.State.ExitCode}}", "quitter"), "7");

      const downtime = (ts: number) => ts > killedAt && ts < restartedAt;
      for (const n of names) {
        // Every line from 1 on, in order, across the kill; some written while berthd was down; and more after.
        const stamped = [...(await ok("logs", "-t", n)).matchAll(/^(\S+) line-(\d+)$/gm)].map((m) => ({
          at: Date.parse(m[1]!),
          n: Number(m[2]),
        }));
        const nums = stamped.map((s) => s.n);
        assert.deepEqual(
          nums,
          Array.from({ length: nums.length }, (_, i) => i + 1),
          `${n}: no gap nor repeat in its lines`,
        );
        assert.ok(stamped.filter((s) => downtime(s.at)).length >= 3, `${n}: lines written while berthd was down`);
      }
      const last = (await counted("k0", "line")).at(-1)!;
      await until(
        "k0 to go on logging",
        () => counted("k0", "line"),
        (l) => l.at(-1)! > last,
      );
      await ok("rm", "-f", ...names, "quitter");
    },
  );

  it("--restart on-failure:2: a command exiting 3 is restarted twice, then left exited(3)", async () => {
    await ok("run", "-d", "--name", "crash", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3");
    const state = () => inspectF("{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "crash");
    await until("two restarts", state, (s) => s === "2 exited 3");
    await sleep(1000); // past the next back-off (400 ms): no third run
    assert.equal(await state(), "2 exited 3");
    assert.equal(
      await inspectF("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "crash"),
      "on-failure:2",
    );
    assert.match(await ok("ps", "-a", "--filter", "name=crash", "--format", "{{.Status}}"), /^Exited \(3\) /);
    assert.equal((await ok("logs", "crash")).match(/^run$/gm)?.length, 3, "three runs, each logged");
    await ok("rm", "crash");
  });

  it("--restart always brings a crashed container back: a new pid and StartedAt, running", async () => {
    await ok("run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "300");
    const [pid0, started0] = (await inspectF("{{.State.Pid}} {{.State.StartedAt}}", "phoenix")).split(" ");
    process.kill(Number(pid0), "SIGKILL"); // a crash, not a user's stop
    const back = await until(
      "a new run",
      () => inspectF("{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}} {{.RestartCount}}", "phoenix"),
      (s) => s.startsWith("running ") && s.split(" ")[1] !== pid0,
    );
    const [, pid1, started1, count] = back.split(" ");
    assert.ok(Date.parse(started1!) > Date.parse(started0!), `StartedAt ${started0} -> ${started1}`);
    assert.equal(count, "1");
    assert.equal(readFileSync(`/proc/${pid1}/cmdline`, "utf8"), "sleep\x00300\x00", "the new pid is the container's");
    assert.match(await ok("ps", "--filter", "name=phoenix", "--format", "{{.Status}}"), /^Up /);
    await ok("rm", "-f", "phoenix");
  });

  it("a health check: ps shows (health: starting), (healthy), (unhealthy) as Docker; inspect and events follow", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    await ok("run", "-d", "--name", "doc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
      "--health-retries", "2", "busybox", "sh", "-c", "touch /tmp/ok; exec sleep 300"); // biome-ignore format: flags
    const status = async () => (await ok("ps", "--filter", "name=doc", "--format", "{{.Status}}")).trim();
    const seen = new Set<string>();
    await until("healthy", async () => {
      const s = await status();
      seen.add(s.replace(/^Up .*? \(/, "("));
      return s;
    }, (s) => s.endsWith("(healthy)")); // biome-ignore format: one call
    assert.deepEqual(
      [...seen].filter((s) => s !== "(healthy)"),
      ["(health: starting)"],
      "starting before the first probe",
    );
    assert.equal(await inspectF("{{.State.Health.Status}} {{.State.Health.FailingStreak}}", "doc"), "healthy 0");

    await ok("exec", "doc", "rm", "/tmp/ok");
    await until("unhealthy", status, (s) => s.endsWith("(unhealthy)"));
    const h = JSON.parse(await inspectF("{{json .State.Health}}", "doc")) as {
      status: string;
      failingStreak: number;
      log: { exitCode: number }[];
    };
    assert.equal(h.status, "unhealthy");
    assert.ok(h.failingStreak >= 2, `--health-retries 2: two failures before unhealthy (${h.failingStreak})`);
    assert.deepEqual(
      h.log.slice(-2).map((x) => x.exitCode),
      [1, 1],
    );
    assert.match(await ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"), /^doc$/m);

    await ok("exec", "doc", "touch", "/tmp/ok"); // one success is healthy again
    await until("healthy again", status, (s) => s.endsWith("(healthy)"));
    const events = await ok("events", "--since", since, "--until", "0s", "--filter", "container=doc",
      "--filter", "event=health_status", "--format", "{{.Status}}"); // biome-ignore format: flags
    assert.deepEqual(events.trim().split("\n"), ["healthy", "unhealthy", "healthy"]);
    assert.match(
      await ok(
        "events",
        "--since",
        since,
        "--until",
        "0s",
        "--filter",
        "container=doc",
        "--filter",
        "event=health_status",
      ),
      /^\S+ container health_status: unhealthy [0-9a-f]{64} \(name=doc\)$/m,
    );
    await ok("rm", "-f", "doc");
  });

  it(
    "--health-start-period: failures in it do not count; --health-timeout: a probe that outlasts it fails",
    slow,
    async () => {
      const probe = ["--health-interval", "300ms", "--health-retries", "1"];
      // sp and nosp fail every probe; sp's failures count only after its 4 s start period.
      await ok("run", "-d", "--name", "sp", "--health-cmd", "false", ...probe, "--health-start-period", "4s",
      "busybox", "sleep", "300"); // biome-ignore format: flags
      await ok("run", "-d", "--name", "nosp", "--health-cmd", "false", ...probe, "busybox", "sleep", "300");
      // slowprobe's probe sleeps 1.5 s with a 300 ms timeout; fastprobe's sleeps 0.1 s of its 3 s.
      await ok("run", "-d", "--name", "slowprobe", "--health-cmd", "sleep 1.5", "--health-timeout", "300ms",
      ...probe, "busybox", "sleep", "300"); // biome-ignore format: flags
      await ok("run", "-d", "--name", "fastprobe", "--health-cmd", "sleep 0.1", "--health-timeout", "3s",
      ...probe, "busybox", "sleep", "300"); // biome-ignore format: flags
      type Health = {
        status: string;
        failingStreak: number;
        log: { start: string; end: string; exitCode: number; output: string }[];
      };
      const health = async (n: string) => {
        const [startedAt, json] = (await inspectF("{{.State.StartedAt}}|{{json .State.Health}}", n)).split("|");
        return { startedAt: Date.parse(startedAt!), ...(JSON.parse(json!) as Health) };
      };

      await until(
        "nosp unhealthy after 2 probes",
        () => health("nosp"),
        (h) => h.status === "unhealthy" && h.log.length >= 2,
      );
      const inPeriod = await health("sp");
      assert.ok(
        Date.now() - inPeriod.startedAt < 4000,
        "still in sp's start period (a slow machine would need a longer one)",
      );
      assert.equal(inPeriod.status, "starting", `${JSON.stringify(inPeriod)}`);
      assert.equal(inPeriod.failingStreak, 0, "failures in the start period do not count");
      assert.ok(inPeriod.log.length >= 1 && inPeriod.log.every((x) => x.exitCode === 1), "its probes did run and fail");
      const after = await until(
        "sp unhealthy after its start period",
        () => health("sp"),
        (h) => h.status === "unhealthy",
      );
      assert.ok(Date.now() - after.startedAt >= 4000, `unhealthy ${Date.now() - after.startedAt} ms after the start`);

      const timedOut = await until(
        "slowprobe unhealthy",
        () => health("slowprobe"),
        (h) => h.status === "unhealthy",
      );
      const last = timedOut.log.at(-1)!;
      assert.notEqual(last.exitCode, 0);
      assert.match(last.output, /timeout/i);
      const took = Date.parse(last.end) - Date.parse(last.start);
      assert.ok(
        took >= 250 && took < 1300,
        `the probe was given up at the 300 ms timeout, not after its 1.5 s (${took} ms)`,
      );
      await until(
        "fastprobe healthy",
        () => health("fastprobe"),
        (h) => h.status === "healthy",
      );
      assert.equal((await health("fastprobe")).failingStreak, 0);
      await ok("rm", "-f", "sp", "nosp", "slowprobe", "fastprobe");
    },
  );

  it("pause freezes the processes, unpause thaws them, restart starts a new run", async () => {
    await ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c", counter("n", 100));
    const lastN = async () => (await counted("ticker", "n")).at(-1) ?? 0;
    await until("the first lines", lastN, (n) => n >= 3);
    const pid = Number(await inspectF("{{.State.Pid}}", "ticker"));

    assert.equal(await ok("pause", "ticker"), "ticker\n");
    assert.match(
      await ok("ps", "--filter", "name=ticker", "--format", "{{.State}}|{{.Status}}"),
      /^paused\|Up .*\(Paused\)\n$/,
    );
    assert.equal(
      await inspectF("{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "ticker"),
      "paused true true",
    );
    const frozen = existsSync("/sys/fs/cgroup/freezer")
      ? await cgroupFile(pid, "freezer", "freezer.state", "")
      : await cgroupFile(pid, "", "", "cgroup.freeze");
    assert.match(frozen, /^(FROZEN|1)$/, "the cgroup is frozen");
    await sleep(200); // a line being written as the freezer came down lands
    const atPause = await lastN();
    await sleep(1000); // ~10 lines if it were running
    assert.equal(await lastN(), atPause, "no line while paused");

    assert.equal(await ok("unpause", "ticker"), "ticker\n");
    await until("lines again", lastN, (n) => n > atPause);
    assert.match(
      await ok("ps", "--filter", "name=ticker", "--format", "{{.State}}|{{.Status}}"),
      /^running\|Up [^(]*\n$/,
    );

    const started0 = await inspectF("{{.State.StartedAt}}", "ticker");
    assert.equal(await ok("restart", "-t", "1", "ticker"), "ticker\n");
    const [status, pid1, started1] = (
      await inspectF("{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}", "ticker")
    ).split(" ");
    assert.equal(status, "running");
    assert.notEqual(Number(pid1), pid);
    assert.ok(Date.parse(started1!) > Date.parse(started0), `StartedAt ${started0} -> ${started1}`);
    assert.ok(!stillRunning(pid), "the old run's process is gone");
    // The new run counts from 1 again, after the old run's lines.
    await until(
      "the new run's first line",
      () => counted("ticker", "n"),
      (l) => l.lastIndexOf(1) > 0,
    );
    await ok("rm", "-f", "ticker");
  });

  it("list (table and --format json), info NAME, config set and update change the live cgroup limits", async () => {
    const id = (await ok("run", "-d", "--name", "lim", "--memory", "64m", "busybox", "sleep", "300")).trim();
    const pid = Number(await inspectF("{{.State.Pid}}", "lim"));
    const table = await ok("list");
    assert.match(table, /^NAME +STATE +TYPE +IMAGE +PID\n/);
    assert.match(table, new RegExp(`^lim +RUNNING +APP +busybox +${pid}$`, "m"));
    // Incus's list --format json: one array (Docker's ps --format json: an object per line).
    const listed = JSON.parse(await ok("list", "--format", "json")) as {
      id: string;
      name: string;
      kind: string;
      state: { status: string; pid: number };
    }[];
    assert.ok(Array.isArray(listed));
    const mine = listed.find((c) => c.name === "lim");
    assert.deepEqual([mine?.id, mine?.kind, mine?.state.status, mine?.state.pid], [id, "app", "running", pid]);

    const info = await ok("info", "lim");
    for (const want of [/^Name: lim$/m, new RegExp(`^ID: ${id}$`, "m"), /^Status: RUNNING$/m, /^Type: container \(app\)$/m,
      new RegExp(`^PID: ${pid}$`, "m"), /^Limits: memory=64(\.00)?MiB/m, /^ {2}Processes: 1$/m]) // biome-ignore format: list
      assert.match(info, want);

    const memory = () => cgroupFile(pid, "memory", "memory.limit_in_bytes", "memory.max");
    const cpu = async () =>
      existsSync("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        ? `${await cgroupFile(pid, "cpu", "cpu.cfs_quota_us", "")} ${await cgroupFile(pid, "cpu", "cpu.cfs_period_us", "")}`
        : await cgroupFile(pid, "", "", "cpu.max");
    assert.equal(await memory(), String(64 << 20));
    await ok("config", "set", "lim", "limits.memory=96MiB");
    assert.equal(await memory(), String(96 << 20), "config set reached the running container's cgroup");
    assert.equal((await ok("config", "get", "lim", "limits.memory")).trim(), "96MiB");

    assert.equal(await ok("update", "--memory", "128m", "--cpus", "0.5", "lim"), "lim\n");
    assert.equal(await memory(), String(128 << 20));
    const [quota, period] = (await cpu()).split(" ").map(Number);
    assert.equal(quota! / period!, 0.5, `cpu quota/period ${quota}/${period}`);
    assert.equal(await inspectF("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "lim"), `${128 << 20} 500000000`);
    assert.equal(await inspectF("{{.State.Pid}}", "lim"), String(pid), "changed live, not by a restart");
    await ok("rm", "-f", "lim");
  });

  it("run --env-file and exec --env-file: comments, blank lines, KEY=VALUE verbatim, KEY alone from the CLI's env", async () => {
    const file = join(tmp, "env");
    writeFileSync(
      file,
      '# a comment\n  # an indented comment\n\nPLAIN=value\nSPACED=  two words  \nQUOTED="kept"\r\nFROM_CLI\nUNSET_HERE\nLATER=file\n',
    );
    const execFile2 = join(tmp, "env2");
    writeFileSync(execFile2, "# exec's\nEXEC_ONLY=yes\nFROM_CLI\n");
    assert.equal(process.env.UNSET_HERE, undefined);
    const run = await d.berthWith({ FROM_CLI: "from the cli" }, "run", "-d", "--name", "envc", "--env-file", file, "-e", "LATER=flag",
      "busybox", "sh", "-c", "env > /tmp/run-env; exec sleep 300"); // biome-ignore format: one command
    assert.equal(run.code, 0, run.err);
    const ex = await d.berthWith({ FROM_CLI: "exec's cli" }, "exec", "--env-file", execFile2, "envc", "sh", "-c",
      "env > /tmp/exec-env"); // biome-ignore format: one command
    assert.equal(ex.code, 0, ex.err);
    const read = async (name: string) => {
      await ok("cp", `envc:/tmp/${name}`, join(tmp, name));
      return readFileSync(join(tmp, name), "utf8").split("\n");
    };
    const runEnv = await read("run-env");
    for (const want of ["PLAIN=value", "SPACED=  two words  ", 'QUOTED="kept"', "FROM_CLI=from the cli", "LATER=flag"])
      assert.ok(runEnv.includes(want), `${JSON.stringify(want)} in ${JSON.stringify(runEnv)}`);
    assert.ok(
      !runEnv.some((l) => l.startsWith("UNSET_HERE") || l.includes("#") || l.startsWith("LATER=file")),
      JSON.stringify(runEnv),
    );
    const execEnv = await read("exec-env");
    assert.ok(execEnv.includes("EXEC_ONLY=yes") && execEnv.includes("FROM_CLI=exec's cli"), JSON.stringify(execEnv));
    const missing = await berth("run", "--rm", "--env-file", join(tmp, "nonesuch"), "busybox", "true");
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /nonesuch/);
    await ok("rm", "-f", "envc");
  });

  it("-v HOSTDIR:/mnt (and :ro), a named volume across two containers, --mount type=bind,readonly", async () => {
    const dir = join(tmp, "bind");
    mkdirSync(dir);
    writeFileSync(join(dir, "from-host"), "host data\n");
    const rw = await berth("run", "--rm", "-v", `${dir}:/mnt`, "busybox", "sh", "-c",
      "cat /mnt/from-host > /mnt/copied && echo inside > /mnt/written"); // biome-ignore format: one command
    assert.equal(rw.code, 0, rw.err);
    assert.equal(readFileSync(join(dir, "written"), "utf8"), "inside\n", "written inside, seen on the host");
    assert.equal(readFileSync(join(dir, "copied"), "utf8"), "host data\n", "the host's file, read inside");

    // :ro reads, and refuses a write (exit 2 from the shell's redirection); nothing reaches the host.
    const ro = await berth("run", "--rm", "-v", `${dir}:/mnt:ro`, "busybox", "sh", "-c",
      'test "$(cat /mnt/from-host)" = "host data" || exit 10; echo nope > /mnt/refused'); // biome-ignore format: one command
    assert.notEqual(ro.code, 10, "a read-only bind mount is still readable");
    assert.notEqual(ro.code, 0, "a write to a read-only bind mount fails");
    assert.ok(!existsSync(join(dir, "refused")));

    // --mount type=bind,...,readonly: the same, and the mount is marked ro in the container's mount table.
    const m = await berth("run", "--rm", "--mount", `type=bind,source=${dir},target=/b,readonly`, "busybox", "sh", "-c",
      'test "$(cat /b/from-host)" = "host data" || exit 10; grep -q " /b [^ ]* ro[, ]" /proc/mounts || exit 11; touch /b/x 2>/dev/null && exit 12; exit 0'); // biome-ignore format: one command
    assert.equal(m.code, 0, `--mount readonly (10: unreadable, 11: not ro, 12: writable): ${m.err}`);
    assert.ok(!existsSync(join(dir, "x")));
    const mrw = await berth(
      "run",
      "--rm",
      "--mount",
      `type=bind,source=${dir},target=/b`,
      "busybox",
      "sh",
      "-c",
      "echo rw > /b/via-mount",
    );
    assert.equal(mrw.code, 0, mrw.err);
    assert.equal(readFileSync(join(dir, "via-mount"), "utf8"), "rw\n");

    // A named volume outlives the container that wrote it; another name is another volume.
    assert.equal(
      (await berth("run", "--rm", "-v", "scnvol:/data", "busybox", "sh", "-c", "echo persisted > /data/f")).code,
      0,
    );
    const second = await berth(
      "run",
      "--rm",
      "-v",
      "scnvol:/data",
      "busybox",
      "sh",
      "-c",
      'test "$(cat /data/f)" = persisted',
    );
    assert.equal(second.code, 0, `the second container sees the first's file: ${second.err}`);
    const other = await berth("run", "--rm", "-v", "othervol:/data", "busybox", "test", "-e", "/data/f");
    assert.equal(other.code, 1, "another volume does not have it");
    await ok("run", "-d", "--name", "volc", "-v", "scnvol:/data", "-v", "/cache", "busybox", "sleep", "300");
    // Docker's Mounts: the named volume, and the anonymous one under its generated name, each with its directory.
    const mounts = JSON.parse(await inspectF("{{json .Mounts}}", "volc")) as Record<string, unknown>[];
    assert.equal(mounts.length, 2, JSON.stringify(mounts));
    const [named, anon] = mounts as { name: string; source: string; destination: string; type: string }[];
    assert.deepEqual([named?.type, named?.name, named?.destination], ["volume", "scnvol", "/data"]);
    assert.match(named?.source ?? "", /\/volumes\/scnvol\/_data$/);
    assert.equal(anon?.destination, "/cache");
    assert.match(anon?.name ?? "", /^[0-9a-f]{64}$/);
    assert.ok(anon?.source.endsWith(`/volumes/${anon.name}/_data`), anon?.source);
    assert.equal((await ok("ps", "--filter", "name=volc", "--format", "{{.Mounts}}")).trim(), `scnvol,${anon?.name}`);
    await ok("rm", "-f", "-v", "volc");
  });

  it("--cap-add and --cap-drop change CapEff of PID 1 (inside and as the host sees it) and what it may do", async () => {
    await ok("run", "-d", "--name", "capx", "--cap-drop", "NET_RAW", "--cap-drop", "CHOWN", "--cap-add", "SYS_ADMIN",
      "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", "grep CapEff /proc/1/status; exec sleep 300"); // biome-ignore format: flags
    await ok("run", "-d", "--name", "capd", "busybox", "sh", "-c", "grep CapEff /proc/1/status; exec sleep 300");
    const inside = async (n: string) =>
      capEff(
        await until(
          `${n}'s CapEff line`,
          () => ok("logs", n),
          (l) => /CapEff/.test(l),
        ),
      );
    const want = (DOCKER_DEFAULT_CAPS & ~bit(CAP.NET_RAW) & ~bit(CAP.CHOWN)) | bit(CAP.SYS_ADMIN) | bit(CAP.NET_ADMIN);
    assert.equal((await inside("capd")).toString(16), DOCKER_DEFAULT_CAPS.toString(16), "Docker's defaults");
    assert.equal((await inside("capx")).toString(16), want.toString(16));
    const pid = Number(await inspectF("{{.State.Pid}}", "capx"));
    assert.equal(capEff(readFileSync(`/proc/${pid}/status`, "utf8")).toString(16), want.toString(16), "on the host");
    // What the bits allow: chown without CHOWN fails; a mount with SYS_ADMIN works.
    assert.equal((await berth("exec", "capd", "chown", "1", "/tmp")).code, 0);
    assert.notEqual((await berth("exec", "capx", "chown", "1", "/tmp")).code, 0);
    assert.notEqual((await berth("exec", "capd", "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")).code, 0);
    assert.equal((await berth("exec", "capx", "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")).code, 0);
    assert.equal(await inspectF("{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}", "capx"),
      '["SYS_ADMIN","NET_ADMIN"] ["NET_RAW","CHOWN"]'); // biome-ignore format: one call
    // --cap-drop ALL with one back: exactly that one.
    await ok("run", "-d", "--name", "capmin", "--cap-drop", "ALL", "--cap-add", "CHOWN", "busybox", "sh", "-c",
      "grep CapEff /proc/1/status; exec sleep 300"); // biome-ignore format: flags
    assert.equal(await inside("capmin"), bit(CAP.CHOWN));
    await ok("rm", "-f", "capx", "capd", "capmin");
  });

  it("the image's STOPSIGNAL stops an app container; --stop-signal overrides it; --stop-timeout bounds a stop", async () => {
    const ctx = join(tmp, "sigctx");
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, "Containerfile"),
      `FROM busybox\nSTOPSIGNAL SIGUSR1\nCMD ["sh", "-c", "trap 'exit 42' USR1; trap 'exit 43' USR2; touch /tmp/ready; while :; do sleep 0.1; done"]\n`,
    );
    await ok("build", "-q", "-t", "stopsig:1", ctx);
    await ok("run", "-d", "--name", "usr1", "stopsig:1");
    await ok("run", "-d", "--name", "usr2", "--stop-signal", "SIGUSR2", "stopsig:1");
    // The traps are set once /tmp/ready exists (before, PID 1 ignores the signal and the stop would time out).
    for (const n of ["usr1", "usr2"])
      await until(
        `${n}'s traps`,
        async () => (await berth("exec", n, "test", "-f", "/tmp/ready")).code,
        (c) => c === 0,
      );
    assert.equal(await inspectF("{{.Config.StopSignal}}", "usr1"), "SIGUSR1", "from the image");
    for (const [n, code] of [
      ["usr1", "42"],
      ["usr2", "43"],
    ] as const) {
      const t0 = Date.now();
      await ok("stop", n); // the default timeout is 10 s: a quick stop means the signal was the trapped one
      assert.ok(Date.now() - t0 < 5000, `${n} stopped in ${Date.now() - t0} ms`);
      assert.equal(await inspectF("{{.State.ExitCode}}", n), code, `${n} got its stop signal`);
    }

    // A PID 1 that ignores SIGTERM: killed when --stop-timeout runs out, not before, not long after.
    await ok("run", "-d", "--name", "stubborn", "--stop-timeout", "2", "busybox", "sh", "-c",
      "trap '' TERM; touch /tmp/ready; while :; do sleep 0.1; done"); // biome-ignore format: one command
    await until(
      "stubborn's trap",
      async () => (await berth("exec", "stubborn", "test", "-f", "/tmp/ready")).code,
      (c) => c === 0,
    );
    assert.equal(await inspectF("{{.Config.StopTimeout}}", "stubborn"), "2");
    const t0 = Date.now();
    await ok("stop", "stubborn");
    const took = Date.now() - t0;
    assert.ok(took >= 2000 && took < 4500, `stop took ${took} ms with --stop-timeout 2`);
    assert.equal(await inspectF("{{.State.ExitCode}}", "stubborn"), "137", "SIGKILL");
    await ok("rm", "usr1", "usr2", "stubborn");
    await ok("image", "rm", "stopsig:1");
  });
});

describe("berth daemon start", { skip: cliSkipReason(), timeout: 60_000 }, () => {
  it("starts berthd in the background on the given roots: it answers, its socket is 0660 (group berth), its log is JSON lines", async () => {
    const base = mkdtempSync(join(tmpdir(), "bds-"));
    const socket = join(base, "x", "berth.sock");
    const logFile = join(base, "berthd.log");
    // The CLI prefers a berthd on PATH (an installed one, maybe of another checkout): leave those directories
    // out, so that it starts the berthd built beside this bundle.
    const path = (process.env.PATH ?? "")
      .split(delimiter)
      .filter((dir) => {
        try {
          accessSync(join(dir, "berthd"), constants.X_OK);
          return false;
        } catch {
          return true;
        }
      })
      .join(delimiter);
    const berth = (...args: string[]) =>
      new Promise<Result>((resolve) => {
        execFile(
          process.execPath,
          [BUNDLE, ...args],
          { env: { ...process.env, PATH: path, BERTH_HOST: `unix://${socket}` }, timeout: 30_000 },
          (err, out, errOut) =>
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out, err: errOut }),
        );
      });
    let pid: number | undefined;
    try {
      const r = await berth("daemon", "start", "--root", join(base, "r"), "--run-root", join(base, "x"), "--log",
        logFile, "--format", "json"); // biome-ignore format: flags
      assert.equal(r.code, 0, `${r.err}${existsSync(logFile) ? readFileSync(logFile, "utf8") : ""}`);
      const started = JSON.parse(r.out) as { started: boolean; pid: number; host: string };
      pid = started.pid;
      assert.deepEqual([started.started, started.host], [true, `unix://${socket}`]);
      assert.ok(
        readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${DAEMON}\0--root\0${join(base, "r")}\0`),
        "this checkout's berthd, on the given root",
      );
      assert.match((await berth("version", "--format", "{{.Server.Version}}")).out, /^\d+\.\d+\.\d+\n$/);
      assert.equal(JSON.parse((await berth("info", "--format", "json")).out).rootDir, join(base, "r"));
      const again = await berth(
        "daemon",
        "start",
        "--root",
        join(base, "r"),
        "--run-root",
        join(base, "x"),
        "--log",
        logFile,
      );
      assert.equal(again.code, 0, again.err);
      assert.match(again.out, /already running/);

      const st = statSync(socket);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
      const group = readFileSync("/etc/group", "utf8")
        .split("\n")
        .find((l) => l.startsWith("berth:"));
      if (group) assert.equal(st.gid, Number(group.split(":")[2]), "the socket's group is berth");

      const lines = readFileSync(logFile, "utf8").trim().split("\n");
      assert.ok(lines.length >= 1);
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        assert.ok(!Number.isNaN(Date.parse(String(entry.time))), `time: ${line}`);
        assert.match(String(entry.level), /^(debug|info|warn|error)$/, line);
        assert.equal(typeof entry.msg, "string", line);
      }
      assert.ok(
        lines.some((l) => JSON.parse(l).msg === "berthd ready"),
        lines.join("\n"),
      );
    } finally {
      if (pid !== undefined) {
        process.kill(pid, "SIGTERM");
        for (let i = 0; i < 100; i++) {
          try {
            process.kill(pid, 0);
          } catch {
            break;
          }
          await sleep(100);
        }
      }
      rmSync(base, { recursive: true, force: true });
    }
  });
});
