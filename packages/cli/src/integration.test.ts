/**
 * The real CLI (the esbuild bundle, as users run it) against a real berthd on temp roots and a temp socket.
 * Skips, saying why, when berthd is not built yet, when not root, or when runc/conmon are missing.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, release, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BUNDLE, cliSkipReason, TestBerthd } from "./testing/berthd.js";

describe("berth against a real berthd", { skip: cliSkipReason(), timeout: 180_000 }, () => {
  let d: TestBerthd;
  const berth = (...args: string[]) => d.berth(...args);

  before(async () => {
    d = await TestBerthd.start("bc-", 60_000);
  });

  after(async () => {
    await d?.stop();
  });

  it("version shows client and server", async () => {
    const r = await berth("version");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Client:[\s\S]*Server: berthd/);
  });

  it("image bootstrap busybox", async () => {
    const r = await berth("image", "bootstrap", "busybox");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /busybox:latest\n$/);
    assert.match((await berth("images", "--format", "{{.Repository}}:{{.Tag}}")).out, /^busybox:latest$/m);
  });

  it("info without a name (and system info) shows the host as docker info does; templates take Docker's names", async () => {
    const r = await berth("info");
    assert.equal(r.code, 0, r.err);
    for (const want of [
      /^Server:$/m,
      /^ Containers: \d+$/m,
      /^ {2}Running: \d+$/m,
      /^ Images: [1-9]/m,
      /^ Storage Driver: overlay$/m,
    ])
      assert.match(r.out, want);
    assert.match(r.out, new RegExp(`^ CPUs: ${availableParallelism()}$`, "m"));
    assert.match(r.out, new RegExp(`^ Kernel Version: ${release().replace(/[.+]/g, "\\$&")}$`, "m"));
    const t = await berth(
      "system",
      "info",
      "--format",
      "{{.ServerVersion}}|{{.NCPU}}|{{.ContainersRunning}}|{{.OSType}}|{{.containers.total}}",
    );
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, new RegExp(`^\\d+\\.\\d+\\.\\d+\\|${availableParallelism()}\\|\\d+\\|linux\\|\\d+\\n$`));
    const j = JSON.parse((await berth("info", "--format", "json")).out);
    assert.equal(j.cpus, availableParallelism());
    // A name still means a container (Incus's info NAME), and a wrong one says so.
    const bad = await berth("info", "no-such-container");
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /no such container/);
    assert.notEqual((await berth("system", "info", "extra")).code, 0);
  });

  it("Docker's process and namespace flags reach the container: --ulimit, --sysctl, --device, --group-add, --oom-score-adj, --shm-size, --pid, --ipc, --uts, --cidfile, --label-file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-flags-"));
    try {
      const labels = join(dir, "labels");
      writeFileSync(labels, "tier=web\n# a comment\n\nteam=core\n");
      const cid = join(dir, "cid");
      const r = await berth(
        "run", "-d", "--name", "flags1", "--cidfile", cid, "--label-file", labels,
        "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=300", "--sysctl", "net.ipv4.ip_forward=1",
        "--device", "/dev/null:/dev/mynull:rw", "--group-add", "10", "--group-add", "20",
        "--oom-score-adj", "300", "--shm-size", "32m", "busybox", "sleep", "60",
      ); // biome-ignore format: flag/value pairs
      assert.equal(r.code, 0, r.err);
      assert.equal(readFileSync(cid, "utf8"), r.out.trim(), "--cidfile holds the new id");
      const inside = await berth(
        "exec", "flags1", "sh", "-c",
        "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/sys/net/ipv4/ip_forward; ls -l /dev/mynull; id -G; cat /proc/self/oom_score_adj; df -k /dev/shm | tail -1",
      ); // biome-ignore format: one command
      assert.equal(inside.code, 0, inside.err);
      const lines = inside.out.trim().split("\n");
      assert.deepEqual(lines.slice(0, 4), ["1024", "2048", "300", "1"]);
      assert.match(lines[4]!, /^crw-rw-rw-.* 1,\s+3 .*\/dev\/mynull$/, "the host's /dev/null under another name");
      assert.deepEqual(lines[5]!.split(" ").sort(), ["0", "10", "20"]);
      assert.equal(lines[6], "300");
      assert.match(lines[7]!, /^\S+\s+32768\s/, "/dev/shm is 32 MiB");
      assert.equal(
        (await berth("inspect", "-f", "{{.Config.Labels}}", "flags1")).out.trim(),
        "map[team:core tier:web]",
      );
      // A second --cidfile run on the same file is refused before anything is created.
      const again = await berth("run", "-d", "--cidfile", cid, "busybox", "true");
      assert.notEqual(again.code, 0);
      assert.match(again.err, /container ID file found/);

      // --pid container:NAME sees the other container's processes; --pid/--ipc/--uts host see the host's.
      const joined = await berth("run", "--rm", "--pid", "container:flags1", "busybox", "ps", "-o", "args");
      assert.equal(joined.code, 0, joined.err);
      assert.match(joined.out, /sleep 60/);
      const host = await berth("run", "--rm", "--pid", "host", "--ipc", "host", "--uts", "host", "busybox", "sh", "-c",
        "hostname; ls /proc | grep -c '^[0-9]'"); // biome-ignore format: one command
      assert.equal(host.code, 0, host.err);
      const [hn, nprocs] = host.out.trim().split("\n");
      assert.equal(hn, hostname(), "the host's hostname");
      assert.ok(Number(nprocs) > 20, `the host's processes are visible (${nprocs})`);
    } finally {
      await berth("rm", "-f", "flags1");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ps -s and inspect -s: the bytes a container wrote, and with its image's (Docker's SIZE, SizeRw, SizeRootFs)", async () => {
    const r = await berth(
      "run",
      "-d",
      "--name",
      "sized",
      "busybox",
      "sh",
      "-c",
      "dd if=/dev/zero of=/blob bs=1024 count=300 && sleep 60",
    );
    assert.equal(r.code, 0, r.err);
    try {
      let sizes: number[] = [];
      for (let i = 0; i < 50; i++) {
        sizes = (await berth("inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "sized")).out
          .trim()
          .split(" ")
          .map(Number);
        if (sizes[0]! >= 300 * 1024) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const [rw, rootfs] = sizes as [number, number];
      assert.ok(rw >= 300 * 1024 && rw < 400 * 1024, `SizeRw ${rw}: the 300 KiB written`);
      assert.ok(rootfs > rw, `SizeRootFs ${rootfs} adds the image's bytes`);
      const ps = await berth("ps", "-s", "-f", "name=sized");
      assert.match(ps.out.split("\n")[0]!, /\bSIZE$/);
      assert.match(ps.out, /\b3\d\dkB \(virtual \d+(\.\d+)?[kM]B\)/);
      assert.match((await berth("ps", "-f", "name=sized", "--format", "{{.Size}}")).out, /^3\d\dkB \(virtual /);
      assert.doesNotMatch((await berth("ps", "-f", "name=sized")).out, /SIZE/, "no sizes unless asked");
    } finally {
      await berth("rm", "-f", "sized");
    }
  });

  it("run --rm returns the container's exit code and prints its output as it comes", async () => {
    const r = await berth("run", "--rm", "busybox", "sh", "-c", "exit 3");
    assert.equal(r.code, 3, r.err);
    const hello = await berth("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hello; echo oops >&2");
    assert.equal(hello.code, 0, hello.err);
    assert.equal(hello.out, "hello\n");
    assert.equal(hello.err, "oops\n");
    // Every line of a burst arrives although the container is removed the moment it exits (autoRemove), and
    // the CLI's early exit does not cut its output short.
    const many = await berth("run", "--rm", "--network", "none", "busybox", "seq", "1", "50000");
    assert.equal(many.code, 0, many.err);
    const lines = many.out.split("\n").filter(Boolean);
    assert.equal(lines.length, 50000);
    assert.equal(lines.at(-1), "50000");
    assert.doesNotMatch((await berth("ps", "-a", "--format", "{{.Image}}")).out, /busybox/);
  });

  it("run -d, ps, exec, logs, inspect, top, stats, stop, start, rm -f", async () => {
    const d = await berth(
      "run",
      "-d",
      "--name",
      "web",
      "--memory",
      "64m",
      "-e",
      "GREETING=hi",
      "busybox",
      "sh",
      "-c",
      "echo ready; sleep 30",
    );
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /^[0-9a-f]{64}\n$/);

    const ps = await berth("ps");
    assert.match(ps.out, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
    assert.match(ps.out, /busybox .*Up .* web\n/);
    assert.equal((await berth("ps", "--format", "{{.Names}} {{.State}}")).out, "web running\n");

    const hi = await berth("exec", "web", "echo", "hi");
    assert.equal(hi.code, 0, hi.err);
    assert.equal(hi.out, "hi\n");
    assert.equal((await berth("exec", "web", "sh", "-c", "echo $GREETING; exit 5")).code, 5);
    assert.equal((await berth("exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", "echo $X $PWD")).out, "1 /tmp\n");
    // a command that cannot start: 127 when it is not found, 126 when it cannot be run (Docker's, Podman's)
    const nf = await berth("exec", "web", "nosuchcmd");
    assert.deepEqual([nf.code, nf.err], [127, 'exec: "nosuchcmd": executable file not found in $PATH\n']);
    const np = await berth("exec", "web", "/etc/passwd");
    assert.deepEqual([np.code, np.err], [126, 'exec: "/etc/passwd": permission denied\n']);
    assert.equal((await berth("exec", "web", "sh", "-c", "echo own >&2; exit 255")).err, "own\n");
    const nfd = await berth("exec", "-d", "web", "nosuchcmd");
    assert.equal(nfd.code, 127, nfd.err);
    assert.match(nfd.err, /"nosuchcmd": executable file not found/);
    // exec -d: prints nothing, exits 0 at once; the command goes on in the container.
    const bg = await berth("exec", "-d", "web", "sh", "-c", "sleep 0.5; echo bg > /tmp/bg");
    assert.deepEqual([bg.code, bg.out, bg.err], [0, "", ""]);
    let seen = "";
    for (let i = 0; i < 40 && seen !== "bg\n"; i++) {
      seen = (await berth("exec", "web", "cat", "/tmp/bg")).out;
      if (seen !== "bg\n") await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen, "bg\n");
    assert.match(
      (await berth("exec", "--privileged", "web", "grep", "CapEff", "/proc/self/status")).out,
      /CapEff:\s*0*1ff/,
    );
    assert.match((await berth("exec", "web", "grep", "CapEff", "/proc/self/status")).out, /CapEff:\s*00000000a80425fb/);

    const logs = await berth("logs", "web");
    assert.equal(logs.code, 0, logs.err);
    assert.match(logs.out, /^ready$/m);
    assert.match((await berth("logs", "-t", "--tail", "1", "web")).out, /^\d{4}-\d\d-\d\dT\S+ ready\n$/);
    // --since: Go durations, Unix seconds and times, as Docker takes them
    assert.match((await berth("logs", "--since", "1h30m", "web")).out, /^ready$/m);
    assert.match((await berth("logs", "--since", String(Math.floor(Date.now() / 1000) - 3600), "web")).out, /^ready$/m);
    assert.equal((await berth("logs", "--since", "1ms", "web")).out, "");
    assert.equal((await berth("logs", "--since", "2099-01-01T00:00:00Z", "web")).out, "");
    // --until: lines up to a time; both bounds include a line at exactly that time, whatever its offset.
    assert.equal((await berth("logs", "--until", "1h", "web")).out, "");
    assert.match((await berth("logs", "--until", "2099-01-01T00:00:00Z", "web")).out, /^ready$/m);
    const stamp = (await berth("logs", "-t", "--tail", "1", "web")).out.split(" ")[0]!;
    assert.equal((await berth("logs", "--since", stamp, "--until", stamp, "web")).out, "ready\n");
    const t0 = Date.now();
    const bounded = await berth("logs", "-f", "--until", "1s", "web"); // follows, and stops at the bound
    assert.equal(bounded.code, 0, bounded.err);
    assert.ok(Date.now() - t0 < 15_000, "a follower with --until in the past ends");
    const badSince = await berth("logs", "--since", "yesterday", "web");
    assert.notEqual(badSince.code, 0);
    assert.match(badSince.err, /'yesterday' is neither/);

    assert.equal(
      (await berth("inspect", "-f", "{{.Name}} {{.State.Status}} {{.Resources.Memory}}", "web")).out,
      `web running ${64 * 1024 * 1024}\n`,
    );
    // Docker's inspect fields, as Docker users write them
    assert.equal(
      (
        await berth(
          "inspect",
          "-f",
          "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} {{.RestartCount}} {{.State.ExitCode}} {{.Path}} {{.Args}} {{.State.Running}}",
          "web",
        )
      ).out,
      `${64 * 1024 * 1024} no 0 0 sh [-c echo ready; sleep 30] true\n`,
    );
    const env = (await berth("inspect", "-f", "{{json .Config.Env}}", "web")).out;
    assert.ok(JSON.parse(env).includes("GREETING=hi"), env);
    assert.ok(
      (JSON.parse(env) as string[]).some((e) => e.startsWith("PATH=")),
      "Config.Env is the image's env merged with -e",
    );
    assert.match((await berth("top", "web")).out, /sleep 30/);
    // ps options after the container, as Docker: the host's ps columns, only the container's rows.
    const aux = await berth("top", "web", "aux");
    assert.equal(aux.code, 0, aux.err);
    const auxLines = aux.out.trim().split("\n");
    assert.match(auxLines[0]!, /^USER\s+PID\s+%CPU\s+%MEM\s+VSZ\s+RSS\s+TTY\s+STAT\s+START\s+TIME\s+COMMAND$/);
    assert.ok(auxLines.length >= 2 && auxLines.slice(1).every((l) => /sleep 30/.test(l)), aux.out);
    const custom = await berth("top", "--format", "{{.PID}}={{.COMMAND}}", "web", "-eo", "pid,args");
    assert.match(custom.out, /^\d+=sleep 30/m);
    const noPid = await berth("top", "web", "-o", "comm");
    assert.notEqual(noPid.code, 0);
    assert.match(noPid.err, /no PID column.*add pid/);
    assert.match((await berth("stats", "--no-stream", "web")).out, /^CONTAINER ID +NAME +CPU %[\s\S]* web /m);
    // CPU % is a rate over a moment, as Docker's: an idle container is near 0 even just after its start (the
    // runtime's set-up is not its work), a spinning one near a whole CPU
    const spin = await berth("run", "-d", "--name", "spin", "busybox", "sh", "-c", "while :; do :; done");
    assert.equal(spin.code, 0, spin.err);
    const cpu = async (name: string) =>
      Number((await berth("stats", "--no-stream", "--format", "{{.CPUPerc}}", name)).out.replace("%", ""));
    const idle = await berth("run", "-d", "--name", "idle", "busybox", "sleep", "30");
    assert.equal(idle.code, 0, idle.err);
    const idlePct = await cpu("idle");
    assert.ok(idlePct < 5, `idle container: ${idlePct}%`);
    // A loaded machine can leave the loop less than its CPU for one 500 ms sample: a few samples, one must show it.
    const spinPcts: number[] = [];
    let spinPct = 0;
    for (let i = 0; i < 5 && !(spinPct > 40); i++) {
      spinPct = await cpu("spin");
      spinPcts.push(spinPct);
    }
    assert.ok(spinPct > 40, `spinning container: ${spinPcts.join("%, ")}%`);
    assert.equal((await berth("rm", "-f", "spin", "idle")).code, 0);

    // --format on verbs that report, run and exec
    assert.equal((await berth("ps", "-f", "name=web", "--format", "{{.Names}}")).out, "web\n");
    const ex = await berth("exec", "--format", "json", "web", "sh", "-c", "echo out; exit 3");
    assert.equal(ex.code, 3);
    assert.deepEqual(JSON.parse(ex.out), { exitCode: 3, stdout: "out\n", stderr: "" });
    assert.match((await berth("top", "--format", "json", "web")).out, /"PID":"\d+"/);
    assert.equal(
      (await berth("logs", "--format", "{{.Stream}}:{{.Text}}", "--tail", "1", "web")).out,
      "stdout:ready\n",
    );
    const made = await berth(
      "run",
      "-d",
      "--format",
      "{{.Name}} {{.State.Status}}",
      "--name",
      "fmt1",
      "busybox",
      "sleep",
      "30",
    );
    assert.equal(made.out, "fmt1 running\n", made.err);
    const noD = await berth("run", "--format", "json", "busybox", "true");
    assert.notEqual(noD.code, 0);
    assert.match(noD.err, /--format prints the new container, which run does with -d only/);
    assert.equal(
      (await berth("create", "--format", "{{.State.Status}}", "--name", "fmt2", "busybox", "true")).out,
      "created\n",
    );
    assert.equal((await berth("rename", "--format", "{{.PreviousName}}>{{.Name}}", "fmt2", "fmt3")).out, "fmt2>fmt3\n");
    assert.deepEqual(
      (await berth("kill", "--format", "json", "fmt1", "nosuch")).out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
      [{ name: "fmt1" }],
      "only the containers that succeeded are records; the error goes to stderr",
    );
    assert.match((await berth("wait", "--format", "{{.Name}} {{.ExitCode}}", "fmt1")).out, /^fmt1 137\n$/);
    assert.equal(
      (await berth("rm", "--format", "table", "fmt1", "fmt3")).out.replace(/ +\n/g, "\n"),
      "NAME\nfmt1\nfmt3\n",
    );

    const stop = await berth("stop", "-t", "1", "web");
    assert.equal(stop.code, 0, stop.err);
    assert.equal(stop.out, "web\n");
    assert.match((await berth("ps", "-a", "--format", "{{.Names}} {{.Status}}")).out, /^web Exited \(\d+\)/m);
    assert.equal((await berth("start", "web")).code, 0);

    const rm = await berth("rm", "-f", "web");
    assert.equal(rm.code, 0, rm.err);
    assert.equal(rm.out, "web\n");
    assert.doesNotMatch((await berth("ps", "-a")).out, /web/);
  });

  it("run, exec, exec -i and attach without a TTY: stdout and stderr on their own fds, as they come, exit codes", async () => {
    // run in the foreground: each stream in order on its own fd, byte for byte (no newline added to "tail").
    const run = await berth(
      "run", "--rm", "busybox", "sh", "-c",
      "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf tail; exit 3",
    ); // biome-ignore format: one command line
    assert.equal(run.code, 3, run.err);
    assert.equal(run.out, "out1\nout2\nout3\nout4\nout5\ntail");
    assert.equal(run.err, "err1\nerr2\nerr3\nerr4\nerr5\n");

    assert.equal((await berth("run", "-d", "--name", "streams", "busybox", "sleep", "120")).code, 0);
    // exec without -i/-t streams: the first line is here while the command still sleeps, not when it ends.
    const t0 = Date.now();
    const lines: { text: string; at: number }[] = [];
    let err = "";
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [BUNDLE, "exec", "streams", "sh", "-c", "echo first; sleep 2; echo second >&2; echo third; exit 6"],
        { env: { ...process.env, BERTH_HOST: `unix://${d.socket}` }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let buf = "";
      child.stdout.on("data", (c: Buffer) => {
        buf += c.toString();
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          lines.push({ text: buf.slice(0, nl), at: Date.now() - t0 });
          buf = buf.slice(nl + 1);
        }
      });
      child.stderr.on("data", (c: Buffer) => {
        err += c.toString();
      });
      child.on("close", resolve);
    });
    const ended = Date.now() - t0;
    assert.equal(code, 6, err);
    assert.deepEqual(
      lines.map((l) => l.text),
      ["first", "third"],
    );
    assert.equal(err, "second\n");
    assert.ok(lines[0]!.at < ended - 1500, `the first line came at ${lines[0]!.at} ms, the CLI ended at ${ended} ms`);

    // exec -i with piped stdin: stdout and stderr apart, EOF reaches the command, its exit code comes back.
    const piped = await d.berthIn(
      {},
      "one\ntwo\n",
      "exec", "-i", "streams", "sh", "-c", "while read l; do echo got-$l; echo err-$l >&2; done; exit 4",
    ); // biome-ignore format: one command line
    assert.deepEqual([piped.code, piped.out, piped.err], [4, "got-one\ngot-two\n", "err-one\nerr-two\n"]);

    // attach to a running container without a TTY: its output framed by berthd, apart here; its exit code.
    const job = await berth(
      "run", "-d", "--name", "attached", "busybox", "sh", "-c",
      "sleep 2; for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; exit 7",
    ); // biome-ignore format: one command line
    assert.equal(job.code, 0, job.err);
    const at = await berth("attach", "attached");
    assert.deepEqual([at.code, at.out, at.err], [7, "out1\nout2\nout3\n", "err1\nerr2\nerr3\n"]);
    assert.equal((await berth("rm", "-f", "streams", "attached")).code, 0);
  });

  it("run -d, ps, an error, a foreground run and exec load no node:net, node:stream or node:tty, with stdout and stderr pipes", async () => {
    // Every CLI process compiles the built-in modules it loads afresh; these three and their 25 dependencies
    // cost about 3 ms a run (handles.ts). A preload notes what the run loaded.
    const dir = mkdtempSync(join(tmpdir(), "berth-modules-"));
    try {
      const preload = join(dir, "preload.cjs");
      writeFileSync(
        preload,
        `const fs = require("node:fs");
process.on("exit", () => fs.writeFileSync(${JSON.stringify(dir)} + "/" + process.pid + ".list", process.moduleLoadList.join("\\n")));\n`,
      );
      const env = { NODE_OPTIONS: `--require ${preload}` };
      const run = await d.berthWith(env, "run", "-d", "--name", "mods", "--network", "none", "busybox", "sleep", "60");
      assert.equal(run.code, 0, run.err);
      const ps = await d.berthWith(env, "ps", "--filter", "name=mods", "--format", "{{.Names}}");
      assert.equal(ps.out, "mods\n", ps.err);
      const bad = await d.berthWith(env, "stop", "no-such-one");
      assert.equal(bad.code, 1);
      assert.match(bad.err, /no such container/);
      // The streams of a foreground run and of exec go over the same bare handle.
      const fg = await d.berthWith(
        env,
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo o; echo e >&2",
      );
      assert.deepEqual([fg.code, fg.out, fg.err], [0, "o\n", "e\n"]);
      const ex = await d.berthWith(env, "exec", "mods", "echo", "hi");
      assert.deepEqual([ex.code, ex.out], [0, "hi\n"], ex.err);
      const lists = readdirSync(dir).filter((f) => f.endsWith(".list"));
      assert.equal(lists.length, 5);
      for (const f of lists) {
        const loaded = readFileSync(join(dir, f), "utf8").split("\n");
        for (const m of ["NativeModule net", "NativeModule stream", "NativeModule tty", "NativeModule http"])
          assert.ok(!loaded.includes(m), `${m} loaded by a CLI run`);
        assert.ok(loaded.includes("Internal Binding pipe_wrap"), "the run connected on the bare pipe handle");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await berth("rm", "-f", "mods");
    }
  });

  it("bad flags: exit 125 with a suggestion, nothing created", async () => {
    const r = await berth("run", "--memroy", "256m", "busybox", "true");
    assert.equal(r.code, 125);
    assert.match(r.err, /^Error: unknown flag: --memroy\ndid you mean --memory\?/);
    const size = await berth("run", "--memory", "lots", "busybox", "true");
    assert.equal(size.code, 125);
    assert.match(size.err, /invalid argument "lots" for "--memory" flag/);
    assert.equal((await berth("ps", "-aq")).out, "");
  });

  it("events: a run's lifecycle replayed with --since/--until, filtered, in Docker's line or a template", async () => {
    const t0 = new Date(Date.now() - 1000).toISOString();
    assert.equal((await berth("run", "--rm", "--name", "evt", "busybox", "sh", "-c", "exit 2")).code, 2);
    const actions = await berth(
      "events",
      "--since",
      t0,
      "--until",
      "0s",
      "--filter",
      "container=evt",
      "--format",
      "{{.Action}}",
    );
    assert.equal(actions.code, 0, actions.err);
    assert.deepEqual(actions.out.trim().split("\n"), ["create", "start", "die", "destroy"]);
    const died = await berth("events", "--since", t0, "--until", "0s", "-f", "container=evt", "-f", "event=die");
    assert.match(died.out, /^\d{4}-\d\d-\d\dT\S+ container die [0-9a-f]{64} \(name=evt, exitCode=2\)\n$/);
    const json = await berth("events", "--since", t0, "--until", "0s", "-f", "event=destroy", "--format", "json");
    assert.ok(
      json.out
        .trim()
        .split("\n")
        .some((l) => JSON.parse(l).name === "evt"),
    );
    // live: events that happen while it streams, until a time ahead (a duration is back from now, as in Docker).
    // --since from before the stream starts: a subscription that comes late still gets what it missed (replayed,
    // each event once); the time ahead leaves create and rm seconds to spare on a loaded machine.
    const from = new Date().toISOString();
    const ahead = new Date(Date.now() + 10_000).toISOString();
    const live = berth("events", "--since", from, "--until", ahead, "-f", "container=evt2", "--format", "{{.Action}}");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await berth("create", "--name", "evt2", "busybox", "true")).code, 0);
    assert.equal((await berth("rm", "evt2")).code, 0);
    const streamed = await live;
    assert.equal(streamed.code, 0, streamed.err);
    assert.deepEqual(streamed.out.trim().split("\n"), ["create", "destroy"]);
    const bad = await berth("events", "--filter", "colour=red");
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /invalid filter 'colour=red'/);
    assert.match((await berth("events", "--since", "yesterday")).err, /invalid value 'yesterday' for --since/);
  });

  it("a missing container: did you mean", async () => {
    assert.equal((await berth("run", "-d", "--name", "web", "busybox", "sleep", "30")).code, 0);
    const r = await berth("stop", "wbe");
    assert.equal(r.code, 1);
    assert.match(r.err, /no such container 'wbe'.*did you mean 'web'\?/);
    const missingImage = await berth("run", "--rm", "busybx", "true");
    assert.equal(missingImage.code, 125);
    assert.match(missingImage.err, /busybx/);
    assert.equal((await berth("rm", "-f", "web")).code, 0);
  });
});
