/**
 * conmon as the per-container monitor: one detached conmon per container holds its stdio, writes the
 * log (k8s-file: timestamp, stream, tag, text), records the exit code and OOM, and serves the attach
 * socket. The container outlives whoever started it, berthd included.
 */
import { spawn } from "node:child_process";
import { closeSync, readFileSync, writeSync } from "node:fs";
import type { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { LibctError } from "../errors.js";
import type { OciRuntime } from "../runtime/runtime.js";
import { type DetachedChild, spawnDetached } from "../system/spawn.js";

export interface ConmonPaths {
  /** The bundle (config.json); conmon also serves attach, ctl and winsz here. */
  readonly bundle: string;
  /** Where conmon records the exit status and an OOM kill (`exit`, `oom`); the bundle when absent. */
  readonly persistDir?: string;
  /** The container's log (k8s-file); left out: no log, output goes to attached clients only (exec sessions). */
  readonly logFile?: string;
  readonly pidFile: string;
  readonly conmonPidFile: string;
  /** conmon writes `<exitDir>/<id>` holding the exit code when the container exits. */
  readonly exitDir: string;
  /** Short directory for the attach socket symlinks (unix socket paths are limited to 107 bytes). */
  readonly socketDir: string;
}

export interface ConmonStartOptions {
  readonly id: string;
  readonly name?: string;
  readonly runtime: OciRuntime;
  readonly paths: ConmonPaths;
  readonly terminal?: boolean;
  /** Keep stdin open for attach (`-i`). */
  readonly stdin?: boolean;
  readonly logSizeMax?: number;
  /** conmon's --cuuid: the exec session id for exec sessions (defaults to the container id). */
  readonly sessionId?: string;
  /** For exec sessions: the process spec file; conmon runs `runtime exec` instead of `create`. */
  readonly execProcessFile?: string;
  /**
   * For exec sessions (conmon's `--exec-attach`): called once conmon serves its attach socket, and the runtime
   * runs the process only after it resolves, so a client attached here misses none of its output. If it
   * rejects, conmon is killed (nothing runs) and `start` rejects with its error.
   */
  readonly beforeExec?: () => Promise<void>;
  /** Restore from a checkpoint directory instead of creating (CRIU). */
  readonly restoreFrom?: string;
  readonly runtimeOpts?: readonly string[];
  readonly exitCommand?: { readonly path: string; readonly args: readonly string[] };
  readonly timeoutMs?: number;
}

export interface ConmonResult {
  /** PID of the container's init (or exec'd process) on the host. */
  readonly pid: number;
}

/** Reads one JSON line from conmon's sync pipe: {"data": pid} on success, {"data": -1, "message": ...} on failure. */
function readSyncLine(stream: Readable, timeoutMs: number): Promise<{ data: number; message?: string }> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      stream.removeAllListeners("data");
      stream.destroy(); // the daemonized conmon keeps its end open; we are done with it
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new LibctError("internal", `conmon did not report within ${timeoutMs} ms`))),
      timeoutMs,
    );
    stream.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      finish(() => {
        try {
          resolve(JSON.parse(line) as { data: number; message?: string });
        } catch {
          reject(new LibctError("internal", `conmon sent an unreadable sync message: ${line}`));
        }
      });
    });
    stream.on("end", () => finish(() => reject(new LibctError("internal", "conmon exited without reporting a pid"))));
    stream.on("error", (err) => finish(() => reject(new LibctError("internal", `conmon sync pipe: ${err.message}`))));
  });
}

/** PATH for conmon when berthd has none; the runtime finds criu through it (usually in /usr/sbin). */
const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The environment conmon runs with, which it hands on to the runtime (and the runtime to CRIU): what they
 * use and none of berthd's own, as Podman does (containers.conf `conmon_env_vars`). Passing berthd's
 * environment through would:
 * - leak systemd's NOTIFY_SOCKET (and LISTEN_FDS, credentials, ...) to runc, which then wires the
 *   container to the daemon's notification socket;
 * - cost memory per container: conmon keeps its environment on its stack for life, about 10 KiB each
 *   with a typical login environment (bench density).
 *
 * `G_SLICE=always-malloc` makes GLib before 2.76 (Debian 12's conmon) allocate with malloc instead of its
 * per-thread slice magazines, which conmon's few small allocations never fill: another ~11 KiB of private
 * memory per container, with nothing lost (GLib 2.76+ always does this and ignores the variable).
 */
export function conmonEnv(parent: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {
    PATH: parent.PATH ? `${parent.PATH}:/usr/sbin:/sbin` : FALLBACK_PATH,
    G_SLICE: "always-malloc",
    _OCI_SYNCPIPE: "3",
  };
  // Time zone (conmon's log timestamps) and temp dir (CRIU, runc) stay the host's choice.
  for (const key of ["TZ", "TMPDIR"] as const) {
    const value = parent[key];
    if (value) env[key] = value;
  }
  return env;
}

/**
 * A conmon started with a start pipe (`_OCI_STARTPIPE`), waiting before it does anything: the caller
 * writes the bundle meanwhile, and `go` lets it run the runtime. conmon's own start-up (exec, loading
 * GLib, parsing its options: 1.5-2 ms here) then overlaps with the caller's preparation of the rootfs.
 */
export interface HeldConmon {
  readonly terminal: boolean;
  readonly stdin: boolean;
  /** Lets conmon go on (`runtime create`) and returns the container pid, as `start` does. */
  go(): Promise<ConmonResult>;
  /** Kills the waiting conmon: nothing was created. A no-op after `go`. */
  cancel(): void;
}

interface Launched {
  readonly fast: DetachedChild | null;
  readonly sync: Readable;
  /** conmon's start pipe (`_OCI_STARTPIPE`): each write lets it go one step on; see hold and beforeExec. */
  readonly startPipe?: { write(): void; close(): void };
  /** conmon's attach pipe (`_OCI_ATTACHPIPE`): a sync line once its attach socket is up (exec sessions). */
  readonly attachPipe?: Readable;
  /** Settles once conmon runs; rejects with "cannot start conmon" when it cannot be started. */
  readonly spawned: Promise<void>;
  /** Rejects as `spawned` does, and never resolves: for racing against conmon's reports. */
  readonly spawnError: Promise<never>;
  readonly stderr: () => string;
}

export class ConmonMonitor {
  constructor(private readonly binary: string) {}

  /** Starts a detached conmon that runs `runtime create` (or exec/restore) and returns the container pid. */
  async start(opts: ConmonStartOptions): Promise<ConmonResult> {
    if (!opts.beforeExec) return this.report(opts, this.launch(opts, {}));
    // --exec-attach: conmon reads the start pipe once before it forks, sets up its attach socket, says so on
    // the attach pipe, and its runtime child waits for a second message on the start pipe before it execs.
    const l = this.launch(opts, { start: true, attach: true });
    const start = l.startPipe!;
    try {
      await l.spawned;
    } catch (err) {
      start.close(); // conmon never ran: there is nothing to kill
      throw err;
    }
    try {
      start.write();
      const ready = await Promise.race([readSyncLine(l.attachPipe!, opts.timeoutMs ?? 30_000), l.spawnError]);
      if (ready.data < 0) throw new LibctError("internal", `conmon could not set up attach: ${ready.message ?? ""}`);
      await opts.beforeExec();
    } catch (err) {
      await killConmon(opts.paths.conmonPidFile, l);
      start.close();
      if (l.stderr()) throw new LibctError("internal", `conmon failed: ${l.stderr().trim()}`, { cause: err });
      throw err;
    }
    try {
      start.write();
    } catch (err) {
      // conmon died between its attach and the go: report what it said rather than a bare EPIPE.
      throw new LibctError("internal", `conmon ended before the exec could run: ${l.stderr().trim() || err}`, {
        cause: err,
      });
    } finally {
      start.close();
    }
    return this.report(opts, l);
  }

  /**
   * Starts conmon for a `create` but holds it at its start pipe until `go`. undefined where posix_spawn is
   * unavailable (the caller then uses `start`).
   */
  hold(opts: ConmonStartOptions): HeldConmon | undefined {
    const l = this.launch(opts, { held: true });
    if (!l) return undefined;
    let state: "held" | "gone" | "cancelled" = "held";
    return {
      terminal: opts.terminal === true,
      stdin: opts.stdin === true,
      go: async () => {
        if (state !== "held") throw new LibctError("internal", "a held conmon was already used");
        state = "gone";
        try {
          await l.spawned;
          l.startPipe?.write();
        } finally {
          l.startPipe?.close();
        }
        return this.report(opts, l);
      },
      cancel: () => {
        if (state !== "held") return;
        state = "cancelled";
        l.sync.destroy();
        // Killed before its start pipe closes: on EOF conmon would go on.
        const kill = (pid: number) => {
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
        };
        (l.fast?.pid ?? Promise.resolve(0))
          .then(
            (pid) => pid > 0 && kill(pid),
            () => {},
          )
          .then(() => l.startPipe?.close());
      },
    };
  }

  private args(opts: ConmonStartOptions): string[] {
    const { paths, runtime, id } = opts;
    const args = [
      "--api-version", "1",
      "-c", id,
      "-u", opts.sessionId ?? (opts.execProcessFile ? `${id}-exec-${process.hrtime.bigint()}` : id),
      "-n", opts.name ?? id,
      "-r", runtime.binary,
      "-b", paths.bundle,
      "-p", paths.pidFile,
      "-P", paths.conmonPidFile,
      "-l", paths.logFile === undefined ? "none:" : `k8s-file:${paths.logFile}`,
      "--exit-dir", paths.exitDir,
      "--persist-dir", paths.persistDir ?? paths.bundle,
      "--socket-dir-path", paths.socketDir,
      "--log-level", "warning",
      "--full-attach",
      // conmon otherwise fsyncs the log when the container exits, and only then writes the exit file that
      // berthd waits for: every exit's report waits for the disk (2 ms here, seconds on a host busy writing).
      // The log is written as the container runs and survives a crash of conmon or berthd either way; like
      // Docker's json-file logs, it reaches the disk with the page cache's writeback.
      "--no-sync-log",
    ]; // biome-ignore format: flag/value pairs
    for (const a of runtime.globalArgs()) args.push("--runtime-arg", a);
    if (opts.terminal) args.push("-t");
    if (opts.stdin) args.push("-i");
    // A container's console outlives its clients: detaching (closing the attach socket) must not close the pty's input.
    if (opts.terminal && !opts.execProcessFile) args.push("--leave-stdin-open");
    if (opts.logSizeMax) args.push("--log-size-max", String(opts.logSizeMax));
    if (opts.execProcessFile) args.push("-e", "--exec-process-spec", opts.execProcessFile);
    if (opts.execProcessFile && opts.beforeExec) args.push("--exec-attach");
    if (opts.restoreFrom) args.push("--restore", opts.restoreFrom);
    for (const o of opts.runtimeOpts ?? []) args.push("--runtime-opt", o);
    if (opts.exitCommand) {
      args.push("--exit-command", opts.exitCommand.path);
      for (const a of opts.exitCommand.args) args.push("--exit-command-arg", a);
    }
    return args;
  }

  /**
   * Spawns conmon; `start`: with a start pipe (fd 4), `attach`: with an attach pipe (fd 5). `held` asks for a
   * start pipe through posix_spawn only (undefined where it is unavailable).
   */
  private launch(opts: ConmonStartOptions, pipes: { held: true }): Launched | undefined;
  private launch(opts: ConmonStartOptions, pipes: { start?: boolean; attach?: boolean }): Launched;
  private launch(
    opts: ConmonStartOptions,
    pipes: { held?: boolean; start?: boolean; attach?: boolean },
  ): Launched | undefined {
    const args = this.args(opts);
    const env = conmonEnv(process.env);
    const startPipe = pipes.held === true || pipes.start === true;
    const attachPipe = pipes.attach === true;
    if (startPipe) env._OCI_STARTPIPE = "4";
    if (attachPipe) env._OCI_ATTACHPIPE = "5";
    const cannotStart = (err: Error) =>
      new LibctError("unavailable", `cannot start conmon (${this.binary}): ${err.message}; run scripts/setup.sh`);
    // posix_spawn where it is available (a fork of berthd costs 1.5–3.5 ms of event loop), child_process otherwise.
    let fast: DetachedChild | null;
    try {
      fast = spawnDetached(this.binary, args, env, opts.paths.bundle, { startPipe, attachPipe });
    } catch (err) {
      throw cannotStart(err as Error);
    }
    if (pipes.held && !fast) return undefined;
    let errStream: Readable;
    let sync: Readable;
    let spawned: Promise<void>;
    let start: Launched["startPipe"];
    let attach: Readable | undefined;
    if (fast) {
      errStream = fast.stderr;
      sync = fast.fd3;
      spawned = fast.pid.then(
        () => {},
        (err: Error) => Promise.reject(cannotStart(err)),
      );
      const fd = fast.startFd;
      if (fd !== undefined) {
        let open = true;
        start = {
          write: () => void (open && writeSync(fd, "1")),
          close: () => {
            if (open) closeSync(fd);
            open = false;
          },
        };
      }
      attach = fast.fd5;
    } else {
      const child = spawn(this.binary, args, {
        stdio: ["ignore", "ignore", "pipe", "pipe", startPipe ? "pipe" : "ignore", attachPipe ? "pipe" : "ignore"],
        env,
        detached: true,
        cwd: opts.paths.bundle,
      });
      spawned = new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", (err) => reject(cannotStart(err)));
      });
      child.unref();
      errStream = child.stderr as Readable;
      sync = child.stdio[3] as Readable;
      if (startPipe) {
        const w = child.stdio[4] as Writable;
        w.on("error", () => {}); // conmon gone: report() says why
        start = { write: () => void w.write("1"), close: () => void w.end() };
      }
      if (attachPipe) attach = (child.stdio as unknown as Readable[])[5];
    }
    let stderr = "";
    errStream.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
    });
    // conmon keeps its stderr for its own warnings: read it to the end (a closed pipe would kill it with
    // SIGPIPE), but it must not keep berthd's event loop alive.
    if (fast) (errStream as Socket).unref();
    // Handled here too: a held conmon that is cancelled is never asked.
    spawned.catch(() => {});
    const spawnError = spawned.then(() => new Promise<never>(() => {}));
    spawnError.catch(() => {});
    return {
      fast,
      sync,
      spawned,
      spawnError,
      ...(start ? { startPipe: start } : {}),
      ...(attach ? { attachPipe: attach } : {}),
      stderr: () => stderr,
    };
  }

  /** Waits for conmon's report on the sync pipe: the container's pid, or why the runtime failed. */
  private async report(opts: ConmonStartOptions, l: Launched): Promise<ConmonResult> {
    const { runtime, id } = opts;
    const { fast, sync, spawnError } = l;
    let msg: { data: number; message?: string };
    try {
      msg = await Promise.race([readSyncLine(sync, opts.timeoutMs ?? 30_000), spawnError]);
    } catch (err) {
      if (fast && !l.stderr()) await new Promise((r) => setTimeout(r, 20)); // a failing conmon's last words
      if (l.stderr()) throw new LibctError("internal", `conmon failed: ${l.stderr().trim()}`, { cause: err });
      throw err;
    }
    const stderr = l.stderr();
    if (msg.data < 0 || msg.message) {
      const why = (msg.message ?? stderr).trim().replace(/\s+/g, " ");
      // The user's command is not in the image (or not executable): their input, not our failure.
      if (/executable file not found|exec: .*(no such file or directory|permission denied)/.test(why)) {
        const reason = why
          .replace(/^.*?(exec: )/, "$1")
          .replace(/\\"/g, '"')
          .replace(/"$/, "");
        throw new LibctError(
          "invalid",
          opts.execProcessFile
            ? `the command cannot be run: ${reason}`
            : `the container's command cannot be run: ${reason}; check the command, --entrypoint and the image's PATH`,
        );
      }
      throw new LibctError(
        "internal",
        `${runtime.name} could not ${opts.restoreFrom ? "restore" : opts.execProcessFile ? "exec" : "create"} container ${id}: ${why}`,
      );
    }
    return { pid: msg.data };
  }
}

/**
 * Kills a conmon that was let past its first start-pipe read: it has forked into the background by then, so
 * the pid is the one in its pid file (the launched one has exited). Its runtime child, still waiting on the
 * start pipe, dies with it (PDEATHSIG).
 */
async function killConmon(pidFile: string, l: Launched): Promise<void> {
  l.sync.destroy();
  l.attachPipe?.destroy();
  // The pid file is written by the launched process as it exits, which can come a moment after its child's news.
  for (let i = 0; i < 50; i++) {
    const pid = Number.parseInt(readFileOr(pidFile), 10);
    if (pid > 0) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export interface LogEntry {
  readonly time: string;
  readonly stream: "stdout" | "stderr";
  readonly text: string;
}

/**
 * Parses conmon's k8s-file log: `<RFC3339Nano> <stream> <P|F> <text>`. Partial (P) lines are joined
 * with the line that completes them. Pure, for tests and for `logs`.
 */
export function parseK8sLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  const pending: Partial<Record<"stdout" | "stderr", { time: string; text: string }>> = {};
  for (const line of text.split("\n")) {
    if (!line) continue;
    const a = line.indexOf(" ");
    const b = line.indexOf(" ", a + 1);
    const c = line.indexOf(" ", b + 1);
    if (a < 0 || b < 0) continue;
    const time = line.slice(0, a);
    const stream = line.slice(a + 1, b);
    if (stream !== "stdout" && stream !== "stderr") continue;
    const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
    const body = c < 0 ? "" : line.slice(c + 1);
    const prev = pending[stream];
    if (tag === "P") {
      pending[stream] = { time: prev?.time ?? time, text: (prev?.text ?? "") + body };
      continue;
    }
    out.push({ time: prev?.time ?? time, stream, text: (prev?.text ?? "") + body });
    delete pending[stream];
  }
  for (const stream of ["stdout", "stderr"] as const) {
    const p = pending[stream];
    if (p) out.push({ time: p.time, stream, text: p.text });
  }
  return out;
}
