/**
 * Turns an API ContainerCreate plus the image config into a libct ContainerDescription, merging them as
 * Docker does. Pure: the caller reads /etc/passwd and /etc/group of the rootfs and passes their text.
 */
import { posix } from "node:path";
import type { ContainerCreate, Resources } from "@berth/api";
import {
  type ContainerDescription,
  type Limits,
  type MountSpec,
  type NetworkAttachment,
  type OciResources,
  type RlimitSpec,
  type UserSpec,
  ValidationError,
  type ValidationIssue,
} from "@berth/libct";

/** The parts of an OCI image config's `config` that a container inherits. */
export interface ImageRunConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  /** Docker's VOLUME: paths that get an anonymous volume of their own in every container. */
  Volumes?: Record<string, unknown> | null;
}

export interface DescribeInputs {
  readonly id: string;
  readonly req: ContainerCreate;
  readonly image: ImageRunConfig;
  readonly rootfs: string;
  readonly passwd?: string;
  readonly group?: string;
  /** System containers: the container's name (its hostname by default). */
  readonly name?: string;
  /** System containers: the init command (from system.ts systemInitArgs), used when the request gives no cmd. */
  readonly systemInit?: readonly string[];
  /** System containers: the uid/gid range the rootfs was shifted to. */
  readonly idMap?: ContainerDescription["idMap"];
  /** pidMode container:NAME, resolved by the caller to the other container's id. */
  readonly joins?: { readonly pid?: string };
  /** What the network driver attached: the network namespace comes from it (none: the container's own). */
  readonly network?: Pick<NetworkAttachment, "namespace">;
  /** App containers: the hostname to use when the request gives none (the host's, with the host's network). */
  readonly defaultHostname?: string;
  /** App containers: /etc/hostname, /etc/hosts, /etc/resolv.conf (etc-files.ts); a user's mount there wins. */
  readonly etcMounts?: readonly MountSpec[];
  /** A fresh name for each anonymous volume (a volume mount without source, Docker's `-v /data`). */
  readonly newVolumeName?: () => string;
}

/** Docker's merge: an entrypoint given in the request replaces the image's and drops its Cmd. */
export function commandOf(req: ContainerCreate, image: ImageRunConfig): string[] {
  const entrypoint = req.entrypoint ?? image.Entrypoint ?? [];
  const cmd = req.cmd ?? (req.entrypoint ? [] : (image.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0 && req.kind === "system") return ["/sbin/init"];
  return args;
}

/**
 * What Docker's inspect shows as Config: the request merged with the image, so that `ps` and `inspect`
 * name the command that really runs (the image's Cmd when none was given), the merged Env, the WorkingDir,
 * User and StopSignal in effect. Stored with the container; merging it with the image again gives the same.
 */
export function effectiveConfig(
  req: ContainerCreate,
  image: ImageRunConfig,
  description: Pick<ContainerDescription, "process" | "stopSignal">,
  systemInit?: readonly string[],
): Pick<ContainerCreate, "entrypoint" | "cmd" | "env" | "workingDir" | "user" | "stopSignal"> {
  const system = (req.kind ?? "app") === "system";
  const entrypoint = req.entrypoint ?? image.Entrypoint ?? undefined;
  const cmd =
    system && systemInit && !req.cmd && !req.entrypoint
      ? [...systemInit]
      : (req.cmd ?? (req.entrypoint ? undefined : (image.Cmd ?? undefined)));
  const user = req.user ?? (image.User || undefined);
  return {
    ...(entrypoint?.length ? { entrypoint: [...entrypoint] } : {}),
    ...(cmd?.length ? { cmd: [...cmd] } : {}),
    env: description.process.env ?? mergeEnv(image.Env ?? [], req.env ?? []),
    workingDir: description.process.cwd ?? "/",
    ...(user ? { user } : {}),
    ...(description.stopSignal ? { stopSignal: description.stopSignal } : {}),
  };
}

/** Env entries of the image, overridden key by key by the request's. */
export function mergeEnv(image: readonly string[], req: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...image, ...req]) out.set(e.split("=", 1)[0]!, e);
  return [...out.values()];
}

function lookup(text: string | undefined, name: string, field: number): number | undefined {
  for (const line of (text ?? "").split("\n")) {
    const parts = line.split(":");
    if (parts[0] === name && parts[field] !== undefined && /^\d+$/.test(parts[field]!)) return Number(parts[field]);
  }
  return undefined;
}

/** "uid[:gid]" or "name[:group]", resolved against the image's passwd and group files. */
export function resolveUser(
  spec: string,
  passwd: string | undefined,
  group: string | undefined,
  field = "user",
): UserSpec {
  const [u = "", g] = spec.split(":", 2);
  let uid = /^\d+$/.test(u) ? Number(u) : lookup(passwd, u, 2);
  if (uid === undefined) {
    throw new ValidationError([
      { field, message: `user '${u}' is not in the image's /etc/passwd; give a numeric uid or a user of the image` },
    ]);
  }
  let gid: number | undefined;
  if (g !== undefined && g !== "") {
    gid = /^\d+$/.test(g) ? Number(g) : lookup(group, g, 2);
    if (gid === undefined) {
      throw new ValidationError([
        { field, message: `group '${g}' is not in the image's /etc/group; give a numeric gid or a group of the image` },
      ]);
    }
  } else {
    // The user's primary group from passwd, else gid = uid's 0 for root, else the uid.
    const name = /^\d+$/.test(u)
      ? (passwd ?? "")
          .split("\n")
          .find((l) => l.split(":")[2] === u)
          ?.split(":")[0]
      : u;
    gid = (name ? lookup(passwd, name, 3) : undefined) ?? (uid === 0 ? 0 : uid);
  }
  uid = Math.trunc(uid);
  return { uid, gid };
}

/** Docker's --group-add: group names of the image or numeric gids. */
export function groupIds(names: readonly string[], group: string | undefined): number[] {
  return names.map((g, i) => {
    const gid = /^\d+$/.test(g) ? Number(g) : lookup(group, g, 2);
    if (gid === undefined || gid > 0xffffffff - 1) {
      throw new ValidationError([
        {
          field: `groupAdd[${i}]`,
          message: `group '${g}' is not in the image's /etc/group; give a numeric gid or a group of the image`,
        },
      ]);
    }
    return gid;
  });
}

/** Docker's --ulimit name=soft:hard → an rlimit; libct checks the name and the host's hard limits. */
export function rlimitsOf(ulimits: NonNullable<ContainerCreate["ulimits"]>): RlimitSpec[] {
  return ulimits.map((u, i) => {
    if (u.soft < 0 || u.hard < 0) {
      throw new ValidationError([
        {
          field: `ulimits[${i}]`,
          message: `${u.name}: unlimited (-1) cannot be set here; give a number, at most the host's hard limit ('ulimit -H -a' lists them)`,
        },
      ]);
    }
    return { type: `RLIMIT_${u.name.toUpperCase()}`, soft: u.soft, hard: u.hard };
  });
}

/** Docker's --pid (private, host or a container joined by id), --ipc and --uts (private or host). */
function namespacesOf(inp: DescribeInputs): ContainerDescription["namespaces"] {
  const { req } = inp;
  const conflicts: ValidationIssue[] = [];
  if (req.utsMode === "host" && req.hostname !== undefined)
    conflicts.push({
      field: "hostname",
      message: "a host UTS namespace keeps the host's name; drop hostname or utsMode host",
    });
  if (req.ipcMode === "host" && req.shmSizeBytes !== undefined)
    conflicts.push({
      field: "shmSizeBytes",
      message: "with ipcMode host the container uses the host's /dev/shm; drop shmSizeBytes or ipcMode host",
    });
  if (conflicts.length) throw new ValidationError(conflicts);
  const ns: NonNullable<ContainerDescription["namespaces"]> = {};
  const netns = inp.network?.namespace ?? (req.network === "host" ? "host" : "private");
  if (netns !== "private") ns.network = typeof netns === "string" ? netns : { path: netns.path };
  if (req.pidMode === "host") ns.pid = "host";
  else if (req.pidMode?.startsWith("container:")) {
    if (!inp.joins?.pid) throw new Error(`pidMode ${req.pidMode}: the caller did not resolve the container`);
    ns.pid = { container: inp.joins.pid };
  }
  if (req.ipcMode === "host") ns.ipc = "host";
  if (req.utsMode === "host") ns.uts = "host";
  return Object.keys(ns).length ? ns : undefined;
}

/** API resources → libct limits (0 means "no limit", as in Docker). */
export function limitsOf(r: Resources | undefined): Limits | undefined {
  if (!r) return undefined;
  const l: Limits = {};
  const memory: NonNullable<Limits["memory"]> = {};
  if (r.memory) memory.limitBytes = r.memory;
  if (r.memoryReservation) memory.reservationBytes = r.memoryReservation;
  if (r.memorySwap !== undefined && r.memorySwap !== 0) memory.swapBytes = r.memorySwap;
  if (Object.keys(memory).length) l.memory = memory;
  const cpu: NonNullable<Limits["cpu"]> = {};
  if (r.cpus) cpu.cpus = r.cpus;
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.cpusetCpus) cpu.cpusetCpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.cpusetMems = r.cpusetMems;
  if (Object.keys(cpu).length) l.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit !== 0) l.pids = { limit: r.pidsLimit };
  if (r.blkioWeight) l.blockIO = { weight: r.blkioWeight };
  return Object.keys(l).length ? l : undefined;
}

/**
 * libct limits → the OCI resources runc update takes. runc keeps every value it is not given, so a limit
 * that `prev` set and `l` no longer does is lifted explicitly: -1 (unlimited) for memory, swap, the soft
 * limit, the CPU quota and pids, the default 1024 shares, and the host's whole cpuset (`all`).
 */
export function ociResourcesOf(
  l: Limits | undefined,
  prev?: Limits,
  all?: { readonly cpus: string; readonly mems: string },
): OciResources {
  const r: OciResources = {};
  if (l?.memory) {
    r.memory = {
      ...(l.memory.limitBytes !== undefined ? { limit: l.memory.limitBytes } : {}),
      ...(l.memory.reservationBytes !== undefined ? { reservation: l.memory.reservationBytes } : {}),
      ...(l.memory.swapBytes !== undefined ? { swap: l.memory.swapBytes } : {}),
    };
  }
  if (l?.cpu) {
    r.cpu = {
      ...(l.cpu.cpus !== undefined ? { quota: Math.round(l.cpu.cpus * 100_000), period: 100_000 } : {}),
      ...(l.cpu.shares !== undefined ? { shares: l.cpu.shares } : {}),
      ...(l.cpu.cpusetCpus !== undefined ? { cpus: l.cpu.cpusetCpus } : {}),
      ...(l.cpu.cpusetMems !== undefined ? { mems: l.cpu.cpusetMems } : {}),
    };
  }
  if (l?.pids) r.pids = { limit: l.pids.limit };
  if (l?.blockIO?.weight !== undefined) r.blockIO = { weight: l.blockIO.weight };
  const pm = prev?.memory;
  const nm = l?.memory;
  if (pm) {
    const memory: NonNullable<OciResources["memory"]> = { ...r.memory };
    if (pm.limitBytes !== undefined && nm?.limitBytes === undefined) memory.limit = -1;
    // swap is memory+swap: with the memory limit lifted it goes too (the kernel wants memsw >= memory)
    if ((pm.swapBytes !== undefined || memory.limit === -1) && nm?.swapBytes === undefined) memory.swap = -1;
    if (pm.reservationBytes !== undefined && nm?.reservationBytes === undefined) memory.reservation = -1;
    if (Object.keys(memory).length) r.memory = memory;
  }
  const pc = prev?.cpu;
  const nc = l?.cpu;
  if (pc) {
    const cpu: NonNullable<OciResources["cpu"]> = { ...r.cpu };
    if (pc.cpus !== undefined && nc?.cpus === undefined) {
      cpu.quota = -1;
      cpu.period = 100_000;
    }
    if (pc.shares !== undefined && nc?.shares === undefined) cpu.shares = 1024;
    if (pc.cpusetCpus !== undefined && nc?.cpusetCpus === undefined && all) cpu.cpus = all.cpus;
    if (pc.cpusetMems !== undefined && nc?.cpusetMems === undefined && all) cpu.mems = all.mems;
    if (Object.keys(cpu).length) r.cpu = cpu;
  }
  if (prev?.pids && !l?.pids) r.pids = { limit: -1 };
  return r;
}

/** Description field paths → the API fields a client wrote, for messages that name what they sent. */
const fieldMap: [RegExp, string][] = [
  [/^limits\.memory\.limitBytes/, "resources.memory"],
  [/^limits\.memory\.swapBytes/, "resources.memorySwap"],
  [/^limits\.memory\.reservationBytes/, "resources.memoryReservation"],
  [/^limits\.cpu\.cpus/, "resources.cpus"],
  [/^limits\.cpu\.shares/, "resources.cpuShares"],
  [/^limits\.cpu\.cpusetCpus/, "resources.cpusetCpus"],
  [/^limits\.cpu\.cpusetMems/, "resources.cpusetMems"],
  [/^limits\.pids/, "resources.pidsLimit"],
  [/^limits\.blockIO\.weight/, "resources.blkioWeight"],
  [/^capabilities\.add/, "capAdd"],
  [/^capabilities\.drop/, "capDrop"],
  [/^process\.args/, "cmd"],
  [/^process\.env/, "env"],
  [/^process\.cwd/, "workingDir"],
  [/^rootfs\.readonly/, "readOnly"],
  [/^mounts/, "mounts"],
];
/** The same, keeping what follows the matched part (`process.rlimits[1].hard` → `ulimits[1].hard`). */
const prefixMap: [RegExp, string][] = [
  [/^process\.rlimits(\[\d+\])\.type/, "ulimits$1.name"],
  [/^process\.rlimits/, "ulimits"],
  [/^process\.oomScoreAdj/, "oomScoreAdj"],
  [/^process\.user\.additionalGids/, "groupAdd"],
  [/^devices\[(\d+)\]\.path\b/, "devices[$1].pathOnHost"],
  [/^devices\[(\d+)\]\.containerPath/, "devices[$1].pathInContainer"],
  [/^namespaces\.pid/, "pidMode"],
  [/^namespaces\.ipc/, "ipcMode"],
  [/^namespaces\.uts/, "utsMode"],
];
export const apiField = (field: string): string => {
  const prefix = prefixMap.find(([re]) => re.test(field));
  if (prefix) return field.replace(prefix[0], prefix[1]);
  return fieldMap.find(([re]) => re.test(field))?.[1] ?? field;
};
export const toApiIssues = (issues: readonly ValidationIssue[]): ValidationIssue[] =>
  issues.map((i) => ({ field: apiField(i.field), message: i.message }));

function securityOf(opts: readonly string[]): Partial<ContainerDescription> & { noNewPrivileges?: boolean } {
  const out: Partial<ContainerDescription> & { noNewPrivileges?: boolean } = {};
  const issues: ValidationIssue[] = [];
  for (const [i, o] of opts.entries()) {
    const [k, v] = o.includes("=") ? [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)] : o.split(":", 2);
    if (k === "no-new-privileges" && (v === undefined || v === "true")) out.noNewPrivileges = true;
    else if (k === "no-new-privileges" && v === "false") out.noNewPrivileges = false;
    else if (k === "seccomp" && v === "unconfined") out.seccomp = "unconfined";
    else if (k === "seccomp" && v?.trimStart().startsWith("{")) {
      // The profile itself, as Docker's CLI sends it (it reads the file); libct validates its fields.
      try {
        const custom = JSON.parse(v) as unknown;
        if (custom === null || typeof custom !== "object" || Array.isArray(custom)) throw new Error("not an object");
        out.seccomp = { custom: custom as Record<string, unknown> };
      } catch (err) {
        issues.push({
          field: `securityOpt[${i}]`,
          message: `the seccomp profile is not a JSON object (${(err as Error).message}); give the profile's JSON, as in Docker's seccomp profiles`,
        });
      }
    } else if (k === "seccomp" && v) {
      issues.push({
        field: `securityOpt[${i}]`,
        message: `seccomp=${v.slice(0, 60)}: give the profile's JSON, not a path (berth run --security-opt seccomp=FILE reads the file for you)`,
      });
    } else if (k === "apparmor" && v) out.apparmorProfile = v;
    else if (k === "label" && v?.startsWith("type:")) out.selinuxLabel = v;
    else
      issues.push({
        field: `securityOpt[${i}]`,
        message: `'${o}' is not supported; use no-new-privileges[:true|false], seccomp=unconfined, seccomp=PROFILE-JSON or apparmor=PROFILE`,
      });
  }
  if (issues.length) throw new ValidationError(issues);
  return out;
}

export function describe(inp: DescribeInputs): ContainerDescription {
  const { req, image } = inp;
  const kind = req.kind ?? "app";
  // A system container boots the image's init (Incus): the image's Cmd/Entrypoint are for app containers.
  const system = kind === "system";
  const args = system && inp.systemInit && !req.cmd && !req.entrypoint ? [...inp.systemInit] : commandOf(req, image);
  if (args.length === 0) {
    throw new ValidationError([
      { field: "cmd", message: "the image has no Cmd or Entrypoint; give cmd (the command to run)" },
    ]);
  }
  const sec = securityOf(req.securityOpt ?? []);
  const userSpec = req.user ?? (image.User || undefined);
  const mounts: MountSpec[] = (req.mounts ?? []).map((m, i) => {
    if (m.type === "bind") {
      if (!m.source)
        throw new ValidationError([
          { field: `mounts[${i}].source`, message: "a bind mount needs source (a host path)" },
        ]);
      if (!m.source.startsWith("/"))
        throw new ValidationError([
          { field: `mounts[${i}].source`, message: `'${m.source}' is relative; give an absolute host path` },
        ]);
      return {
        type: "bind",
        source: m.source,
        destination: m.target,
        ...(m.readOnly ? { readonly: true } : {}),
        ...(m.bindPropagation ? { propagation: m.bindPropagation } : {}),
      };
    }
    if (m.type === "volume") {
      if (m.source === undefined && inp.newVolumeName) {
        const name = inp.newVolumeName();
        return {
          type: "volume",
          name,
          destination: m.target,
          anonymous: true,
          ...(m.readOnly ? { readonly: true } : {}),
        };
      }
      if (!m.source || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(m.source)) {
        throw new ValidationError([
          {
            field: `mounts[${i}].source`,
            message: "a volume mount needs source: a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
          },
        ]);
      }
      return { type: "volume", name: m.source, destination: m.target, ...(m.readOnly ? { readonly: true } : {}) };
    }
    return {
      type: "tmpfs",
      destination: m.target,
      ...(m.tmpfsSize ? { sizeBytes: m.tmpfsSize } : {}),
      ...(m.readOnly ? { readonly: true } : {}),
    };
  });
  // Docker's VOLUME: every path the image declares that no mount of the request covers gets an anonymous volume,
  // which libct fills with what the image holds there when it makes it. App containers only: a system
  // container's whole root persists.
  // "/data/" and "/data//" are "/data".
  const clean = (path: string) => posix.normalize(path).replace(/(.)\/$/, "$1");
  if (!system && inp.newVolumeName) {
    for (const declared of Object.keys(image.Volumes ?? {})) {
      const destination = clean(declared);
      if (!destination.startsWith("/") || destination === "/") continue;
      if (mounts.some((m) => clean(m.destination) === destination)) continue;
      mounts.push({ type: "volume", name: inp.newVolumeName(), destination, anonymous: true });
    }
  }
  // Parents before children, as Docker orders them: a volume at /data must not hide a mount at /data/cache.
  const depth = (m: MountSpec) => clean(m.destination).split("/").filter(Boolean).length;
  mounts.sort((a, b) => depth(a) - depth(b));
  if (req.shmSizeBytes !== undefined && !mounts.some((m) => m.destination === "/dev/shm")) {
    // Docker's /dev/shm with the size asked for: it replaces the default one (libct: user mounts win).
    mounts.push({ type: "tmpfs", destination: "/dev/shm", sizeBytes: req.shmSizeBytes, mode: 0o1777 });
  }
  for (const m of inp.etcMounts ?? []) if (!mounts.some((u) => u.destination === m.destination)) mounts.push(m);
  const namespaces = namespacesOf(inp);
  const limits = limitsOf(req.resources);
  const stopSignal =
    req.stopSignal ??
    (image.StopSignal || undefined) ??
    (system ? image.Labels?.["org.berth.image.stop-signal"] || undefined : undefined) ??
    // An init other than systemd (busybox init) ignores SIGRTMIN+3; SIGTERM makes busybox init shut down.
    (system && image.Labels?.["org.berth.image.init"] !== "systemd" ? "SIGTERM" : undefined);
  const labels = { ...(image.Labels ?? {}), ...(req.labels ?? {}) };
  return {
    kind,
    rootfs: { path: inp.rootfs, ...(req.readOnly ? { readonly: true } : {}) },
    process: {
      args,
      env: mergeEnv(image.Env ?? [], req.env ?? []),
      cwd: req.workingDir ?? (image.WorkingDir || "/"),
      ...(userSpec || req.groupAdd?.length
        ? {
            user: {
              ...(userSpec ? resolveUser(userSpec, inp.passwd, inp.group) : { uid: 0, gid: 0 }),
              ...(req.groupAdd?.length ? { additionalGids: groupIds(req.groupAdd, inp.group) } : {}),
            },
          }
        : {}),
      ...(req.tty || system ? { terminal: true } : {}),
      ...((req.tty || system) && req.consoleSize ? { consoleSize: { ...req.consoleSize } } : {}),
      ...(sec.noNewPrivileges ? { noNewPrivileges: true } : {}),
      ...(req.oomScoreAdj !== undefined ? { oomScoreAdj: req.oomScoreAdj } : {}),
      ...(req.ulimits?.length ? { rlimits: rlimitsOf(req.ulimits) } : {}),
    },
    // A host UTS namespace keeps the host's name: there is none to set.
    ...(req.utsMode === "host"
      ? {}
      : { hostname: req.hostname ?? (system && inp.name ? inp.name : (inp.defaultHostname ?? inp.id.slice(0, 12))) }),
    ...(system && inp.idMap ? { idMap: inp.idMap } : {}),
    ...(mounts.length ? { mounts } : {}),
    ...(namespaces ? { namespaces } : {}),
    ...(req.sysctls && Object.keys(req.sysctls).length ? { sysctls: { ...req.sysctls } } : {}),
    ...(req.devices?.length
      ? {
          devices: req.devices.map((dv) => ({
            path: dv.pathOnHost,
            ...(dv.pathInContainer && dv.pathInContainer !== dv.pathOnHost
              ? { containerPath: dv.pathInContainer }
              : {}),
            ...(dv.permissions ? { permissions: dv.permissions } : {}),
          })),
        }
      : {}),
    ...(limits ? { limits } : {}),
    ...(req.capAdd?.length || req.capDrop?.length
      ? { capabilities: { ...(req.capAdd ? { add: req.capAdd } : {}), ...(req.capDrop ? { drop: req.capDrop } : {}) } }
      : {}),
    ...(sec.seccomp ? { seccomp: sec.seccomp } : {}),
    ...(sec.apparmorProfile ? { apparmorProfile: sec.apparmorProfile } : {}),
    ...(sec.selinuxLabel ? { selinuxLabel: sec.selinuxLabel } : {}),
    ...(req.privileged ? { privileged: true } : {}),
    ...(stopSignal ? { stopSignal } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
  };
}
