import { strict as assert } from "node:assert";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { cgroupExists } from "../cgroups/index.js";
import { defaultBusyboxCacheDir, ensureBusyboxImage } from "../image/busybox.js";
import { Libct } from "../lifecycle/libct.js";
import { drainRemovals } from "../system/trash.js";
import { needsRoot } from "../testing/slow.js";
import { until, withTimeout } from "../testing/wait.js";
import { attach } from "./attach.js";

describe("exec in a running container", { skip: needsRoot.skip, timeout: 60_000 }, () => {
  let dir: string;
  let lib: Libct;
  const id = `exec-tty-${process.pid}`;

  before(async () => {
    const { rootfs } = await ensureBusyboxImage(defaultBusyboxCacheDir());
    dir = await mkdtemp(join(tmpdir(), "berth-exec-"));
    lib = await Libct.open({ root: join(dir, "lib"), runRoot: join(dir, "run") });
    await lib.create({
      id,
      description: { kind: "app", rootfs: { path: rootfs, readonly: true }, process: { args: ["/bin/sleep", "1000"] } },
    });
    await lib.start(id);
    assert.equal((await lib.state(id)).status, "running");
  });

  after(async () => {
    if (lib) {
      await lib.delete(id, { force: true }).catch(() => {});
      await assert.rejects(lib.state(id), { kind: "not-found" });
      assert.ok(!cgroupExists(lib.host, `/berth/${id}`), "force delete removes the cgroup");
    }
    await drainRemovals();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs a shell on a pty sized through conmon, and records its exit code", async () => {
    const { sessionId, bundle, pid } = await lib.execDetached(id, { args: ["/bin/sh"], terminal: true });
    assert.ok(sessionId.startsWith(`${id}-exec-`));
    assert.ok(pid > 0);
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let output = "";
    stdout.on("data", (b: Buffer) => {
      output += b.toString("utf8");
    });
    const session = await attach(bundle, { stdin, stdout });
    await session.resize(40, 120);
    stdin.write("stty size; tty; exit 5\n");
    await withTimeout(session.done, 15_000, "the exec session");
    assert.match(output, /\b40 120\r?\n/, output);
    assert.match(output, /\/dev\/pts\/\d+/, output);

    // conmon names the exit file after the container id (-c), in the exit dir it was given: the session bundle.
    const exitFile = join(bundle, id);
    const code = await until("the exec exit file", async () => {
      const text = await readFile(exitFile, "utf8").catch(() => "");
      return text.trim() === "" ? undefined : Number(text.trim());
    });
    assert.equal(code, 5, `files in the session bundle: ${(await readdir(bundle)).join(", ")}`);
    assert.equal(await lib.waitExec(id, sessionId), 5, "waitExec reads the same exit code");
    assert.ok(!existsSync(join(bundle, sessionId)), "no exit file named after the session");
    assert.equal((await lib.state(id)).status, "running", "the container outlives the exec session");
  });

  it("exec without a tty returns the exit code, stdout and stderr", async () => {
    const res = await lib.exec(id, { args: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"] });
    assert.deepEqual(res, { exitCode: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("exec feeds stdin and passes env and cwd", async () => {
    const res = await lib.exec(id, {
      args: ["/bin/sh", "-c", 'cat; echo " $GREETING $(pwd)"'],
      env: ["GREETING=hi"],
      cwd: "/tmp",
      stdin: "piped",
    });
    assert.deepEqual(res, { exitCode: 0, stdout: "piped hi /tmp\n", stderr: "" });
  });

  it("exec keeps at most maxOutputBytes of each stream, flags the rest as cut, and runs the command to its end", async () => {
    const res = await lib.exec(id, {
      args: ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' o; echo e >&2; exit 2"],
      maxOutputBytes: 1000,
    });
    assert.deepEqual(res, { exitCode: 2, stdout: "o".repeat(1000), stderr: "e\n", stdoutTruncated: true });
  });

  it("execAttached: the streams are attached before the command runs; a missing command leaves no session", async () => {
    for (let i = 0; i < 5; i++) {
      const out = new PassThrough();
      const err = new PassThrough();
      let stdout = "";
      let stderr = "";
      out.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      err.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      const s = await lib.execAttached(
        id,
        { args: ["/bin/sh", "-c", `echo out${i}; echo err${i} >&2; exit ${i}`] },
        {
          stdout: out,
          stderr: err,
        },
      );
      await withTimeout(s.session.done, 15_000, "the attached exec");
      assert.deepEqual([stdout, stderr], [`out${i}\n`, `err${i}\n`], "nothing lost though it exits at once");
      assert.equal(await lib.waitExec(id, s.sessionId), i);
    }
    const execDir = join(lib.execSessionPath(id, "x"), "..");
    const before = await readdir(execDir).catch(() => [] as string[]);
    await assert.rejects(lib.execAttached(id, { args: ["/no/such/binary"] }, {}), {
      kind: "invalid",
      message: /the command cannot be run: exec: "\/no\/such\/binary": .*no such file or directory/,
    });
    const left = (await readdir(execDir).catch(() => [] as string[])).filter((n) => !before.includes(n));
    assert.deepEqual(left, [], `session bundles left in ${execDir}`);
  });

  it("exec of a missing binary fails with a non-zero exit code and runc's reason", async () => {
    const res = await lib.exec(id, { args: ["/no/such/binary"] });
    assert.notEqual(res.exitCode, 0);
    assert.match(res.stderr, /no such file or directory/i);
  });
});
