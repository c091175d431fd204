/**
 * Seccomp profiles: Docker's default (with its includes/excludes resolved for one container) and the
 * minimal deny list berth gives system containers. Pure: the host's arch and kernel come from HostFacts.
 */
import type { HostFacts } from "../model/host.js";
import type { OciSeccomp, OciSeccompArg, OciSyscall } from "./oci.js";
import { dockerDefaultSeccompProfile } from "./seccomp-default.js";

/** Conditions of a Docker profile rule (moby/profiles seccomp.Filter). */
export interface DockerSeccompFilter {
  caps?: string[] | null;
  arches?: string[] | null;
  minKernel?: string | null;
}

export interface DockerSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number | null;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: DockerSeccompFilter;
  excludes?: DockerSeccompFilter;
}

/** Docker's profile format: OCI linux.seccomp plus archMap and conditional rules. */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap: { architecture: string; subArchitectures: string[] | null }[];
  syscalls: DockerSeccompRule[];
}

/** Go arch name (HostFacts.arch) -> libseccomp native architecture. */
const NATIVE_ARCH: Readonly<Record<string, string>> = {
  amd64: "SCMP_ARCH_X86_64",
  "386": "SCMP_ARCH_X86",
  arm64: "SCMP_ARCH_AARCH64",
  arm: "SCMP_ARCH_ARM",
  mips64: "SCMP_ARCH_MIPS64",
  mips64le: "SCMP_ARCH_MIPSEL64",
  ppc64le: "SCMP_ARCH_PPC64LE",
  s390x: "SCMP_ARCH_S390X",
  riscv64: "SCMP_ARCH_RISCV64",
  loong64: "SCMP_ARCH_LOONGARCH64",
};

/**
 * Architectures a filter covers on this host: the native one and its compat sub-architectures (Docker's
 * archMap), less x32 when the kernel is known to run no x32 system calls (then no such call can reach the
 * filter as x32, and libseccomp's per-arch work for it is wasted on every container start).
 */
export function seccompArchitectures(
  profile: DockerSeccompProfile,
  host: Pick<HostFacts, "arch" | "x32Syscalls">,
): string[] {
  const native = NATIVE_ARCH[host.arch];
  if (native === undefined) return [];
  const entry = profile.archMap.find((a) => a.architecture === native);
  const all = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [native];
  return host.x32Syscalls === false ? all.filter((a) => a !== "SCMP_ARCH_X32") : all;
}

/** Compares "major.minor" kernel versions: is the host at least `min`? */
function kernelAtLeast(host: HostFacts["kernel"], min: string): boolean {
  const [maj = 0, minor = 0] = min.split(".").map(Number);
  return host.major > maj || (host.major === maj && host.minor >= minor);
}

function ruleApplies(rule: DockerSeccompRule, arch: string, caps: ReadonlySet<string>, kernel: HostFacts["kernel"]) {
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  if (inc.arches?.length && !inc.arches.includes(arch)) return false;
  if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false;
  if (exc.arches?.length && exc.arches.includes(arch)) return false;
  if (exc.caps?.length && exc.caps.some((c) => caps.has(c))) return false;
  if (exc.minKernel && kernelAtLeast(kernel, exc.minKernel)) return false;
  return true;
}

/**
 * Resolves a Docker profile for one container, as moby's setupSeccomp does: rules whose arch,
 * capability and kernel conditions hold are kept (without the conditions), the others dropped.
 * `capabilities` is the container's effective set (CAP_* names).
 */
export function resolveDockerSeccomp(
  host: Pick<HostFacts, "arch" | "kernel" | "x32Syscalls">,
  capabilities: readonly string[],
  profile: DockerSeccompProfile = dockerDefaultSeccompProfile,
): OciSeccomp {
  const caps = new Set(capabilities);
  const syscalls: OciSyscall[] = [];
  for (const rule of profile.syscalls) {
    if (!ruleApplies(rule, host.arch, caps, host.kernel)) continue;
    const out: OciSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet != null) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  }
  const spec: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) spec.defaultErrnoRet = profile.defaultErrnoRet;
  const architectures = seccompArchitectures(profile, host);
  if (architectures.length > 0) spec.architectures = architectures;
  spec.syscalls = syscalls;
  return spec;
}

/**
 * A user's profile (`--security-opt seccomp=FILE`) resolved for one container. Docker's format is a superset
 * of OCI's `linux.seccomp`: archMap and conditional rules (resolved as for the default profile), the old
 * single `name` of a rule, or an OCI list of `architectures`, which is kept as given.
 */
export function resolveCustomSeccomp(
  host: Pick<HostFacts, "arch" | "kernel" | "x32Syscalls">,
  capabilities: readonly string[],
  custom: Readonly<Record<string, unknown>>,
): OciSeccomp {
  const rules = (Array.isArray(custom.syscalls) ? custom.syscalls : []) as (DockerSeccompRule & { name?: string })[];
  const profile: DockerSeccompProfile = {
    defaultAction: String(custom.defaultAction),
    ...(typeof custom.defaultErrnoRet === "number" ? { defaultErrnoRet: custom.defaultErrnoRet } : {}),
    archMap: Array.isArray(custom.archMap) ? (custom.archMap as DockerSeccompProfile["archMap"]) : [],
    syscalls: rules.map(({ name, ...r }) => (r.names?.length ? r : { ...r, names: name ? [name] : [] })),
  };
  const out = resolveDockerSeccomp(host, capabilities, profile);
  if (!Array.isArray(custom.archMap)) {
    // OCI's form: the architectures as listed, or none (the runtime's native one).
    if (Array.isArray(custom.architectures)) out.architectures = (custom.architectures as string[]).map(String);
    else delete out.architectures;
  }
  if (Array.isArray(custom.flags)) out.flags = (custom.flags as string[]).map(String);
  return out;
}

const ENOSYS = 38;
const EACCES = 13;
const MNT_FORCE = 1;

/**
 * System containers: allow everything except what Incus's default policy denies (module loading,
 * kexec, open_by_handle_at, all returning ENOSYS) and forced unmounts (`reject_force_umount`, EACCES).
 * The user namespace is the real boundary; a tighter list would break systemd and nested containers.
 */
export function systemContainerSeccomp(host: Pick<HostFacts, "arch" | "x32Syscalls">): OciSeccomp {
  const architectures = seccompArchitectures(dockerDefaultSeccompProfile, host);
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls: [
      {
        names: ["kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module", "delete_module"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: ENOSYS,
      },
      {
        names: ["umount2"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EACCES,
        args: [{ index: 1, value: MNT_FORCE, valueTwo: MNT_FORCE, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ],
  };
}

/**
 * Is `name` allowed (unconditionally, with no argument filter) by a resolved profile? For tests and
 * diagnostics: the first rule naming the syscall decides, as in libseccomp for rules without args.
 */
export function seccompAction(profile: OciSeccomp, name: string): { action: string; errnoRet?: number } {
  const rules = (profile.syscalls ?? []).filter((r) => r.names.includes(name));
  const plain = rules.find((r) => !r.args?.length) ?? rules[0];
  if (plain)
    return plain.errnoRet === undefined ? { action: plain.action } : { action: plain.action, errnoRet: plain.errnoRet };
  return profile.defaultErrnoRet === undefined
    ? { action: profile.defaultAction }
    : { action: profile.defaultAction, errnoRet: profile.defaultErrnoRet };
}
