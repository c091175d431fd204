/**
 * Interactive verbs through the real CLI and a real berthd: `run -it`, `exec -it` and `start -ai` under a real pty
 * (python3's pty module: a set size, a resize seen by the container, the exit code returned), `run -i` with
 * piped stdin, `attach` with detach keys leaving the container running, and `cp` both ways (a file and a
 * directory, ownership, traversal and symlink escapes refused with nothing written outside).
 */
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { cliSkipReason, TestBerthd } from "./testing/berthd.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const BUNDLE = join(here, "berth.cjs");
const CLI = existsSync(BUNDLE) ? BUNDLE : join(here, "bin.js");

const skip =
  cliSkipReason() || (spawnSync("sh", ["-c", "command -v python3"]).status === 0 ? false : "needs python3 (pty)");
const _sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs argv[1] (JSON argv) under a new pty of the given size, then plays the steps: ["expect", regex, secs],
 * ["send", text], ["resize", rows, cols], ["sleep", secs]. Prints {"code", "out"} as JSON.
 */
const PTY = `
import fcntl, json, os, pty, re, select, struct, sys, termios, time
argv, rows, cols, steps = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(argv[0], argv)
out = b""
def read(t):
    global out
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            d = os.read(fd, 65536)
        except OSError:
            return False
        if not d:
            return False
        out += d
    return True
ok = True
for s in steps:
    if s[0] == "expect":
        deadline = time.time() + s[2]
        while not re.search(s[1].encode(), out) and time.time() < deadline:
            if not read(0.1):
                break
        if not re.search(s[1].encode(), out):
            ok = False
            break
    elif s[0] == "send":
        os.write(fd, s[1].encode())
    elif s[0] == "resize":
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", s[1], s[2], 0, 0))
    elif s[0] == "sleep":
        end = time.time() + s[1]
        while time.time() < end:
            read(0.05)
deadline = time.time() + 30
code = None
while time.time() < deadline:
    read(0.1)
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        code = os.waitstatus_to_exitcode(st)
        while read(0.05):
            pass
        break
if code is None:
    os.kill(pid, 9)
print(json.dumps({"code": code, "ok": ok, "out": out.decode("utf8", "replace")}))
`;

/** A shell line that waits until the tty has the size, then prints `size=ROWS COLS`. */
const waitForSize = (rows: number, cols: number) =>
  `while [ "$(stty size)" != "${rows} ${cols}" ]; do sleep 0.1; done; echo "size=$(stty size)"`;

interface PtyResult {
  code: number | null;
  ok: boolean;
  out: string;
}

describe("interactive: run -it, exec -it, attach, cp", { skip, timeout: 600_000 }, () => {
  let d: TestBerthd;
  const env = () => ({ ...process.env, BERTH_HOST: `unix://${d.socket}` });

  const berth = (args: string[], input?: string) => d.berthIn({}, input ?? "", ...args);
  const ok = async (...args: string[]) => {
    const r = await berth(args);
    assert.equal(r.code, 0, `berth ${args.join(" ")}: ${r.err}${r.out}`);
    return r.out;
  };
  const underPty = (args: string[], rows: number, cols: number, steps: unknown[]): Promise<PtyResult> =>
    new Promise((resolve, reject) => {
      execFile(
        "python3",
        [
          "-c",
          PTY,
          JSON.stringify([process.execPath, CLI, ...args]),
          String(rows),
          String(cols),
          JSON.stringify(steps),
        ],
        { env: env(), timeout: 120_000 },
        (err, out, e) => (err ? reject(new Error(`${err.message}\n${e}`)) : resolve(JSON.parse(out) as PtyResult)),
      );
    });

  before(async () => {
    d = await TestBerthd.start("bi-");
    await ok("image", "bootstrap", "busybox");
  });

  after(async () => {
    await d?.stop();
  });

  it("run -it --rm under a real pty: the pty's size, a resize seen by the container, exit code 5, removed", async () => {
    const r = await underPty(["run", "-it", "--rm", "--name", "it1", "busybox", "sh"], 33, 101, [
      ["expect", "[#$] ", 20],
      ["send", "stty size\r"],
      ["expect", "33 101", 10],
      ["resize", 40, 120],
      // The resize reaches the container's tty on its own path: the shell waits for it (the typed line's echo
      // has no "size=40 120"; only the echo after the loop prints that).
      ["send", `${waitForSize(40, 120)}; exit 5\r`],
      ["expect", "size=40 120", 10],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 5, r.out);
    assert.equal((await ok("ps", "-aq", "--filter", "name=it1")).trim(), "", "--rm removed the container");
    // The size goes with the create (Docker's ConsoleSize): a command that asks at once gets it, and the
    // stored request says so.
    const first = await underPty(["run", "-t", "--name", "it0", "busybox", "stty", "size"], 19, 83, [
      ["expect", "19 83", 10],
    ]);
    assert.ok(first.ok, `output: ${first.out}`);
    assert.equal(first.code, 0, first.out);
    assert.equal((await ok("inspect", "-f", "{{json .Config.ConsoleSize}}", "it0")).trim(), '{"height":19,"width":83}');
    await ok("rm", "it0");
  });

  it("run -i without a tty: stdin piped, EOF closes it, exit code returned", async () => {
    const r = await berth(["run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; exit 3"], "hello piped\n");
    assert.equal(r.code, 3, r.err);
    assert.match(r.out, /HELLO PIPED/);
    // Gone (auto-removed) before the client asks for its exit code: the code still comes back.
    for (let i = 0; i < 3; i++)
      assert.equal((await berth(["run", "-i", "--rm", "busybox", "sh", "-c", "exit 9"], "")).code, 9);
  });

  it("run -it --rm, detached with ctrl-p ctrl-q: left running, and removed by berthd once it exits", async () => {
    const r = await underPty(["run", "-it", "--rm", "--name", "itd", "busybox", "sh"], 24, 80, [
      ["expect", "[#$] ", 20],
      ["send", "\u0010\u0011"],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 0, r.out);
    assert.equal((await ok("ps", "--format", "{{.Names}} {{.State}}", "--filter", "name=itd")).trim(), "itd running");
    await ok("stop", "-t", "1", "itd");
    let left = "itd";
    for (let i = 0; i < 50 && left; i++) {
      left = (await ok("ps", "-aq", "--filter", "name=itd")).trim();
      if (left) await _sleep(100);
    }
    assert.equal(left, "", "--rm removed it when it stopped");
  });

  it("--detach-keys: run -it detaches with its own sequence only; attach and start -ai take the container's, or their flag's", async () => {
    const status = async (name: string) =>
      (await ok("ps", "-a", "--format", "{{.State}}", "--filter", `name=${name}`)).trim();
    const r = await underPty(["run", "-it", "--detach-keys", "ctrl-x,x", "--name", "dk1", "busybox", "sh"], 24, 80, [
      ["expect", "[#$] ", 20],
      // Docker's ctrl-p ctrl-q is not the sequence here: it goes to the shell, and the session goes on.
      ["send", "\u0010\u0011"],
      ["send", "echo still-$((6*7))\r"],
      ["expect", "still-42", 10],
      ["send", "\u0018x"],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 0, r.out);
    assert.equal(await status("dk1"), "running");
    // attach without the flag: the container's own sequence (kept by run), not ctrl-p ctrl-q.
    const a = await underPty(["attach", "dk1"], 24, 80, [
      ["send", "\u0010\u0011echo again-$((2*3))\r"],
      ["expect", "again-6", 15],
      ["send", "\u0018x"],
    ]);
    assert.ok(a.ok, `output: ${a.out}`);
    assert.equal(a.code, 0, a.out);
    // The flag overrides it.
    const b = await underPty(["attach", "--detach-keys", "ctrl-a,d", "dk1"], 24, 80, [
      ["send", "echo third-$((1+2))\r"],
      ["expect", "third-3", 15],
      ["send", "\u0001d"],
    ]);
    assert.ok(b.ok, `output: ${b.out}`);
    assert.equal(b.code, 0, b.out);
    assert.equal(await status("dk1"), "running");
    // start -ai of a container created with --detach-keys.
    await ok("create", "-it", "--detach-keys", "ctrl-y,y", "--name", "dk2", "busybox", "sh");
    const st = await underPty(["start", "-ai", "dk2"], 24, 80, [
      ["expect", "[#$] ", 20],
      ["send", "\u0010\u0011echo fourth-$((2+2))\r"],
      ["expect", "fourth-4", 10],
      ["send", "\u0019y"],
    ]);
    assert.ok(st.ok, `output: ${st.out}`);
    assert.equal(st.code, 0, st.out);
    assert.equal(await status("dk2"), "running");
    // A sequence that is not one is refused before anything is made.
    const bad = await berth(["create", "-it", "--detach-keys", "ctrl-Ω", "--name", "dk3", "busybox", "sh"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /detach key/);
    assert.equal(await status("dk3"), "");
    await ok("rm", "-f", "dk1", "dk2");
  });

  it("exec -it under a real pty: size, resize, exit code", async () => {
    await ok("run", "-d", "--name", "ex1", "busybox", "sleep", "600");
    const r = await underPty(["exec", "-it", "ex1", "sh"], 21, 77, [
      ["expect", "[#$] ", 20],
      ["send", "stty size\r"],
      ["expect", "21 77", 10],
      ["resize", 25, 90],
      ["send", `${waitForSize(25, 90)}; exit 7\r`],
      ["expect", "size=25 90", 10],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 7, r.out);
    // The size is there from the start (sent with the exec, as Docker's ConsoleSize): a command that asks at
    // once, before any resize could arrive, gets it.
    const first = await underPty(["exec", "-t", "ex1", "stty", "size"], 19, 83, [["expect", "19 83", 10]]);
    assert.ok(first.ok, `output: ${first.out}`);
    assert.equal(first.code, 0, first.out);
    const missing = await berth(["exec", "-i", "ex1", "nosuchcmd"], "");
    assert.equal(missing.code, 127, missing.err);
    const piped = await berth(["exec", "-i", "ex1", "sh", "-c", "cat; exit 4"], "through exec\n");
    assert.equal(piped.code, 4, piped.err);
    assert.match(piped.out, /through exec/);
  });

  it("attach with detach keys (ctrl-p,ctrl-q) leaves the container running", async () => {
    await ok("run", "-dit", "--name", "at1", "busybox", "sh");
    const r = await underPty(["attach", "at1"], 24, 80, [
      ["send", "echo attached-$((6*7))\r"],
      ["expect", "attached-42", 15],
      ["send", "\u0010\u0011"],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 0, r.out);
    const st = JSON.parse(await ok("inspect", "at1")) as
      | { state: { status: string } }
      | [{ state: { status: string } }];
    assert.equal((Array.isArray(st) ? st[0] : st).state.status, "running");
    assert.equal((await ok("exec", "at1", "echo", "still")).trim(), "still");
  });

  it("start -a: every line of a stopped container's run, again on a second start, and its exit code", async () => {
    // Many lines right at start: a client that attached after the start would miss the first ones.
    const script = "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done; echo err-line >&2; exit 3";
    await ok("create", "--name", "sa1", "busybox", "sh", "-c", script);
    for (const round of [1, 2]) {
      const r = await berth(["start", "-a", "sa1"]);
      assert.equal(r.code, 3, `round ${round}: ${r.err}`);
      // stdout and stderr come back apart (stdcopy frames), every line in order.
      assert.equal(r.out, Array.from({ length: 200 }, (_, i) => `line${i}\n`).join(""), `round ${round}`);
      assert.equal(r.err, "err-line\n", `round ${round}: stderr`);
    }
    const many = await berth(["start", "-a", "sa1", "sa1"]);
    assert.notEqual(many.code, 0);
    assert.match(many.err, /cannot start and attach multiple containers/);
  });

  it("start -ai: piped stdin reaches a container created with -i, EOF closes it; a running one is attached", async () => {
    await ok("create", "-i", "--name", "sai1", "busybox", "sh", "-c", "tr a-z A-Z; exit 4");
    const r = await berth(["start", "-ai", "sai1"], "piped into start\n");
    assert.equal(r.code, 4, r.err);
    assert.match(r.out, /PIPED INTO START/);
    // Already running: start -a attaches (no second start) and follows until it ends.
    await ok("run", "-d", "--name", "sai2", "busybox", "sh", "-c", "sleep 1; echo late; exit 6");
    const late = await berth(["start", "-a", "sai2"]);
    assert.equal(late.code, 6, late.err);
    assert.match(late.out, /late/);
    // A terminal size out of range is refused before anything starts.
    await ok("create", "--name", "sai3", "busybox", "true");
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        socketPath: d.socket,
        method: "POST",
        path: "/1.0/containers/sai3/attach?start=true&h=0&w=80",
        headers: { connection: "Upgrade", upgrade: "tcp" },
      });
      req.on("upgrade", () => reject(new Error("upgraded")));
      req.on("response", (m) => {
        let body = "";
        m.on("data", (c: Buffer) => {
          body += c.toString();
        });
        m.on("end", () => resolve({ status: m.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /terminal's rows and columns/);
    const st = JSON.parse(await ok("inspect", "sai3")) as
      | { state: { status: string } }
      | [{ state: { status: string } }];
    assert.equal((Array.isArray(st) ? st[0] : st).state.status, "created", "nothing started");
  });

  it("start -ai under a real pty: the terminal's size is set before the shell starts", async () => {
    await ok("create", "-it", "--name", "sat1", "busybox", "sh", "-c", "stty size; read x; echo got-$x; exit 2");
    const r = await underPty(["start", "-ai", "sat1"], 27, 93, [
      ["expect", "27 93", 20],
      ["send", "yes\r"],
      ["expect", "got-yes", 10],
    ]);
    assert.ok(r.ok, `output: ${r.out}`);
    assert.equal(r.code, 2, r.out);
  });

  it("cp in and out: a file and a directory, ownership mapped", async () => {
    await ok("run", "-d", "--name", "cp1", "busybox", "sleep", "600");
    const local = await mkdtemp(join(d.base, "cp-"));
    await writeFile(join(local, "f.txt"), "file content\n");
    await mkdir(join(local, "d/sub"), { recursive: true });
    await writeFile(join(local, "d/sub/g.txt"), "nested\n");
    spawnSync("chown", ["-R", "1234:1234", local]);
    await ok("cp", join(local, "f.txt"), "cp1:/tmp/");
    assert.equal(
      await ok("cp", "--format", "{{.Source}} -> {{.Destination}}", join(local, "f.txt"), "cp1:/tmp/renamed.txt"),
      `${join(local, "f.txt")} -> cp1:/tmp/renamed.txt\n`,
    );
    await ok("cp", join(local, "d"), "cp1:/tmp/");
    await ok("cp", join(local, "d"), "cp1:/newdir"); // does not exist: the directory is copied as /newdir
    assert.equal(
      await ok("exec", "cp1", "cat", "/tmp/f.txt", "/tmp/renamed.txt", "/tmp/d/sub/g.txt", "/newdir/sub/g.txt"),
      "file content\nfile content\nnested\nnested\n",
    );
    // Into the container: owned by its root (Docker's rule), whatever the local owner was.
    assert.match(await ok("exec", "cp1", "ls", "-ln", "/tmp/f.txt"), /\s0\s+0\s/);
    assert.match(await ok("exec", "cp1", "ls", "-lnd", "/tmp/d/sub"), /\s0\s+0\s/);

    await ok("exec", "cp1", "sh", "-c", "mkdir -p /srv/tree/x && echo out > /srv/tree/x/o.txt && echo one > /srv/one");
    const dest = await mkdtemp(join(d.base, "out-"));
    await ok("cp", "cp1:/srv/one", join(dest, "copied"));
    assert.equal(await readFile(join(dest, "copied"), "utf8"), "one\n");
    await ok("cp", "cp1:/srv/tree", dest);
    assert.equal(await readFile(join(dest, "tree/x/o.txt"), "utf8"), "out\n");
    // Out of the container: owned by the invoking user.
    assert.equal((await stat(join(dest, "tree/x/o.txt"))).uid, process.getuid!());
  });

  it("cp with a system container (shifted rootfs): in, owned by its mapped root; out, by the invoking user", async () => {
    await ok("launch", "busybox", "scp");
    const local = await mkdtemp(join(d.base, "scp-"));
    await writeFile(join(local, "s.txt"), "shifted\n");
    await ok("cp", join(local, "s.txt"), "scp:/root/");
    assert.match(await ok("exec", "scp", "--", "ls", "-ln", "/root/s.txt"), /\s0\s+0\s/);
    await ok("exec", "scp", "--", "sh", "-c", "echo from-inside > /root/in.txt && chown 5:5 /root/in.txt");
    await ok("cp", "scp:/root/in.txt", join(local, "in.txt"));
    assert.equal(await readFile(join(local, "in.txt"), "utf8"), "from-inside\n");
    assert.equal((await stat(join(local, "in.txt"))).uid, process.getuid!());
    // -a keeps the container's ids (mapped back from the host's shifted ids).
    await ok("cp", "-a", "scp:/root/in.txt", join(local, "in-a.txt"));
    assert.equal((await stat(join(local, "in-a.txt"))).uid, 5);
  });

  it("cp refuses paths and symlinks that lead out of the container, writing nothing outside", async () => {
    const marker = join(d.base, "escape-marker");
    const local = await mkdtemp(join(d.base, "evil-"));
    await writeFile(join(local, "escape-marker"), "pwned\n");
    await ok(
      "exec",
      "cp1",
      "sh",
      "-c",
      "ln -s ../../../../../../../../.. /tmp/up && ln -s ../../../../../../etc /tmp/etc-out",
    );
    const cases: [string, string][] = [
      ["cp1:/../../etc/passwd", join(local, "x")],
      ["cp1:/tmp/../../../etc/shadow", join(local, "x")],
      ["cp1:/tmp/etc-out/passwd", join(local, "x")],
      [join(local, "escape-marker"), `cp1:/tmp/up${d.base}/`],
      [join(local, "escape-marker"), "cp1:/tmp/../../../../tmp/"],
      [join(local, "escape-marker"), "cp1:/tmp/etc-out/"],
      ["cp1:tmp/relative", join(local, "x")],
    ];
    for (const [src, dst] of cases) {
      const r = await berth(["cp", src, dst]);
      assert.notEqual(r.code, 0, `berth cp ${src} ${dst} should fail`);
      assert.match(r.err, /outside the container|climbs above|not an absolute path/, `${src} ${dst}: ${r.err}`);
    }
    assert.equal(await lstat(marker).catch(() => undefined), undefined, "nothing was written outside the rootfs");
    assert.equal(await lstat(join(local, "x")).catch(() => undefined), undefined);
    // The API answers 400 with a problem body.
    const res = await new Promise<{ status: number; body: string }>((resolve) => {
      request({ socketPath: d.socket, path: "/1.0/containers/cp1/archive?path=/tmp/etc-out/passwd" }, (m) => {
        let body = "";
        m.on("data", (c: Buffer) => {
          body += c.toString();
        });
        m.on("end", () => resolve({ status: m.statusCode ?? 0, body }));
      }).end();
    });
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /points outside the container/);
  });
});
