import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { removeCgroup } from "../cgroups/index.js";
import { isLibctError } from "../errors.js";
import { probeHost } from "../host/probe.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../image/busybox.js";
import type { HostFacts } from "../model/host.js";
import { RuncRuntime } from "../runtime/runc.js";
import { specFromDescription } from "../spec/index.js";
import { ProcessRunner } from "../system/command.js";
import { needsRoot } from "../testing/slow.js";
import { until } from "../testing/wait.js";
import { ConmonMonitor, type ConmonPaths, parseK8sLog } from "./conmon.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

describe("parseK8sLog", () => {
  it("joins partial lines per stream, with both streams interleaved", () => {
    const log = [
      "2024-05-01T10:00:00.000000001Z stdout P hel",
      "2024-05-01T10:00:00.000000002Z stderr P warn",
      "2024-05-01T10:00:00.000000003Z stdout P lo ",
      "2024-05-01T10:00:00.000000004Z stderr F ing: disk  almost full",
      "2024-05-01T10:00:00.000000005Z stdout F world",
      "2024-05-01T10:00:00.000000006Z stdout F ",
      "2024-05-01T10:00:00.000000007Z stderr F second",
      "",
    ].join("\n");
    assert.deepEqual(parseK8sLog(log), [
      { time: "2024-05-01T10:00:00.000000002Z", stream: "stderr", text: "warning: disk  almost full" },
      { time: "2024-05-01T10:00:00.000000001Z", stream: "stdout", text: "hello world" },
      { time: "2024-05-01T10:00:00.000000006Z", stream: "stdout", text: "" },
      { time: "2024-05-01T10:00:00.000000007Z", stream: "stderr", text: "second" },
    ]);
  });

  it("keeps a trailing partial line and skips garbage", () => {
    const log = [
      "not a log line",
      "2024-05-01T10:00:00Z stdin F nope",
      "2024-05-01T10:00:01Z stdout F done",
      "2024-05-01T10:00:02Z stdout P no newline yet",
    ].join("\n");
    assert.deepEqual(parseK8sLog(log), [
      { time: "2024-05-01T10:00:01Z", stream: "stdout", text: "done" },
      { time: "2024-05-01T10:00:02Z", stream: "stdout", text: "no newline yet" },
    ]);
  });
});

/** Host pids whose command line mentions `needle` (conmon and runc carry the container id in theirs). */
async function processesMentioning(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    const state = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (cmdline.includes(needle) && !/\) Z /.test(state)) out.push(Number(entry));
  }
  return out;
}

const ppidOf = async (pid: number): Promise<number> => {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};

describe("ConmonMonitor with runc", { skip: needsRoot.skip, timeout: 60_000 }, () => {
  let host: HostFacts;
  let rootfs: string;
  let dir: string;
  let runtime: RuncRuntime;
  let monitor: ConmonMonitor;
  const ids: string[] = [];

  before(async () => {
    host = await probeHost();
    assert.ok(host.conmon, "conmon is installed");
    const runc = host.runtimes.find((r) => r.name === "runc");
    assert.ok(runc, "runc is installed");
    rootfs = (await ensureBusyboxImage(defaultBusyboxCacheDir())).rootfs;
    dir = await mkdtemp(join(tmpdir(), "berth-conmon-"));
    runtime = new RuncRuntime({ binary: runc.path, stateRoot: join(dir, "state"), cmd: new ProcessRunner() });
    monitor = new ConmonMonitor(host.conmon.path);
  });

  after(async () => {
    for (const id of ids) {
      await runtime.delete(id, { force: true }).catch(() => {});
      for (const pid of await processesMentioning(id)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      await removeCgroup(host, `/berth-conmon-test/${id}`).catch(() => {});
    }
    await removeCgroup(host, "/berth-conmon-test").catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const prepare = async (args: string[]): Promise<{ id: string; paths: ConmonPaths }> => {
    const id = `conmon-${process.pid}-${ids.length + 1}`;
    ids.push(id);
    const bundle = join(dir, id);
    const paths: ConmonPaths = {
      bundle,
      logFile: join(bundle, "ctr.log"),
      pidFile: join(bundle, "pidfile"),
      conmonPidFile: join(bundle, "conmon.pid"),
      exitDir: join(dir, "exits"),
      socketDir: join(dir, "s"),
    };
    for (const d of [bundle, paths.exitDir, paths.socketDir]) await mkdir(d, { recursive: true });
    const spec = specFromDescription(
      host,
      { kind: "app", rootfs: { path: rootfs, readonly: true }, process: { args } },
      { cgroupsPath: `/berth-conmon-test/${id}` },
    );
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    return { id, paths };
  };

  it("creates the container under a detached conmon, logs its output and records its exit", async () => {
    const { id, paths } = await prepare(["/bin/sh", "-c", "echo hello; echo oops >&2; sleep 0.2; exit 3"]);
    const { pid } = await monitor.start({ id, runtime, paths });
    assert.ok(pid > 0);

    const st = await runtime.state(id);
    assert.equal(st?.status, "created");
    assert.equal(st?.pid, pid);
    assert.equal(Number((await readFile(paths.pidFile, "utf8")).trim()), pid);

    const conmonPid = Number((await readFile(paths.conmonPidFile, "utf8")).trim());
    assert.ok(conmonPid > 0 && existsSync(`/proc/${conmonPid}`), "conmon runs");
    // Daemonized: reparented to init or a subreaper, never a child (or grandchild) of this process.
    const chain: number[] = [];
    for (let p = await ppidOf(conmonPid); p > 1 && chain.length < 64; p = await ppidOf(p)) chain.push(p);
    assert.ok(!chain.includes(process.pid), `conmon's ancestors ${chain.join(" <- ")} include the test process`);
    assert.ok(existsSync(join(paths.bundle, "attach")), "attach socket");
    assert.ok(existsSync(join(paths.bundle, "ctl")), "ctl fifo");

    const exitFile = join(paths.exitDir, id);
    assert.ok(!existsSync(exitFile), "no exit file before start");
    await runtime.start(id);
    const code = await until("the exit file", async () => {
      const text = await readFile(exitFile, "utf8").catch(() => "");
      return text.trim() === "" ? undefined : Number(text.trim());
    });
    assert.equal(code, 3);
    assert.equal((await runtime.state(id))?.status, "stopped");
    await until("conmon to exit", async () => ((await processesMentioning(id)).length === 0 ? true : undefined));

    const raw = (await readFile(paths.logFile!, "utf8")).split("\n").filter(Boolean);
    assert.ok(raw.length >= 2, raw.join("\n"));
    for (const line of raw) assert.match(line.split(" ")[0] ?? "", RFC3339, line);
    const entries = parseK8sLog(raw.join("\n"));
    assert.deepEqual(entries.map((e) => [e.stream, e.text]).sort(), [
      ["stderr", "oops"],
      ["stdout", "hello"],
    ]);
  });

  it("runs conmon, runc and the container without berthd's environment (no NOTIFY_SOCKET, no secrets)", async () => {
    const { id, paths } = await prepare(["sleep", "30"]);
    const saved = { NOTIFY_SOCKET: process.env.NOTIFY_SOCKET, BERTH_TEST_SECRET: process.env.BERTH_TEST_SECRET };
    process.env.NOTIFY_SOCKET = join(dir, "notify.sock"); // as under a Type=notify unit
    process.env.BERTH_TEST_SECRET = "s3cret";
    let pid: number;
    try {
      ({ pid } = await monitor.start({ id, runtime, paths }));
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const environ = async (p: number) =>
      (await readFile(`/proc/${p}/environ`, "utf8"))
        .split("\0")
        .filter(Boolean)
        .map((e) => e.slice(0, e.indexOf("=")));
    const conmonPid = Number((await readFile(paths.conmonPidFile, "utf8")).trim());
    const conmonVars = await environ(conmonPid);
    assert.deepEqual(
      conmonVars.filter((k) => !["TZ", "TMPDIR"].includes(k)).sort(),
      ["G_SLICE", "PATH", "_OCI_SYNCPIPE"],
      `conmon's environment: ${conmonVars.join(" ")}`,
    );
    await runtime.start(id);
    // runc hands NOTIFY_SOCKET to the container (and bind-mounts a socket for it) when it sees one. The exec
    // fifo reaches EOF a moment before /proc shows the new program's environment (runc init's _LIBCONTAINER_*
    // until then, and none at all while execve replaces the image): wait for the container's own.
    const ctrVars = await until("the container's environment", async () => {
      const vars = await environ(pid);
      return vars.length === 0 || vars.some((k) => k.startsWith("_LIBCONTAINER_")) ? undefined : vars;
    });
    assert.ok(!ctrVars.includes("NOTIFY_SOCKET"), `the container's environment: ${ctrVars.join(" ")}`);
    assert.ok(ctrVars.includes("PATH"), ctrVars.join(" "));
    await runtime.kill(id, 9);
  });

  it("rejects with runc's reason when the command is missing, and conmon does not linger", async () => {
    const { id, paths } = await prepare(["/no/such/binary"]);
    await assert.rejects(
      monitor.start({ id, runtime, paths, timeoutMs: 15_000 }),
      (err: unknown) =>
        isLibctError(err, "invalid") &&
        err.message.includes("the container's command cannot be run") &&
        /exec: "\/no\/such\/binary": .*no such file or directory; check the command/i.test(err.message),
    );
    await until("conmon and runc to go", async () => ((await processesMentioning(id)).length === 0 ? true : undefined));
    const st = await runtime.state(id);
    assert.ok(st === undefined || st.status === "stopped", `runtime state ${st?.status}`);
  });

  it("holds conmon at its start pipe until go: the bundle can be written meanwhile", async () => {
    const { id, paths } = await prepare(["true"]);
    const config = await readFile(join(paths.bundle, "config.json"), "utf8");
    await rm(join(paths.bundle, "config.json"));
    const held = monitor.hold({ id, runtime, paths });
    assert.ok(held, "posix_spawn is available here");
    const conmons = await until("conmon to start", async () => {
      const pids = await processesMentioning(id);
      return pids.length > 0 ? pids : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    // Still one waiting conmon: no fork, no runtime, no pid files, no container.
    assert.deepEqual(await processesMentioning(id), conmons);
    assert.equal(await runtime.state(id), undefined);
    assert.ok(!existsSync(paths.conmonPidFile), "conmon has not forked");
    await writeFile(join(paths.bundle, "config.json"), config);
    const { pid } = await held.go();
    assert.ok(pid > 0);
    assert.equal((await runtime.state(id))?.status, "created");
    await assert.rejects(held.go(), /already used/);
    held.cancel(); // a no-op once it went
    assert.equal((await runtime.state(id))?.status, "created");
    await runtime.delete(id, { force: true });
  });

  it("cancel kills a held conmon: nothing runs and nothing is created", async () => {
    const { id, paths } = await prepare(["true"]);
    const held = monitor.hold({ id, runtime, paths });
    assert.ok(held);
    await until("conmon to start", async () => ((await processesMentioning(id)).length > 0 ? true : undefined));
    held.cancel();
    await until("conmon to go", async () => ((await processesMentioning(id)).length === 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await runtime.state(id), undefined, "no container");
    assert.ok(!existsSync(paths.conmonPidFile) && !existsSync(paths.pidFile), "no pid files");
  });

  it("cancel at once, while the spawn is still on its worker thread: conmon is killed and nothing is created", async () => {
    // The pid is not known yet when cancel runs: the kill waits for it.
    const { id, paths } = await prepare(["true"]);
    const held = monitor.hold({ id, runtime, paths });
    assert.ok(held);
    held.cancel();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await processesMentioning(id), [], "no conmon, no runtime");
    assert.equal(await runtime.state(id), undefined, "no container");
    assert.ok(!existsSync(paths.conmonPidFile) && !existsSync(paths.pidFile), "no pid files");
  });
});
