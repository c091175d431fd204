/**
 * A real berthd on temp roots and a temp socket, driven through the CLI bundle as users run it; for the
 * CLI's integration tests. (The CLI never imports the daemon: this starts its built entry point.)
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const DAEMON = join(here, "../../../daemon/dist/main.js");
export const BUNDLE = join(here, "../berth.cjs");

export interface Result {
  code: number;
  out: string;
  err: string;
}

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Why these tests cannot run here, or false when they can. */
export function cliSkipReason(): string | false {
  if (!existsSync(DAEMON)) return "berthd is not built yet (packages/daemon/dist/main.js is missing)";
  if (!existsSync(BUNDLE)) return "the CLI bundle is not built yet (npm run build)";
  if (process.getuid?.() !== 0) return "needs root (berthd runs containers)";
  if (!has("runc") || !has("conmon")) return "needs runc and conmon (scripts/setup.sh)";
  if (!existsSync("/bin/busybox")) return "needs busybox-static for `berth image bootstrap busybox`";
  return false;
}

export class TestBerthd {
  private constructor(
    readonly base: string,
    readonly socket: string,
    private readonly logFile: string,
    private readonly daemon: ChildProcess,
    private readonly timeoutMs: number,
  ) {}

  /** Starts berthd under a fresh temp dir (short paths: conmon's attach socket must fit in 107 bytes). */
  static async start(prefix: string, timeoutMs = 120_000, extraArgs: readonly string[] = []): Promise<TestBerthd> {
    const base = await mkdtemp(join(tmpdir(), prefix));
    await chmod(base, 0o711); // containers' unprivileged users reach their rootfs under it
    const socket = join(base, "x", "berth.sock");
    const logFile = join(base, "berthd.log");
    const log = await open(logFile, "a");
    const daemon = spawn(
      process.execPath,
      [DAEMON, "--root", join(base, "r"), "--run-root", join(base, "x"), "--socket", socket, ...extraArgs],
      { stdio: ["ignore", "ignore", log.fd] },
    );
    await log.close();
    const d = new TestBerthd(base, socket, logFile, daemon, timeoutMs);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`berthd exited:\n${d.log()}`);
      if ((await d.berth("version", "--format", "{{.Server.Version}}")).out.trim() !== "<no value>") return d;
      if (Date.now() > deadline) throw new Error(`berthd did not answer:\n${d.log()}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }

  log(): string {
    return readFileSync(this.logFile, "utf8").slice(-2000);
  }

  /** Runs the CLI bundle against this daemon; resolves with its exit code and output. */
  berth(...args: string[]): Promise<Result> {
    return this.berthWith({}, ...args);
  }

  /** As `berth`, with extra environment (BERTH_HOST and the like override the unix socket); `stdin` is piped in. */
  berthWith(env: Record<string, string>, ...args: string[]): Promise<Result> {
    return this.berthIn(env, undefined, ...args);
  }

  berthIn(env: Record<string, string>, stdin: string | undefined, ...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BUNDLE, ...args],
        { env: { ...process.env, BERTH_HOST: `unix://${this.socket}`, ...env }, timeout: this.timeoutMs },
        (err, out, errOut) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, out, err: errOut });
        },
      );
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  }

  /** Removes every container, stops berthd, unmounts what it left under the temp dir, removes it. */
  async stop(): Promise<void> {
    const left = (await this.berth("ps", "-aq", "--no-trunc")).out.split("\n").filter(Boolean);
    if (left.length) await this.berth("rm", "-f", ...left);
    this.daemon.kill("SIGTERM");
    await new Promise((ok) => (this.daemon.exitCode !== null ? ok(undefined) : this.daemon.once("exit", ok)));
    const mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(this.base))
      .reverse();
    for (const m of mounts) spawnSync("umount", ["-l", m]);
    await rm(this.base, { recursive: true, force: true });
  }
}
