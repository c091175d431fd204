/**
 * Wire types of the berth REST API (/1.0/...). Split by who may write them (incus style):
 * `*Put` a client may change, `*Create` only at creation, the full object is server-owned.
 * Pure: no node: imports, shared by the daemon, the CLI and the dashboard.
 */

export type ContainerKind = "app" | "system";
export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "exited" | "dead";
export type RestartPolicyName = "no" | "on-failure" | "always" | "unless-stopped";
export type HealthStatus = "starting" | "healthy" | "unhealthy" | "none";

export interface RestartPolicy {
  name: RestartPolicyName;
  /** Only for on-failure: give up after this many restarts (0 = no limit). */
  maximumRetryCount?: number;
}

export interface HealthcheckConfig {
  /**
   * ["CMD", ...args] | ["CMD-SHELL", "cmd"] | ["NONE"] (Docker's form). Left out (or []) in a request: the
   * image's HEALTHCHECK test, with the timings given here over the image's. Always set in a container's config.
   */
  test?: string[];
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  retries?: number;
}

/** Rotation of a container's log: at most `maxFiles` files (the live one included) of `maxSizeBytes` each. */
export interface LogOptions {
  maxSizeBytes?: number;
  maxFiles?: number;
}

export interface Resources {
  /** Bytes; 0 = unlimited. */
  memory?: number;
  /** Memory + swap in bytes (Docker's --memory-swap); -1 = unlimited swap. */
  memorySwap?: number;
  memoryReservation?: number;
  /** CPUs as a decimal (Docker's --cpus). */
  cpus?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
}

export interface MountRequest {
  type: "bind" | "volume" | "tmpfs";
  /** Host path (bind) or volume name (volume). */
  source?: string;
  target: string;
  readOnly?: boolean;
  /** tmpfs size in bytes. */
  tmpfsSize?: number;
  bindPropagation?: "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";
}

/** Fields a client may change on an existing container with PUT /1.0/containers/{id}. */
export interface ContainerPut {
  labels?: Record<string, string>;
  restartPolicy?: RestartPolicy;
  resources?: Resources;
  /** System containers: start when berthd starts (Incus's boot.autostart). */
  autostart?: boolean;
}

/** POST /1.0/containers: everything fixed at creation. */
export interface ContainerCreate extends ContainerPut {
  /** Name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, unique; generated when absent. */
  name?: string;
  image: string;
  kind?: ContainerKind;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  /** "uid[:gid]" or a user name resolved in the image. */
  user?: string;
  hostname?: string;
  mounts?: MountRequest[];
  /** Until the networking issue: none (own namespace, loopback) or host. */
  network?: "none" | "host";
  readOnly?: boolean;
  tty?: boolean;
  /** With tty: the terminal's size from the start (Docker's HostConfig.ConsoleSize). */
  consoleSize?: { height: number; width: number };
  openStdin?: boolean;
  /** Docker's --detach-keys ("ctrl-x,x"): what detaches `attach` and `start -a` from it unless they say otherwise. */
  detachKeys?: string;
  init?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** Docker's --security-opt values: "no-new-privileges", "seccomp=unconfined", "apparmor=...". */
  securityOpt?: string[];
  privileged?: boolean;
  stopSignal?: string;
  stopTimeoutSeconds?: number;
  /** Docker's --ulimit: resource names as ulimit gives them (nofile, nproc, ...); -1 is unlimited. */
  ulimits?: { name: string; soft: number; hard: number }[];
  /** Docker's --sysctl: namespaced kernel parameters. */
  sysctls?: Record<string, string>;
  /** Docker's --device. */
  devices?: { pathOnHost: string; pathInContainer?: string; permissions?: string }[];
  /** Docker's --group-add: group names of the image or numeric gids. */
  groupAdd?: string[];
  oomScoreAdj?: number;
  /** Docker's --shm-size, in bytes. */
  shmSizeBytes?: number;
  /** Docker's --pid: private, host or container:NAME; --ipc and --uts: private or host. */
  pidMode?: string;
  ipcMode?: "private" | "host";
  utsMode?: "private" | "host";
  healthcheck?: HealthcheckConfig;
  /** Log rotation (Docker's --log-opt max-size=... max-file=...); the daemon's default otherwise. */
  logOptions?: LogOptions;
  /** Start it right away (berth run). */
  start?: boolean;
  /** Credentials for pulling a missing image (from the client's config.json); never stored. */
  pullAuth?: { username: string; password: string };
  /** Remove it when it exits (berth run --rm). */
  autoRemove?: boolean;
}

export interface ContainerState {
  status: ContainerStatus;
  running: boolean;
  paused: boolean;
  pid?: number;
  exitCode?: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  restartCount: number;
  health?: {
    status: HealthStatus;
    failingStreak: number;
    log: { start: string; end: string; exitCode: number; output: string }[];
  };
}

/** The server-owned container object. */
/** The network a container is attached to (Docker's NetworkSettings): what its network driver reported. */
export interface ContainerNetwork {
  /** The network's name: "none" or "host" until bridges come. */
  name: string;
  driver: string;
  /** Interfaces inside the container; none listed with the host's network. */
  interfaces: { name: string; mac?: string; addresses: string[]; gateway?: string }[];
}

/**
 * What is mounted into a container, as Docker's inspect lists it (`Mounts`): the request's binds, volumes and
 * tmpfs mounts, and the volumes berth made (the image's VOLUMEs, `-v /path`) with their generated names. Not
 * the /etc files berthd provides (hostname, hosts, resolv.conf).
 */
export interface ContainerMount {
  type: "bind" | "volume" | "tmpfs";
  /** Volumes: the volume's name. */
  name?: string;
  /** The host path: the bind's source, the volume's directory; "" for tmpfs. */
  source: string;
  destination: string;
  rw: boolean;
  /** Binds: the mount propagation. */
  propagation?: string;
}

export interface Container extends Required<Pick<ContainerPut, "labels" | "restartPolicy" | "resources">> {
  id: string;
  name: string;
  image: string;
  imageId?: string;
  kind: ContainerKind;
  createdAt: string;
  state: ContainerState;
  config: Omit<ContainerCreate, keyof ContainerPut | "name" | "start">;
  autostart: boolean;
  /** Its network; left out for containers made before berthd recorded one. */
  network?: ContainerNetwork;
  /** What is mounted into it (Docker's inspect `Mounts`). */
  mounts?: ContainerMount[];
  /** With ?size=true: bytes the container wrote (its writable layer). */
  sizeRw?: number;
  /** With ?size=true: sizeRw plus its image's bytes. */
  sizeRootFs?: number;
}

export interface ContainerStats {
  id: string;
  readAt: string;
  cpu?: { totalNs: string; userNs: string; systemNs: string };
  memory?: { usageBytes: string; limitBytes?: string; peakBytes?: string; cacheBytes: string };
  pids?: { current: string; limit?: string };
  blockIO: { device: string; readBytes: string; writeBytes: string; readOps: string; writeOps: string }[];
}

export interface ExecCreate {
  cmd: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  tty?: boolean;
  /** With tty: the terminal's size from the start (Docker's ConsoleSize). */
  consoleSize?: { height: number; width: number };
  attachStdin?: boolean;
  detach?: boolean;
  privileged?: boolean;
}

export interface ExecStarted {
  session: string;
}

/**
 * A command run to completion by a plain POST /exec. berthd keeps at most 16 MiB of each stream; past that the
 * output is cut there, the command still runs to its end, and `stdoutTruncated`/`stderrTruncated` is true.
 */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated?: boolean;
  stderrTruncated?: boolean;
}

export interface LogLine {
  time: string;
  stream: "stdout" | "stderr";
  text: string;
}

/** Long operations report progress as they go (pull, build, snapshot, migrate). */
export interface Operation {
  id: string;
  kind: string;
  status: "running" | "success" | "failure";
  createdAt: string;
  progress?: { done: number; total?: number; unit: "bytes" | "steps"; message?: string };
  error?: Problem;
  resources?: string[];
}

export type BerthEvent =
  | {
      type:
        | "container.created"
        | "container.started"
        | "container.stopped"
        | "container.paused"
        | "container.resumed"
        | "container.removed"
        | "container.renamed"
        | "container.updated";
      id: string;
      name: string;
      at: string;
    }
  | { type: "container.exited"; id: string; name: string; at: string; exitCode: number; oomKilled: boolean }
  | { type: "container.health"; id: string; name: string; at: string; status: HealthStatus }
  | { type: "image.pulled" | "image.removed" | "image.built"; ref: string; digest: string; at: string }
  | { type: "operation.progress"; operation: Operation; at: string };

/** RFC 9457 problem+json, with berth's error kind. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  kind: "not-found" | "conflict" | "invalid" | "precondition" | "unavailable" | "internal";
  /** Field-level issues for invalid input. */
  issues?: { field: string; message: string }[];
}

/** GET /1.0/info (schemas.ts HostInfo). */
export interface HostInfo {
  name: string;
  serverVersion: string;
  operatingSystem?: string;
  osType: "linux";
  architecture: string;
  kernelVersion: string;
  cpus: number;
  memTotal: number;
  containers: { total: number; running: number; paused: number; stopped: number };
  images: number;
  storageDriver: string;
  loggingDriver: string;
  cgroupDriver: string;
  cgroupVersion: "1" | "2";
  cgroupMode?: string;
  defaultRuntime: string;
  runtimes: string[];
  initBinary?: string;
  securityOptions: string[];
  criu?: string;
  rootDir: string;
  runRoot: string;
}

export interface VersionInfo {
  version: string;
  apiVersion: "1.0";
  os: string;
  arch: string;
  kernel: string;
  runtime: string;
  cgroup: string;
}
