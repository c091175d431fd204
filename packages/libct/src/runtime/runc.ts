import {
  closeSync,
  constants,
  existsSync,
  type FSWatcher,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  watch,
} from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LibctError } from "../errors.js";
import type { OciResources } from "../spec/oci.js";
import { CommandFailedError, type CommandRunner } from "../system/command.js";
import { DirWatch } from "../system/dir-watch.js";
import { readSmallFile } from "../system/read.js";
import type { SealedExecutable } from "../system/sealed-exe.js";
import type { ArmedStart, ExecOptions, OciRuntime, RuntimeState } from "./runtime.js";

export interface RuncOptions {
  readonly name?: "runc" | "crun";
  readonly binary: string;
  /** The runtime's state directory (`--root`), one per libct root so two hosts never mix. */
  readonly stateRoot: string;
  readonly cmd: CommandRunner;
  /** runc run from a sealed copy of `binary` (system/sealed-exe.ts): its init then skips copying itself. */
  readonly sealed?: SealedExecutable;
}

const NOT_FOUND = /does not exist|not found|no such file|container .* not exist/i;
/** An id that is one path component (runc's own rule): the only ones read from the state root directly. */
const SAFE_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** runc and crun share a command line; one driver serves both. */
export class RuncRuntime implements OciRuntime {
  readonly name: "runc" | "crun";
  private readonly path: string;
  private readonly stateRoot: string;
  private readonly cmd: CommandRunner;
  private readonly sealed: SealedExecutable | undefined;

  constructor(opts: RuncOptions) {
    this.name = opts.name ?? "runc";
    this.path = opts.binary;
    this.stateRoot = opts.stateRoot;
    this.cmd = opts.cmd;
    this.sealed = opts.sealed;
  }

  /** What to execute: the sealed copy's link when there is one, else the binary's own path. */
  get binary(): string {
    return this.sealed?.path ?? this.path;
  }

  globalArgs(): string[] {
    return ["--root", this.stateRoot];
  }

  private async call(args: string[], what: string, id?: string, stdin?: string): Promise<string> {
    try {
      const argv = [...this.globalArgs(), ...args];
      return (await this.cmd.run(this.binary, argv, stdin === undefined ? undefined : { stdin })).stdout;
    } catch (err) {
      if (err instanceof CommandFailedError) {
        if (id && NOT_FOUND.test(err.stderr))
          throw new LibctError("not-found", `no such container '${id}' in ${this.name}`, { cause: err });
        const detail = err.stderr.trim().split("\n").pop() ?? "";
        throw new LibctError("internal", `${this.name} ${what} failed: ${detail}`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * runc hands its own stdio to the container's init (no terminal), so with the runner's pipes the call would
   * not return until the container exits. The runtime therefore runs with stdio on /dev/null and reports errors
   * through `--log` (JSON lines), which both runc and crun write before exiting non-zero.
   */
  async create(id: string, bundle: string, opts: { pidFile?: string } = {}): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), `berth-${this.name}-create-`));
    const log = join(dir, "log.json");
    const argv = [
      ...this.globalArgs(),
      `--log=${log}`,
      "--log-format=json",
      "create",
      "--bundle",
      bundle,
      ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []),
      id,
    ];
    try {
      await this.cmd.run(this.binary, argv, { nullStdio: true });
    } catch (err) {
      if (!(err instanceof CommandFailedError)) throw err;
      const why = lastLogError(await readFile(log, "utf8").catch(() => "")) || err.stderr.trim() || err.message;
      if (/already exists/i.test(why))
        throw new LibctError("conflict", `${this.name} already has a container '${id}'`, { cause: err });
      throw new LibctError("internal", `${this.name} create failed: ${why}`, { cause: err });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  async start(id: string): Promise<void> {
    if (this.name === "runc" && (await this.startViaExecFifo(id))) return;
    await this.call(["start", id], "start", id);
  }

  /** One watch of the state root for every armed start: runc makes `<root>/<id>` as its create begins. */
  private stateRootWatch: DirWatch | undefined;

  /**
   * runc's init, once ready, waits to open `<root>/<id>/exec.fifo` for writing, and `runc start` lets it go by
   * reading it. Here the fifo is opened (openExecFifo) as soon as runc's create makes it,
   * found with inotify (the state root, then the container's directory): init then goes on the moment it is
   * ready, without waiting for the create command to exit, conmon to report and berthd to ask.
   */
  armStart(id: string, timeoutMs = 30_000): ArmedStart | undefined {
    if (this.name !== "runc" || !SAFE_ID.test(id)) return undefined;
    const dir = join(this.stateRoot, id);
    const fifo = join(dir, "exec.fifo");
    let settled = false;
    let offRoot = () => {};
    let dirWatch: FSWatcher | undefined;
    let sock: Socket | undefined;
    let resolve!: (ok: boolean) => void;
    const started = new Promise<boolean>((r) => {
      resolve = r;
    });
    const stopWatching = () => {
      offRoot();
      dirWatch?.close();
      dirWatch = undefined;
    };
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stopWatching();
      sock?.destroy();
      resolve(ok);
    };
    const tryOpen = () => {
      if (sock || settled) return;
      sock = openExecFifo(fifo);
      if (!sock) return; // not made yet: the directory's watch says when
      stopWatching();
      followExecFifo(sock, fifo, finish);
    };
    const watchDir = () => {
      if (dirWatch || sock || settled) return;
      try {
        dirWatch = watch(dir, (_event, name) => {
          if (name?.toString() === "exec.fifo") tryOpen();
        }).on("error", () => {});
      } catch (err) {
        // Not there yet: the root's watch says when. Anything else (no inotify watch left): the usual start.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") finish(false);
        return;
      }
      tryOpen();
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
    try {
      this.stateRootWatch ??= new DirWatch(this.stateRoot);
      offRoot = this.stateRootWatch.on(id, watchDir);
    } catch {
      clearTimeout(timer);
      return undefined;
    }
    watchDir();
    return {
      started,
      get opened() {
        return sock !== undefined;
      },
      cancel: () => finish(false),
    };
  }

  /**
   * What `runc start` does, without spawning runc (about 6 ms here): runc init waits, after create,
   * to open `<state>/<id>/exec.fifo` for writing; reading it to EOF lets init exec the user process,
   * and the fifo is then removed. Returns false (the caller spawns `runc start`) when the fifo is
   * absent or init never answers.
   *
   * The fifo is read through the event loop (followExecFifo): no thread pool round trips on the path
   * between conmon's report and the container's first instruction.
   */
  private async startViaExecFifo(id: string, timeoutMs = 2000): Promise<boolean> {
    if (!SAFE_ID.test(id)) return false;
    const fifo = join(this.stateRoot, id, "exec.fifo");
    const sock = openExecFifo(fifo);
    if (!sock) return false; // no fifo (not created, or not runc's layout): the caller asks runc
    return new Promise<boolean>((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs); // init is gone and never opened its end
      followExecFifo(sock, fifo, finish);
    });
  }
  async kill(id: string, signal: string | number, opts: { all?: boolean } = {}): Promise<void> {
    await this.call(["kill", ...(opts.all ? ["--all"] : []), id, String(signal)], "kill", id);
  }
  async pause(id: string): Promise<void> {
    await this.call(["pause", id], "pause", id);
  }
  async resume(id: string): Promise<void> {
    await this.call(["resume", id], "resume", id);
  }
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.call(["delete", ...(opts.force ? ["--force"] : []), id], "delete", id);
  }
  async forgetExited(id: string): Promise<boolean> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(id)) return false;
    const dir = join(this.stateRoot, id);
    // runc keeps state.json (crun: status) and, while created, exec.fifo; nothing else lives there. A file
    // or two on tmpfs: removed synchronously, cheaper than trips through the thread pool.
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return true;
    }
    if (entries.includes("exec.fifo")) return false; // never started: let the runtime clean up
    // The files directly, then the directory: what rm -r would do after a failed rmdir, a readdir and lstats.
    for (const e of entries) {
      try {
        unlinkSync(join(dir, e));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") rmSync(join(dir, e), { force: true, recursive: true }); // a directory
      }
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return true;
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    if (this.name === "runc") {
      const fast = await this.stateFromFiles(id);
      if (fast !== "unknown") return fast;
    }
    try {
      return JSON.parse(await this.call(["state", id], "state", id)) as RuntimeState;
    } catch (err) {
      if (err instanceof LibctError && err.kind === "not-found") return undefined;
      throw err;
    }
  }
  /**
   * What `runc state` computes, read from the same files without spawning runc (about 7 ms here):
   * state.json names init's pid and start time; init is alive when /proc/PID/stat has that start time
   * and is not a zombie; exec.fifo marks "created"; a frozen freezer cgroup marks "paused". Returns
   * "unknown" (the caller asks runc) when a file is not in the shape runc 1.x writes. The files are on
   * tmpfs and /proc: read synchronously, in microseconds, rather than in four trips through the thread pool.
   */
  private async stateFromFiles(id: string): Promise<RuntimeState | undefined | "unknown"> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(id)) return "unknown";
    const dir = join(this.stateRoot, id);
    let raw: string;
    try {
      raw = readFileSync(join(dir, "state.json"), "utf8");
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ENOENT" && !existsSync(dir) ? undefined : "unknown";
    }
    let st: RuncStateFile;
    try {
      st = JSON.parse(raw) as RuncStateFile;
    } catch {
      return "unknown"; // runc is rewriting it: ask runc, which holds the lock
    }
    const pid = st.init_process_pid;
    if (typeof pid !== "number" || typeof st.init_process_start !== "number") return "unknown";
    const bundle = st.config?.labels?.find((l) => l.startsWith("bundle="))?.slice(7) ?? "";
    const base = { id, pid, bundle, ...(st.created ? { created: st.created } : {}) };
    const procStat = readSmallFile(`/proc/${pid}/stat`, undefined);
    // Fields after the command name "(comm)": state is the 1st, starttime the 20th.
    const fields = procStat?.slice(procStat.lastIndexOf(")") + 2).split(" ");
    if (!fields || fields[0] === "Z" || fields[0] === "X" || fields[19] !== String(st.init_process_start)) {
      return { ...base, pid: 0, status: "stopped" }; // as runc reports it
    }
    if (existsSync(join(dir, "exec.fifo"))) return { ...base, status: "created" };
    const freezer = st.cgroup_paths?.freezer;
    const unified = st.cgroup_paths?.[""];
    const frozen = freezer
      ? /FROZEN|FREEZING/.test(readSmallFile(join(freezer, "freezer.state"), ""))
      : unified
        ? readSmallFile(join(unified, "cgroup.freeze"), "0").trim() === "1"
        : false;
    return { ...base, status: frozen ? "paused" : "running" };
  }
  async list(): Promise<RuntimeState[]> {
    const out = await this.call(["list", "--format", "json"], "list");
    return (JSON.parse(out || "[]") as RuntimeState[] | null) ?? [];
  }
  execArgs(id: string, opts: ExecOptions): string[] {
    return [
      ...this.globalArgs(),
      "exec",
      "--process",
      opts.processFile,
      ...(opts.tty ? ["--tty"] : []),
      ...(opts.detach ? ["--detach"] : []),
      ...(opts.pidFile ? ["--pid-file", opts.pidFile] : []),
      id,
    ];
  }
  async update(id: string, resources: OciResources): Promise<void> {
    await this.call(["update", "--resources", "-", id], "update", id, JSON.stringify(resources));
  }
}

/** The message of the last error in a runtime's JSON log (`{"level":"error","msg":...}` per line). */
export function lastLogError(text: string): string {
  let msg = "";
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === "error" && entry.msg) msg = entry.msg;
    } catch {
      msg = line.trim();
    }
  }
  return msg;
}

/** The parts of runc's state.json (libcontainer's State) that `stateFromFiles` reads. */
interface RuncStateFile {
  readonly init_process_pid?: number;
  readonly init_process_start?: number;
  readonly created?: string;
  readonly config?: { readonly labels?: readonly string[] };
  readonly cgroup_paths?: Readonly<Record<string, string>>;
}

/**
 * runc's exec fifo (`<state>/<id>/exec.fifo`), opened for reading non-blocking: at once, whether init has opened
 * its end or not. Undefined when it cannot be opened (runc has not made it, or it is gone).
 */
function openExecFifo(fifo: string): Socket | undefined {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return new Socket({ fd, readable: true, writable: false });
  } catch {
    closeSync(fd);
    return undefined;
  }
}

/**
 * Reads an opened exec fifo through the event loop. Opened non-blocking, a FIFO reports readable when init
 * writes its byte, hung up when init's end closes at its exec, and nothing at all while init has not opened
 * it. `done(true)` once init has written and closed (it has exec'd the process; the fifo is removed, as
 * `runc start` does), `done(false)` when it closed having written nothing (it died) or the read failed.
 */
function followExecFifo(sock: Socket, fifo: string, done: (ok: boolean) => void): void {
  let bytes = 0;
  sock.on("data", (b: Buffer) => {
    bytes += b.length;
  });
  sock.on("end", () => {
    if (bytes > 0) {
      try {
        unlinkSync(fifo);
      } catch {}
    }
    done(bytes > 0);
  });
  sock.on("error", () => done(false));
}
