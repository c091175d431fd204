/**
 * What libct knows about the host, probed once by host/probe.ts and passed in as plain data.
 * Pure code (model/, spec/) reads these facts and never probes the host itself.
 */
export type CgroupMode = "v1" | "hybrid" | "v2";

export interface RuntimeInfo {
  readonly name: "runc" | "crun";
  readonly path: string;
  readonly version: string;
  /** Set when the runtime cannot run containers on this host, with the reason (crun on a hybrid host). */
  readonly unusableReason?: string;
}

export interface HostFacts {
  readonly kernel: { readonly release: string; readonly major: number; readonly minor: number };
  /** OCI/Go architecture name: amd64, arm64, ... */
  readonly arch: string;
  readonly cgroup: {
    readonly mode: CgroupMode;
    /** Controllers available to containers (v1 hierarchies, or v2 cgroup.controllers). */
    readonly controllers: readonly string[];
    /** Mount point of the cgroup filesystem, normally /sys/fs/cgroup. */
    readonly root: string;
  };
  /** True when libct itself runs without real root (not the case for berthd). */
  readonly rootless: boolean;
  readonly userNamespaces: boolean;
  readonly idmapMounts: boolean;
  readonly seccomp: boolean;
  /**
   * Whether the kernel runs x32 system calls (amd64 only; most distribution kernels are built without them).
   * When false, seccomp filters leave SCMP_ARCH_X32 out: it would never match, and it costs runc ~6 ms of
   * libseccomp work per container start. Unknown (absent) keeps Docker's full list.
   */
  readonly x32Syscalls?: boolean;
  readonly apparmor: boolean;
  readonly selinux: boolean;
  /**
   * CPUs and memory nodes a container may be pinned to (/sys/devices/system/cpu/online and
   * /sys/devices/system/node/online, cpuset list syntax). Absent: not known, not checked.
   */
  readonly cpuset?: { readonly cpus: string; readonly mems: string };
  /**
   * The OOM score adjustment of the process that runs libct (berthd), which conmon and every container
   * inherit unless the spec sets one. systemd units protect daemons with a negative one (berthd's has -500,
   * as Docker's): containers must not inherit that. Absent: not known.
   */
  readonly oomScoreAdj?: number;
  /** Capabilities in the host's bounding set, as CAP_* names; a spec may not ask for more. */
  readonly capabilities: readonly string[];
  /** Hard rlimits of the host (RLIMIT_NOFILE, RLIMIT_NPROC, ...): spec rlimits must stay within them. */
  readonly hardRlimits: Readonly<Record<string, number>>;
  readonly runtimes: readonly RuntimeInfo[];
  readonly conmon?: { readonly path: string; readonly version: string };
  readonly criu?: {
    readonly path: string;
    readonly version: string;
    readonly checkOk: boolean;
    readonly checkOutput: string;
  };
}
