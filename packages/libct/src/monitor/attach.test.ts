import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { isLibctError } from "../errors.js";
import { needsRoot } from "../testing/slow.js";
import { sleep, withTimeout } from "../testing/wait.js";
import { type AttachSession, attach, parseDetachKeys } from "./attach.js";

const run = promisify(execFile);
const RUNC = "/usr/sbin/runc";
const CONMON = "/usr/bin/conmon";

describe("parseDetachKeys", () => {
  it("parses Docker's format", () => {
    assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
    assert.deepEqual([...parseDetachKeys("ctrl-a,d")], [1, 100]);
    assert.deepEqual(
      [...parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,DEL")],
      [0, 27, 28, 29, 30, 31, 127],
    );
    assert.deepEqual([...parseDetachKeys("Ctrl-Z")], [26]);
  });

  it("rejects bad input with a hint", () => {
    for (const bad of ["", "ctrl-", "ctrl-1", "alt-x", "ctrl-p,,ctrl-q", "é", "ctrl-pq"]) {
      assert.throws(
        () => parseDetachKeys(bad),
        (err: unknown) => isLibctError(err, "invalid") && /ctrl-p,ctrl-q/.test(err.message),
        bad,
      );
    }
  });
});

/** A runc bundle with a busybox rootfs, started under conmon the way berth does. */
class TestContainer {
  readonly id: string;
  readonly bundle: string;
  readonly exitDir: string;
  readonly stateRoot: string;
  readonly sockDir: string;

  constructor(readonly dir: string) {
    this.id = `berth-attach-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.bundle = join(dir, "bundle");
    this.exitDir = join(dir, "exits");
    this.stateRoot = join(dir, "runc");
    this.sockDir = join(dir, "socks");
  }

  static async create(args: string[], terminal: boolean): Promise<TestContainer> {
    const c = new TestContainer(await mkdtemp(join(tmpdir(), "berth-attach-")));
    live.push(c);
    const bin = join(c.bundle, "rootfs", "bin");
    await mkdir(bin, { recursive: true });
    for (const d of [c.exitDir, c.stateRoot, c.sockDir]) await mkdir(d, { recursive: true });
    await copyFile("/bin/busybox", join(bin, "busybox"));
    for (const tool of ["sh", "cat", "echo", "stty", "sleep"]) await symlink("busybox", join(bin, tool));
    await run(RUNC, ["spec"], { cwd: c.bundle });
    const configPath = join(c.bundle, "config.json");
    const spec = JSON.parse(await readFile(configPath, "utf8"));
    spec.process.args = args;
    spec.process.terminal = terminal;
    spec.process.rlimits = [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }];
    spec.linux.cgroupsPath = `/berth-test/${c.id}`;
    await writeFile(configPath, JSON.stringify(spec));
    return c;
  }

  /** Starts conmon (which runs `runc create`) and waits for the container to exist. */
  async startConmon(extra: string[]): Promise<void> {
    const b = this.bundle;
    const child = spawn(
      CONMON,
      [
        ...["--api-version", "1", "-c", this.id, "-u", this.id, "-r", RUNC, "-b", b, "-p", b + "/pidfile"],
        ...["-n", this.id, "--exit-dir", this.exitDir, "--persist-dir", b, "-l", "k8s-file:" + b + "/ctr.log"],
        ...["--socket-dir-path", this.sockDir, "--runtime-arg", "--root", "--runtime-arg", this.stateRoot],
        ...["--conmon-pidfile", b + "/conmon.pid", "-i", ...extra],
      ],
      {
        stdio: ["ignore", "ignore", "ignore", "pipe"],
        env: { ...process.env, _OCI_SYNCPIPE: "3" },
        detached: true,
        cwd: b,
      },
    );
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      sync.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
      });
      sync.on("end", () => reject(new Error(`conmon closed the sync pipe early: ${JSON.stringify(buf)}`)));
    });
    sync.destroy(); // the daemon keeps it open
    child.unref();
    const { data } = JSON.parse(line) as { data: number };
    assert.ok(data > 0, `conmon reported ${line}`);
  }

  async start(): Promise<void> {
    await run(RUNC, ["--root", this.stateRoot, "start", this.id]);
  }

  async status(): Promise<string> {
    const { stdout } = await run(RUNC, ["--root", this.stateRoot, "state", this.id]);
    return (JSON.parse(stdout) as { status: string }).status;
  }

  async exitCode(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const text = await readFile(join(this.exitDir, this.id), "utf8");
        if (text.trim() !== "") return Number(text.trim());
      } catch {}
      if (Date.now() > deadline) throw new Error(`no exit file for ${this.id} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async cleanup(): Promise<void> {
    await run(RUNC, ["--root", this.stateRoot, "delete", "-f", this.id]).catch(() => {});
    const conmonPid = Number(await readFile(join(this.bundle, "conmon.pid"), "utf8").catch(() => ""));
    if (conmonPid > 0) {
      try {
        process.kill(conmonPid, "SIGKILL");
      } catch {}
    }
    await rm(this.dir, { recursive: true, force: true });
    for (const ctrl of [
      "blkio",
      "cpu",
      "cpuacct",
      "cpuset",
      "devices",
      "freezer",
      "memory",
      "pids",
      "systemd",
      "unified",
    ]) {
      await rmdir(`/sys/fs/cgroup/${ctrl}/berth-test/${this.id}`).catch(() => {});
      await rmdir(`/sys/fs/cgroup/${ctrl}/berth-test`).catch(() => {}); // only if no other test uses it
    }
    await rmdir(`/sys/fs/cgroup/berth-test/${this.id}`).catch(() => {}); // cgroup v2 hosts
  }
}

const live: TestContainer[] = [];

/** Collects a stream's output and waits for text to appear in it. */
class Collector extends PassThrough {
  text = "";
  constructor() {
    super();
    this.on("data", (d: Buffer) => {
      this.text += d.toString();
    });
  }
  async waitFor(needle: string | RegExp, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () => (typeof needle === "string" ? this.text.includes(needle) : needle.test(this.text));
    while (!found()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${needle}; got ${JSON.stringify(this.text)}`);
      await sleep(20);
    }
  }
}

describe("attach (conmon + runc)", { ...needsRoot, timeout: 60_000 }, () => {
  after(async () => {
    for (const c of live.splice(0)) await c.cleanup();
  });

  it("pipes stdin to cat and back, and ends stdin on EOF", async () => {
    const c = await TestContainer.create(["cat"], false);
    await c.startConmon([]);
    const stdin = new PassThrough();
    const stdout = new Collector();
    const stderr = new Collector();
    const session = await attach(c.bundle, { stdin, stdout, stderr });
    await c.start();
    stdin.write("hello\n");
    await stdout.waitFor("hello\n");
    stdin.end();
    await withTimeout(session.done, 10_000, "session.done after stdin EOF");
    assert.equal(await c.exitCode(), 0);
    assert.equal(stdout.text, "hello\n");
    assert.equal(stderr.text, "");
  });

  it("demultiplexes stderr from stdout", async () => {
    const c = await TestContainer.create(["sh", "-c", "echo e >&2; cat"], false);
    await c.startConmon([]);
    const stdin = new PassThrough();
    const stdout = new Collector();
    const stderr = new Collector();
    const session = await attach(c.bundle, { stdin, stdout, stderr });
    await c.start();
    await stderr.waitFor("e\n");
    stdin.write("out\n");
    await stdout.waitFor("out\n");
    // Larger than one conmon packet each way, and varied, so a reused receive buffer would show.
    const big = Array.from({ length: 5000 }, (_, i) => `${i}\n`).join("");
    stdin.end(big);
    await withTimeout(session.done, 10_000, "session.done");
    assert.equal(await c.exitCode(), 0);
    assert.equal(stderr.text, "e\n");
    assert.equal(stdout.text, "out\n" + big);
  });

  it("resizes the terminal and reports the exit code", async () => {
    const c = await TestContainer.create(["sh"], true);
    await c.startConmon(["-t"]);
    const stdin = new PassThrough();
    const stdout = new Collector();
    const session = await attach(c.bundle, { stdin, stdout });
    await c.start();
    await session.resize(30, 100);
    // The resize travels ctl fifo → winsz fifo → ioctl while stdin travels the socket: retry until it lands.
    for (let i = 0; !stdout.text.includes("30 100") && i < 20; i++) {
      stdin.write("stty size\n");
      await stdout.waitFor(/\d+ \d+\r?\n/, 2000).catch(() => {});
      if (!stdout.text.includes("30 100")) await sleep(100);
    }
    assert.match(stdout.text, /30 100/);
    await assert.rejects(session.resize(30, 5000), (err: unknown) => isLibctError(err, "invalid"));
    stdin.write("exit 7\n");
    await withTimeout(session.done, 10_000, "session.done after exit");
    assert.equal(await c.exitCode(), 7);
    // The socket closes a moment before conmon exits and lets go of the ctl fifo: resize must start
    // failing once conmon is gone, not necessarily at once.
    let rejected: unknown;
    for (let i = 0; i < 30 && !rejected; i++) {
      await session.resize(10, 10).then(
        () => sleep(100),
        (err: unknown) => {
          rejected = err;
        },
      );
    }
    assert.ok(isLibctError(rejected), `resize after conmon exited: ${String(rejected)}`);
  });

  it("detaches on the detach keys, leaves the container running, and can attach again", async () => {
    const c = await TestContainer.create(["sh"], true);
    await c.startConmon(["-t", "--leave-stdin-open"]);
    const stdin = new PassThrough();
    const stdout = new Collector();
    const session: AttachSession = await attach(
      c.bundle,
      { stdin, stdout },
      { detachKeys: parseDetachKeys("ctrl-p,ctrl-q") },
    );
    await c.start();
    stdin.write("echo one$((1+1))\n");
    await stdout.waitFor("one2");
    stdin.write(Buffer.from([16])); // split across chunks: held back, not forwarded
    await sleep(50);
    stdin.write(Buffer.from([17]));
    await withTimeout(session.done, 5000, "session.done after detach keys");
    stdin.write("echo lost\n"); // no longer forwarded
    await sleep(200);
    assert.equal(await c.status(), "running");

    const again = new Collector();
    const second = await attach(c.bundle, { stdout: again });
    const input = await attach(c.bundle, { stdin: new PassThrough() }); // a second client may attach too
    input.detach();
    assert.equal(await c.status(), "running");
    second.detach();
    await second.done;

    const third = new Collector();
    const stdin3 = new PassThrough();
    const s3 = await attach(c.bundle, { stdin: stdin3, stdout: third });
    stdin3.write("echo two$((1+2))\n");
    await third.waitFor("two3");
    assert.doesNotMatch(third.text + stdout.text, /lost/);
    s3.detach();
    await run(RUNC, ["--root", c.stateRoot, "kill", c.id, "KILL"]);
    assert.equal(await c.exitCode(), 137);
  });

  it("rejects with not-found when there is no attach socket", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-attach-"));
    try {
      await assert.rejects(attach(dir, {}), (err: unknown) => isLibctError(err, "not-found"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
