import type { OciResources } from "../spec/oci.js";

/** What the runtime's `state` command reports (OCI runtime state plus runc's extras). */
export interface RuntimeState {
  readonly id: string;
  readonly pid: number;
  readonly status: "creating" | "created" | "running" | "paused" | "stopped";
  readonly bundle: string;
  readonly created?: string;
}

export interface ExecOptions {
  /** Path of a JSON file holding an OCI `process` object. */
  readonly processFile: string;
  readonly tty?: boolean;
  readonly detach?: boolean;
  readonly pidFile?: string;
}

/** A start readied ahead of the create that it follows (OciRuntime.armStart). */
export interface ArmedStart {
  /** true once the process has been let go; false when it was not (cancelled, timed out). */
  readonly started: Promise<boolean>;
  /** The runtime's hand-off point has been found and taken (the process goes as soon as it is ready). */
  readonly opened: boolean;
  /** Gives up (the create failed): `started` resolves false. */
  cancel(): void;
}

/**
 * An OCI runtime with runc's command line (runc, crun). Creation normally goes through the monitor
 * (conmon), which calls `create` itself with `globalArgs()`; `create` here is for tools and tests.
 */
export interface OciRuntime {
  readonly name: "runc" | "crun";
  readonly binary: string;
  /** Global arguments every call needs (the state root); conmon gets them as --runtime-arg. */
  globalArgs(): string[];
  create(id: string, bundle: string, opts?: { pidFile?: string }): Promise<void>;
  start(id: string): Promise<void>;
  /**
   * Readies `start` for a container about to be created, as `runc run` does within one process: the process
   * is let go as soon as its init is ready, not after the create command has exited and been reported.
   * `started` resolves true once it has been let go, false when it was not (cancelled, timed out: the caller
   * then uses `start`). Undefined where the runtime offers nothing of the kind.
   */
  armStart?(id: string): ArmedStart | undefined;
  /** Sends a signal (name without SIG, or number) to init, or to every process with `all`. */
  kill(id: string, signal: string | number, opts?: { all?: boolean }): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /**
   * Drops the runtime's record of a container whose init has exited and whose processes are all gone
   * (a private PID namespace guarantees it), without spawning the runtime: its state is one directory.
   * The caller removes the cgroups. Returns false when it cannot, and the caller uses `delete`.
   */
  forgetExited(id: string): Promise<boolean>;
  /** Undefined when the runtime does not know the container. */
  state(id: string): Promise<RuntimeState | undefined>;
  list(): Promise<RuntimeState[]>;
  /** The argv (after the binary) that runs `exec`, for callers that spawn it with their own stdio. */
  execArgs(id: string, opts: ExecOptions): string[];
  update(id: string, resources: OciResources): Promise<void>;
}
