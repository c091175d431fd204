/**
 * The pure OCI spec builder (STYLE.md conventions 1-2): options apply to a fresh draft, read only
 * HostFacts, never do I/O and never mutate their arguments (they copy what they keep).
 */
import { KNOWN_CAPABILITIES } from "../model/capabilities.js";
import type { HostFacts } from "../model/host.js";
import {
  OCI_VERSION,
  type OciDevice,
  type OciDeviceCgroup,
  type OciIdMapping,
  type OciMount,
  type OciNamespace,
  type OciResources,
  type OciRlimit,
  type OciSeccomp,
  type OciSpec,
} from "./oci.js";

export type SpecOption = (spec: OciSpec, host: HostFacts) => void;

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** runc's and Docker's ceiling for the default RLIMIT_NOFILE. */
export const DEFAULT_NOFILE = 1048576;
export const CPU_PERIOD_US = 100000;

/** Docker's masked paths (moby oci/defaults.go). */
export const DOCKER_MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
/** Docker's read-only paths. */
export const DOCKER_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** A fresh, minimal Linux spec: no namespaces, mounts or capabilities yet. Options fill it in. */
export function defaultLinuxSpec(): OciSpec {
  return {
    ociVersion: OCI_VERSION,
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: [], env: [DEFAULT_PATH], cwd: "/" },
    root: { path: "rootfs", readonly: false },
    mounts: [],
    linux: { namespaces: [] },
  };
}

export function buildSpec(host: HostFacts, ...options: SpecOption[]): OciSpec {
  const spec = defaultLinuxSpec();
  for (const apply of options) apply(spec, host);
  return spec;
}

const resources = (spec: OciSpec): OciResources => {
  spec.linux.resources ??= {};
  return spec.linux.resources;
};

// ---- process ---------------------------------------------------------------------------------

export const withArgs =
  (args: readonly string[]): SpecOption =>
  (spec) => {
    spec.process.args = [...args];
  };

/** Sets the environment; PATH gets the default when `env` lacks it. */
export const withEnv =
  (env: readonly string[]): SpecOption =>
  (spec) => {
    spec.process.env = env.some((e) => e.startsWith("PATH=")) ? [...env] : [DEFAULT_PATH, ...env];
  };

/** Adds KEY=VALUE unless the environment already sets KEY. */
export const withDefaultEnv =
  (key: string, value: string): SpecOption =>
  (spec) => {
    const env = spec.process.env ?? [];
    if (!env.some((e) => e.startsWith(`${key}=`))) spec.process.env = [...env, `${key}=${value}`];
  };

export const withCwd =
  (cwd: string): SpecOption =>
  (spec) => {
    spec.process.cwd = cwd;
  };

export const withUser =
  (uid: number, gid: number, additionalGids?: readonly number[]): SpecOption =>
  (spec) => {
    spec.process.user = additionalGids?.length ? { uid, gid, additionalGids: [...additionalGids] } : { uid, gid };
  };

export const withTerminal =
  (terminal: boolean): SpecOption =>
  (spec) => {
    spec.process.terminal = terminal;
  };

/** The pty's size before the process starts (with a terminal): runc sizes it in init, before the exec. */
export const withConsoleSize =
  (height: number, width: number): SpecOption =>
  (spec) => {
    spec.process.consoleSize = { height, width };
  };

export const withNoNewPrivileges =
  (on: boolean): SpecOption =>
  (spec) => {
    spec.process.noNewPrivileges = on;
  };

export const withOomScoreAdj =
  (score: number): SpecOption =>
  (spec) => {
    spec.process.oomScoreAdj = score;
  };

/**
 * Capabilities for bounding, effective and permitted sets, in kernel order. Any capability missing from
 * the host's bounding set is left out (runc fails with "unable to apply caps" otherwise) and listed in
 * the `berth.capabilities.unavailable` annotation.
 */
export const withCapabilities =
  (caps: readonly string[]): SpecOption =>
  (spec, host) => {
    const wanted = new Set(caps);
    const hostCaps = new Set(host.capabilities);
    const ordered = [
      ...KNOWN_CAPABILITIES.filter((c) => wanted.has(c)),
      ...[...wanted].filter((c) => !KNOWN_CAPABILITIES.includes(c as never)).sort(),
    ];
    const granted = ordered.filter((c) => hostCaps.has(c));
    const missing = ordered.filter((c) => !hostCaps.has(c));
    spec.process.capabilities = { bounding: [...granted], effective: [...granted], permitted: [...granted] };
    if (missing.length > 0) withAnnotations({ "berth.capabilities.unavailable": missing.join(",") })(spec, host);
  };

/**
 * Rlimits, each clamped to the host's hard limit (a process without CAP_SYS_RESOURCE cannot raise it).
 * An entry replaces an earlier one of the same type.
 */
export const withRlimits =
  (rlimits: readonly OciRlimit[]): SpecOption =>
  (spec, host) => {
    const byType = new Map((spec.process.rlimits ?? []).map((r) => [r.type, r]));
    for (const r of rlimits) {
      const ceiling = host.hardRlimits[r.type];
      const hard = ceiling === undefined ? r.hard : Math.min(r.hard, ceiling);
      byType.set(r.type, { type: r.type, soft: Math.min(r.soft, hard), hard });
    }
    spec.process.rlimits = [...byType.values()];
  };

/** RLIMIT_NOFILE = min(1048576, host hard limit), soft = hard, as runc/Docker do. */
export const withDefaultRlimits = (): SpecOption => (spec, host) => {
  const nofile = Math.min(DEFAULT_NOFILE, host.hardRlimits["RLIMIT_NOFILE"] ?? DEFAULT_NOFILE);
  withRlimits([{ type: "RLIMIT_NOFILE", soft: nofile, hard: nofile }])(spec, host);
};

export const withApparmorProfile =
  (profile: string): SpecOption =>
  (spec) => {
    spec.process.apparmorProfile = profile;
  };

export const withSelinuxLabel =
  (label: string): SpecOption =>
  (spec) => {
    spec.process.selinuxLabel = label;
  };

// ---- root, hostname, annotations --------------------------------------------------------------

export const withRootfs =
  (path: string, readonly = false): SpecOption =>
  (spec) => {
    spec.root = { path, readonly };
  };

export const withHostname =
  (name: string): SpecOption =>
  (spec) => {
    spec.hostname = name;
  };

export const withAnnotations =
  (annotations: Readonly<Record<string, string>>): SpecOption =>
  (spec) => {
    spec.annotations = { ...spec.annotations, ...annotations };
  };

// ---- linux ------------------------------------------------------------------------------------

export const withCgroupsPath =
  (path: string): SpecOption =>
  (spec) => {
    spec.linux.cgroupsPath = path;
  };

/** Sets the namespace list (an entry without path: new namespace; with path: join it). */
export const withNamespaces =
  (namespaces: readonly OciNamespace[]): SpecOption =>
  (spec) => {
    spec.linux.namespaces = namespaces.map((n) => ({ ...n }));
  };

export const withIdMappings =
  (uid: readonly OciIdMapping[], gid: readonly OciIdMapping[]): SpecOption =>
  (spec) => {
    spec.linux.uidMappings = uid.map((m) => ({ ...m }));
    spec.linux.gidMappings = gid.map((m) => ({ ...m }));
  };

export const withMaskedPaths =
  (masked: readonly string[] = DOCKER_MASKED_PATHS, readonly: readonly string[] = DOCKER_READONLY_PATHS): SpecOption =>
  (spec) => {
    spec.linux.maskedPaths = [...masked];
    spec.linux.readonlyPaths = [...readonly];
  };

export const withSysctls =
  (sysctls: Readonly<Record<string, string>>): SpecOption =>
  (spec) => {
    if (Object.keys(sysctls).length > 0) spec.linux.sysctl = { ...spec.linux.sysctl, ...sysctls };
  };

export const withSeccomp =
  (seccomp: OciSeccomp): SpecOption =>
  (spec) => {
    spec.linux.seccomp = structuredClone(seccomp);
  };

export const withRootfsPropagation =
  (propagation: string): SpecOption =>
  (spec) => {
    spec.linux.rootfsPropagation = propagation;
  };

/** Merges resource settings (memory, cpu, pids, blockIO, unified) into linux.resources. */
export const withResources =
  (r: Readonly<OciResources>): SpecOption =>
  (spec) => {
    const res = resources(spec);
    for (const [k, v] of Object.entries(structuredClone(r))) {
      if (v === undefined) continue;
      const prev = res[k];
      res[k] =
        typeof v === "object" && !Array.isArray(v) && typeof prev === "object" && prev !== null ? { ...prev, ...v } : v;
    }
  };

const dev = (
  type: "c" | "b",
  major: number | undefined,
  minor: number | undefined,
  access = "rwm",
): OciDeviceCgroup => {
  const rule: OciDeviceCgroup = { allow: true, type };
  if (major !== undefined) rule.major = major;
  if (minor !== undefined) rule.minor = minor;
  rule.access = access;
  return rule;
};

/**
 * Docker's device cgroup allow-list: deny all, then mknod of any node, and rwm on null, zero, full,
 * random, urandom, tty, console, ptmx and the pts range. `extra` adds more allow rules.
 */
export const withDefaultDeviceRules =
  (extra: readonly OciDeviceCgroup[] = []): SpecOption =>
  (spec) => {
    resources(spec).devices = [
      { allow: false, access: "rwm" },
      dev("c", undefined, undefined, "m"),
      dev("b", undefined, undefined, "m"),
      dev("c", 1, 3), // /dev/null
      dev("c", 1, 5), // /dev/zero
      dev("c", 1, 7), // /dev/full
      dev("c", 1, 8), // /dev/random
      dev("c", 1, 9), // /dev/urandom
      dev("c", 5, 0), // /dev/tty
      dev("c", 5, 1), // /dev/console
      dev("c", 5, 2), // /dev/ptmx
      dev("c", 136, undefined), // /dev/pts/*
      ...extra.map((r) => ({ ...r })),
    ];
  };

/** Privileged containers: every device. */
export const withAllDevicesAllowed = (): SpecOption => (spec) => {
  resources(spec).devices = [{ allow: true, access: "rwm" }];
};

/** Exposes device nodes (`linux.devices`) and allows them in the device cgroup. */
export const withDevices =
  (devices: readonly (OciDevice & { access?: string })[]): SpecOption =>
  (spec) => {
    if (devices.length === 0) return;
    const res = resources(spec);
    spec.linux.devices ??= [];
    for (const { access, ...d } of devices) {
      spec.linux.devices.push({ ...d });
      if (d.type === "c" || d.type === "b")
        res.devices = [...(res.devices ?? []), dev(d.type, d.major, d.minor, access)];
    }
  };

// ---- mounts -----------------------------------------------------------------------------------

/** Appends mounts; a mount replaces an earlier one with the same destination (user mounts win). */
export const withMounts =
  (mounts: readonly OciMount[]): SpecOption =>
  (spec) => {
    for (const m of mounts) {
      spec.mounts = spec.mounts.filter((x) => x.destination !== m.destination);
      spec.mounts.push(structuredClone(m));
    }
  };

export interface DefaultMountOptions {
  /** Bind the host's /sys instead of mounting sysfs (rootless, or user namespace without a private net ns). */
  sysfsBind: boolean;
  /** Mount /sys and /sys/fs/cgroup read-write (privileged, or a system container's cgroup). */
  sysfsRw: boolean;
  cgroupRw: boolean;
  /** Pass gid=5 (tty) to devpts: only when gid 5 exists in the container (mapped, or no user namespace). */
  devptsTtyGid: boolean;
  /**
   * The /dev/shm to bind when the IPC namespace is the host's: POSIX shared memory lives there, not in the
   * namespace. Absent: a fresh 64 MiB tmpfs.
   */
  sharedShm?: string;
}

/** Docker's standard mounts: /proc, /dev, /dev/pts, /dev/shm (64 MiB), /dev/mqueue, /sys, /sys/fs/cgroup. */
export const withDefaultMounts =
  (o: DefaultMountOptions): SpecOption =>
  (spec, host) => {
    const mounts: OciMount[] = [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: [
          "nosuid",
          "noexec",
          "newinstance",
          "ptmxmode=0666",
          "mode=0620",
          ...(o.devptsTtyGid ? ["gid=5"] : []),
        ],
      },
      o.sharedShm === undefined
        ? {
            destination: "/dev/shm",
            type: "tmpfs",
            source: "shm",
            options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
          }
        : {
            destination: "/dev/shm",
            type: "bind",
            source: o.sharedShm,
            options: ["rbind", "nosuid", "noexec", "nodev"],
          },
      // An mqueue mount shows the queues of the mounting process's IPC namespace, the container's in every
      // mode (private, the host's or a joined one): a fresh one is always right, and works on hosts that
      // have no /dev/mqueue mounted, where a bind of it fails.
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      o.sysfsBind
        ? {
            destination: "/sys",
            type: "bind",
            source: "/sys",
            options: ["rbind", "nosuid", "noexec", "nodev", o.sysfsRw ? "rw" : "ro"],
          }
        : {
            destination: "/sys",
            type: "sysfs",
            source: "sysfs",
            options: ["nosuid", "noexec", "nodev", o.sysfsRw ? "rw" : "ro"],
          },
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["nosuid", "noexec", "nodev", "relatime", o.cgroupRw ? "rw" : "ro"],
      },
    ];
    withMounts(mounts)(spec, host);
  };

/** tmpfs on /run, /run/lock and /tmp, as systemd expects in a container. */
export const withSystemdTmpfs = (): SpecOption => (spec, host) => {
  withMounts([
    { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"] },
    {
      destination: "/run/lock",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "noexec", "mode=1777", "size=5242880"],
    },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
  ])(spec, host);
};
