/**
 * The container description: what a caller (the daemon, the CLI through the API, a test) asks libct for.
 * Plain JSON-serialisable data, no classes; `validateDescription` checks it and `specFromDescription`
 * (spec/) turns it into an OCI runtime spec.
 */

/** "app": Docker-like defaults (one process, tight security). "system": Incus-like (init, user namespace). */
export type ContainerKind = "app" | "system";

/** The seven namespaces a description may configure. */
export const NAMESPACE_NAMES = ["network", "ipc", "pid", "uts", "mount", "cgroup", "user"] as const;
export type NamespaceName = (typeof NAMESPACE_NAMES)[number];
/** Namespaces that may join another container's namespace (as `docker run --network container:x`). */
export const JOINABLE_NAMESPACES = ["network", "ipc", "pid"] as const;
export type JoinableNamespace = (typeof JOINABLE_NAMESPACES)[number];

/**
 * "private": a new namespace; "host": share the host's; `{ container }`: join that container's (network, ipc,
 * pid); `{ path }`: join the namespace at that absolute path (network, ipc, pid), e.g. a network namespace a
 * NetworkDriver made and bind-mounted.
 */
export type NamespaceMode = "private" | "host" | { container: string } | { path: string };

export interface RootfsSpec {
  /** Absolute host path of the prepared root filesystem (storage drivers produce it). */
  path: string;
  /** Mount the root filesystem read-only (`docker run --read-only`). */
  readonly?: boolean;
}

export interface UserSpec {
  /** User id inside the container. */
  uid: number;
  /** Primary group id inside the container. */
  gid: number;
  /** Supplementary group ids inside the container. */
  additionalGids?: number[];
}

export interface RlimitSpec {
  /** Resource name as in setrlimit(2), e.g. "RLIMIT_NOFILE". */
  type: string;
  /** Soft limit; must not exceed `hard`. */
  soft: number;
  /** Hard limit; must not exceed the host's hard limit (no CAP_SYS_RESOURCE to raise it). */
  hard: number;
}

export interface ProcessSpec {
  /** Command and arguments of the container's first process; at least one element. */
  args: string[];
  /** Environment entries as "KEY=VALUE". PATH gets a default when absent. */
  env?: string[];
  /** Working directory inside the container (absolute); default "/". */
  cwd?: string;
  /** User to run as; default root (0:0). */
  user?: UserSpec;
  /** Allocate a pseudo-terminal for the process. */
  terminal?: boolean;
  /** With `terminal`: the pty's size before the process starts (rows and columns, 1-65535). */
  consoleSize?: { height: number; width: number };
  /** Set the no_new_privs bit (`--security-opt no-new-privileges`). */
  noNewPrivileges?: boolean;
  /** Value written to /proc/PID/oom_score_adj, -1000..1000. */
  oomScoreAdj?: number;
  /** Resource limits of the process; defaults add RLIMIT_NOFILE within the host's hard limit. */
  rlimits?: RlimitSpec[];
}

export type MountPropagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";
export const MOUNT_PROPAGATIONS: readonly MountPropagation[] = [
  "private",
  "rprivate",
  "shared",
  "rshared",
  "slave",
  "rslave",
];

export interface BindMountSpec {
  /** A bind mount of a host path. */
  type: "bind";
  /** Absolute host path to bind. */
  source: string;
  /** Absolute path inside the container. */
  destination: string;
  /** Mount read-only. */
  readonly?: boolean;
  /** Mount propagation; default rprivate. */
  propagation?: MountPropagation;
  /** Recursive bind (rbind, the default) or a plain bind when false. */
  recursive?: boolean;
}

export interface TmpfsMountSpec {
  /** A fresh tmpfs. */
  type: "tmpfs";
  /** Absolute path inside the container. */
  destination: string;
  /** Size limit in bytes; default: the kernel's (half of RAM). */
  sizeBytes?: number;
  /** Permission bits of the tmpfs root, e.g. 0o1777. */
  mode?: number;
  /** Mount read-only. */
  readonly?: boolean;
}

export interface VolumeMountSpec {
  /** A named volume; the caller resolves the name to a host directory (ResolvedInputs.volumeSources). */
  type: "volume";
  /** Volume name. */
  name: string;
  /** Absolute path inside the container. */
  destination: string;
  /** Mount read-only. */
  readonly?: boolean;
  /** Made for this container alone (Docker's `-v /path`): removed with it on request (`rm -v`, `--rm`). */
  anonymous?: boolean;
}

export type MountSpec = BindMountSpec | TmpfsMountSpec | VolumeMountSpec;

export interface IdMapping {
  /** First id inside the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** Number of consecutive ids mapped; at least 1. */
  size: number;
}

export interface IdMapSpec {
  /** User id ranges of the user namespace. */
  uidMappings: IdMapping[];
  /** Group id ranges of the user namespace. */
  gidMappings: IdMapping[];
}

export interface MemoryLimits {
  /** Hard memory limit in bytes (`--memory`); at least 6 MiB as in Docker. */
  limitBytes?: number;
  /** Soft limit in bytes (`--memory-reservation`); must be below limitBytes. */
  reservationBytes?: number;
  /** Memory + swap total in bytes (Docker's `--memory-swap`); -1 = unlimited swap. */
  swapBytes?: number;
}

export interface CpuLimits {
  /** CPU quota expressed in CPUs (`--cpus 0.5`): becomes quota/period with period 100000 µs. */
  cpus?: number;
  /** Relative weight on cgroup v1 (`--cpu-shares`), 2..262144. */
  shares?: number;
  /** Relative weight on cgroup v2 (cpu.weight), 1..10000. */
  weight?: number;
  /** CPUs the container may run on, cpuset syntax ("0-3,6"). */
  cpusetCpus?: string;
  /** Memory nodes the container may use, cpuset syntax ("0,1"). */
  cpusetMems?: string;
}

export interface BlockIOThrottle {
  /** Block device as "major:minor", e.g. "8:0". */
  device: string;
  /** Read bytes per second. */
  readBps?: number;
  /** Write bytes per second. */
  writeBps?: number;
  /** Read operations per second. */
  readIops?: number;
  /** Write operations per second. */
  writeIops?: number;
}

export interface Limits {
  /** Memory limits. */
  memory?: MemoryLimits;
  /** CPU limits. */
  cpu?: CpuLimits;
  /** Maximum number of tasks (`--pids-limit`); -1 = unlimited. */
  pids?: { limit: number };
  /** Block I/O weight (10..1000) and per-device throttles. */
  blockIO?: { weight?: number; throttle?: BlockIOThrottle[] };
}

export interface DeviceSpec {
  /** Host device path, e.g. /dev/fuse; the caller resolves type/major/minor (ResolvedInputs.devices). */
  path: string;
  /** Where the node appears inside the container (Docker's --device /dev/sdb:/dev/xvdb); default `path`. */
  containerPath?: string;
  /** Cgroup access, any of "r", "w", "m"; default "rwm". */
  permissions?: string;
}

/**
 * Seccomp policy: Docker's default profile, none, or a custom profile in Docker's format (archMap, rules with
 * includes/excludes, resolved for the container like the default) or OCI's `linux.seccomp` (a subset of it).
 */
export type SeccompSpec = "default" | "unconfined" | { custom: Record<string, unknown> };

export interface ContainerDescription {
  /** App (Docker-like) or system (Incus-like) container. */
  kind: ContainerKind;
  /** The root filesystem. */
  rootfs: RootfsSpec;
  /** The first process. */
  process: ProcessSpec;
  /** Hostname (RFC 1123); requires a private uts namespace. */
  hostname?: string;
  /** Extra mounts, applied after the defaults. */
  mounts?: MountSpec[];
  /** Namespace modes; unset ones take the kind's default (all private, except cgroup on v1 hosts for apps). */
  namespaces?: Partial<Record<NamespaceName, NamespaceMode>>;
  /** User namespace id map; required for system containers unless privileged. */
  idMap?: IdMapSpec;
  /** Resource limits (cgroups). */
  limits?: Limits;
  /** Namespaced sysctls, e.g. { "net.ipv4.ip_forward": "1" }. */
  sysctls?: Record<string, string>;
  /** Capabilities added to or dropped from the kind's default set ("NET_ADMIN", "CAP_NET_ADMIN" or "ALL"). */
  capabilities?: { add?: string[]; drop?: string[] };
  /** Seccomp policy; default "default" for apps. */
  seccomp?: SeccompSpec;
  /** AppArmor profile name; needs AppArmor on the host. */
  apparmorProfile?: string;
  /** SELinux process label; needs SELinux on the host. */
  selinuxLabel?: string;
  /** Host devices to expose. */
  devices?: DeviceSpec[];
  /** Privileged: all host capabilities, no seccomp, all devices; for system containers, no user namespace. */
  privileged?: boolean;
  /** Signal that stops the container gracefully, e.g. "SIGTERM" or "SIGRTMIN+3". */
  stopSignal?: string;
  /** Free-form labels, copied into annotations as berth.label.<key>. */
  labels?: Record<string, string>;
}

/** setrlimit(2) resources known to runc. */
export const RLIMIT_TYPES = [
  "RLIMIT_AS",
  "RLIMIT_CORE",
  "RLIMIT_CPU",
  "RLIMIT_DATA",
  "RLIMIT_FSIZE",
  "RLIMIT_LOCKS",
  "RLIMIT_MEMLOCK",
  "RLIMIT_MSGQUEUE",
  "RLIMIT_NICE",
  "RLIMIT_NOFILE",
  "RLIMIT_NPROC",
  "RLIMIT_RSS",
  "RLIMIT_RTPRIO",
  "RLIMIT_RTTIME",
  "RLIMIT_SIGPENDING",
  "RLIMIT_STACK",
] as const;
