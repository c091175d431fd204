import { strict as assert } from "node:assert";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { removeCgroup } from "../cgroups/index.js";
import { isLibctError } from "../errors.js";
import { probeHost } from "../host/probe.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../image/busybox.js";
import { specFromDescription } from "../spec/index.js";
import {
  CommandFailedError,
  ProcessRunner,
  RecordingRunner,
  type RunOptions,
  type RunResult,
} from "../system/command.js";
import { needsRoot } from "../testing/slow.js";
import { until } from "../testing/wait.js";
import { CONFORMANCE_CGROUP_PARENT, runtimeSuite } from "./conformance.js";
import { lastLogError, RuncRuntime } from "./runc.js";
import type { RuntimeState } from "./runtime.js";

const host = await probeHost();

/** The suite's skip reason for `name` on this host: not root, not installed, or the probe's unusableReason. */
function skipReason(name: "runc" | "crun"): string | undefined {
  if (needsRoot.skip) return needsRoot.skip;
  const info = host.runtimes.find((r) => r.name === name);
  if (!info) return `${name} is not installed`;
  return info.unusableReason;
}

const openRuntime = (name: "runc" | "crun") => async (stateRoot: string) =>
  new RuncRuntime({
    name,
    binary: host.runtimes.find((r) => r.name === name)?.path ?? name,
    stateRoot,
    cmd: new ProcessRunner(),
  });

runtimeSuite("runc", openRuntime("runc"), skipReason("runc"));
runtimeSuite("crun", openRuntime("crun"), skipReason("crun"));

describe("crun on a hybrid cgroup host", () => {
  const crun = host.runtimes.find((r) => r.name === "crun");
  const skip =
    needsRoot.skip || (!crun ? "crun is not installed" : host.cgroup.mode !== "hybrid" && "not a hybrid host");
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("is marked unusable by the probe, and really refuses to create", { skip }, async () => {
    assert.match(crun?.unusableReason ?? "", /hybrid/);
    const dir = await mkdtemp(join(tmpdir(), "berth-crun-hybrid-"));
    dirs.push(dir);
    const { rootfs } = await ensureBusyboxImage(defaultBusyboxCacheDir());
    const id = `crun-refuses-${process.pid}`;
    const bundle = join(dir, "bundle");
    await mkdir(bundle);
    const spec = specFromDescription(
      host,
      { kind: "app", rootfs: { path: rootfs, readonly: true }, process: { args: ["/bin/true"] } },
      { cgroupsPath: `${CONFORMANCE_CGROUP_PARENT}/${id}` },
    );
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const runtime = await openRuntime("crun")(join(dir, "state"));
    try {
      await assert.rejects(
        runtime.create(id, bundle),
        (err: unknown) => isLibctError(err, "internal") && /cgroups in hybrid mode not supported/.test(err.message),
      );
    } finally {
      await runtime.delete(id, { force: true }).catch(() => {});
      await removeCgroup(host, `${CONFORMANCE_CGROUP_PARENT}/${id}`).catch(() => {});
      await removeCgroup(host, CONFORMANCE_CGROUP_PARENT).catch(() => {});
    }
  });
});

describe("runc state read from its files", () => {
  const skip = skipReason("runc");
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("agrees with `runc state` in every status", { skip }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-runc-state-"));
    dirs.push(dir);
    const { rootfs } = await ensureBusyboxImage(defaultBusyboxCacheDir());
    const id = `state-files-${process.pid}`;
    const bundle = join(dir, "bundle");
    await mkdir(bundle);
    const spec = specFromDescription(
      host,
      { kind: "app", rootfs: { path: rootfs, readonly: true }, process: { args: ["sleep", "60"] } },
      { cgroupsPath: `${CONFORMANCE_CGROUP_PARENT}/${id}` },
    );
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    const stateRoot = join(dir, "state");
    const cmd = new ProcessRunner();
    const runtime = await openRuntime("runc")(stateRoot);
    const binary = host.runtimes.find((r) => r.name === "runc")?.path ?? "runc";
    const runcSays = async () => {
      const out = JSON.parse((await cmd.run(binary, ["--root", stateRoot, "state", id])).stdout) as RuntimeState;
      return { id: out.id, pid: out.pid, status: out.status, bundle: out.bundle };
    };
    const fileSays = async () => {
      const st = await runtime.state(id);
      assert.ok(st, "state(id) is defined");
      return { id: st.id, pid: st.pid, status: st.status, bundle: st.bundle };
    };
    const seen: string[] = [];
    try {
      assert.equal(await runtime.state(id), undefined);
      await runtime.create(id, bundle);
      for (const step of [
        async () => {},
        () => runtime.start(id),
        () => runtime.pause(id),
        () => runtime.resume(id),
        () => runtime.kill(id, "SIGKILL"),
      ]) {
        await step();
        if (seen.length === 4)
          await until("runc to see the kill", async () => ((await runcSays()).status === "stopped" ? true : undefined));
        const want = await runcSays();
        assert.deepEqual(await fileSays(), want);
        seen.push(want.status);
      }
      assert.deepEqual(seen, ["created", "running", "paused", "running", "stopped"]);
    } finally {
      await runtime.delete(id, { force: true }).catch(() => {});
      await removeCgroup(host, `${CONFORMANCE_CGROUP_PARENT}/${id}`).catch(() => {});
      await removeCgroup(host, CONFORMANCE_CGROUP_PARENT).catch(() => {});
    }
    assert.equal(await runtime.state(id), undefined);
  });
});

/** RecordingRunner, plus the stdin each call got (update sends the resources there). */
class StdinRecorder extends RecordingRunner {
  readonly stdins: (string | Buffer | undefined)[] = [];
  override run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    this.stdins.push(opts?.stdin);
    return super.run(file, args);
  }
}

describe("RuncRuntime command lines", () => {
  const open = (cmd: RecordingRunner) => new RuncRuntime({ binary: "runc", stateRoot: "/run/berth/runc", cmd });

  it("kill", async () => {
    const cmd = new RecordingRunner();
    const rt = open(cmd);
    await rt.kill("web-1", "SIGTERM");
    await rt.kill("web-1", 9, { all: true });
    assert.deepEqual(cmd.calls, [
      ["runc", ["--root", "/run/berth/runc", "kill", "web-1", "SIGTERM"]],
      ["runc", ["--root", "/run/berth/runc", "kill", "--all", "web-1", "9"]],
    ]);
  });

  it("delete", async () => {
    const cmd = new RecordingRunner();
    const rt = open(cmd);
    await rt.delete("web-1");
    await rt.delete("web-1", { force: true });
    assert.deepEqual(cmd.calls, [
      ["runc", ["--root", "/run/berth/runc", "delete", "web-1"]],
      ["runc", ["--root", "/run/berth/runc", "delete", "--force", "web-1"]],
    ]);
  });

  it("update sends the resources as JSON on stdin", async () => {
    const cmd = new StdinRecorder();
    await open(cmd).update("web-1", { pids: { limit: 42 }, memory: { limit: 1 << 20 } });
    assert.deepEqual(cmd.calls, [["runc", ["--root", "/run/berth/runc", "update", "--resources", "-", "web-1"]]]);
    assert.deepEqual(JSON.parse(String(cmd.stdins[0])), { pids: { limit: 42 }, memory: { limit: 1048576 } });
  });

  it("create runs with stdio on /dev/null and a JSON log", async () => {
    const cmd = new RecordingRunner();
    await open(cmd).create("web-1", "/b/web-1", { pidFile: "/b/pid" });
    const [[file, args]] = cmd.calls as [[string, string[]]];
    assert.equal(file, "runc");
    assert.equal(cmd.options[0]?.nullStdio, true);
    const argv = args;
    assert.match(argv[2] ?? "", /^--log=.*\/log\.json$/);
    assert.deepEqual(
      [...argv.slice(0, 2), ...argv.slice(3)],
      [
        "--root",
        "/run/berth/runc",
        "--log-format=json",
        "create",
        "--bundle",
        "/b/web-1",
        "--pid-file",
        "/b/pid",
        "web-1",
      ],
    );
  });

  it("execArgs", () => {
    const rt = open(new RecordingRunner());
    assert.deepEqual(rt.execArgs("web-1", { processFile: "/p.json", tty: true, detach: true, pidFile: "/pid" }), [
      "--root", "/run/berth/runc", "exec", "--process", "/p.json", "--tty", "--detach", "--pid-file", "/pid", "web-1",
    ]); // biome-ignore format: argv
  });

  it("maps a missing container to not-found and other failures to internal", async () => {
    const fail = (stderr: string) =>
      new RecordingRunner((file, args) => {
        throw new CommandFailedError(file, args, 1, stderr);
      });
    await assert.rejects(
      open(fail('time="x" level=error msg="container does not exist"\n')).kill("web-1", "SIGTERM"),
      (err: unknown) => isLibctError(err, "not-found") && err.message.includes("web-1"),
    );
    await assert.rejects(
      open(fail('time="x" level=error msg="container does not exist"\n')).update("web-1", {}),
      (err: unknown) => isLibctError(err, "not-found"),
    );
    await assert.rejects(
      open(fail('level=error msg="cannot pause: not running"\n')).pause("web-1"),
      (err: unknown) => isLibctError(err, "internal") && /runc pause failed: .*not running/.test(err.message),
    );
    assert.equal(await open(fail("container does not exist")).state("web-1"), undefined);
  });

  it("lastLogError takes the last error line of a JSON log", () => {
    const log = [
      '{"level":"warning","msg":"w","time":"t"}',
      '{"msg":"cgroups in hybrid mode not supported","level":"error","time":"t"}',
      "",
    ].join("\n");
    assert.equal(lastLogError(log), "cgroups in hybrid mode not supported");
    assert.equal(lastLogError(""), "");
  });
});
