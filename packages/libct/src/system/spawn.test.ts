import { strict as assert } from "node:assert";
import { closeSync, writeSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { spawnDetached } from "./spawn.js";

const read = (s: NodeJS.ReadableStream) =>
  new Promise<string>((resolve) => {
    let out = "";
    s.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    s.on("end", () => resolve(out));
    s.on("close", () => resolve(out));
  });

describe("spawnDetached (posix_spawn through koffi)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "spawn-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the child /dev/null, stderr and fd 3 pipes, cwd, env, its own session and default signals", async () => {
    // The script reports what it sees; Node itself ignores SIGPIPE, which the child must not inherit.
    const script = [
      "echo cwd=$(pwd) >&3",
      "echo env=$GREETING >&3",
      "echo stdin=$(readlink /proc/$$/fd/0) >&3",
      "echo stdout=$(readlink /proc/$$/fd/1) >&3",
      "grep -E '^(SigIgn|SigBlk)' /proc/self/status >&3",
      'echo sid=$(ps -o sid= -p $$ | tr -d " ") pid=$$ >&3',
      "echo to-stderr >&2",
    ].join("; ");
    const child = spawnDetached("/bin/sh", ["-c", script], { PATH: process.env.PATH, GREETING: "hi" }, dir);
    if (!child) return assert.fail("posix_spawn is unavailable here (koffi did not load)");
    const [out, err, pid] = await Promise.all([read(child.fd3), read(child.stderr), child.pid]);
    assert.match(out, new RegExp(`^cwd=${dir}$`, "m"));
    assert.match(out, /^env=hi$/m);
    assert.match(out, /^stdin=\/dev\/null$/m);
    assert.match(out, /^stdout=\/dev\/null$/m);
    assert.match(out, /^SigIgn:\s+0+$/m, "no signal ignored (glibc's internal ones included)");
    assert.match(out, /^SigBlk:\s+0+$/m, "none blocked");
    const m = /^sid=(\d+) pid=(\d+)$/m.exec(out);
    assert.ok(m && m[1] === m[2], `its own session: ${out}`);
    assert.equal(Number(m[2]), pid, "the pid the spawn reported is the child's");
    assert.equal(err, "to-stderr\n");
    // Reaped here: no zombie is left behind. reap() polls with a back-off (up to 1 s apart), and the child may
    // still be exiting when its pipes close: wait for it to be gone (not merely not yet a zombie).
    let stat = "";
    for (const deadline = Date.now() + 3000; ; ) {
      stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "gone");
      if (stat === "gone" || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(stat === "gone" || !/^\d+ \([^)]*\) Z/.test(stat), `child ${pid} left a zombie: ${stat}`);
  });

  it("a program that cannot be run is an error with its code, and its pipes close", async () => {
    const child = spawnDetached(join(dir, "no-such-program"), [], {}, dir, { startPipe: true, attachPipe: true });
    if (!child) return assert.fail("posix_spawn is unavailable here (koffi did not load)");
    await assert.rejects(child.pid, (err: NodeJS.ErrnoException) => err.code === "ENOENT");
    assert.ok(child.fd3.destroyed && child.stderr.destroyed && child.fd5?.destroyed, "the read ends are closed");
    // The start pipe's write end is the caller's: still open, and its reader gone.
    assert.throws(
      () => writeSync(child.startFd as number, "1"),
      (err: NodeJS.ErrnoException) => err.code === "EPIPE",
    );
    closeSync(child.startFd as number);
  });

  it("the pid is known by the time the child's output ends, and it is the child's", async () => {
    // The child's ends of the pipes close only once the spawn has returned: end of file cannot come first.
    const child = spawnDetached("/bin/sh", ["-c", "echo $$ >&3"], { PATH: process.env.PATH }, dir);
    if (!child) return assert.fail("posix_spawn is unavailable here (koffi did not load)");
    let pid: number | undefined;
    void child.pid.then((p) => {
      pid = p;
    });
    const out = await read(child.fd3);
    assert.equal(pid, Number(out.trim()));
  });
});
