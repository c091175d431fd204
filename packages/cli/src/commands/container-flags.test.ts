import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { ContainerPut } from "@berth/api";
import { CliError } from "../framework/errors.js";
import { parseFlags } from "../framework/flags.js";
import { applyConfig } from "./config-keys.js";
import {
  containerFlags,
  parseDevice,
  parseMount,
  parseRestart,
  parseSysctls,
  parseUlimit,
  parseVolume,
  toCreate,
} from "./container-flags.js";

const parse = (argv: string[]) => {
  const { flags, args } = parseFlags(containerFlags, argv, { interspersed: false });
  const [image, ...cmd] = args as [string, ...string[]];
  return { image, cmd, flags };
};
const create = (argv: string[], env: Record<string, string> = {}) => {
  const { flags, args } = parseFlags(containerFlags, argv, { interspersed: false });
  const [image, ...cmd] = args as [string, ...string[]];
  return toCreate({ image, cmd, flags, env, cwd: "/home/u" });
};

describe("run flags → ContainerCreate", () => {
  it("maps the common flags", () => {
    const body = create(
      [
        "--name",
        "web",
        "-e",
        "A=1",
        "-e",
        "HOME_VAR",
        "-v",
        "/srv:/data:ro",
        "-v",
        "cache:/cache",
        "--memory",
        "256m",
        "--memory-swap",
        "-1",
        "--cpus",
        "1.5",
        "--cpuset-cpus",
        "0-1",
        "--pids-limit",
        "50",
        "--network",
        "none",
        "-h",
        "box",
        "-u",
        "1000:1000",
        "-w",
        "/tmp",
        "--read-only",
        "--restart",
        "on-failure:3",
        "--init",
        "-l",
        "a=b",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--stop-timeout",
        "5",
        "busybox",
        "sleep",
        "30",
      ],
      { HOME_VAR: "x" },
    );
    assert.deepEqual(body, {
      image: "busybox",
      name: "web",
      cmd: ["sleep", "30"],
      env: ["A=1", "HOME_VAR=x"],
      workingDir: "/tmp",
      user: "1000:1000",
      hostname: "box",
      mounts: [
        { type: "bind", source: "/srv", target: "/data", readOnly: true },
        { type: "volume", source: "cache", target: "/cache" },
      ],
      network: "none",
      readOnly: true,
      init: true,
      capAdd: ["NET_ADMIN"],
      capDrop: ["ALL"],
      securityOpt: ["no-new-privileges"],
      stopTimeoutSeconds: 5,
      labels: { a: "b" },
      restartPolicy: { name: "on-failure", maximumRetryCount: 3 },
      resources: { memory: 256 * 1024 ** 2, memorySwap: -1, cpus: 1.5, cpusetCpus: "0-1", pidsLimit: 50 },
    });
  });
  it("process and namespace flags: --ulimit, --sysctl, --device, --group-add, --oom-score-adj, --shm-size, --pid, --ipc, --uts", () => {
    const body = create([
      "--ulimit", "nofile=1024:2048", "--ulimit", "NPROC=50", "--sysctl", "net.core.somaxconn=1024",
      "--device", "/dev/fuse", "--device", "/dev/sdb:/dev/xvdb", "--device", "/dev/null:rw",
      "--group-add", "audio", "--oom-score-adj", "-500", "--shm-size", "1g",
      "--pid", "container:db", "--ipc", "host", "--uts", "host", "busybox",
    ]); // biome-ignore format: flag/value pairs
    assert.deepEqual(body.ulimits, [
      { name: "nofile", soft: 1024, hard: 2048 },
      { name: "nproc", soft: 50, hard: 50 },
    ]);
    assert.deepEqual(body.sysctls, { "net.core.somaxconn": "1024" });
    assert.deepEqual(body.devices, [
      { pathOnHost: "/dev/fuse" },
      { pathOnHost: "/dev/sdb", pathInContainer: "/dev/xvdb" },
      { pathOnHost: "/dev/null", permissions: "rw" },
    ]);
    assert.deepEqual(body.groupAdd, ["audio"]);
    assert.equal(body.oomScoreAdj, -500, "a negative number is the flag's value, not a flag");
    assert.equal(body.shmSizeBytes, 2 ** 30);
    assert.deepEqual([body.pidMode, body.ipcMode, body.utsMode], ["container:db", "host", "host"]);
    assert.deepEqual(parseDevice("/dev/sdb:/dev/xvdb:rwm"), {
      pathOnHost: "/dev/sdb",
      pathInContainer: "/dev/xvdb",
      permissions: "rwm",
    });
    for (const bad of ["nofile", "nofile=", "nofile=a:b", "=1", "nofile=1:2:3"])
      assert.throws(() => parseUlimit(bad), /invalid ulimit argument/, bad);
    for (const bad of ["fuse", "/dev/a:b", "/dev/a:/b:xyz", "/dev/a:/b:rw:x"])
      assert.throws(() => parseDevice(bad), /invalid device/, bad);
    assert.throws(() => parseSysctls(["=1"]), /invalid sysctl/);
    assert.throws(() => parseSysctls(["net.core.somaxconn"]), /invalid sysctl/);
    assert.throws(() => create(["--ipc", "container:x", "busybox"]), /must be one of host, private/);
  });

  it("health flags", () => {
    const body = create([
      "--health-cmd",
      "true",
      "--health-interval",
      "5s",
      "--health-timeout",
      "2s",
      "--health-retries",
      "3",
      "--health-start-period",
      "1m",
      "img",
    ]);
    assert.deepEqual(body.healthcheck, {
      test: ["CMD-SHELL", "true"],
      intervalMs: 5000,
      timeoutMs: 2000,
      startPeriodMs: 60_000,
      retries: 3,
    });
    assert.deepEqual(create(["--no-healthcheck", "img"]).healthcheck, { test: ["NONE"] });
    // Timings alone keep the image's test: no test is sent, so berthd takes the image's.
    assert.deepEqual(create(["--health-interval", "2s", "--health-retries", "4", "img"]).healthcheck, {
      intervalMs: 2000,
      retries: 4,
    });
    assert.equal(create(["img"]).healthcheck, undefined);
  });
  it("--security-opt seccomp=FILE sends the profile's JSON, as Docker's CLI does; a missing or bad file is an error", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-seccomp-"));
    try {
      const profile = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}';
      writeFileSync(join(dir, "p.json"), profile);
      writeFileSync(join(dir, "bad.json"), "{nope");
      const opts = (o: string) => toCreate({ ...parse(["--security-opt", o, "img"]), env: {}, cwd: dir }).securityOpt;
      assert.deepEqual(opts("seccomp=p.json"), [`seccomp=${profile}`], "relative to the cwd");
      assert.deepEqual(opts(`seccomp=${join(dir, "p.json")}`), [`seccomp=${profile}`]);
      assert.deepEqual(opts("seccomp=unconfined"), ["seccomp=unconfined"]);
      assert.deepEqual(opts("no-new-privileges:false"), ["no-new-privileges:false"]);
      assert.throws(
        () => opts("seccomp=missing.json"),
        (e) => e instanceof CliError && /cannot read.*ENOENT/.test(e.message),
      );
      assert.throws(
        () => opts("seccomp=bad.json"),
        (e) => e instanceof CliError && /not valid JSON/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("--entrypoint and -it", () => {
    const body = create(["--entrypoint", "/bin/sh", "-it", "img", "-c", "ls"]);
    assert.deepEqual(body.entrypoint, ["/bin/sh"]);
    assert.deepEqual(body.cmd, ["-c", "ls"]);
    assert.equal(body.tty, true);
    assert.equal(body.openStdin, true);
  });
  it("--log-opt max-size/max-file (Docker's) become the log rotation; other options are refused", () => {
    const body = create(["--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3", "img"]);
    assert.deepEqual(body.logOptions, { maxSizeBytes: 10 * 1024 * 1024, maxFiles: 3 });
    assert.equal(create(["img"]).logOptions, undefined);
    assert.throws(() => create(["--log-opt", "compress=true", "img"]), /unknown log option 'compress'/);
    assert.throws(() => create(["--log-opt", "max-size=ten", "img"]), /invalid size: 'ten'/);
    assert.throws(() => create(["--log-opt", "max-file=0", "img"]), /at least 1/);
    assert.throws(() => create(["--log-driver", "syslog", "img"]), CliError);
  });
  it("relative bind sources resolve against the cwd", () => {
    assert.deepEqual(parseVolume("./data:/d", "/home/u"), { type: "bind", source: "/home/u/data", target: "/d" });
  });
  it("rejects bad volumes, mounts, restart policies, swap below memory, -p", () => {
    assert.throws(() => parseVolume("/a:data"), CliError);
    assert.throws(() => parseVolume("/a:/b:bogus"), /invalid volume option 'bogus'/);
    assert.throws(() => parseMount("type=bind,target=/x"), /needs source/);
    assert.throws(() => parseMount("type=nfs,target=/x"), /invalid mount type/);
    assert.throws(() => parseRestart("sometimes"), /invalid restart policy/);
    assert.throws(() => parseRestart("always:3"), /invalid restart policy/);
    assert.throws(() => create(["--memory", "1g", "--memory-swap", "512m", "img"]), /memoryswap/);
    assert.throws(() => create(["-p", "8080:80", "img"]), /not implemented yet/);
    assert.throws(() => create(["--cpus", "0", "img"]), /greater than 0/);
  });
  it("--mount forms", () => {
    assert.deepEqual(parseMount("type=bind,src=/a,dst=/b,readonly"), {
      type: "bind",
      source: "/a",
      target: "/b",
      readOnly: true,
    });
    assert.deepEqual(parseMount("type=tmpfs,target=/t,tmpfs-size=64m"), {
      type: "tmpfs",
      target: "/t",
      tmpfsSize: 64 * 1024 ** 2,
    });
  });
  it("Incus config keys", () => {
    assert.deepEqual(
      applyConfig({}, [
        "limits.memory=512MiB",
        "limits.cpu=2",
        "limits.processes=100",
        "boot.autostart=true",
        "user.team=a",
      ]),
      {
        resources: { memory: 512 * 1024 ** 2, cpus: 2, pidsLimit: 100 },
        autostart: true,
        labels: { "user.team": "a" },
      },
    );
    assert.deepEqual(applyConfig<ContainerPut>({}, ["limits.cpu=0-1"]).resources, { cpusetCpus: "0-1" });
    assert.throws(() => applyConfig({}, ["limits.nope=1"]), /unknown config key/);
    assert.throws(() => applyConfig({}, ["limits.memory=lots"]), /invalid value/);
  });
});
