/**
 * Probes the host once and returns HostFacts as plain data. Nothing else in libct looks at the host
 * to decide how to build a container: callers pass these facts in.
 */
import { access, constants, readdir, readFile, stat } from "node:fs/promises";
import { arch as nodeArch, release } from "node:os";
import { KNOWN_CAPABILITIES } from "../model/capabilities.js";
import type { CgroupMode, HostFacts, RuntimeInfo } from "../model/host.js";
import { type CommandRunner, ProcessRunner } from "../system/command.js";
import { x32SyscallsWork } from "../system/syscall.js";

export interface ProbeOptions {
  readonly runner?: CommandRunner;
  /** Run `criu check` (about 100 ms); off by default because only checkpoint needs it. */
  readonly criuCheck?: boolean;
  /** Where to look for binaries; defaults to $PATH plus the sbin directories. */
  readonly path?: string;
  readonly cgroupRoot?: string;
}

/** Capability bit n is KNOWN_CAPABILITIES[n] (kernel order). */
const CAP_NAMES: readonly string[] = KNOWN_CAPABILITIES;

const RLIMIT_NAMES: Record<string, string> = {
  "Max cpu time": "RLIMIT_CPU",
  "Max file size": "RLIMIT_FSIZE",
  "Max data size": "RLIMIT_DATA",
  "Max stack size": "RLIMIT_STACK",
  "Max core file size": "RLIMIT_CORE",
  "Max resident set": "RLIMIT_RSS",
  "Max processes": "RLIMIT_NPROC",
  "Max open files": "RLIMIT_NOFILE",
  "Max locked memory": "RLIMIT_MEMLOCK",
  "Max address space": "RLIMIT_AS",
  "Max file locks": "RLIMIT_LOCKS",
  "Max pending signals": "RLIMIT_SIGPENDING",
  "Max msgqueue size": "RLIMIT_MSGQUEUE",
  "Max nice priority": "RLIMIT_NICE",
  "Max realtime priority": "RLIMIT_RTPRIO",
  "Max realtime timeout": "RLIMIT_RTTIME",
};

/** Parses `/proc/self/status` CapBnd into capability names. Exported for tests. */
export function parseCapabilityMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return CAP_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Parses `/proc/self/limits` into hard limits ("unlimited" becomes Number.MAX_SAFE_INTEGER). */
export function parseHardLimits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n").slice(1)) {
    const name = Object.keys(RLIMIT_NAMES).find((n) => line.startsWith(n));
    if (!name) continue;
    const fields = line.slice(name.length).trim().split(/\s+/);
    const hard = fields[1];
    if (hard === undefined) continue;
    out[RLIMIT_NAMES[name]!] = hard === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(hard);
  }
  return out;
}

/** Decides the cgroup mode from what is mounted under the cgroup root. */
export function cgroupModeOf(rootIsCgroup2: boolean, entries: readonly string[]): CgroupMode {
  if (rootIsCgroup2) return "v2";
  return entries.includes("unified") ? "hybrid" : "v1";
}

async function which(name: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(":").filter(Boolean)) {
    const file = `${dir}/${name}`;
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

const firstVersion = (text: string): string => /(\d+\.\d+(?:\.\d+)?[^\s]*)/.exec(text)?.[1] ?? "unknown";

async function probeCgroups(root: string): Promise<HostFacts["cgroup"]> {
  let isV2 = false;
  try {
    // cgroup.controllers exists only at the root of a cgroup2 mount.
    await access(`${root}/cgroup.controllers`);
    isV2 = true;
  } catch {}
  if (isV2) {
    const controllers = (await readFile(`${root}/cgroup.controllers`, "utf8")).trim().split(/\s+/).filter(Boolean);
    return { mode: "v2", controllers, root };
  }
  const entries = await readdir(root).catch(() => [] as string[]);
  const controllers = new Set<string>();
  for (const e of entries) {
    if (e === "unified" || e === "systemd") continue;
    for (const c of e.split(",")) controllers.add(c);
  }
  return { mode: cgroupModeOf(false, entries), controllers: [...controllers].sort(), root };
}

/** Probes the host. Takes about 10 ms without `criuCheck`. */
export async function probeHost(opts: ProbeOptions = {}): Promise<HostFacts> {
  const runner = opts.runner ?? new ProcessRunner();
  const path = opts.path ?? `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;
  const rel = release();
  const [major = 0, minor = 0] = rel.split(".").map((n) => Number.parseInt(n, 10));
  const status = await readFile("/proc/self/status", "utf8");
  const capBnd = /^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0";
  const seccomp = /^Seccomp:/m.test(status);
  const limits = await readFile("/proc/self/limits", "utf8");
  const exists = (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    );

  const cgroup = await probeCgroups(opts.cgroupRoot ?? "/sys/fs/cgroup");
  const runtimes: RuntimeInfo[] = [];
  for (const name of ["runc", "crun"] as const) {
    const bin = await which(name, path);
    if (!bin) continue;
    const out = await runner.run(bin, ["--version"]).then(
      (r) => r.stdout,
      () => "",
    );
    const info: RuntimeInfo = { name, path: bin, version: firstVersion(out) };
    // crun (at least up to 1.8) refuses hosts where cgroup v1 and a cgroup2 mount coexist.
    runtimes.push(
      name === "crun" && cgroup.mode === "hybrid"
        ? { ...info, unusableReason: "crun does not support hybrid cgroup v1/v2 hosts; use runc here" }
        : info,
    );
  }
  const conmonPath = await which("conmon", path);
  const conmon = conmonPath
    ? {
        path: conmonPath,
        version: firstVersion((await runner.run(conmonPath, ["--version"]).catch(() => ({ stdout: "" }))).stdout),
      }
    : undefined;
  const criuPath = await which("criu", path);
  let criu: HostFacts["criu"];
  if (criuPath) {
    const version =
      /Version:\s*(\S+)/.exec((await runner.run(criuPath, ["--version"]).catch(() => ({ stdout: "" }))).stdout)?.[1] ??
      "unknown";
    let checkOk = false;
    let checkOutput = "not run";
    if (opts.criuCheck) {
      const res = await runner.run(criuPath, ["check"]).then(
        (r) => ({ ok: true, out: r.stdout + r.stderr }),
        (e: Error) => ({ ok: false, out: e.message }),
      );
      checkOk = res.ok;
      checkOutput = res.out.trim();
    }
    criu = { path: criuPath, version, checkOk, checkOutput };
  }
  const x32Syscalls = x32SyscallsWork();
  const onlineCpus = (await readFile("/sys/devices/system/cpu/online", "utf8").catch(() => "")).trim();
  // Without NUMA the node directory is missing: memory node 0 is all there is.
  const onlineMems = (await readFile("/sys/devices/system/node/online", "utf8").catch(() => "0")).trim();
  const oomScoreAdj = Number.parseInt(await readFile("/proc/self/oom_score_adj", "utf8").catch(() => ""), 10);
  const userNamespaces = (await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => "0")).trim() !== "0";
  return {
    kernel: { release: rel, major, minor },
    arch:
      (
        { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<
          string,
          string
        >
      )[nodeArch()] ?? nodeArch(),
    cgroup,
    rootless: process.getuid?.() !== 0,
    userNamespaces,
    // open_tree/mount_setattr with MOUNT_ATTR_IDMAP arrived in 5.12; runc 1.1 cannot use it for a rootfs.
    idmapMounts: major > 5 || (major === 5 && minor >= 12),
    seccomp,
    ...(x32Syscalls !== undefined ? { x32Syscalls } : {}),
    apparmor: (await readFile("/sys/module/apparmor/parameters/enabled", "utf8").catch(() => "N")).trim() === "Y",
    selinux: await exists("/sys/fs/selinux/enforce"),
    ...(onlineCpus ? { cpuset: { cpus: onlineCpus, mems: onlineMems || "0" } } : {}),
    ...(Number.isInteger(oomScoreAdj) ? { oomScoreAdj } : {}),
    capabilities: parseCapabilityMask(capBnd),
    hardRlimits: parseHardLimits(limits),
    runtimes,
    ...(conmon ? { conmon } : {}),
    ...(criu ? { criu } : {}),
  };
}

/** Picks the runtime: crun on a pure cgroup v2 host when usable, runc otherwise; `override` wins. */
export function chooseRuntime(host: HostFacts, override?: "runc" | "crun"): RuntimeInfo | undefined {
  const usable = host.runtimes.filter((r) => !r.unusableReason);
  if (override) return host.runtimes.find((r) => r.name === override);
  if (host.cgroup.mode === "v2") return usable.find((r) => r.name === "crun") ?? usable.find((r) => r.name === "runc");
  return usable.find((r) => r.name === "runc") ?? usable[0];
}
