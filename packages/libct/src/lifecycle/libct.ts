/**
 * libct's front door: a typed container description in, a running, isolated, limited container out.
 * Drives the OCI runtime through conmon, keeps its own small on-disk record per container, and needs
 * no daemon: any process (berthd, a test, the demo) can open the same root and find the containers.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ContainerStats,
  cgroupExists,
  cgroupRelPath,
  chownCgroup,
  readOomKills,
  readStats,
  removeCgroup,
} from "../cgroups/index.js";
import { LibctError, ValidationError } from "../errors.js";
import { chooseRuntime, probeHost } from "../host/probe.js";
import { KeyedLock } from "../keyed-lock.js";
import { KNOWN_CAPABILITIES } from "../model/capabilities.js";
import type { ContainerDescription, NamespaceName } from "../model/description.js";
import type { HostFacts } from "../model/host.js";
import { defaultSystemIdMap, mappedRoot } from "../model/idmap.js";
import { signalNumber } from "../model/signals.js";
import { parseDescription } from "../model/validate.js";
import { type AttachOptions, type AttachSession, type AttachStreams, attach } from "../monitor/attach.js";
import { ConmonMonitor, type HeldConmon, type LogEntry, parseK8sLog } from "../monitor/conmon.js";
import { RuncRuntime } from "../runtime/runc.js";
import type { ArmedStart, OciRuntime, RuntimeState } from "../runtime/runtime.js";
import { type ResolvedInputs, STOP_SIGNAL_ANNOTATION, specFromDescription } from "../spec/from-description.js";
import type { OciProcess, OciResources, OciSpec } from "../spec/oci.js";
import { type CommandRunner, ProcessRunner } from "../system/command.js";
import { DirWatch } from "../system/dir-watch.js";
import { readSmallFile } from "../system/read.js";
import { SealedExecutable } from "../system/sealed-exe.js";
import { spreadSubtrees } from "../system/syscall.js";
import { Trash } from "../system/trash.js";
import { UndoStack } from "../undo.js";

export type ContainerStatus = "created" | "running" | "paused" | "stopped";

export interface ContainerState {
  readonly id: string;
  readonly status: ContainerStatus;
  /** Host PID of the container's init while it runs. */
  readonly pid?: number;
  readonly createdAt: string;
  readonly exitCode?: number;
  readonly oomKilled?: boolean;
  readonly description: ContainerDescription;
}

export interface ExitResult {
  readonly exitCode: number;
  readonly oomKilled: boolean;
}

/** A container followed by Libct.followExit. */
interface ExitFollower {
  readonly rec: Pick<StoredRecord, "id" | "cgroupsPath" | "runBundle">;
  readonly onExit: (res: ExitResult) => void;
  /** Asking the runtime whether it still exists (its conmon is gone): one such question at a time. */
  asking: boolean;
  stop: () => void;
  unwatch: () => void;
}

export interface LibctOptions {
  /** Persistent state: bundles, logs, descriptions. Default /var/lib/berth/libct. */
  readonly root?: string;
  /** Runtime state: runc state, exit files, attach sockets. Default /run/berth/libct. */
  readonly runRoot?: string;
  /** Force a runtime; by default crun on a pure cgroup v2 host, runc otherwise. */
  readonly runtime?: "runc" | "crun";
  /** Probed facts; probed once here when absent. */
  readonly host?: HostFacts;
  readonly cmd?: CommandRunner;
  /** First host id of the ranges given to system containers (each gets `idRangeSize` ids). */
  readonly idRangeBase?: number;
  readonly idRangeSize?: number;
  /** conmon's --log-size-max, in bytes. */
  readonly logSizeMax?: number;
  /**
   * Run runc from a sealed in-memory copy (system/sealed-exe.ts), which spares each container start and exec
   * the copy runc's init otherwise makes of itself. Default true; false runs the binary's own path.
   */
  readonly sealRuntime?: boolean;
}

export interface CreateRequest {
  readonly id: string;
  readonly description: ContainerDescription | unknown;
  /** Keep stdin open so a client can attach and type (`-i`). */
  readonly stdin?: boolean;
  /** The monitor `holdMonitor` started for this id, used when its terminal and stdin match the description's. */
  readonly monitor?: HeldMonitor;
  /**
   * The caller starts the container straight after: its process may be let go as soon as the runtime has it
   * ready, before `create` returns (`start` then reports that start). A caller that deletes it instead may find
   * that it ran.
   */
  readonly start?: boolean;
}

/**
 * A container's monitor started ahead of `create` (`Libct.holdMonitor`): conmon waits at its start pipe
 * while the caller prepares the rootfs, and `create` lets it go. `cancel` when the create is not made.
 */
export interface HeldMonitor {
  readonly id: string;
  cancel(): void;
}

export interface ExecRequest {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly user?: { uid: number; gid: number; additionalGids?: number[] };
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
  /** Every capability the host allows, whatever the container has (Docker's `exec --privileged`). */
  readonly privileged?: boolean;
  /**
   * `exec` keeps at most this many bytes of each of stdout and stderr (default EXEC_OUTPUT_CAP); what comes
   * after is read and dropped, so the process runs to its end, and the result says the output was truncated.
   */
  readonly maxOutputBytes?: number;
}

/** What `exec` collects of each stream by default: 16 MiB. */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

/** An exec session under its own conmon (`execDetached`, `execAttached`): a pty, an open stdin, or neither. */
export type ExecSessionRequest = Omit<ExecRequest, "stdin" | "timeoutMs" | "maxOutputBytes"> & {
  terminal?: boolean;
  stdin?: boolean;
  /** With `terminal`: the pty's size before the process starts (the OCI process's consoleSize). */
  consoleSize?: { height: number; width: number };
};

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the stream was longer than `maxOutputBytes`: `stdout`/`stderr` hold its beginning only. */
  readonly stdoutTruncated?: true;
  readonly stderrTruncated?: true;
}

/** Keeps the first `cap` bytes pushed into it and drops the rest, noting that there was more. */
class CappedBuffer {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(b: Buffer): void {
    const room = this.cap - this.kept;
    if (b.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.parts.push(part);
    this.kept += part.length;
  }
  text(): string {
    return Buffer.concat(this.parts).toString("utf8");
  }
}

interface StoredRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly description: ContainerDescription;
  readonly cgroupsPath: string;
  readonly runtime: "runc" | "crun";
  readonly stdin?: boolean;
  /**
   * The bundle (config.json, conmon's attach socket, ctl and winsz fifos and pid files) is under the run root,
   * `<runRoot>/containers/<id>`. Records written before it moved there lack it: their bundle is the container's
   * directory under the root.
   */
  readonly runBundle?: boolean;
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/**
 * runc's own error when the exec'd command could not be started at all (its stderr is then nothing but
 * runc's log line): the exit code as Docker and Podman give it, 127 for a command not found and 126 for one
 * that cannot be invoked, and that reason in plain words. undefined when the command did run.
 */
export function cannotStart(stderr: string): { exitCode: number; stderr: string } | undefined {
  const m = /^time="[^"]*" level=error msg="exec failed: (?:unable to start container process: )?(.*)"\n?$/.exec(
    stderr,
  );
  if (!m) return undefined;
  const why = m[1]!.replace(/\\"/g, '"');
  const notFound = /executable file not found|no such file or directory/.test(why);
  if (!notFound && !/permission denied|exec format error/.test(why)) return undefined;
  return { exitCode: notFound ? 127 : 126, stderr: `${why}\n` };
}
/** How long an ended exec session's exit code stays readable (Docker keeps exited execs about as long). */
const EXEC_SESSION_KEEP_MS = 5 * 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Libct {
  readonly host: HostFacts;
  readonly runtime: OciRuntime;
  readonly root: string;
  readonly runRoot: string;
  private readonly monitor: ConmonMonitor;
  /** Monitors started by holdMonitor and not yet taken by create, by container id. */
  private readonly held = new Map<string, HeldConmon>();
  private readonly cmd: CommandRunner;
  /** Serializes operations on one container; different containers proceed in parallel. */
  private readonly locks = new KeyedLock();
  /** Starts readied by a create with `start` (runtime.armStart), taken by the `start` that follows. */
  private readonly armed = new Map<string, ArmedStart>();
  /** Id ranges chosen by creates still in flight (container id → first host id). */
  private readonly reservedRanges = new Map<string, number>();
  private readonly idRangeBase: number;
  private readonly idRangeSize: number;
  private readonly logSizeMax: number | undefined;
  /** Deleted containers' directories go here and are removed in the background (system/trash.ts). */
  private readonly trash: Trash;
  /** One watch of the exits directory for every waiting container (conmon writes `exits/<id>` at an exit). */
  private readonly exitWatch: DirWatch;
  /** Containers followed by followExit: what their exit check needs, and who to tell. */
  private readonly exitFollowers = new Map<string, ExitFollower>();
  /** One recheck of every followed container, while there are any (a conmon that died without an exit file). */
  private exitRecheck: NodeJS.Timeout | undefined;

  private constructor(
    host: HostFacts,
    runtime: OciRuntime,
    opts: LibctOptions,
    root: string,
    runRoot: string,
    trash: Trash,
  ) {
    this.trash = trash;
    this.exitWatch = new DirWatch(join(runRoot, "exits"));
    this.host = host;
    this.runtime = runtime;
    this.root = root;
    this.runRoot = runRoot;
    this.cmd = opts.cmd ?? new ProcessRunner();
    if (!host.conmon) throw new LibctError("unavailable", "conmon is not installed; run scripts/setup.sh");
    this.monitor = new ConmonMonitor(host.conmon.path);
    this.idRangeBase = opts.idRangeBase ?? 1_000_000;
    this.idRangeSize = opts.idRangeSize ?? 65_536;
    this.logSizeMax = opts.logSizeMax;
  }

  static async open(opts: LibctOptions = {}): Promise<Libct> {
    const host = opts.host ?? (await probeHost({ ...(opts.cmd ? { runner: opts.cmd } : {}) }));
    const info = chooseRuntime(host, opts.runtime);
    if (!info) throw new LibctError("unavailable", "no OCI runtime found (runc or crun); run scripts/setup.sh");
    if (info.unusableReason)
      throw new LibctError("unavailable", `${info.name} cannot run here: ${info.unusableReason}`);
    const root = opts.root ?? "/var/lib/berth/libct";
    const runRoot = opts.runRoot ?? "/run/berth/libct";
    const dirs = [
      join(root, "containers"),
      join(runRoot, "containers"),
      join(runRoot, info.name),
      join(runRoot, "exits"),
      join(runRoot, "s"),
    ];
    for (const d of dirs) await mkdir(d, { recursive: true, mode: 0o711 });
    spreadSubtrees(join(root, "containers")); // one tree per container (system/syscall.ts)
    // runc only: crun does not copy itself at start. The link is this process's own (bin/<pid>/runc): it
    // points into our /proc/<pid>/fd, and another process opening the same root must not repoint it.
    const sealed =
      info.name === "runc" && opts.sealRuntime !== false
        ? SealedExecutable.open(info.path, join(runRoot, "bin"))
        : undefined;
    const runtime = new RuncRuntime({
      name: info.name,
      binary: info.path,
      stateRoot: join(runRoot, info.name),
      cmd: opts.cmd ?? new ProcessRunner(),
      ...(sealed ? { sealed } : {}),
    });
    // A deleted container's directory is kept, emptied, for the next one (system/trash.ts)
    const trash = await new Trash(join(root, "trash"), { shape: { mode: 0o711 } }).open();
    return new Libct(host, runtime, opts, root, runRoot, trash);
  }

  /**
   * Whether containers' runtime files live under `runRoot` (a run root as `open` takes): a bundle, or the
   * runtime's state of a container not deleted yet. What else may be there (exit files of deleted containers,
   * dead processes' runtime links) belongs to no container.
   */
  static runRootInUse(runRoot: string): boolean {
    for (const d of ["containers", "runc", "crun"]) {
      try {
        if (readdirSync(join(runRoot, d)).length > 0) return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return false;
  }

  // ---- paths and records ----

  /** What outlives a reboot: the record (berth.json), the log, conmon's `exit` and `oom` files, exec sessions. */
  private dir(id: string): string {
    return join(this.root, "containers", id);
  }
  /**
   * What lives as long as the container's processes, as the runtime's own state does: the bundle (config.json)
   * with conmon's attach socket, ctl and winsz fifos and pid files. Under the run root, which is volatile
   * (tmpfs), and away from the root's filesystem, where every one of them cost an inode.
   */
  private runDir(id: string): string {
    return join(this.runRoot, "containers", id);
  }
  private bundleOf(rec: Pick<StoredRecord, "id" | "runBundle">): string {
    return rec.runBundle ? this.runDir(rec.id) : this.dir(rec.id);
  }
  private exitFile(id: string): string {
    return join(this.runRoot, "exits", id);
  }
  /** The conmon log of a container: k8s-file format. */
  logPath(id: string): string {
    return join(this.dir(id), "ctr.log");
  }
  /** The bundle directory, where conmon serves `attach` and `ctl` (for a container that does not exist, where it would be). */
  bundlePath(id: string): string {
    try {
      return this.bundleOf(this.recordSync(id));
    } catch (err) {
      if (err instanceof LibctError && err.kind === "not-found") return this.runDir(id);
      throw err;
    }
  }

  /** The container's record, read synchronously as the other small state files (system/read.ts says why). */
  private async record(id: string): Promise<StoredRecord> {
    return this.recordSync(id);
  }
  private recordSync(id: string): StoredRecord {
    assertId(id);
    try {
      return JSON.parse(readFileSync(join(this.dir(id), "berth.json"), "utf8")) as StoredRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new LibctError("not-found", `no such container '${id}'`);
      throw err;
    }
  }

  // ---- create ----

  /** Creates a container (runtime `create` under conmon); it is not running until `start`. */
  async create(req: CreateRequest): Promise<ContainerHandle> {
    assertId(req.id);
    return this.locks.run(req.id, async () => {
      try {
        return await this.createLocked(req);
      } finally {
        // The record (written before conmon starts) now holds the range, or creation failed.
        this.reservedRanges.delete(req.id);
      }
    });
  }

  private async createLocked(req: CreateRequest): Promise<ContainerHandle> {
    const held = req.monitor?.id === req.id ? this.held.get(req.id) : undefined;
    try {
      return await this.createFrom(req, held);
    } catch (err) {
      if (held && this.held.get(req.id) === held) req.monitor?.cancel();
      throw err;
    }
  }

  private async createFrom(req: CreateRequest, heldMonitor: HeldConmon | undefined): Promise<ContainerHandle> {
    const desc = parseDescription(await this.withIdMap(req.id, req.description), this.host);
    const terminal = desc.process.terminal === true;
    const stdin = req.stdin === true || terminal;
    // A held monitor started for other stdio is of no use: it goes, and create starts its own.
    if (heldMonitor && (heldMonitor.terminal !== terminal || heldMonitor.stdin !== stdin)) {
      req.monitor?.cancel();
      heldMonitor = undefined;
    }
    if (!heldMonitor && existsSync(this.dir(req.id)))
      throw new LibctError("conflict", `container '${req.id}' already exists; pick another id or delete it first`);
    await this.checkHostInputs(desc);
    const cgroupsPath = `/berth/${req.id}`;
    if (cgroupExists(this.host, cgroupsPath)) {
      // A leftover from a container that died with its host process: nothing runs in it.
      await removeCgroup(this.host, cgroupsPath).catch(() => {});
    }
    const resolved: ResolvedInputs = {
      cgroupsPath,
      namespacePaths: await this.resolveJoins(desc),
      volumeSources: await this.resolveVolumes(desc),
      devices: await this.resolveDevices(desc),
      annotations: { "org.berth.id": req.id },
    };
    const spec = specFromDescription(this.host, desc, resolved);

    await using undo = new UndoStack();
    const dir = this.dir(req.id);
    const bundle = this.runDir(req.id);
    if (!heldMonitor) this.makeDirs(req.id);
    undo.push(() =>
      Promise.all([rm(dir, { recursive: true, force: true }), rm(bundle, { recursive: true, force: true })]),
    );
    const record: StoredRecord = {
      id: req.id,
      createdAt: new Date().toISOString(),
      description: desc,
      cgroupsPath,
      runtime: this.runtime.name,
      ...(req.stdin ? { stdin: true } : {}),
      runBundle: true,
    };
    // Written synchronously, like the reads of record(): a thread-pool trip costs more than the write here.
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    writeFileSync(join(dir, "berth.json"), JSON.stringify(record, null, 2));
    rmSync(this.exitFile(req.id), { force: true });
    // Undo runs last-pushed first: the runtime must kill and delete the container before its cgroup can go.
    undo.push(() => removeCgroupSoon(this.host, cgroupsPath).catch(() => {}));
    undo.push(() => this.runtime.delete(req.id, { force: true }).catch(() => {}));
    const owner = mappedRoot(desc);
    const chownFirst = owner !== undefined && this.host.cgroup.mode !== "v2";
    // An armed start lets the process go the moment runc has it ready: a container whose cgroups must first
    // be given to its root (below) starts the usual way, after the chown, or its systemd finds them not its own.
    const armed = req.start && !chownFirst ? this.runtime.armStart?.(req.id) : undefined;
    if (armed) {
      this.armed.set(req.id, armed);
      undo.push(() => {
        armed.cancel();
        if (this.armed.get(req.id) === armed) this.armed.delete(req.id);
      });
    }
    if (heldMonitor) {
      this.held.delete(req.id);
      await heldMonitor.go();
    } else {
      await this.monitor.start({
        id: req.id,
        runtime: this.runtime,
        paths: this.conmonPaths(req.id),
        terminal,
        stdin,
        ...(this.logSizeMax ? { logSizeMax: this.logSizeMax } : {}),
      });
    }
    if (owner && chownFirst) {
      // On v1 the container's cgroups must belong to its root for systemd to manage them (as LXC does).
      await chownCgroup(this.host, cgroupsPath, owner.uid, owner.gid);
    }
    undo.release();
    return new ContainerHandle(this, req.id);
  }

  /**
   * Starts the monitor of container `id` before its description is ready: conmon's own start-up (1.5-2 ms)
   * then overlaps with the caller's work (image, snapshot, mount), and `create({ ..., monitor })` lets it
   * run the runtime. Makes the container's directory, which conmon works in. undefined when conmon cannot
   * be held here (no posix_spawn) or the id is taken; `create` then starts its own.
   */
  holdMonitor(id: string, opts: { terminal: boolean; stdin: boolean }): HeldMonitor | undefined {
    assertId(id);
    if (this.held.has(id) || existsSync(this.dir(id))) return undefined;
    this.makeDirs(id);
    let conmon: HeldConmon | undefined;
    try {
      conmon = this.monitor.hold({
        id,
        runtime: this.runtime,
        paths: this.conmonPaths(id),
        terminal: opts.terminal,
        stdin: opts.stdin || opts.terminal,
        ...(this.logSizeMax ? { logSizeMax: this.logSizeMax } : {}),
      });
    } finally {
      if (!conmon) this.removeDirs(id);
    }
    if (!conmon) return undefined;
    const held = conmon;
    this.held.set(id, held);
    return {
      id,
      cancel: () => {
        if (this.held.get(id) !== held) return; // taken by create, or cancelled already
        this.held.delete(id);
        held.cancel();
        this.removeDirs(id);
      },
    };
  }

  /**
   * The bundle of exec session `sessionId` (its attach socket, ctl fifo, pid files and exit code). Under the
   * container's directory on the root rather than its run directory: conmon also writes the session's output
   * log there, which may grow as the root's files do, not in memory.
   */
  execSessionPath(id: string, sessionId: string): string {
    return join(this.dir(id), "exec", sessionId);
  }

  /**
   * A new container's two directories. Its bundle may be left over from one that did not get its record (a
   * crash between the two mkdirs, a run root that outlived the root's copy): nothing runs from it, so it goes.
   */
  private makeDirs(id: string): void {
    if (!this.trash.reuse(this.dir(id))) mkdirSync(this.dir(id), { mode: 0o711 });
    try {
      mkdirSync(this.runDir(id), { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        rmSync(this.dir(id), { recursive: true, force: true });
        throw err;
      }
      rmSync(this.runDir(id), { recursive: true, force: true });
      mkdirSync(this.runDir(id), { mode: 0o711 });
    }
  }
  private removeDirs(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
    rmSync(this.runDir(id), { recursive: true, force: true });
  }

  private conmonPaths(id: string) {
    const bundle = this.runDir(id);
    return {
      bundle,
      // conmon writes its "exit" and "oom" files here, the exit one before the exit file berthd waits for: on
      // the run root's tmpfs that costs no disk inode on every exit's path. Nothing reads "exit" from here.
      persistDir: bundle,
      logFile: this.logPath(id),
      pidFile: join(bundle, "pidfile"),
      conmonPidFile: join(bundle, "conmon.pid"),
      exitDir: join(this.runRoot, "exits"),
      socketDir: join(this.runRoot, "s"),
    };
  }

  /** System containers get an isolated id range of their own unless the description brings one. */
  private async withIdMap(id: string, input: unknown): Promise<unknown> {
    if (typeof input !== "object" || input === null) return input;
    const desc = input as Partial<ContainerDescription>;
    if (desc.kind !== "system" || desc.privileged || desc.idMap || desc.namespaces?.user === "host") return input;
    const records = await this.listRecords();
    // From here to the reservation nothing awaits: concurrent creates cannot pick one range.
    const used = new Set<number>(this.reservedRanges.values());
    for (const c of records) {
      const root = mappedRoot(c.description);
      if (root) used.add(root.uid);
    }
    let base = this.idRangeBase;
    while (used.has(base)) base += this.idRangeSize;
    this.reservedRanges.set(id, base);
    return { ...desc, idMap: defaultSystemIdMap(base, this.idRangeSize) };
  }

  private async checkHostInputs(desc: ContainerDescription): Promise<void> {
    const issues: { field: string; message: string }[] = [];
    const st = statSync(desc.rootfs.path, { throwIfNoEntry: false });
    if (!st)
      issues.push({
        field: "rootfs.path",
        message: `${desc.rootfs.path} does not exist; unpack an image there or point at an existing root filesystem`,
      });
    else if (!st.isDirectory())
      issues.push({
        field: "rootfs.path",
        message: `${desc.rootfs.path} is not a directory; give the directory that holds the root filesystem`,
      });
    for (const [i, m] of (desc.mounts ?? []).entries()) {
      if (m.type === "bind" && !statSync(m.source, { throwIfNoEntry: false })) {
        issues.push({
          field: `mounts[${i}].source`,
          message: `${m.source} does not exist on the host; create it first or fix the path`,
        });
      }
    }
    if (issues.length) throw new ValidationError(issues);
  }

  private async resolveJoins(desc: ContainerDescription): Promise<Partial<globalThis.Record<NamespaceName, string>>> {
    const out: Partial<globalThis.Record<NamespaceName, string>> = {};
    const nsFile: globalThis.Record<string, string> = {
      network: "net",
      ipc: "ipc",
      pid: "pid",
      uts: "uts",
      mount: "mnt",
      cgroup: "cgroup",
      user: "user",
    };
    for (const [ns, mode] of Object.entries(desc.namespaces ?? {})) {
      if (typeof mode !== "object" || mode === null) continue;
      if ("path" in mode) {
        // A namespace made outside the container (a NetworkDriver's netns): it must still be there.
        const st = await stat(mode.path).catch(() => undefined);
        if (!st) {
          throw new ValidationError([
            { field: `namespaces.${ns}.path`, message: `${mode.path} does not exist; the namespace to join is gone` },
          ]);
        }
        out[ns as NamespaceName] = mode.path;
        continue;
      }
      const other = mode.container;
      const st = await this.state(other).catch(() => undefined);
      if (st?.status !== "running" || !st.pid) {
        throw new ValidationError([
          {
            field: `namespaces.${ns}`,
            message: `container '${other}' is not running; start it before joining its ${ns} namespace`,
          },
        ]);
      }
      out[ns as NamespaceName] = `/proc/${st.pid}/ns/${nsFile[ns]}`;
    }
    return out;
  }

  /** The host directory of volume `name`'s data (made when a container first mounts it). */
  volumeDir(name: string): string {
    return join(this.root, "volumes", name, "_data");
  }

  /** Removes volume `name` and its data; the caller makes sure no container mounts it. */
  async removeVolume(name: string): Promise<void> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
      throw new ValidationError([{ field: "name", message: `'${name}' is not a volume name` }]);
    }
    await rm(join(this.root, "volumes", name), { recursive: true, force: true });
  }

  private async resolveVolumes(desc: ContainerDescription): Promise<{ [name: string]: string }> {
    const out: { [name: string]: string } = {};
    for (const m of desc.mounts ?? []) {
      if (m.type !== "volume") continue;
      const dir = this.volumeDir(m.name);
      const made = !existsSync(dir);
      await mkdir(dir, { recursive: true });
      if (made) await this.copyUp(desc.rootfs.path, m.destination, dir);
      const owner = mappedRoot(desc);
      if (owner) await chmod(dir, 0o777).catch(() => {});
      out[m.name] = dir;
    }
    return out;
  }

  /**
   * Docker's copy-up: a volume made for a container starts with what the image holds at its mount point
   * (owners, modes, links and all: cp -a). The path is walked under the rootfs with lstat, and a component that
   * is a symbolic link or not a directory means nothing is copied, so no link in an image leads the copy out.
   */
  private async copyUp(rootfs: string, destination: string, dir: string): Promise<void> {
    let from = rootfs;
    for (const c of destination.split("/")) {
      if (c === "" || c === ".") continue;
      if (c === "..") return;
      from = join(from, c);
      const st = await lstat(from).catch(() => undefined);
      if (!st?.isDirectory()) return;
    }
    if (from === rootfs || (await readdir(from)).length === 0) return; // never the whole root
    try {
      await this.cmd.run("cp", ["-a", "--", `${from}/.`, `${dir}/`]);
    } catch (err) {
      throw new LibctError(
        "internal",
        `cannot fill the volume at ${destination} with the image's files: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private async resolveDevices(desc: ContainerDescription): Promise<NonNullable<ResolvedInputs["devices"]>> {
    const out: NonNullable<ResolvedInputs["devices"]> = [];
    for (const [i, d] of (desc.devices ?? []).entries()) {
      const st = await stat(d.path).catch(() => undefined);
      if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) {
        throw new ValidationError([
          {
            field: `devices[${i}].path`,
            message: `${d.path} is not a device node on this host; check the path (e.g. /dev/fuse)`,
          },
        ]);
      }
      const rdev = Number(st.rdev);
      out.push({
        path: d.path,
        type: st.isCharacterDevice() ? "c" : "b",
        major: (rdev >> 8) & 0xfff,
        minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
        fileMode: st.mode & 0o777,
        uid: 0,
        gid: 0,
      });
    }
    return out;
  }

  // ---- lifecycle ----

  /** Starts a created container; returns its init's host pid (from the runtime's pid file) when known. */
  async start(id: string): Promise<{ pid?: number }> {
    return this.locks.run(id, async () => {
      // Synchronous up to the runtime's start (small files on tmpfs): on an idle container the exec fifo is
      // open by the time this call returns, and the caller's own work overlaps init's exec.
      const rec = this.recordSync(id);
      // The runtime wrote the pid file at create.
      const pidText = readSmallFile(join(this.bundleOf(rec), "pidfile"), "");
      const armed = this.armed.get(id);
      this.armed.delete(id);
      // The create is done, so runc has made its fifo: an armed start that has not taken it yet (its inotify
      // event still queued, say) gives way to the usual start rather than be waited for.
      if (armed && !armed.opened) armed.cancel();
      // Let go already by its create (armStart): a quick process may even have exited by now.
      if (!(armed && (await armed.started))) {
        // One runtime call on the hot path: runc itself refuses a container that is not "created".
        if (this.exitCodeSync(id) !== undefined) {
          throw new LibctError("precondition", `container '${id}' has exited; only a created container can be started`);
        }
        try {
          await this.runtime.start(id);
        } catch (err) {
          const why = /already running|not in created state|paused|stopped/i.exec((err as Error).message);
          if (!why) throw err;
          const st = await this.state(id);
          throw new LibctError(
            "precondition",
            `container '${id}' is ${st.status}; only a created container can be started`,
            { cause: err },
          );
        }
      }
      const pid = Number.parseInt(pidText, 10);
      return pid > 0 ? { pid } : {};
    });
  }

  /** Waits for the container to exit and returns its exit code (128+N when killed by signal N). */
  async wait(id: string, opts: { signal?: AbortSignal } = {}): Promise<ExitResult> {
    const first = this.exitCode(id); // read while the record is
    // Only what the exit needs: a wait lasts as long as the container, so the description is not kept.
    const { cgroupsPath, runBundle } = await this.record(id);
    const rec = { id, cgroupsPath, ...(runBundle ? { runBundle } : {}) };
    for (let i = 0; ; i++) {
      const code = await (i === 0 ? first : this.exitCode(id));
      if (code !== undefined) return { exitCode: code, oomKilled: this.wasOomKilled(rec) };
      // conmon writes the exit file; if conmon is gone without writing it (killed, host rebooted),
      // ask the runtime once whether the container still exists.
      if (!this.conmonAlive(rec)) {
        if ((await this.exitCode(id)) !== undefined) continue;
        const rs = await this.runtime.state(id).catch(() => undefined);
        if (!rs || rs.status === "stopped") return { exitCode: 255, oomKilled: false };
      }
      if (opts.signal?.aborted) throw new LibctError("unavailable", "wait aborted");
      await this.exitWatch.wait(id, EXIT_RECHECK_MS, opts.signal);
    }
  }

  /**
   * Calls `onExit` once, never synchronously, when container `id` exits, with what `wait` would give; the
   * returned function stops following it (`onExit` is then not called). For a daemon that follows every running
   * container for as long as it runs: each is an entry in one map, served by the one inotify watch of the exits
   * directory and one recheck timer for all, where `wait` keeps a loop with its own timer per container. A
   * container with no record is never reported (as `wait` rejects for it).
   */
  followExit(id: string, onExit: (res: ExitResult) => void): () => void {
    let rec: Pick<StoredRecord, "id" | "cgroupsPath" | "runBundle">;
    try {
      const { cgroupsPath, runBundle } = this.recordSync(id);
      rec = { id, cgroupsPath, ...(runBundle ? { runBundle } : {}) };
    } catch {
      return () => {};
    }
    this.exitFollowers.get(id)?.stop();
    const follower: ExitFollower = {
      rec,
      onExit,
      asking: false,
      stop: () => {
        if (this.exitFollowers.get(id) !== follower) return;
        this.exitFollowers.delete(id);
        follower.unwatch();
        if (this.exitFollowers.size === 0 && this.exitRecheck) {
          clearInterval(this.exitRecheck);
          this.exitRecheck = undefined;
        }
      },
      unwatch: () => {},
    };
    this.exitFollowers.set(id, follower);
    try {
      follower.unwatch = this.exitWatch.on(id, () => void this.checkFollower(follower, false));
    } catch {} // no watch: the recheck still finds the exit
    if (!this.exitRecheck) {
      this.exitRecheck = setInterval(() => {
        for (const f of this.exitFollowers.values()) void this.checkFollower(f, true);
      }, EXIT_RECHECK_MS);
      this.exitRecheck.unref();
    }
    // After the watch is set, so that an exit between the record's read and here is not missed.
    queueMicrotask(() => void this.checkFollower(follower, true));
    return follower.stop;
  }

  /** Reports `f`'s exit if there is one; `askConmon`: also when its conmon is gone without an exit file. */
  private async checkFollower(f: ExitFollower, askConmon: boolean): Promise<void> {
    const { id } = f.rec;
    if (this.exitFollowers.get(id) !== f) return;
    const code = this.exitCodeSync(id);
    if (code !== undefined) return this.reportExit(f, { exitCode: code, oomKilled: this.wasOomKilled(f.rec) });
    // As in wait: a conmon gone without writing the exit file (killed, host rebooted) leaves the runtime to ask.
    if (!askConmon || f.asking || this.conmonAlive(f.rec)) return;
    f.asking = true;
    const rs = await this.runtime.state(id).catch(() => undefined);
    f.asking = false;
    const late = this.exitCodeSync(id);
    if (late !== undefined) return this.reportExit(f, { exitCode: late, oomKilled: this.wasOomKilled(f.rec) });
    if (!rs || rs.status === "stopped") this.reportExit(f, { exitCode: 255, oomKilled: false });
  }

  private reportExit(f: ExitFollower, res: ExitResult): void {
    if (this.exitFollowers.get(f.rec.id) !== f) return; // stopped meanwhile, or reported already
    f.stop();
    try {
      f.onExit(res);
    } catch {} // the follower's own failure is its to report: it must not become an unhandled rejection here
  }

  /** The exit code conmon recorded, or undefined while the container has not exited. */
  private async exitCode(id: string): Promise<number | undefined> {
    return this.exitCodeSync(id);
  }

  private exitCodeSync(id: string): number | undefined {
    const text = readSmallFile(this.exitFile(id), "").trim();
    return text === "" ? undefined : Number.parseInt(text, 10);
  }

  private wasOomKilled(rec: Pick<StoredRecord, "id" | "cgroupsPath" | "runBundle">): boolean {
    // conmon's "oom" file: in the bundle, or in the container's directory for a conmon an older berthd started.
    if (existsSync(join(this.bundleOf(rec), "oom")) || existsSync(join(this.dir(rec.id), "oom"))) return true;
    return (readOomKills(this.host, rec.cgroupsPath) ?? 0n) > 0n;
  }

  private conmonAlive(rec: Pick<StoredRecord, "id" | "runBundle">): boolean {
    const pid = Number.parseInt(readSmallFile(join(this.bundleOf(rec), "conmon.pid"), ""), 10);
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a signal (name like "SIGTERM" / "TERM" / "SIGRTMIN+3", or a number) to the container's init. */
  async kill(id: string, signal: string | number = "SIGKILL", opts: { all?: boolean } = {}): Promise<void> {
    const num = typeof signal === "number" ? signal : signalNumber(signal.startsWith("SIG") ? signal : `SIG${signal}`);
    if (num === undefined)
      throw new LibctError("invalid", `unknown signal '${signal}'; use a name such as SIGTERM or a number`);
    const st = await this.state(id);
    if (st.status !== "running" && st.status !== "paused" && st.status !== "created") {
      throw new LibctError("precondition", `container '${id}' is ${st.status}; start it before sending signals`);
    }
    await this.runtime.kill(id, num, opts);
  }

  /**
   * Stops gracefully: the stop signal (the description's, SIGRTMIN+3 for systemd, else SIGTERM), then
   * SIGKILL after `timeoutMs`. Returns the exit result; a stopped container is left as it is.
   */
  async stop(id: string, opts: { timeoutMs?: number; signal?: string } = {}): Promise<ExitResult | undefined> {
    return this.locks.run(id, async () => {
      const rec = await this.record(id);
      // The spec records the kind's default (SIGRTMIN+3 for system containers) when the description has none.
      const annotated = (await this.spec(id).catch(() => undefined))?.annotations?.[STOP_SIGNAL_ANNOTATION];
      const sigName = opts.signal ?? rec.description.stopSignal ?? annotated ?? "SIGTERM";
      const sig = signalNumber(sigName);
      if (sig === undefined)
        throw new LibctError("invalid", `unknown stop signal '${sigName}'; use a name such as SIGTERM or a number`);
      let st = await this.state(id);
      if (st.status === "stopped") return undefined;
      if (st.status === "paused") await this.runtime.resume(id);
      if (st.status === "created") {
        await this.runtime.kill(id, 9).catch(() => {});
        return this.wait(id);
      }
      await this.runtime.kill(id, sig).catch(ignoreGone);
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), opts.timeoutMs ?? 10_000);
      try {
        return await this.wait(id, { signal: timeout.signal });
      } catch {
        st = await this.state(id);
        if (st.status !== "stopped") await this.runtime.kill(id, 9, { all: true }).catch(ignoreGone);
        return await this.wait(id);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  async pause(id: string): Promise<void> {
    await this.locks.run(id, async () => {
      const st = await this.state(id);
      if (st.status !== "running")
        throw new LibctError(
          "precondition",
          `container '${id}' is ${st.status}; only a running container can be paused`,
        );
      await this.runtime.pause(id);
    });
  }

  async resume(id: string): Promise<void> {
    await this.locks.run(id, async () => {
      const st = await this.state(id);
      if (st.status !== "paused")
        throw new LibctError(
          "precondition",
          `container '${id}' is ${st.status}; only a paused container can be resumed`,
        );
      await this.runtime.resume(id);
    });
  }

  /** Removes the container: runtime state, cgroups, bundle, log, exit file. `force` kills it first. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.locks.run(id, async () => {
      this.armed.get(id)?.cancel(); // created to be started, and deleted instead
      this.armed.delete(id);
      const exited = this.exitCode(id); // read while the record is
      const rec = await this.record(id);
      const st = await this.stateOf(rec, exited);
      if ((st.status === "running" || st.status === "paused") && !opts.force) {
        throw new LibctError("precondition", `container '${id}' is ${st.status}; stop it first or delete with force`);
      }
      if (st.status !== "stopped") {
        if (st.status === "paused") await this.runtime.resume(id).catch(() => {});
        await this.runtime.kill(id, 9, { all: true }).catch(() => {});
        await this.wait(id).catch(() => {});
      }
      // Init exited in its own PID namespace, so the kernel has killed everything else in it: the
      // runtime's record and the cgroups are all that is left (no hooks), and removing them directly
      // saves spawning the runtime. Otherwise the runtime deletes. The bundle (config, log, conmon's files)
      // and the exit file are independent of both and go at the same time.
      const privatePid = rec.description.namespaces?.pid === undefined || rec.description.namespaces.pid === "private";
      await Promise.all([
        (async () => {
          const forgotten =
            st.status === "stopped" && st.exitCode !== undefined && privatePid && (await this.runtime.forgetExited(id));
          if (!forgotten) await this.runtime.delete(id, { force: true }).catch(ignoreGone);
          await removeCgroupSoon(this.host, rec.cgroupsPath);
        })(),
        this.trash.discard(this.dir(id)),
      ]);
      // The bundle is on the run root's tmpfs: a few files, removed in microseconds, where rm's walk through
      // the thread pool took 0.6 ms and held up the pool's other work (bench api-run).
      if (rec.runBundle) rmSync(this.runDir(id), { recursive: true, force: true });
      rmSync(this.exitFile(id), { force: true });
    });
  }

  /** Resolves when the background removal of deleted containers' directories is done (tests, shutdown). */
  drainTrash(): Promise<void> {
    return this.trash.drain();
  }

  // ---- inspection ----

  async state(id: string): Promise<ContainerState> {
    return this.stateOf(await this.record(id));
  }

  /** `state` for a record (and maybe an exit code) the caller has read already. */
  private async stateOf(rec: StoredRecord, exited?: Promise<number | undefined>): Promise<ContainerState> {
    const id = rec.id;
    const base = { id, createdAt: rec.createdAt, description: rec.description };
    const exitCode = await (exited ?? this.exitCode(id));
    if (exitCode !== undefined) {
      return { ...base, status: "stopped", exitCode, oomKilled: this.wasOomKilled(rec) };
    }
    const rs: RuntimeState | undefined = await this.runtime.state(id).catch(() => undefined);
    if (!rs || rs.status === "stopped") return { ...base, status: "stopped" };
    const status: ContainerStatus = rs.status === "creating" ? "created" : rs.status;
    return { ...base, status, ...(rs.pid ? { pid: rs.pid } : {}) };
  }

  private async listRecords(): Promise<StoredRecord[]> {
    const ids = await readdir(join(this.root, "containers")).catch(() => [] as string[]);
    const out: StoredRecord[] = [];
    for (const id of ids) {
      const rec = await this.record(id).catch(() => undefined);
      if (rec) out.push(rec);
    }
    return out;
  }

  async list(): Promise<ContainerState[]> {
    const out: ContainerState[] = [];
    for (const rec of await this.listRecords()) {
      const st = await this.state(rec.id).catch(() => undefined);
      if (st) out.push(st);
    }
    return out;
  }

  async stats(id: string): Promise<ContainerStats> {
    const rec = await this.record(id);
    return readStats(this.host, rec.cgroupsPath);
  }

  async logs(id: string): Promise<LogEntry[]> {
    await this.record(id);
    return parseK8sLog(await readFile(this.logPath(id), "utf8").catch(() => ""));
  }

  /** The OCI spec the container was created from. */
  async spec(id: string): Promise<OciSpec> {
    const rec = await this.record(id);
    return JSON.parse(await readFile(join(this.bundleOf(rec), "config.json"), "utf8")) as OciSpec;
  }

  /** Changes resource limits of a running container (memory, CPU, pids, block IO). */
  async update(id: string, resources: OciResources): Promise<void> {
    await this.locks.run(id, async () => {
      const st = await this.state(id);
      if (st.status === "stopped")
        throw new LibctError("precondition", `container '${id}' is stopped; start it before changing its limits`);
      await this.checkMemoryUpdate(await this.record(id), resources);
      await this.runtime.update(id, resources);
    });
  }

  /**
   * On cgroup v1 the kernel refuses a memory limit above the memory+swap limit (EINVAL from runc). A container
   * created with `swapBytes` (e.g. equal to the limit: no swap) therefore cannot raise its memory alone; say so
   * as Docker does instead of passing runc's "invalid argument" on.
   */
  private async checkMemoryUpdate(rec: StoredRecord, resources: OciResources): Promise<void> {
    const mem = resources.memory;
    if (this.host.cgroup.mode === "v2" || mem?.limit === undefined || mem.swap !== undefined || mem.limit < 0) return;
    const file = join(this.host.cgroup.root, "memory", cgroupRelPath(rec.cgroupsPath), "memory.memsw.limit_in_bytes");
    const text = (await readFile(file, "utf8").catch(() => "")).trim();
    if (!/^\d+$/.test(text)) return; // no swap accounting: nothing to conflict with
    const memsw = BigInt(text);
    if (BigInt(mem.limit) > memsw) {
      throw new LibctError(
        "invalid",
        `memory.limit ${mem.limit} exceeds the container's memory+swap limit ${memsw}; ` +
          `update memory.swap at the same time (equal to memory.limit for no swap, -1 for unlimited)`,
      );
    }
  }

  /**
   * Runs a process in a running container without a TTY and collects its output, at most `maxOutputBytes`
   * of each stream (16 MiB by default). To see the output as it comes, use `execAttached`.
   */
  async exec(id: string, req: ExecRequest): Promise<ExecResult> {
    const file = await this.writeProcessFile(id, req, false);
    const cap = req.maxOutputBytes ?? EXEC_OUTPUT_CAP;
    try {
      return await new Promise<ExecResult>((resolve, reject) => {
        const child = spawn(this.runtime.binary, this.runtime.execArgs(id, { processFile: file }), {
          stdio: ["pipe", "pipe", "pipe"],
        });
        const out = new CappedBuffer(cap);
        const err = new CappedBuffer(cap);
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        const timer = req.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), req.timeoutMs) : undefined;
        child.on("error", (e) =>
          reject(new LibctError("unavailable", `cannot run ${this.runtime.binary}: ${e.message}`)),
        );
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          const stderr = err.text();
          const failed = code === 255 ? cannotStart(stderr) : undefined;
          resolve({
            exitCode: failed?.exitCode ?? code ?? 128 + (signalNumber(signal ?? "SIGKILL") ?? 9),
            stdout: out.text(),
            stderr: failed?.stderr ?? stderr,
            ...(out.truncated ? { stdoutTruncated: true } : {}),
            ...(err.truncated && !failed ? { stderrTruncated: true } : {}),
          });
        });
        child.stdin.on("error", () => {});
        child.stdin.end(req.stdin ?? "");
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * Starts an exec session under its own conmon (TTY or not) and returns its bundle directory, where
   * `attach()` connects; `waitExec(id, sessionId)` returns the session's exit code.
   */
  async execDetached(id: string, req: ExecSessionRequest): Promise<{ sessionId: string; bundle: string; pid: number }> {
    return this.startExecSession(id, req);
  }

  /**
   * As `execDetached`, with `streams` attached to the session before its process runs (conmon's
   * `--exec-attach`), so they get all of its output, the first byte included. Rejects, with nothing left
   * running, when the command cannot be run (a "invalid" error saying so, as `execDetached`).
   *
   * @example
   * const { sessionId, session } = await lib.execAttached(id, { args: ["sh", "-c", "echo hi"] },
   *   { stdout: process.stdout, stderr: process.stderr });
   * await session.done;
   * const code = await lib.waitExec(id, sessionId);
   */
  async execAttached(
    id: string,
    req: ExecSessionRequest,
    streams: AttachStreams,
    opts: AttachOptions = {},
  ): Promise<{ sessionId: string; bundle: string; pid: number; session: AttachSession }> {
    let session: AttachSession | undefined;
    try {
      const s = await this.startExecSession(id, req, async (bundle) => {
        session = await attach(bundle, streams, opts);
      });
      return { ...s, session: session! };
    } catch (err) {
      session?.detach();
      throw err;
    }
  }

  private async startExecSession(
    id: string,
    req: ExecSessionRequest,
    beforeExec?: (bundle: string) => Promise<void>,
  ): Promise<{ sessionId: string; bundle: string; pid: number }> {
    const st = await this.state(id);
    if (st.status !== "running")
      throw new LibctError("precondition", `container '${id}' is ${st.status}; start it before exec`);
    const sessionId = `${id}-exec-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const bundle = this.execSessionPath(id, sessionId);
    await this.pruneExecSessions(id);
    await mkdir(bundle, { recursive: true });
    try {
      const file = await this.writeProcessFile(id, req, req.terminal === true, join(bundle, "process.json"));
      const { pid } = await this.monitor.start({
        id,
        runtime: this.runtime,
        paths: {
          bundle,
          // No log: an exec's output goes to its client (Docker keeps none either), not to disk.
          pidFile: join(bundle, "pidfile"),
          conmonPidFile: join(bundle, "conmon.pid"),
          exitDir: bundle,
          socketDir: join(this.runRoot, "s"),
        },
        terminal: req.terminal === true,
        stdin: req.stdin === true || req.terminal === true,
        execProcessFile: file,
        sessionId,
        ...(beforeExec ? { beforeExec: () => beforeExec(bundle) } : {}),
      });
      return { sessionId, bundle, pid };
    } catch (err) {
      // Nothing runs and nobody will ask for an exit code: without an exit file, pruning would never take it.
      await rm(bundle, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes the bundles of exec sessions that ended more than EXEC_SESSION_KEEP_MS ago and were never asked
   * for their exit code (detached execs, clients that went away), as Docker forgets exited execs.
   */
  private async pruneExecSessions(id: string): Promise<void> {
    const dir = join(this.dir(id), "exec");
    const names = await readdir(dir).catch(() => [] as string[]);
    const cutoff = Date.now() - EXEC_SESSION_KEEP_MS;
    await Promise.all(
      names.map(async (name) => {
        const ended = await stat(join(dir, name, id)).catch(() => null);
        if (ended && ended.mtimeMs < cutoff) await rm(join(dir, name), { recursive: true, force: true });
      }),
    );
  }

  /**
   * Waits for an exec session started by `execDetached` and returns its exit code. conmon writes it to
   * `<session bundle>/<container id>`; a session whose conmon died without writing it reports 255.
   */
  async waitExec(id: string, sessionId: string, opts: { signal?: AbortSignal } = {}): Promise<number> {
    await this.record(id);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(sessionId))
      throw new LibctError("invalid", `'${sessionId}' is not an exec session id`);
    const bundle = this.execSessionPath(id, sessionId);
    if (!existsSync(bundle)) throw new LibctError("not-found", `no exec session '${sessionId}' in container '${id}'`);
    for (;;) {
      const text = (await readFile(join(bundle, id), "utf8").catch(() => "")).trim();
      if (text !== "") return Number.parseInt(text, 10);
      const conmonPid = Number.parseInt(await readFile(join(bundle, "conmon.pid"), "utf8").catch(() => ""), 10);
      if (!conmonPid || !processAlive(conmonPid)) {
        const again = (await readFile(join(bundle, id), "utf8").catch(() => "")).trim();
        return again === "" ? 255 : Number.parseInt(again, 10);
      }
      if (opts.signal?.aborted) throw new LibctError("unavailable", "wait aborted");
      await new DirWatch(bundle).wait(id, 1000, opts.signal);
    }
  }

  private async writeProcessFile(
    id: string,
    req: Omit<ExecRequest, "stdin" | "timeoutMs"> & Pick<ExecSessionRequest, "consoleSize">,
    terminal: boolean,
    path?: string,
  ): Promise<string> {
    if (req.args.length === 0) throw new LibctError("invalid", "exec needs a command; give at least one argument");
    const st = await this.state(id);
    if (st.status !== "running")
      throw new LibctError("precondition", `container '${id}' is ${st.status}; start it before exec`);
    const spec = await this.spec(id);
    const base = spec.process as OciProcess;
    const proc: OciProcess = {
      ...base,
      terminal,
      ...(terminal && req.consoleSize ? { consoleSize: { ...req.consoleSize } } : {}),
      args: [...req.args],
      env: [...(base.env ?? []), ...(req.env ?? [])],
      cwd: req.cwd ?? base.cwd ?? "/",
      ...(req.user
        ? {
            user: {
              uid: req.user.uid,
              gid: req.user.gid,
              ...(req.user.additionalGids ? { additionalGids: req.user.additionalGids } : {}),
            },
          }
        : {}),
    };
    if (req.privileged) {
      // The host's bounding set caps it: runc cannot grant what it lacks itself (CAP_SYS_RESOURCE here).
      const host = new Set(this.host.capabilities);
      const all = KNOWN_CAPABILITIES.filter((c) => host.has(c));
      proc.capabilities = { bounding: [...all], effective: [...all], permitted: [...all] };
    }
    const file =
      path ??
      join(this.bundlePath(id), `exec-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify(proc));
    return file;
  }

  /** Creates, starts and waits for a container, then deletes it; returns the exit result. */
  async run(req: CreateRequest): Promise<ExitResult> {
    await this.create(req);
    try {
      await this.start(req.id);
      return await this.wait(req.id);
    } finally {
      await this.delete(req.id, { force: true }).catch(() => {});
    }
  }
}

/** A handle on one container of a Libct: the same operations, with the id bound. */
export class ContainerHandle {
  constructor(
    readonly lib: Libct,
    readonly id: string,
  ) {}
  start(): Promise<{ pid?: number }> {
    return this.lib.start(this.id);
  }
  wait(): Promise<ExitResult> {
    return this.lib.wait(this.id);
  }
  stop(opts?: { timeoutMs?: number; signal?: string }): Promise<ExitResult | undefined> {
    return this.lib.stop(this.id, opts);
  }
  kill(signal?: string | number): Promise<void> {
    return this.lib.kill(this.id, signal);
  }
  state(): Promise<ContainerState> {
    return this.lib.state(this.id);
  }
  delete(opts?: { force?: boolean }): Promise<void> {
    return this.lib.delete(this.id, opts);
  }
}

function assertId(id: string): void {
  if (typeof id !== "string" || !ID_RE.test(id)) {
    throw new ValidationError([
      {
        field: "id",
        message: `'${String(id)}' is not a valid container id; use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
      },
    ]);
  }
}

/** Removes a cgroup whose processes were just killed: the kernel may need a moment to release them. */
async function removeCgroupSoon(host: HostFacts, cgroupsPath: string, attempts = 10): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await removeCgroup(host, cgroupsPath);
    } catch (err) {
      if (i >= attempts || !(err instanceof LibctError && err.kind === "precondition")) throw err;
      await sleep(50 * i);
    }
  }
}

function ignoreGone(err: unknown): void {
  if (err instanceof LibctError && err.kind === "not-found") return;
  if (
    err instanceof Error &&
    /not running|container not running|process already finished|no such process/i.test(err.message)
  )
    return;
  throw err;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * How often a waiting container is checked without an event: conmon writes the exit file, so this only catches a
 * conmon that died without writing it (killed, OOM). Long enough that a host with hundreds of running containers
 * is not busy rechecking them.
 */
const EXIT_RECHECK_MS = 5000;
