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

/** Slow scenario tests: `it("...", slow, async () => ...)`; `--quick` (BERTH_QUICK=1) skips them. As libct's
 * testing/slow.ts, which the CLI cannot import. */
export const slow: { skip: string | false } = { skip: process.env.BERTH_QUICK ? "slow test (BERTH_QUICK set)" : false };

export class TestBerthd {
  private daemon!: ChildProcess;

  private constructor(
    readonly base: string,
    readonly socket: string,
    private readonly logFile: string,
    private readonly extraArgs: readonly string[],
    private readonly timeoutMs: number,
  ) {}

  /** Starts berthd under a fresh temp dir (short paths: conmon's attach socket must fit in 107 bytes). */
  static async start(prefix: string, timeoutMs = 120_000, extraArgs: readonly string[] = []): Promise<TestBerthd> {
    const base = await mkdtemp(join(tmpdir(), prefix));
    await chmod(base, 0o711); // containers' unprivileged users reach their rootfs under it
    const d = new TestBerthd(base, join(base, "x", "berth.sock"), join(base, "berthd.log"), extraArgs, timeoutMs);
    await d.launch();
    return d;
  }

  private async launch(): Promise<void> {
    const log = await open(this.logFile, "a");
    const daemon = spawn(
      process.execPath,
      [
        DAEMON,
        "--root",
        join(this.base, "r"),
        "--run-root",
        join(this.base, "x"),
        "--socket",
        this.socket,
        ...this.extraArgs,
      ],
      { stdio: ["ignore", "ignore", log.fd] },
    );
    await log.close();
    this.daemon = daemon;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (daemon.exitCode !== null) throw new Error(`berthd exited:\n${this.log()}`);
      if ((await this.berth("version", "--format", "{{.Server.Version}}")).out.trim() !== "<no value>") return;
      if (Date.now() > deadline) throw new Error(`berthd did not answer:\n${this.log()}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }

  /** SIGKILL to berthd, resolved once it is gone: its containers (conmon's) go on without it. */
  async kill9(): Promise<void> {
    const daemon = this.daemon;
    if (daemon.exitCode !== null || daemon.signalCode !== null) return;
    const gone = new Promise((ok) => daemon.once("exit", ok));
    daemon.kill("SIGKILL");
    await gone;
  }

  /** A new berthd on the same roots and socket (after `kill9`); resolves when it answers. */
  restart(): Promise<void> {
    return this.launch();
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
    const daemon = this.daemon;
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill("SIGTERM");
      await new Promise((ok) => daemon.once("exit", ok));
    }
    const mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(this.base))
      .reverse();
    for (const m of mounts) spawnSync("umount", ["-l", m]);
    await rm(this.base, { recursive: true, force: true });
  }
}
