/**
 * `berth build` end to end: the real CLI bundle against a real berthd on temp roots. A context with a
 * wildcard COPY, `--chown=nobody:nogroup`, an ADD of a .tar.gz and a script as CMD builds, runs with
 * `berth run --rm`, and rebuilds from the cache.
 */
import { strict as assert } from "node:assert";
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const DAEMON = join(here, "../../daemon/dist/main.js");
const BUNDLE = join(here, "berth.cjs");

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip = !existsSync(DAEMON)
  ? "berthd is not built yet (packages/daemon/dist/main.js is missing)"
  : !existsSync(BUNDLE)
    ? "the CLI bundle is not built yet (npm run build)"
    : process.getuid?.() !== 0
      ? "needs root (berthd runs containers)"
      : !has("runc") || !has("conmon")
        ? "needs runc and conmon (scripts/setup.sh)"
        : !existsSync("/bin/busybox")
          ? "needs busybox-static for `berth image bootstrap busybox`"
          : false;

interface Result {
  code: number;
  out: string;
  err: string;
}

describe("berth build through the CLI bundle and berthd", { skip, timeout: 180_000 }, () => {
  let base = "";
  let socket = "";
  let logFile = "";
  let daemon: ChildProcess | undefined;

  const berth = (...args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [BUNDLE, ...args],
        { env: { ...process.env, BERTH_HOST: `unix://${socket}` }, timeout: 120_000 },
        (err, out, errOut) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, out, err: errOut });
        },
      );
    });

  before(async () => {
    base = await mkdtemp(join(tmpdir(), "bb-"));
    socket = join(base, "x", "berth.sock");
    logFile = join(base, "berthd.log");
    const log = await open(logFile, "a");
    daemon = spawn(
      process.execPath,
      [DAEMON, "--root", join(base, "r"), "--run-root", join(base, "x"), "--socket", socket],
      { stdio: ["ignore", "ignore", log.fd] },
    );
    await log.close();
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`berthd exited:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
      if ((await berth("version", "--format", "{{.Server.Version}}")).out.trim() !== "<no value>") break;
      if (Date.now() > deadline)
        throw new Error(`berthd did not answer:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  });

  after(async () => {
    if (!daemon) return;
    const left = (await berth("ps", "-aq", "--no-trunc")).out.split("\n").filter(Boolean);
    if (left.length) await berth("rm", "-f", ...left);
    daemon.kill("SIGTERM");
    await new Promise((ok) => (daemon!.exitCode !== null ? ok(undefined) : daemon!.once("exit", ok)));
    const mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(base))
      .reverse();
    for (const m of mounts) spawnSync("umount", ["-l", m]);
    await rm(base, { recursive: true, force: true });
  });

  it("builds a wildcard COPY, --chown names and an ADDed .tar.gz; runs it; rebuilds from the cache", async () => {
    const boot = await berth("image", "bootstrap", "busybox");
    assert.equal(boot.code, 0, boot.err);

    const dir = join(base, "ctx");
    await mkdir(join(dir, "payload", "data"), { recursive: true });
    await writeFile(join(dir, "payload", "data", "greeting.txt"), "hello from the archive\n");
    assert.equal(spawnSync("tar", ["-czf", join(dir, "payload.tar.gz"), "-C", join(dir, "payload"), "."]).status, 0);
    await rm(join(dir, "payload"), { recursive: true });
    await mkdir(join(dir, "scripts"));
    await writeFile(
      join(dir, "scripts", "main.sh"),
      '#!/bin/sh\necho "script says hi"\nhelper.sh\ncat /srv/data/greeting.txt\nstat -c "owner %U:%G" /app/main.sh\n',
      { mode: 0o755 },
    );
    await writeFile(join(dir, "scripts", "helper.sh"), "#!/bin/sh\necho helper too\n", { mode: 0o755 });
    await writeFile(join(dir, "scripts", "notes.md"), "not copied\n");
    await writeFile(
      join(dir, "Containerfile"),
      [
        "FROM busybox",
        "COPY --chown=nobody:nogroup scripts/*.sh /app/",
        "ADD payload.tar.gz /srv/",
        "ENV PATH=/app:/bin",
        'CMD ["/app/main.sh"]',
        "",
      ].join("\n"),
    );

    const first = await berth("build", "-t", "t1:1", dir);
    assert.equal(first.code, 0, first.err + first.out);
    assert.match(first.out, /Successfully tagged/);

    const run = await berth("run", "--rm", "t1:1");
    assert.equal(run.code, 0, run.err);
    assert.equal(
      run.out,
      "script says hi\nhelper too\nhello from the archive\nowner nobody:nogroup\n",
      run.out + run.err,
    );
    const ls = await berth("run", "--rm", "t1:1", "ls", "/app");
    assert.doesNotMatch(ls.out, /notes\.md/);

    const again = await berth("build", "-t", "t1:1", dir);
    assert.equal(again.code, 0, again.err);
    assert.equal((again.out.match(/Using cache/g) ?? []).length, 4, again.out);
  });
});
