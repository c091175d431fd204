/**
 * ContainerDescription + HostFacts + ResolvedInputs -> OCI runtime spec. App containers get Docker's
 * secure defaults, system containers Incus's (see SYSTEM-CONTAINERS.md). Pure: the caller resolves
 * every host-specific input (volume paths, device numbers, namespace paths) beforehand.
 */
import { LibctError } from "../errors.js";
import { DOCKER_DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES, normalizeCapability } from "../model/capabilities.js";
import type { ContainerDescription, MountSpec, NamespaceName } from "../model/description.js";
import type { HostFacts } from "../model/host.js";
import { mapToHost, usesUserNamespace } from "../model/idmap.js";
import { parseDescription } from "../model/validate.js";
import {
  buildSpec,
  CPU_PERIOD_US,
  DOCKER_MASKED_PATHS,
  DOCKER_READONLY_PATHS,
  type SpecOption,
  withAllDevicesAllowed,
  withAnnotations,
  withApparmorProfile,
  withArgs,
  withCapabilities,
  withCgroupsPath,
  withConsoleSize,
  withCwd,
  withDefaultDeviceRules,
  withDefaultEnv,
  withDefaultMounts,
  withDefaultRlimits,
  withDevices,
  withEnv,
  withHostname,
  withIdMappings,
  withMaskedPaths,
  withMounts,
  withNamespaces,
  withNoNewPrivileges,
  withOomScoreAdj,
  withResources,
  withRlimits,
  withRootfs,
  withRootfsPropagation,
  withSeccomp,
  withSelinuxLabel,
  withSysctls,
  withSystemdTmpfs,
  withTerminal,
  withUser,
} from "./build.js";
import type { OciMount, OciNamespace, OciNamespaceType, OciResources, OciSpec, OciThrottleDevice } from "./oci.js";
import { resolveCustomSeccomp, resolveDockerSeccomp, systemContainerSeccomp } from "./seccomp.js";

/** What the impure caller resolved on the host before building the spec. */
export interface ResolvedInputs {
  /** Cgroup path, e.g. "/berth/<id>" (cgroupfs style, v1 and v2). */
  cgroupsPath: string;
  /** Namespaces to join, already resolved to /proc/PID/ns/x. */
  namespacePaths?: Partial<Record<NamespaceName, string>>;
  /** Volume name -> host directory. */
  volumeSources?: Record<string, string>;
  /** Device nodes for `desc.devices`, matched by path. */
  devices?: {
    path: string;
    type: "c" | "b";
    major: number;
    minor: number;
    fileMode?: number;
    uid?: number;
    gid?: number;
  }[];
  /** Extra annotations (the caller's ids, image digest...). */
  annotations?: Record<string, string>;
}

/** systemd's "halt" signal; runc 1.1 does not know its name, so the runtime layer sends 37. */
export const SYSTEMD_STOP_SIGNAL = "SIGRTMIN+3";
/** Annotation carrying the stop signal name to the runtime layer. */
export const STOP_SIGNAL_ANNOTATION = "berth.stop-signal";
/** Allowed in addition to Docker's list for system containers, as LXC does: /dev/fuse and /dev/net/tun. */
const SYSTEM_EXTRA_DEVICE_RULES = [
  { allow: true, type: "c" as const, major: 10, minor: 229, access: "rwm" },
  { allow: true, type: "c" as const, major: 10, minor: 200, access: "rwm" },
];

type NsPlan = Record<NamespaceName, "private" | "host" | "join">;

/** Default namespace modes per kind, then the description's overrides. */
function planNamespaces(host: HostFacts, desc: ContainerDescription): NsPlan {
  const userns = usesUserNamespace(desc);
  const plan: NsPlan = {
    pid: "private",
    network: "private",
    ipc: "private",
    uts: "private",
    mount: "private",
    // Docker: private cgroupns on v2 hosts, host on v1; system containers always get their own.
    cgroup: desc.kind === "system" || host.cgroup.mode === "v2" ? "private" : "host",
    user: userns ? "private" : "host",
  };
  for (const [name, mode] of Object.entries(desc.namespaces ?? {}) as [NamespaceName, unknown][]) {
    if (name === "user") continue; // decided by usesUserNamespace
    plan[name] = mode === "private" || mode === "host" ? mode : "join";
  }
  return plan;
}

const NS_ORDER: readonly NamespaceName[] = ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"];

function namespaceEntries(desc: ContainerDescription, plan: NsPlan, resolved: ResolvedInputs): OciNamespace[] {
  const out: OciNamespace[] = [];
  for (const name of NS_ORDER) {
    const type: OciNamespaceType = name;
    if (plan[name] === "private") out.push({ type });
    else if (plan[name] === "join") {
      const mode = desc.namespaces?.[name];
      const path =
        (typeof mode === "object" && "path" in mode ? mode.path : undefined) ?? resolved.namespacePaths?.[name];
      if (!path) {
        throw new LibctError(
          "invalid",
          `namespaces.${name}: the container to join was not resolved; pass resolved.namespacePaths.${name} (e.g. /proc/<pid>/ns/${name === "network" ? "net" : name})`,
        );
      }
      out.push({ type, path });
    }
  }
  return out;
}

/** Docker's TweakCapabilities: ALL in add = everything but the drops; ALL in drop = only the adds. */
export function effectiveCapabilities(desc: ContainerDescription): string[] {
  const base: readonly string[] =
    desc.privileged || desc.kind === "system" ? KNOWN_CAPABILITIES : DOCKER_DEFAULT_CAPABILITIES;
  const add = (desc.capabilities?.add ?? []).map(normalizeCapability);
  const drop = new Set((desc.capabilities?.drop ?? []).map(normalizeCapability));
  let caps: string[];
  if (add.includes("ALL")) caps = KNOWN_CAPABILITIES.filter((c) => !drop.has(c));
  else if (drop.has("ALL")) caps = add;
  else caps = [...base.filter((c) => !drop.has(c)), ...add];
  const set = new Set(caps);
  return KNOWN_CAPABILITIES.filter((c) => set.has(c));
}

const parseMajorMinor = (device: string): { major: number; minor: number } => {
  const [major, minor] = device.split(":").map(Number);
  return { major: major!, minor: minor! };
};

function resourcesFor(host: HostFacts, desc: ContainerDescription): OciResources | undefined {
  const l = desc.limits;
  if (!l) return undefined;
  const r: OciResources = {};
  const unified: Record<string, string> = {};
  if (l.memory) {
    const m: NonNullable<OciResources["memory"]> = {};
    if (l.memory.limitBytes !== undefined) m.limit = l.memory.limitBytes;
    if (l.memory.reservationBytes !== undefined) m.reservation = l.memory.reservationBytes;
    if (l.memory.swapBytes !== undefined) m.swap = l.memory.swapBytes;
    if (Object.keys(m).length) r.memory = m;
  }
  if (l.cpu) {
    const c: NonNullable<OciResources["cpu"]> = {};
    if (l.cpu.cpus !== undefined) {
      c.quota = Math.round(l.cpu.cpus * CPU_PERIOD_US);
      c.period = CPU_PERIOD_US;
    }
    if (l.cpu.shares !== undefined) c.shares = l.cpu.shares;
    if (l.cpu.weight !== undefined) {
      // The spec has no cpu.weight: on v2 say it directly, on v1 convert to shares (inverse of runc's formula).
      if (host.cgroup.mode === "v2") unified["cpu.weight"] = String(l.cpu.weight);
      else c.shares = 2 + Math.round(((l.cpu.weight - 1) * 262142) / 9999);
    }
    if (l.cpu.cpusetCpus !== undefined) c.cpus = l.cpu.cpusetCpus;
    if (l.cpu.cpusetMems !== undefined) c.mems = l.cpu.cpusetMems;
    if (Object.keys(c).length) r.cpu = c;
  }
  if (l.pids) r.pids = { limit: l.pids.limit };
  if (l.blockIO) {
    const b: NonNullable<OciResources["blockIO"]> = {};
    if (l.blockIO.weight !== undefined) b.weight = l.blockIO.weight;
    const lists = {
      throttleReadBpsDevice: "readBps",
      throttleWriteBpsDevice: "writeBps",
      throttleReadIOPSDevice: "readIops",
      throttleWriteIOPSDevice: "writeIops",
    } as const;
    for (const [key, field] of Object.entries(lists)) {
      const list: OciThrottleDevice[] = [];
      for (const t of l.blockIO.throttle ?? []) {
        const rate = t[field];
        if (rate !== undefined) list.push({ ...parseMajorMinor(t.device), rate });
      }
      if (list.length) b[key] = list;
    }
    if (Object.keys(b).length) r.blockIO = b;
  }
  if (Object.keys(unified).length) r.unified = unified;
  return Object.keys(r).length ? r : undefined;
}

function mountFor(m: MountSpec, resolved: ResolvedInputs, index: number): OciMount {
  const ro = m.readonly ? ["ro"] : [];
  switch (m.type) {
    case "bind":
      return {
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: [m.recursive === false ? "bind" : "rbind", ...ro, m.propagation ?? "rprivate"],
      };
    case "tmpfs": {
      const opts = ["nosuid", "nodev", "noexec"];
      if (m.sizeBytes !== undefined) opts.push(`size=${m.sizeBytes}`);
      if (m.mode !== undefined) opts.push(`mode=${m.mode.toString(8).padStart(4, "0")}`);
      return { destination: m.destination, type: "tmpfs", source: "tmpfs", options: [...opts, ...ro] };
    }
    case "volume": {
      const source = resolved.volumeSources?.[m.name];
      if (!source) {
        throw new LibctError(
          "invalid",
          `mounts[${index}]: volume "${m.name}" was not resolved; pass resolved.volumeSources["${m.name}"] (create the volume first)`,
        );
      }
      return { destination: m.destination, type: "bind", source, options: ["rbind", ...ro, "rprivate"] };
    }
  }
}

/**
 * Builds the OCI spec for a description. Validates first (throws ValidationError with every issue,
 * including host-dependent ones such as rlimits above the host's hard limit); throws LibctError
 * "invalid" when a volume, device or namespace to join was not resolved.
 */
export function specFromDescription(host: HostFacts, desc: ContainerDescription, resolved: ResolvedInputs): OciSpec {
  parseDescription(desc, host);
  const system = desc.kind === "system";
  const privileged = desc.privileged === true;
  const plan = planNamespaces(host, desc);
  const userns = plan.user === "private";
  const caps = effectiveCapabilities(desc);
  const grantedCaps = caps.filter((c) => host.capabilities.includes(c));
  const p = desc.process;
  const options: SpecOption[] = [];

  // Process.
  options.push(withArgs(p.args), withEnv(p.env ?? []), withCwd(p.cwd ?? "/"));
  options.push(withUser(p.user?.uid ?? 0, p.user?.gid ?? 0, p.user?.additionalGids));
  options.push(withTerminal(p.terminal ?? false));
  if (p.terminal) options.push(withDefaultEnv("TERM", "xterm"));
  if (p.terminal && p.consoleSize) options.push(withConsoleSize(p.consoleSize.height, p.consoleSize.width));
  if (system) options.push(withDefaultEnv("container", "oci"));
  if (p.noNewPrivileges !== undefined) options.push(withNoNewPrivileges(p.noNewPrivileges));
  if (p.oomScoreAdj !== undefined) options.push(withOomScoreAdj(p.oomScoreAdj));
  // A daemon protected from the OOM killer must not protect its containers too (Docker sets 0 likewise).
  // Raising the score back needs no privilege; lowering it would, so a positive one is left as it is.
  else if ((host.oomScoreAdj ?? 0) < 0) options.push(withOomScoreAdj(0));
  options.push(withCapabilities(caps), withDefaultRlimits());
  if (p.rlimits?.length) options.push(withRlimits(p.rlimits));
  if (desc.apparmorProfile) options.push(withApparmorProfile(desc.apparmorProfile));
  if (desc.selinuxLabel) options.push(withSelinuxLabel(desc.selinuxLabel));

  // Root, hostname, namespaces, ids.
  options.push(withRootfs(desc.rootfs.path, desc.rootfs.readonly ?? false));
  if (desc.hostname !== undefined) options.push(withHostname(desc.hostname));
  options.push(withNamespaces(namespaceEntries(desc, plan, resolved)));
  if (userns && desc.idMap) options.push(withIdMappings(desc.idMap.uidMappings, desc.idMap.gidMappings));
  options.push(withCgroupsPath(resolved.cgroupsPath));

  // Mounts: Docker's set, systemd's tmpfs for system containers, then the description's.
  const ttyGidMapped = !userns || (desc.idMap !== undefined && mapToHost(desc.idMap.gidMappings, 5) !== undefined);
  options.push(
    withDefaultMounts({
      sysfsBind: host.rootless || (userns && plan.network !== "private"),
      sysfsRw: privileged && !system,
      cgroupRw: system || privileged,
      devptsTtyGid: ttyGidMapped,
      // A joined container's /dev/shm cannot be bound from here (another mount namespace's mount: EINVAL).
      ...(plan.ipc === "host" ? { sharedShm: "/dev/shm" } : {}),
    }),
  );
  if (system) options.push(withSystemdTmpfs());
  const userMounts = (desc.mounts ?? []).map((m, i) => mountFor(m, resolved, i));
  options.push(withMounts(userMounts));
  const props = (desc.mounts ?? []).flatMap((m) => (m.type === "bind" && m.propagation ? [m.propagation] : []));
  if (props.some((x) => x.endsWith("shared"))) options.push(withRootfsPropagation("shared"));
  else if (props.some((x) => x.endsWith("slave"))) options.push(withRootfsPropagation("slave"));

  // Security: masked paths, devices, seccomp.
  if (!privileged) options.push(withMaskedPaths(DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS));
  options.push(privileged ? withAllDevicesAllowed() : withDefaultDeviceRules(system ? SYSTEM_EXTRA_DEVICE_RULES : []));
  if (desc.devices?.length) {
    options.push(
      withDevices(
        desc.devices.map((d, i) => {
          const r = resolved.devices?.find((x) => x.path === d.path);
          if (!r)
            throw new LibctError(
              "invalid",
              `devices[${i}]: ${d.path} was not resolved; pass it in resolved.devices with its type, major and minor`,
            );
          return { ...r, ...(d.containerPath ? { path: d.containerPath } : {}), access: d.permissions ?? "rwm" };
        }),
      ),
    );
  }
  const seccomp = desc.seccomp ?? "default";
  if (host.seccomp && !privileged && seccomp !== "unconfined") {
    if (typeof seccomp === "object") options.push(withSeccomp(resolveCustomSeccomp(host, grantedCaps, seccomp.custom)));
    else options.push(withSeccomp(system ? systemContainerSeccomp(host) : resolveDockerSeccomp(host, grantedCaps)));
  }

  // Resources and sysctls.
  const res = resourcesFor(host, desc);
  if (res) options.push(withResources(res));
  if (desc.sysctls) options.push(withSysctls(desc.sysctls));

  // Annotations: the caller's, labels, kind, stop signal.
  const annotations: Record<string, string> = { ...resolved.annotations, "berth.kind": desc.kind };
  for (const [k, v] of Object.entries(desc.labels ?? {})) annotations[`berth.label.${k}`] = v;
  const stopSignal = desc.stopSignal ?? (system ? SYSTEMD_STOP_SIGNAL : undefined);
  if (stopSignal) annotations[STOP_SIGNAL_ANNOTATION] = stopSignal;
  options.push(withAnnotations(annotations));

  return buildSpec(host, ...options);
}
