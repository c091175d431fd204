/**
 * Application containers against a real berthd: restart policies (also across kill -9 of berthd),
 * health checks, --init, log rotation. Root only.
 */
import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { slow } from "@berth/libct/testing/slow";
import { mergeHealthcheck, probeArgs } from "./services/health.js";
import { nextBackoff, shouldRestart, withInit } from "./services/supervisor.js";
import { startTestDaemon, type TestDaemon } from "./testing/daemon.js";

const needsRoot = { skip: process.getuid?.() === 0 ? false : "needs root (integration test)" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("restart policies, health, init (units)", () => {
  it("decides like Docker's restart manager", () => {
    const row = (name: string, exitCode: number, restartCount = 0, max?: number) => ({
      restartPolicy: { name, ...(max !== undefined ? { maximumRetryCount: max } : {}) } as never,
      exitCode,
      restartCount,
      config: { image: "busybox" },
    });
    assert.equal(shouldRestart(row("no", 1), false), false);
    assert.equal(shouldRestart(row("on-failure", 0), false), false);
    assert.equal(shouldRestart(row("on-failure", 1, 1, 2), false), true);
    assert.equal(shouldRestart(row("on-failure", 1, 2, 2), false), false);
    assert.equal(shouldRestart(row("on-failure", 1, 50), false), true, "0 = no limit");
    assert.equal(shouldRestart(row("always", 0), false), true);
    assert.equal(shouldRestart(row("always", 0), true), false, "a user's stop is not restarted");
    assert.equal(shouldRestart(row("unless-stopped", 0), true), false);
    assert.deepEqual(
      [0, 100, 200, 400].map((p) => nextBackoff(p, 50)),
      [100, 200, 400, 800],
    );
    assert.equal(nextBackoff(40_000, 50), 60_000, "capped");
    assert.equal(nextBackoff(6400, 10_000), 100, "reset after 10 s of running");
  });

  it("merges the image's HEALTHCHECK and builds probe argv", () => {
    assert.deepEqual(mergeHealthcheck({ test: ["CMD-SHELL", "true"], intervalMs: 500 }, undefined), {
      test: ["CMD-SHELL", "true"],
      intervalMs: 500,
    });
    assert.deepEqual(mergeHealthcheck(undefined, { Test: ["CMD", "ping"], Interval: 2e9, Retries: 4 }), {
      test: ["CMD", "ping"],
      intervalMs: 2000,
      retries: 4,
    });
    assert.deepEqual(mergeHealthcheck({ test: ["NONE"] }, { Test: ["CMD", "x"] })?.test, ["NONE"]);
    assert.deepEqual(probeArgs(["CMD-SHELL", "test -f /x"]), ["/bin/sh", "-c", "test -f /x"]);
    assert.deepEqual(probeArgs(["CMD", "true", "a"]), ["true", "a"]);
    assert.equal(probeArgs(["NONE"]), undefined);
  });

  it("puts the init first, mounted read-only at /dev/init", () => {
    const d = withInit({ kind: "app", rootfs: { path: "/r" }, process: { args: ["sleep", "1"] } } as never, "/i");
    assert.deepEqual(d.process.args, ["/dev/init", "--", "sleep", "1"]);
    assert.deepEqual(d.mounts, [{ type: "bind", source: "/i", destination: "/dev/init", readonly: true }]);
  });
});

describe("berthd application containers", needsRoot, () => {
  let d: TestDaemon;

  before(async () => {
    d = await startTestDaemon();
    const r = await d.request("POST", "/1.0/images/bootstrap", { kind: "busybox" });
    assert.equal(r.status, 200, r.text);
  });
  after(async () => {
    if (!d) return;
    const problems = await d.cleanup();
    assert.deepEqual(problems, [], `leaked after the tests (log: ${d.logFile})`);
  });

  const create = async (body: Record<string, unknown>) => {
    const r = await d.request("POST", "/1.0/containers", { image: "busybox", start: true, ...body });
    assert.equal(r.status, 201, r.text);
    return r.json as { id: string; name: string };
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests read replies field by field
  const inspect = async (name: string): Promise<any> => (await d.request("GET", `/1.0/containers/${name}`)).json;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  const until = async (name: string, ok: (c: any) => boolean, ms = 10_000): Promise<any> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const c = await inspect(name);
      if (ok(c)) return c;
      if (Date.now() > deadline) assert.fail(`timed out; last state of ${name}: ${JSON.stringify(c.state)}`);
      await sleep(50);
    }
  };
  const rm = async (name: string) =>
    assert.equal((await d.request("DELETE", `/1.0/containers/${name}?force=true`)).status, 204);

  it("on-failure:2 restarts a crashing container exactly twice, then leaves it exited", async () => {
    await create({
      name: "crash",
      cmd: ["sh", "-c", "echo run; exit 3"],
      restartPolicy: { name: "on-failure", maximumRetryCount: 2 },
    });
    const c = await until("crash", (c) => c.state.status === "exited" && c.state.restartCount === 2);
    await sleep(1000); // the next back-off (400 ms) has passed: no third restart
    const again = await inspect("crash");
    assert.equal(again.state.status, "exited");
    assert.equal(again.state.restartCount, 2);
    assert.equal(again.state.exitCode, 3);
    assert.equal(c.restartPolicy.name, "on-failure");
    const logs = (await d.request("GET", "/1.0/containers/crash/logs")).text;
    assert.equal(logs.match(/"run"/g)?.length, 3, `every run's log is kept: ${logs}`);
    // a user's start resets the count
    assert.equal((await d.request("POST", "/1.0/containers/crash/start")).status, 204);
    await until("crash", (c) => c.state.status === "exited" && c.state.restartCount === 2);
    await rm("crash");
  });

  it(
    "always: restarts after an exit and after kill -9 of berthd; comes back on boot even when stopped",
    slow,
    async () => {
      await create({ name: "always", cmd: ["sleep", "1"], restartPolicy: { name: "always" } });
      await until("always", (c) => c.state.restartCount >= 1 && c.state.status === "running", 5000);
      await d.kill9();
      await sleep(1300); // it exits while berthd is down
      await d.restart();
      const back = await until(
        "always",
        (c) => c.state.status === "running" && Date.parse(c.state.startedAt) > Date.now() - 1500,
      );
      assert.ok(back.state.restartCount >= 2, JSON.stringify(back.state));
      // A user's stop holds while berthd runs...
      assert.equal((await d.request("POST", "/1.0/containers/always/stop?t=0")).status, 204);
      await sleep(1500);
      assert.equal((await inspect("always")).state.status, "exited");
      // ...but `always` brings it back when berthd starts.
      await d.kill9();
      await d.restart();
      await until("always", (c) => c.state.status === "running", 5000);
      await rm("always");
    },
  );

  it("unless-stopped: stays stopped after a user's stop across a berthd restart", slow, async () => {
    await create({ name: "us", cmd: ["sleep", "300"], restartPolicy: { name: "unless-stopped" } });
    await create({ name: "us2", cmd: ["sleep", "1"], restartPolicy: { name: "unless-stopped" } });
    assert.equal((await d.request("POST", "/1.0/containers/us/stop?t=0")).status, 204);
    await until("us2", (c) => c.state.restartCount >= 1, 5000);
    await d.kill9();
    await d.restart();
    await sleep(800);
    const us = await inspect("us");
    assert.equal(us.state.status, "exited");
    assert.equal(us.state.restartCount, 0);
    await until("us2", (c) => c.state.status === "running", 5000);
    await rm("us");
    await rm("us2");
  });

  it("a health check turns the container unhealthy, with container.health events", async () => {
    const events = await d.stream("/1.0/events");
    try {
      await create({
        name: "doc",
        cmd: ["sh", "-c", "touch /tmp/ok; exec sleep 300"],
        healthcheck: { test: ["CMD-SHELL", "test -f /tmp/ok"], intervalMs: 200, timeoutMs: 2000, retries: 2 },
      });
      const seen: string[] = [];
      const read = (async () => {
        for await (const line of events.lines) {
          if (!line.startsWith("data:")) continue;
          const e = JSON.parse(line.replace(/^data:\s*/, ""));
          if (e.type === "container.health" && e.name === "doc") {
            seen.push(e.status);
            if (e.status === "unhealthy") return;
          }
        }
      })();
      const healthy = await until("doc", (c) => c.state.health?.status === "healthy", 5000);
      assert.equal(healthy.state.health.failingStreak, 0);
      assert.equal(healthy.config.healthcheck.test[0], "CMD-SHELL");
      const ps = await d.request("GET", "/1.0/containers");
      assert.equal(ps.json.find((c: { name: string }) => c.name === "doc").state.health.status, "healthy");
      const ex = await d.request("POST", "/1.0/containers/doc/exec", { cmd: ["rm", "/tmp/ok"] });
      assert.equal(ex.json.exitCode, 0);
      await Promise.race([read, sleep(5000).then(() => assert.fail(`no unhealthy event; saw ${seen}`))]);
      assert.deepEqual(seen, ["healthy", "unhealthy"]);
      const c = await inspect("doc");
      assert.equal(c.state.health.status, "unhealthy");
      assert.ok(c.state.health.failingStreak >= 2);
      assert.ok(c.state.health.log.length <= 5 && c.state.health.log.length >= 3);
      assert.notEqual(c.state.health.log.at(-1).exitCode, 0);
    } finally {
      events.close();
    }
    await rm("doc");
  });

  it("health state survives a berthd restart: a healthy container stays healthy, a stopped one keeps its last", async () => {
    // An interval longer than the restart takes: the first answer after it can only come from the saved state.
    const hc = { test: ["CMD-SHELL", "test -f /tmp/ok"], intervalMs: 300, timeoutMs: 2000, retries: 1 };
    // hs probes every 3 s: when it starts again below, its first probe cannot have answered before the check
    // that the new run is "starting". It is made unhealthy and stopped first, so that hk's probes up to the
    // kill stay fewer than the 5 results kept (its first result is compared across the restart).
    await create({ name: "hs", cmd: ["sleep", "300"], healthcheck: { ...hc, intervalMs: 3000 } }); // no /tmp/ok
    await until("hs", (c) => c.state.health?.status === "unhealthy");
    assert.equal((await d.request("POST", "/1.0/containers/hs/stop?t=0")).status, 204);
    await create({ name: "hk", cmd: ["sh", "-c", "touch /tmp/ok; exec sleep 300"], healthcheck: hc });
    const before = await until("hk", (c) => c.state.health?.status === "healthy" && c.state.health.log.length >= 2);
    await d.kill9();
    await d.restart();
    const after = await inspect("hk");
    assert.equal(after.state.status, "running");
    assert.equal(after.state.health.status, "healthy", "not 'starting' again: the same run goes on");
    assert.ok(after.state.health.log.length >= before.state.health.log.length, "the results so far are kept");
    assert.equal(after.state.health.log[0].start, before.state.health.log[0].start);
    const stopped = await inspect("hs");
    assert.equal(stopped.state.status, "exited");
    assert.equal(stopped.state.health.status, "unhealthy", "a stopped container shows its last health");
    // Probes go on after the restart, and a new run starts from "starting".
    await until("hk", (c) => c.state.health.log.length > after.state.health.log.length);
    assert.equal((await d.request("POST", "/1.0/containers/hs/start")).status, 204);
    assert.equal((await inspect("hs")).state.health.status, "starting");
    await rm("hk");
    await rm("hs");
  });

  it("--init reaps orphaned zombies (and without it they stay)", async () => {
    const orphan = ["sh", "-c", "(sleep 0.1 &); exec sleep 30"];
    await create({ name: "withinit", cmd: orphan, init: true });
    await create({ name: "noinit", cmd: orphan });
    // Zombies leave the cgroup, so look at PID 1's children in /proc.
    const children = async (n: string) => {
      const pid = (await inspect(n)).state.pid as number;
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      return {
        cmd,
        kids: kids.map((k) => {
          const st = readFileSync(`/proc/${k}/stat`, "utf8");
          return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3);
        }),
      };
    };
    // The orphan lives 0.1 s, then the init must reap it and the bare sleep cannot: wait for both, however
    // slowly the containers start (a child may exit between the list and its stat: read again).
    const both = async () => [await children("withinit"), await children("noinit")] as const;
    let [withInit, noInit] = await both().catch(() => [undefined, undefined] as const);
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      if (withInit?.kids.length === 1 && withInit.kids[0] === "S" && noInit?.kids.includes("Z")) break;
      await sleep(100);
      [withInit, noInit] = await both().catch(() => [undefined, undefined] as const);
    }
    assert.ok(withInit && noInit, "PID 1's children could not be read");
    assert.match(withInit.cmd, /^\/dev\/init -- sh/);
    assert.deepEqual(withInit.kids, ["S"], "only `sleep 30` under the init, the orphan was reaped");
    assert.ok(noInit.kids.includes("Z"), `the orphan test makes a zombie without init: ${JSON.stringify(noInit)}`);
    await rm("withinit");
    await rm("noinit");
  });

  it("rotates logs by size: at most maxFiles files, logs still ends with the newest lines", async () => {
    const c = await create({
      name: "chatty",
      cmd: [
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); sleep 0.01; done; exec sleep 300",
      ],
      logOptions: { maxSizeBytes: 2048, maxFiles: 3 },
    });
    const lastLine = async () => {
      const text = (await d.request("GET", "/1.0/containers/chatty/logs")).text.trim();
      // Before the first line is written the body is empty.
      return text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).text as string);
    };
    const deadline = Date.now() + 15_000;
    while (!(await lastLine()).at(-1)?.startsWith("line-299-")) {
      assert.ok(Date.now() < deadline, "the writer finished");
      await sleep(200);
    }
    await sleep(1300); // one more sweep
    const rotated = readdirSync(join(d.root, "containers", c.id, "logs"));
    assert.ok(rotated.length >= 1 && rotated.length <= 2, `rotated files: ${rotated}`);
    const lines = await lastLine();
    assert.ok(lines.at(-1)!.startsWith("line-299-"));
    assert.ok(lines.length < 300, `old lines were dropped (${lines.length})`);
    const nums = lines.map((l) => Number(l.split("-")[1]));
    assert.deepEqual(
      nums,
      [...nums].sort((a, b) => a - b),
      "in order across files",
    );
    await rm("chatty");
  });

  it("a burst that ends before the next sweep still leaves at most maxFiles files of maxSizeBytes", async () => {
    const c = await create({
      name: "burst",
      cmd: ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo burst-$i-yyyyyyyyyyyyyyyyyyyy; i=$((i+1)); done"],
      logOptions: { maxSizeBytes: 2048, maxFiles: 2 },
    });
    const deadline = Date.now() + 15_000;
    const sizes = () => {
      const dir = join(d.root, "containers", c.id, "logs");
      return existsSync(dir) ? readdirSync(dir).map((f) => statSync(join(dir, f)).size) : [];
    };
    let files: number[] = [];
    for (;;) {
      const st = (await inspect("burst")).state;
      files = st.status === "exited" ? sizes() : [];
      // a sweep may have rotated a bigger file while it ran; after the exit it is cut to size
      if (files.length === 1 && files[0]! <= 2048) break;
      assert.ok(Date.now() < deadline, `one rotated file of at most 2048 bytes (rotated: ${JSON.stringify(files)})`);
      await sleep(100);
    }
    const lines = (await d.request("GET", "/1.0/containers/burst/logs")).text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).text as string);
    assert.equal(lines.at(-1), "burst-399-yyyyyyyyyyyyyyyyyyyy", "the newest lines are kept");
    // each line is 30 bytes of text before conmon's timestamp and stream: two files of 2 KiB hold fewer than 137
    assert.ok(lines.length <= (2 * 2048) / 30, `old lines were dropped (${lines.length} kept)`);
    const nums = lines.map((l) => Number(l.split("-")[1]));
    assert.deepEqual(
      nums,
      Array.from({ length: nums.length }, (_, i) => 400 - nums.length + i),
      "contiguous, in order",
    );
    await rm("burst");
  });

  it("takes the stop signal and timeout from the request", async () => {
    await create({
      name: "sig",
      cmd: ["sh", "-c", "trap 'exit 42' USR1; touch /tmp/ready; while true; do sleep 0.1; done"],
      stopSignal: "SIGUSR1",
      stopTimeoutSeconds: 5,
    });
    // The trap is set once /tmp/ready is there (before it, PID 1 ignores USR1 and the stop would time out).
    for (const deadline = Date.now() + 10_000; ; ) {
      const ready = await d.request("POST", "/1.0/containers/sig/exec", { cmd: ["test", "-f", "/tmp/ready"] });
      if (ready.json?.exitCode === 0) break;
      assert.ok(Date.now() < deadline, `the trap was never set: ${ready.text}`);
      await sleep(50);
    }
    const t0 = Date.now();
    assert.equal((await d.request("POST", "/1.0/containers/sig/stop")).status, 204);
    assert.ok(Date.now() - t0 < 4000);
    assert.equal((await inspect("sig")).state.exitCode, 42);
    await rm("sig");
  });
  it("serializes operations on one container: a kill sent during a restart lands after it", async () => {
    // PID 1 ignores SIGTERM, so the restart's stop waits out its 1 s timeout; the kill comes in meanwhile.
    await create({ name: "serial", cmd: ["sleep", "600"] });
    const started0 = (await inspect("serial")).state.startedAt;
    const restarting = d.request("POST", "/1.0/containers/serial/restart?t=1");
    await sleep(300);
    const k = await d.request("POST", "/1.0/containers/serial/kill");
    const r = await restarting;
    assert.equal(r.status, 204, r.text);
    assert.equal(k.status, 204, `the kill waited for the restart and found it running: ${k.text}`);
    const c = await until("serial", (c) => c.state.status === "exited");
    assert.equal(c.state.exitCode, 137, "killed after the restart, not restarted after the kill");
    assert.notEqual(c.state.startedAt, started0, "the restart did start it again");
    await rm("serial");
  });
});
