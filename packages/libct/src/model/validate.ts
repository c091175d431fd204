/**
 * Validation of container descriptions: a list of named checks (runc libcontainer's configs/validate
 * style). Each check reads the raw input defensively, so the same code validates typed values and
 * untrusted JSON bodies. Every issue names the field and says how to fix it.
 */
import { ValidationError, type ValidationIssue } from "../errors.js";
import { KNOWN_CAPABILITIES, nearest, normalizeCapability, suggestCapability } from "./capabilities.js";
import {
  type ContainerDescription,
  JOINABLE_NAMESPACES,
  MOUNT_PROPAGATIONS,
  NAMESPACE_NAMES,
  RLIMIT_TYPES,
} from "./description.js";
import type { HostFacts } from "./host.js";
import { signalNumber } from "./signals.js";

type Rec = Record<string, unknown>;
type Issues = ValidationIssue[];

/** One named check; `run` pushes issues for the raw description `d` (already known to be an object). */
export interface DescriptionCheck {
  readonly name: string;
  readonly run: (d: Rec, host: HostFacts | undefined, out: Issues) => void;
}

/** Docker's minimum for --memory. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** Anything above 1 PiB is taken for a unit mistake. */
export const MAX_MEMORY_BYTES = 2 ** 50;
export const MAX_CPUS = 1024;

const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isNonNegInt = (v: unknown): v is number => isInt(v) && v >= 0;
const show = (v: unknown): string => {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const issue = (out: Issues, field: string, message: string): void => {
  out.push({ field, message });
};

/** A path that is absolute and has no "." or ".." segment. */
function checkAbsolutePath(out: Issues, field: string, v: unknown, example: string): void {
  if (typeof v !== "string" || v === "") {
    issue(out, field, `must be a non-empty absolute path (got ${show(v)}); use e.g. "${example}"`);
  } else if (!v.startsWith("/")) {
    issue(out, field, `must be an absolute path (got ${show(v)}); use "/${v.replace(/^\.?\/*/, "")}"`);
  } else if (v.split("/").some((seg) => seg === ".." || seg === ".")) {
    issue(out, field, `must not contain "." or ".." segments (got ${show(v)}); write the resolved path instead`);
  } else if (v.includes("\0")) {
    issue(out, field, "must not contain NUL characters; remove them");
  }
}

function checkBool(out: Issues, field: string, v: unknown): void {
  if (v !== undefined && typeof v !== "boolean") issue(out, field, `must be true or false (got ${show(v)})`);
}

function checkStringMap(out: Issues, field: string, v: unknown, example: string): v is Rec {
  if (v === undefined) return false;
  if (!isRec(v)) {
    issue(out, field, `must be an object of string values (got ${show(v)}); use e.g. ${example}`);
    return false;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") issue(out, `${field}.${k}`, `must be a string (got ${show(val)}); quote it, e.g. "1"`);
  }
  return true;
}

const TOP_LEVEL_KEYS = [
  "kind",
  "rootfs",
  "process",
  "hostname",
  "mounts",
  "namespaces",
  "idMap",
  "limits",
  "sysctls",
  "capabilities",
  "seccomp",
  "apparmorProfile",
  "selinuxLabel",
  "devices",
  "privileged",
  "stopSignal",
  "labels",
];

const nsMode = (d: Rec, ns: string): unknown => (isRec(d.namespaces) ? d.namespaces[ns] : undefined);
const isPrivileged = (d: Rec): boolean => d.privileged === true;
/** Mirrors model/idmap.ts usesUserNamespace for raw input. */
const rawUsesUserNs = (d: Rec): boolean => {
  const mode = nsMode(d, "user");
  if (mode === "host") return false;
  if (mode === "private") return true;
  return d.idMap !== undefined && !(d.kind === "system" && isPrivileged(d));
};

/** 1-63 characters of letters, digits and hyphens per label, no hyphen at either end; 64 characters in all. */
const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export const isValidHostname = (name: string): boolean =>
  name.length >= 1 && name.length <= 64 && name.split(".").every((label) => HOSTNAME_LABEL.test(label));

/** cpuset list syntax: "0-3,6,8-9" with ascending ranges. */
export function isValidCpuset(s: string): boolean {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(s)) return false;
  return s.split(",").every((part) => {
    const [a, b] = part.split("-").map(Number);
    return b === undefined || a! <= b;
  });
}

/** The members of a valid cpuset list that `available` (also a cpuset list) lacks: "0-3" within "0-1" → [2, 3]. */
export function cpusetMissing(requested: string, available: string): number[] {
  const spans = (list: string) =>
    list
      .split(",")
      .filter(Boolean)
      .map((part) => {
        const [a, b = a] = part.split("-").map(Number);
        return [a!, b!] as const;
      });
  const have = spans(available);
  const missing: number[] = [];
  for (const [a, b] of spans(requested)) {
    for (let n = a; n <= b && missing.length < 64; n++) {
      if (!have.some(([x, y]) => n >= x && n <= y)) missing.push(n);
    }
  }
  return missing;
}

export const isValidSysctlName = (name: string): boolean => /^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$/.test(name);

/** Which namespace a sysctl belongs to (Docker's ValidateSysctl); undefined: not namespaced. */
export function sysctlNamespace(name: string): "network" | "ipc" | "uts" | undefined {
  if (name.startsWith("net.")) return "network";
  if (/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/.test(name)) return "ipc";
  if (name.startsWith("fs.mqueue.")) return "ipc";
  if (name === "kernel.domainname" || name === "kernel.hostname") return "uts";
  return undefined;
}

const SECCOMP_ACTIONS = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
];

export const descriptionChecks: readonly DescriptionCheck[] = [
  {
    name: "known-fields",
    run(d, _host, out) {
      for (const key of Object.keys(d)) {
        if (!TOP_LEVEL_KEYS.includes(key)) {
          issue(
            out,
            key,
            `is not a description field; did you mean ${nearest(key, TOP_LEVEL_KEYS)}? Remove it otherwise`,
          );
        }
      }
    },
  },
  {
    name: "kind",
    run(d, _host, out) {
      if (d.kind !== "app" && d.kind !== "system") {
        issue(
          out,
          "kind",
          `must be "app" or "system" (got ${show(d.kind)}); use "app" for one service, "system" for an init`,
        );
      }
    },
  },
  {
    name: "rootfs",
    run(d, _host, out) {
      if (!isRec(d.rootfs)) {
        issue(
          out,
          "rootfs",
          `must be an object with an absolute path (got ${show(d.rootfs)}); use e.g. { "path": "/var/lib/berth/storage/c1/rootfs" }`,
        );
        return;
      }
      checkAbsolutePath(out, "rootfs.path", d.rootfs.path, "/var/lib/berth/storage/c1/rootfs");
      if (d.rootfs.path === "/")
        issue(out, "rootfs.path", `must not be the host's "/"; use a prepared rootfs directory`);
      checkBool(out, "rootfs.readonly", d.rootfs.readonly);
    },
  },
  {
    name: "process",
    run(d, _host, out) {
      const p = d.process;
      if (!isRec(p)) {
        issue(out, "process", `must be an object with args (got ${show(p)}); use e.g. { "args": ["/bin/sh"] }`);
        return;
      }
      if (!Array.isArray(p.args) || p.args.length === 0) {
        issue(
          out,
          "process.args",
          `must be a non-empty list of strings (got ${show(p.args)}); use e.g. ["/bin/sh", "-c", "echo hi"]`,
        );
      } else {
        p.args.forEach((a, i) => {
          if (typeof a !== "string") issue(out, `process.args[${i}]`, `must be a string (got ${show(a)}); quote it`);
        });
        if (p.args[0] === "") issue(out, "process.args[0]", `must name the program to run; use e.g. "/sbin/init"`);
      }
      if (p.env !== undefined) {
        if (!Array.isArray(p.env)) {
          issue(
            out,
            "process.env",
            `must be a list of "KEY=VALUE" strings (got ${show(p.env)}); use e.g. ["LANG=C.UTF-8"]`,
          );
        } else {
          p.env.forEach((e, i) => {
            if (typeof e !== "string" || !/^[^=\0]+=/.test(e) || e.includes("\0")) {
              issue(
                out,
                `process.env[${i}]`,
                `must be "KEY=VALUE" with a non-empty key (got ${show(e)}); write e.g. "${typeof e === "string" && e ? e.split("=")[0] : "KEY"}=value"`,
              );
            }
          });
        }
      }
      if (p.cwd !== undefined) checkAbsolutePath(out, "process.cwd", p.cwd, "/");
      if (p.user !== undefined) {
        if (!isRec(p.user)) {
          issue(out, "process.user", `must be an object (got ${show(p.user)}); use e.g. { "uid": 1000, "gid": 1000 }`);
        } else {
          for (const k of ["uid", "gid"] as const) {
            const v = p.user[k];
            if (!isNonNegInt(v) || v > 0xfffffffe) {
              issue(
                out,
                `process.user.${k}`,
                `must be an integer from 0 to 4294967294 (got ${show(v)}); use e.g. 1000, or 0 for root`,
              );
            }
          }
          if (p.user.additionalGids !== undefined) {
            if (!Array.isArray(p.user.additionalGids) || !p.user.additionalGids.every(isNonNegInt)) {
              issue(
                out,
                "process.user.additionalGids",
                `must be a list of non-negative integers (got ${show(p.user.additionalGids)}); use e.g. [10, 100]`,
              );
            }
          }
        }
      }
      checkBool(out, "process.terminal", p.terminal);
      if (p.consoleSize !== undefined) {
        const cs = p.consoleSize;
        const dim = (v: unknown) => isInt(v) && (v as number) >= 1 && (v as number) <= 65535;
        if (!isRec(cs) || !dim(cs.height) || !dim(cs.width)) {
          issue(
            out,
            "process.consoleSize",
            `must be { height, width }, each an integer from 1 to 65535 (got ${show(cs)}); use e.g. { "height": 24, "width": 80 }`,
          );
        }
      }
      checkBool(out, "process.noNewPrivileges", p.noNewPrivileges);
      if (p.oomScoreAdj !== undefined && (!isInt(p.oomScoreAdj) || p.oomScoreAdj < -1000 || p.oomScoreAdj > 1000)) {
        issue(
          out,
          "process.oomScoreAdj",
          `must be an integer from -1000 to 1000 (got ${show(p.oomScoreAdj)}); use e.g. 500 to prefer killing this container`,
        );
      }
    },
  },
  {
    name: "rlimits",
    run(d, host, out) {
      const rl = isRec(d.process) ? d.process.rlimits : undefined;
      if (rl === undefined) return;
      if (!Array.isArray(rl)) {
        issue(
          out,
          "process.rlimits",
          `must be a list (got ${show(rl)}); use e.g. [{ "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096 }]`,
        );
        return;
      }
      const seen = new Set<string>();
      rl.forEach((r, i) => {
        const f = `process.rlimits[${i}]`;
        if (!isRec(r)) {
          issue(
            out,
            f,
            `must be an object (got ${show(r)}); use e.g. { "type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096 }`,
          );
          return;
        }
        const type = typeof r.type === "string" ? r.type.toUpperCase() : undefined;
        if (type === undefined || !(RLIMIT_TYPES as readonly string[]).includes(type)) {
          const guess = nearest(type?.startsWith("RLIMIT_") ? type : `RLIMIT_${type ?? ""}`, RLIMIT_TYPES);
          issue(
            out,
            `${f}.type`,
            `is not a known rlimit (got ${show(r.type)}); did you mean ${guess}? Known: ${RLIMIT_TYPES.join(", ")}`,
          );
        } else if (seen.has(type)) {
          issue(out, `${f}.type`, `${type} is set twice; keep one entry`);
        } else {
          seen.add(type);
        }
        for (const k of ["soft", "hard"] as const) {
          if (!isNonNegInt(r[k]))
            issue(out, `${f}.${k}`, `must be a non-negative integer (got ${show(r[k])}); use e.g. 1024`);
        }
        if (isNonNegInt(r.soft) && isNonNegInt(r.hard) && r.soft > r.hard) {
          issue(
            out,
            `${f}.soft`,
            `must not exceed hard (${r.soft} > ${r.hard}); lower soft to at most ${r.hard} or raise hard`,
          );
        }
        const hostHard = type ? host?.hardRlimits[type] : undefined;
        if (hostHard !== undefined && isNonNegInt(r.hard) && r.hard > hostHard) {
          const lacks = host && !host.capabilities.includes("CAP_SYS_RESOURCE");
          issue(
            out,
            `${f}.hard`,
            `exceeds the host's hard limit: the host's hard limit is ${hostHard}` +
              (lacks ? "; this host lacks CAP_SYS_RESOURCE so it cannot be raised" : "") +
              `; use at most ${hostHard}`,
          );
        }
      });
    },
  },
  {
    name: "hostname",
    run(d, _host, out) {
      if (d.hostname === undefined) return;
      if (typeof d.hostname !== "string" || !isValidHostname(d.hostname)) {
        issue(
          out,
          "hostname",
          `must be an RFC 1123 host name: labels of letters, digits and inner hyphens, 64 characters at most (got ${show(d.hostname)}); use e.g. "web-1"`,
        );
      }
      if (nsMode(d, "uts") === "host") {
        issue(
          out,
          "hostname",
          `needs a private uts namespace, but namespaces.uts is "host"; remove hostname or set namespaces.uts to "private"`,
        );
      }
    },
  },
  {
    name: "mounts",
    run(d, _host, out) {
      if (d.mounts === undefined) return;
      if (!Array.isArray(d.mounts)) {
        issue(
          out,
          "mounts",
          `must be a list (got ${show(d.mounts)}); use e.g. [{ "type": "tmpfs", "destination": "/tmp" }]`,
        );
        return;
      }
      const dests = new Map<string, number>();
      d.mounts.forEach((m, i) => {
        const f = `mounts[${i}]`;
        if (!isRec(m)) {
          issue(
            out,
            f,
            `must be an object (got ${show(m)}); use e.g. { "type": "bind", "source": "/srv", "destination": "/srv" }`,
          );
          return;
        }
        if (m.type !== "bind" && m.type !== "tmpfs" && m.type !== "volume") {
          issue(out, `${f}.type`, `must be "bind", "tmpfs" or "volume" (got ${show(m.type)}); pick one of them`);
        }
        checkAbsolutePath(out, `${f}.destination`, m.destination, "/data");
        if (typeof m.destination === "string") {
          const prev = dests.get(m.destination);
          if (prev !== undefined) {
            issue(
              out,
              `${f}.destination`,
              `${m.destination} is already mounted by mounts[${prev}]; remove one of the two`,
            );
          }
          dests.set(m.destination, i);
        }
        checkBool(out, `${f}.readonly`, m.readonly);
        if (m.type === "bind") {
          checkAbsolutePath(out, `${f}.source`, m.source, "/srv/data");
          checkBool(out, `${f}.recursive`, m.recursive);
          if (m.propagation !== undefined && !MOUNT_PROPAGATIONS.includes(m.propagation as never)) {
            issue(
              out,
              `${f}.propagation`,
              `is not a mount propagation (got ${show(m.propagation)}); use one of ${MOUNT_PROPAGATIONS.join(", ")}`,
            );
          }
        } else if (m.type === "tmpfs") {
          if (m.sizeBytes !== undefined && (!isInt(m.sizeBytes) || m.sizeBytes <= 0)) {
            issue(
              out,
              `${f}.sizeBytes`,
              `must be a positive number of bytes (got ${show(m.sizeBytes)}); use e.g. 67108864 for 64 MiB`,
            );
          }
          if (m.mode !== undefined && (!isNonNegInt(m.mode) || m.mode > 0o7777)) {
            issue(
              out,
              `${f}.mode`,
              `must be permission bits from 0 to 0o7777 (got ${show(m.mode)}); use e.g. 1023 (0o1777)`,
            );
          }
        } else if (m.type === "volume") {
          if (typeof m.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(m.name)) {
            issue(
              out,
              `${f}.name`,
              `must be a volume name of letters, digits, "_", "." and "-" (got ${show(m.name)}); use e.g. "pgdata"`,
            );
          }
        }
      });
    },
  },
  {
    name: "namespaces",
    run(d, _host, out) {
      const ns = d.namespaces;
      if (ns === undefined) return;
      if (!isRec(ns)) {
        issue(out, "namespaces", `must be an object (got ${show(ns)}); use e.g. { "network": "host" }`);
        return;
      }
      for (const [name, mode] of Object.entries(ns)) {
        const f = `namespaces.${name}`;
        if (!(NAMESPACE_NAMES as readonly string[]).includes(name)) {
          issue(
            out,
            f,
            `is not a namespace; did you mean ${nearest(name, NAMESPACE_NAMES)}? Known: ${NAMESPACE_NAMES.join(", ")}`,
          );
          continue;
        }
        if (mode === "host" && name === "mount") {
          issue(
            out,
            f,
            `a container needs its own mount namespace; use "private" and bind-mount what you need from the host`,
          );
          continue;
        }
        if (mode === "private" || mode === "host") continue;
        if (isRec(mode) && typeof mode.container === "string" && mode.container !== "") {
          if (!(JOINABLE_NAMESPACES as readonly string[]).includes(name)) {
            issue(
              out,
              f,
              `cannot join another container's ${name} namespace (only ${JOINABLE_NAMESPACES.join(", ")} can be joined); use "private" or "host"`,
            );
          }
          continue;
        }
        if (isRec(mode) && typeof mode.path === "string") {
          if (!(JOINABLE_NAMESPACES as readonly string[]).includes(name)) {
            issue(
              out,
              f,
              `cannot join a ${name} namespace by path (only ${JOINABLE_NAMESPACES.join(", ")} can be joined); use "private" or "host"`,
            );
          } else if (!mode.path.startsWith("/") || mode.path.split("/").includes("..")) {
            issue(
              out,
              `${f}.path`,
              `must be an absolute path without '..' (got ${show(mode.path)}), e.g. /run/netns/web`,
            );
          }
          continue;
        }
        issue(
          out,
          f,
          `must be "private", "host", { "container": "<name or id>" } or { "path": "/run/netns/NAME" } (got ${show(mode)}); use "private" for a new namespace`,
        );
      }
    },
  },
  {
    name: "user-namespace",
    run(d, host, out) {
      const usesUserNs = rawUsesUserNs(d);
      if (host && !host.userNamespaces && usesUserNs) {
        issue(
          out,
          "namespaces.user",
          "this host does not support user namespaces; enable them (sysctl user.max_user_namespaces) or remove idMap and set privileged: true",
        );
      }
      if (d.kind === "system" && !isPrivileged(d) && (d.idMap === undefined || nsMode(d, "user") === "host")) {
        issue(
          out,
          "idMap",
          `a system container needs a user namespace with an id map unless privileged; set idMap to e.g. { "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }], "gidMappings": [same] } (defaultSystemIdMap(100000))`,
        );
      }
      if (nsMode(d, "user") === "private" && d.idMap === undefined) {
        issue(
          out,
          "idMap",
          `namespaces.user is "private" but no id map is given; add idMap (e.g. defaultSystemIdMap(100000))`,
        );
      }
      if (d.idMap !== undefined && !usesUserNs) {
        issue(
          out,
          "idMap",
          'is given but no user namespace is used (privileged, or namespaces.user is "host"); remove idMap or the privileged flag',
        );
      }
    },
  },
  {
    name: "id-map",
    run(d, _host, out) {
      const m = d.idMap;
      if (m === undefined) return;
      if (!isRec(m)) {
        issue(
          out,
          "idMap",
          `must be an object with uidMappings and gidMappings (got ${show(m)}); use defaultSystemIdMap(100000)`,
        );
        return;
      }
      const user = isRec(d.process) && isRec(d.process.user) ? d.process.user : undefined;
      for (const k of ["uidMappings", "gidMappings"] as const) {
        const list = m[k];
        const f = `idMap.${k}`;
        if (!Array.isArray(list) || list.length === 0) {
          issue(
            out,
            f,
            `must be a non-empty list of { containerID, hostID, size } (got ${show(list)}); use e.g. [{ "containerID": 0, "hostID": 100000, "size": 65536 }]`,
          );
          continue;
        }
        const ranges: { c: number; h: number; s: number; i: number }[] = [];
        list.forEach((e, i) => {
          const ef = `${f}[${i}]`;
          if (!isRec(e)) {
            issue(
              out,
              ef,
              `must be an object (got ${show(e)}); use e.g. { "containerID": 0, "hostID": 100000, "size": 65536 }`,
            );
            return;
          }
          let ok = true;
          for (const key of ["containerID", "hostID"] as const) {
            if (!isNonNegInt(e[key]) || (e[key] as number) > 0xfffffffe) {
              issue(
                out,
                `${ef}.${key}`,
                `must be an integer from 0 to 4294967294 (got ${show(e[key])}); use e.g. ${key === "hostID" ? 100000 : 0}`,
              );
              ok = false;
            }
          }
          if (!isInt(e.size) || e.size < 1) {
            issue(out, `${ef}.size`, `must be at least 1 (got ${show(e.size)}); use e.g. 65536 for a full range`);
            ok = false;
          }
          if (ok) ranges.push({ c: e.containerID as number, h: e.hostID as number, s: e.size as number, i });
        });
        for (let a = 0; a < ranges.length; a++) {
          for (let b = a + 1; b < ranges.length; b++) {
            const x = ranges[a]!;
            const y = ranges[b]!;
            if (x.c < y.c + y.s && y.c < x.c + x.s) {
              issue(
                out,
                `${f}[${y.i}].containerID`,
                `container range ${y.c}+${y.s} overlaps ${f}[${x.i}] (${x.c}+${x.s}); move it to start at ${x.c + x.s} or shrink one`,
              );
            }
            if (x.h < y.h + y.s && y.h < x.h + x.s) {
              issue(
                out,
                `${f}[${y.i}].hostID`,
                `host range ${y.h}+${y.s} overlaps ${f}[${x.i}] (${x.h}+${x.s}); move it to start at ${x.h + x.s} or shrink one`,
              );
            }
          }
        }
        const covered = (id: number) => ranges.some((r) => id >= r.c && id < r.c + r.s);
        if (ranges.length === list.length) {
          const ids: [string, unknown][] =
            k === "uidMappings"
              ? [["process.user.uid", user?.uid ?? 0]]
              : [
                  ["process.user.gid", user?.gid ?? 0],
                  ...(Array.isArray(user?.additionalGids)
                    ? user.additionalGids.map((g, i): [string, unknown] => [`process.user.additionalGids[${i}]`, g])
                    : []),
                ];
          for (const [field, id] of ids) {
            if (isNonNegInt(id) && !covered(id)) {
              issue(
                out,
                field,
                `${id} is not mapped by idMap.${k}, so the process could not run as it; extend ${f} to cover ${id} or pick a mapped id`,
              );
            }
          }
        }
      }
    },
  },
  {
    name: "memory",
    run(d, _host, out) {
      const mem = isRec(d.limits) ? d.limits.memory : undefined;
      if (mem === undefined) return;
      if (!isRec(mem)) {
        issue(out, "limits.memory", `must be an object (got ${show(mem)}); use e.g. { "limitBytes": 268435456 }`);
        return;
      }
      const f = "limits.memory";
      const lim = mem.limitBytes;
      if (lim !== undefined) {
        if (!isInt(lim) || lim <= 0) {
          issue(
            out,
            `${f}.limitBytes`,
            `must be a positive number of bytes (got ${show(lim)}); use e.g. 268435456 for 256 MiB`,
          );
        } else if (lim < MIN_MEMORY_BYTES) {
          issue(
            out,
            `${f}.limitBytes`,
            `must be at least 6 MiB (6291456 bytes), as in Docker (got ${lim}); use e.g. 268435456 for 256 MiB`,
          );
        } else if (lim > MAX_MEMORY_BYTES) {
          issue(
            out,
            `${f}.limitBytes`,
            `${lim} bytes is more than 1 PiB, probably a unit mistake; give bytes, e.g. 268435456 for 256 MiB`,
          );
        }
      }
      const res = mem.reservationBytes;
      if (res !== undefined) {
        if (!isInt(res) || res <= 0 || res > MAX_MEMORY_BYTES) {
          issue(
            out,
            `${f}.reservationBytes`,
            `must be a positive number of bytes up to 1 PiB (got ${show(res)}); use e.g. 134217728 for 128 MiB`,
          );
        } else if (isInt(lim) && lim > 0 && res > lim) {
          issue(
            out,
            `${f}.reservationBytes`,
            `must not exceed limitBytes (${res} > ${lim}); lower it or raise limitBytes`,
          );
        }
      }
      const swap = mem.swapBytes;
      if (swap !== undefined) {
        if (!isInt(swap) || (swap !== -1 && (swap <= 0 || swap > MAX_MEMORY_BYTES))) {
          issue(
            out,
            `${f}.swapBytes`,
            `must be memory+swap in bytes, or -1 for unlimited swap (got ${show(swap)}); use e.g. 536870912`,
          );
        } else if (lim === undefined) {
          issue(out, `${f}.swapBytes`, "needs limitBytes: swapBytes is the memory+swap total; set limitBytes as well");
        } else if (swap !== -1 && isInt(lim) && swap < lim) {
          issue(
            out,
            `${f}.swapBytes`,
            `is the memory+swap total and must be at least limitBytes (${swap} < ${lim}); use ${lim} for no swap or -1 for unlimited`,
          );
        }
      }
    },
  },
  {
    name: "cpu",
    run(d, host, out) {
      const cpu = isRec(d.limits) ? d.limits.cpu : undefined;
      if (cpu === undefined) return;
      const f = "limits.cpu";
      if (!isRec(cpu)) {
        issue(out, f, `must be an object (got ${show(cpu)}); use e.g. { "cpus": 0.5 }`);
        return;
      }
      if (cpu.cpus !== undefined) {
        if (typeof cpu.cpus !== "number" || !Number.isFinite(cpu.cpus) || cpu.cpus <= 0 || cpu.cpus > MAX_CPUS) {
          issue(
            out,
            `${f}.cpus`,
            `must be a number of CPUs above 0 and at most ${MAX_CPUS} (got ${show(cpu.cpus)}); use e.g. 0.5 for half a CPU`,
          );
        } else if (Math.round(cpu.cpus * 100000) < 1000) {
          issue(
            out,
            `${f}.cpus`,
            `is below the kernel's minimum quota of 1 ms per 100 ms (got ${cpu.cpus}); use at least 0.01`,
          );
        }
      }
      if (cpu.shares !== undefined && (!isInt(cpu.shares) || cpu.shares < 2 || cpu.shares > 262144)) {
        issue(
          out,
          `${f}.shares`,
          `must be an integer from 2 to 262144 (got ${show(cpu.shares)}); use e.g. 1024 (the default weight)`,
        );
      }
      if (cpu.weight !== undefined && (!isInt(cpu.weight) || cpu.weight < 1 || cpu.weight > 10000)) {
        issue(
          out,
          `${f}.weight`,
          `must be an integer from 1 to 10000 (got ${show(cpu.weight)}); use e.g. 100 (the default weight)`,
        );
      }
      if (cpu.shares !== undefined && cpu.weight !== undefined) {
        issue(out, `${f}.weight`, "and shares express the same thing (v2 and v1 units); set only one of them");
      }
      for (const k of ["cpusetCpus", "cpusetMems"] as const) {
        const v = cpu[k];
        if (v !== undefined && (typeof v !== "string" || !isValidCpuset(v))) {
          issue(
            out,
            `${f}.${k}`,
            `must be a cpuset list such as "0-3,6" with ascending ranges (got ${show(v)}); use e.g. "0-1"`,
          );
        } else if (v !== undefined && host?.cpuset) {
          const available = k === "cpusetCpus" ? host.cpuset.cpus : host.cpuset.mems;
          const missing = cpusetMissing(v, available);
          if (missing.length) {
            issue(
              out,
              `${f}.${k}`,
              `asks for ${k === "cpusetCpus" ? "CPUs" : "memory nodes"} this host does not have (${missing.join(",")}); use some of ${available}, the ones this host has`,
            );
          }
        }
      }
    },
  },
  {
    name: "pids-and-blockio",
    run(d, _host, out) {
      if (!isRec(d.limits)) {
        if (d.limits !== undefined)
          issue(
            out,
            "limits",
            `must be an object (got ${show(d.limits)}); use e.g. { "memory": { "limitBytes": 268435456 } }`,
          );
        return;
      }
      const pids = d.limits.pids;
      if (pids !== undefined) {
        if (!isRec(pids) || !isInt(pids.limit) || (pids.limit !== -1 && pids.limit < 1)) {
          issue(
            out,
            "limits.pids.limit",
            `must be a positive number of tasks or -1 for unlimited (got ${show(isRec(pids) ? pids.limit : pids)}); use e.g. 4096`,
          );
        }
      }
      const bio = d.limits.blockIO;
      if (bio === undefined) return;
      if (!isRec(bio)) {
        issue(out, "limits.blockIO", `must be an object (got ${show(bio)}); use e.g. { "weight": 500 }`);
        return;
      }
      if (bio.weight !== undefined && (!isInt(bio.weight) || bio.weight < 10 || bio.weight > 1000)) {
        issue(
          out,
          "limits.blockIO.weight",
          `must be an integer from 10 to 1000 (got ${show(bio.weight)}); use e.g. 500`,
        );
      }
      if (bio.throttle === undefined) return;
      if (!Array.isArray(bio.throttle)) {
        issue(
          out,
          "limits.blockIO.throttle",
          `must be a list (got ${show(bio.throttle)}); use e.g. [{ "device": "8:0", "readBps": 10485760 }]`,
        );
        return;
      }
      bio.throttle.forEach((t, i) => {
        const f = `limits.blockIO.throttle[${i}]`;
        if (!isRec(t)) {
          issue(out, f, `must be an object (got ${show(t)}); use e.g. { "device": "8:0", "readBps": 10485760 }`);
          return;
        }
        if (typeof t.device !== "string" || !/^\d+:\d+$/.test(t.device)) {
          issue(
            out,
            `${f}.device`,
            `must be a block device as "major:minor" (got ${show(t.device)}); find it with \`lsblk -o NAME,MAJ:MIN\`, e.g. "8:0"`,
          );
        }
        const rates = ["readBps", "writeBps", "readIops", "writeIops"] as const;
        for (const r of rates) {
          if (t[r] !== undefined && (!isInt(t[r]) || (t[r] as number) <= 0)) {
            issue(
              out,
              `${f}.${r}`,
              `must be a positive integer (got ${show(t[r])}); use e.g. 10485760 (10 MiB/s) or 1000 IOPS`,
            );
          }
        }
        if (rates.every((r) => t[r] === undefined)) {
          issue(out, f, "sets no rate; add readBps, writeBps, readIops or writeIops, or remove the entry");
        }
      });
    },
  },
  {
    name: "sysctls",
    run(d, _host, out) {
      if (!checkStringMap(out, "sysctls", d.sysctls, `{ "net.ipv4.ip_forward": "1" }`)) return;
      for (const name of Object.keys(d.sysctls as Rec)) {
        const f = `sysctls.${name}`;
        if (!isValidSysctlName(name)) {
          issue(
            out,
            f,
            `is not a sysctl name (dotted lowercase, e.g. "net.ipv4.ip_forward"); write it with dots, not slashes`,
          );
          continue;
        }
        const ns = sysctlNamespace(name);
        if (ns === undefined) {
          issue(
            out,
            f,
            "is not namespaced, so a container cannot set it without changing the host; set it on the host instead, or use net.*, kernel.shm*/msg*/sem or fs.mqueue.*",
          );
        } else if (nsMode(d, ns) === "host" || (isRec(nsMode(d, ns)) && ns !== "uts")) {
          issue(
            out,
            f,
            `belongs to the ${ns} namespace, which this container shares; use a private ${ns} namespace or remove the sysctl`,
          );
        }
      }
    },
  },
  {
    name: "capabilities",
    run(d, _host, out) {
      const caps = d.capabilities;
      if (caps === undefined) return;
      if (!isRec(caps)) {
        issue(
          out,
          "capabilities",
          `must be an object with add and/or drop lists (got ${show(caps)}); use e.g. { "add": ["NET_ADMIN"] }`,
        );
        return;
      }
      for (const k of ["add", "drop"] as const) {
        const list = caps[k];
        if (list === undefined) continue;
        if (!Array.isArray(list)) {
          issue(
            out,
            `capabilities.${k}`,
            `must be a list of capability names (got ${show(list)}); use e.g. ["NET_ADMIN"]`,
          );
          continue;
        }
        list.forEach((c, i) => {
          if (typeof c !== "string") {
            issue(out, `capabilities.${k}[${i}]`, `must be a capability name (got ${show(c)}); use e.g. "NET_ADMIN"`);
            return;
          }
          const n = normalizeCapability(c);
          if (n !== "ALL" && !(KNOWN_CAPABILITIES as readonly string[]).includes(n)) {
            issue(
              out,
              `capabilities.${k}[${i}]`,
              `${show(c)} is not a known capability; did you mean ${suggestCapability(c)}? See capabilities(7)`,
            );
          }
        });
      }
    },
  },
  {
    name: "seccomp",
    run(d, host, out) {
      const s = d.seccomp;
      if (s === undefined || s === "default" || s === "unconfined") return;
      if (!isRec(s) || !isRec(s.custom)) {
        issue(
          out,
          "seccomp",
          `must be "default", "unconfined" or { "custom": <OCI linux.seccomp> } (got ${show(s)}); use "default"`,
        );
        return;
      }
      const c = s.custom;
      if (typeof c.defaultAction !== "string" || !SECCOMP_ACTIONS.includes(c.defaultAction)) {
        issue(
          out,
          "seccomp.custom.defaultAction",
          `must be set to a seccomp action (got ${show(c.defaultAction)}); use e.g. "SCMP_ACT_ERRNO", or one of ${SECCOMP_ACTIONS.join(", ")}`,
        );
      }
      if (c.syscalls !== undefined) {
        if (!Array.isArray(c.syscalls)) {
          issue(
            out,
            "seccomp.custom.syscalls",
            `must be a list (got ${show(c.syscalls)}); use e.g. [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" }]`,
          );
        } else {
          c.syscalls.forEach((r, i) => {
            if (
              !isRec(r) ||
              !(Array.isArray(r.names) ? r.names.length > 0 : typeof r.name === "string" && r.name !== "") ||
              typeof r.action !== "string" ||
              !SECCOMP_ACTIONS.includes(r.action)
            ) {
              issue(
                out,
                `seccomp.custom.syscalls[${i}]`,
                `needs non-empty names and a valid action (got ${show(r)}); use e.g. { "names": ["read"], "action": "SCMP_ACT_ALLOW" }`,
              );
            }
          });
        }
      }
      if (host && !host.seccomp) {
        issue(
          out,
          "seccomp",
          `this host has no seccomp support, so a custom profile cannot be applied; use "unconfined" or run on a seccomp-enabled kernel`,
        );
      }
    },
  },
  {
    name: "lsm",
    run(d, host, out) {
      if (d.apparmorProfile !== undefined) {
        if (typeof d.apparmorProfile !== "string" || !/^[A-Za-z0-9_.\-/]+$/.test(d.apparmorProfile)) {
          issue(
            out,
            "apparmorProfile",
            `must be a profile name (got ${show(d.apparmorProfile)}); use e.g. "docker-default"`,
          );
        } else if (host && !host.apparmor) {
          issue(out, "apparmorProfile", "this host does not have AppArmor enabled; remove apparmorProfile");
        }
      }
      if (d.selinuxLabel !== undefined) {
        if (typeof d.selinuxLabel !== "string" || d.selinuxLabel.split(":").length < 3) {
          issue(
            out,
            "selinuxLabel",
            `must be a label "user:role:type[:level]" (got ${show(d.selinuxLabel)}); use e.g. "system_u:system_r:container_t:s0"`,
          );
        } else if (host && !host.selinux) {
          issue(out, "selinuxLabel", "this host does not have SELinux enabled; remove selinuxLabel");
        }
      }
    },
  },
  {
    name: "devices",
    run(d, _host, out) {
      if (d.devices === undefined) return;
      if (!Array.isArray(d.devices)) {
        issue(out, "devices", `must be a list (got ${show(d.devices)}); use e.g. [{ "path": "/dev/fuse" }]`);
        return;
      }
      d.devices.forEach((dev, i) => {
        const f = `devices[${i}]`;
        if (!isRec(dev)) {
          issue(out, f, `must be an object (got ${show(dev)}); use e.g. { "path": "/dev/fuse", "permissions": "rwm" }`);
          return;
        }
        checkAbsolutePath(out, `${f}.path`, dev.path, "/dev/fuse");
        if (dev.containerPath !== undefined)
          checkAbsolutePath(out, `${f}.containerPath`, dev.containerPath, "/dev/fuse");
        if (typeof dev.path === "string" && dev.path.startsWith("/") && !dev.path.startsWith("/dev/")) {
          issue(out, `${f}.path`, `must be a device node under /dev (got ${show(dev.path)}); use e.g. "/dev/fuse"`);
        }
        const p = dev.permissions;
        if (p !== undefined && (typeof p !== "string" || !/^(?!.*(.).*\1)[rwm]{1,3}$/.test(p))) {
          issue(out, `${f}.permissions`, `must combine r, w and m once each (got ${show(p)}); use e.g. "rwm" or "rw"`);
        }
      });
    },
  },
  {
    name: "misc",
    run(d, _host, out) {
      checkBool(out, "privileged", d.privileged);
      if (
        d.stopSignal !== undefined &&
        (typeof d.stopSignal !== "string" || signalNumber(d.stopSignal) === undefined)
      ) {
        issue(
          out,
          "stopSignal",
          `is not a signal (got ${show(d.stopSignal)}); use e.g. "SIGTERM", or "SIGRTMIN+3" for systemd`,
        );
      }
      checkStringMap(out, "labels", d.labels, `{ "app": "web" }`);
    },
  },
];

/** Runs every check; an empty list means the description is valid (for this host, when given). */
export function validateDescription(input: unknown, host?: HostFacts): ValidationIssue[] {
  if (!isRec(input)) {
    return [
      {
        field: "(description)",
        message: `must be an object (got ${show(input)}); send e.g. { "kind": "app", "rootfs": { "path": "/..." }, "process": { "args": ["/bin/sh"] } }`,
      },
    ];
  }
  const out: Issues = [];
  for (const check of descriptionChecks) check.run(input, host, out);
  return out;
}

/** Validates and returns a typed copy; throws ValidationError listing every issue. */
export function parseDescription(input: unknown, host?: HostFacts): ContainerDescription {
  const issues = validateDescription(input, host);
  if (issues.length > 0) throw new ValidationError(issues);
  return structuredClone(input) as ContainerDescription;
}
