/**
 * The flags of `run` and `create` (Docker's names) and their translation to a ContainerCreate body.
 * Pure apart from reading --env-file files and --security-opt seccomp=FILE profiles and resolving relative bind sources against the cwd.
 */
import { readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import type { ContainerCreate, MountRequest, RestartPolicy } from "@berth/api";
import { CliError } from "../framework/errors.js";
import type { FlagSpecs, FlagValues } from "../framework/flags.js";
import { parseSize, UnitError } from "../framework/units.js";

export const containerFlags = {
  name: { type: "string", description: "Assign a name to the container", placeholder: "string" },
  env: {
    type: "string",
    short: "e",
    repeatable: true,
    placeholder: "list",
    description: "Set environment variables (KEY=VALUE, or KEY to take it from here)",
  },
  "env-file": {
    type: "string",
    repeatable: true,
    placeholder: "list",
    complete: "file",
    description: "Read in a file of environment variables",
  },
  volume: {
    type: "string",
    short: "v",
    repeatable: true,
    placeholder: "list",
    complete: "file",
    description: "Bind mount a volume: HOST:CONTAINER[:ro] or NAME:CONTAINER",
  },
  mount: {
    type: "string",
    repeatable: true,
    placeholder: "mount",
    description: "Attach a filesystem mount: type=bind,source=/a,target=/b[,readonly]",
  },
  tmpfs: {
    type: "string",
    repeatable: true,
    placeholder: "list",
    description: "Mount a tmpfs directory: /path[:size=64m]",
  },
  memory: { type: "size", short: "m", placeholder: "bytes", description: "Memory limit (e.g. 256m, 1g)" },
  "memory-swap": {
    type: "size",
    allowMinusOne: true,
    placeholder: "bytes",
    description: "Memory plus swap limit; -1 for unlimited swap",
  },
  "memory-reservation": { type: "size", placeholder: "bytes", description: "Memory soft limit" },
  cpus: { type: "number", placeholder: "decimal", description: "Number of CPUs (e.g. 1.5)" },
  "cpu-shares": { type: "int", short: "c", placeholder: "int", description: "CPU shares (relative weight)" },
  "cpuset-cpus": { type: "string", placeholder: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
  "cpuset-mems": { type: "string", placeholder: "string", description: "Memory nodes in which to allow execution" },
  "pids-limit": { type: "int", placeholder: "int", description: "Tune container pids limit (-1 for unlimited)" },
  network: { type: "string", choices: ["none", "host"], placeholder: "network", description: "Network mode" },
  net: { type: "string", choices: ["none", "host"], hidden: true, description: "Alias of --network" },
  publish: {
    type: "string",
    short: "p",
    repeatable: true,
    placeholder: "list",
    description: "Publish a port (needs the networking issue)",
  },
  hostname: { type: "string", short: "h", placeholder: "string", description: "Container host name" },
  user: {
    type: "string",
    short: "u",
    placeholder: "string",
    description: "Username or UID (format: <name|uid>[:<group|gid>])",
  },
  workdir: { type: "string", short: "w", placeholder: "string", description: "Working directory inside the container" },
  entrypoint: { type: "string", placeholder: "string", description: "Overwrite the default ENTRYPOINT of the image" },
  "read-only": { type: "boolean", description: "Mount the container's root filesystem as read only" },
  restart: {
    type: "string",
    placeholder: "string",
    description: "Restart policy: no, on-failure[:max-retries], always, unless-stopped",
  },
  "health-cmd": { type: "string", placeholder: "string", description: "Command to run to check health" },
  "health-interval": {
    type: "duration",
    placeholder: "duration",
    description: "Time between running the check (ms|s|m|h)",
  },
  "health-timeout": {
    type: "duration",
    placeholder: "duration",
    description: "Maximum time to allow one check to run (ms|s|m|h)",
  },
  "health-retries": { type: "int", placeholder: "int", description: "Consecutive failures needed to report unhealthy" },
  "health-start-period": {
    type: "duration",
    placeholder: "duration",
    description: "Start period for the container to initialize before counting retries",
  },
  "no-healthcheck": { type: "boolean", description: "Disable any container-specified HEALTHCHECK" },
  init: { type: "boolean", description: "Run an init inside the container that forwards signals and reaps processes" },
  label: {
    type: "string",
    short: "l",
    repeatable: true,
    placeholder: "list",
    description: "Set meta data on a container (KEY=VALUE)",
  },
  "cap-add": { type: "string", repeatable: true, placeholder: "list", description: "Add Linux capabilities" },
  "cap-drop": { type: "string", repeatable: true, placeholder: "list", description: "Drop Linux capabilities" },
  "security-opt": {
    type: "string",
    repeatable: true,
    placeholder: "list",
    description: "Security options (no-new-privileges[:false], seccomp=unconfined, seccomp=PROFILE.json, apparmor=...)",
  },
  privileged: { type: "boolean", description: "Give extended privileges to this container" },
  interactive: { type: "boolean", short: "i", description: "Keep STDIN open even if not attached" },
  tty: { type: "boolean", short: "t", description: "Allocate a pseudo-TTY" },
  "stop-signal": {
    type: "string",
    placeholder: "string",
    complete: "signal",
    description: "Signal to stop the container",
  },
  "stop-timeout": { type: "int", placeholder: "int", description: "Timeout (in seconds) to stop a container" },
  "log-driver": {
    type: "string",
    choices: ["json-file", "k8s-file", "local"],
    placeholder: "string",
    description: "Logging driver: berth keeps a rotated file log for every container (all three name it)",
  },
  "log-opt": {
    type: "string",
    repeatable: true,
    placeholder: "list",
    description: "Log rotation: max-size=10m (rotate past this size), max-file=3 (files kept, the live one included)",
  },
  "detach-keys": {
    type: "string",
    placeholder: "string",
    description: "Override the key sequence for detaching a container (kept for attach and start -a)",
  },
  ulimit: {
    type: "string",
    repeatable: true,
    placeholder: "ulimit",
    description: "Ulimit options: NAME=SOFT[:HARD], e.g. nofile=1024:2048",
  },
  sysctl: {
    type: "string",
    repeatable: true,
    placeholder: "map",
    description: "Sysctl options (namespaced ones): KEY=VALUE, e.g. net.ipv4.ip_forward=1",
  },
  device: {
    type: "string",
    repeatable: true,
    placeholder: "list",
    complete: "file",
    description: "Add a host device to the container: HOST[:CONTAINER][:rwm]",
  },
  "group-add": { type: "string", repeatable: true, placeholder: "list", description: "Add additional groups to join" },
  "oom-score-adj": { type: "int", placeholder: "int", description: "Tune host's OOM preferences (-1000 to 1000)" },
  "shm-size": { type: "size", placeholder: "bytes", description: "Size of /dev/shm (default 64m)" },
  pid: { type: "string", placeholder: "string", description: "PID namespace to use: host or container:NAME" },
  ipc: { type: "string", choices: ["host", "private"], placeholder: "string", description: "IPC namespace to use" },
  uts: { type: "string", choices: ["host", "private"], placeholder: "string", description: "UTS namespace to use" },
  "label-file": {
    type: "string",
    repeatable: true,
    placeholder: "list",
    complete: "file",
    description: "Read in a line delimited file of labels",
  },
  cidfile: {
    type: "string",
    placeholder: "string",
    complete: "file",
    description: "Write the container ID to the file",
  },
} as const satisfies FlagSpecs;

export type ContainerFlags = FlagValues<typeof containerFlags>;

/** Docker's --log-opt max-size=SIZE and max-file=N, the options of berth's rotated file log. */
export function parseLogOpts(items: readonly string[]): NonNullable<ContainerCreate["logOptions"]> {
  const opts: NonNullable<ContainerCreate["logOptions"]> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? "" : item.slice(eq + 1);
    if (key === "max-size") {
      const bytes = sizeOf(value, item);
      if (bytes < 1)
        throw new CliError(`invalid --log-opt '${item}': max-size must be above 0`, { hint: "e.g. max-size=10m" });
      opts.maxSizeBytes = bytes;
    } else if (key === "max-file") {
      if (!/^\d+$/.test(value) || Number(value) < 1)
        throw new CliError(`invalid --log-opt '${item}': max-file must be a whole number of files, at least 1`, {
          hint: "e.g. max-file=3",
        });
      opts.maxFiles = Number(value);
    } else {
      throw new CliError(`unknown log option '${key}'`, {
        hint: "berth's file log takes max-size=SIZE and max-file=N, e.g. --log-opt max-size=10m --log-opt max-file=3",
      });
    }
  }
  return opts;
}

/** Docker's --ulimit NAME=SOFT[:HARD] (HARD defaults to SOFT). */
export function parseUlimit(spec: string): NonNullable<ContainerCreate["ulimits"]>[number] {
  const m = /^([a-zA-Z]+)=(-?\d+)(?::(-?\d+))?$/.exec(spec);
  if (!m) {
    throw new CliError(`invalid ulimit argument: '${spec}'`, {
      hint: "use NAME=SOFT[:HARD] with a resource ulimit knows, e.g. --ulimit nofile=1024:2048",
    });
  }
  const soft = Number(m[2]);
  return { name: m[1]!.toLowerCase(), soft, hard: m[3] === undefined ? soft : Number(m[3]) };
}

/** Docker's --device HOST[:CONTAINER][:PERMISSIONS]. */
export function parseDevice(spec: string): NonNullable<ContainerCreate["devices"]>[number] {
  const parts = spec.split(":");
  const perms = (p: string | undefined) => p !== undefined && /^[rwm]{1,3}$/.test(p);
  let dev: NonNullable<ContainerCreate["devices"]>[number] | undefined;
  if (parts.length === 1) dev = { pathOnHost: parts[0]! };
  else if (parts.length === 2)
    dev = perms(parts[1])
      ? { pathOnHost: parts[0]!, permissions: parts[1]! }
      : { pathOnHost: parts[0]!, pathInContainer: parts[1]! };
  else if (parts.length === 3 && perms(parts[2]))
    dev = { pathOnHost: parts[0]!, pathInContainer: parts[1]!, permissions: parts[2]! };
  if (!dev?.pathOnHost.startsWith("/") || (dev.pathInContainer !== undefined && !dev.pathInContainer.startsWith("/"))) {
    throw new CliError(`invalid device '${spec}'`, {
      hint: "use HOST-PATH[:CONTAINER-PATH][:PERMISSIONS], e.g. --device /dev/fuse or --device /dev/sdb:/dev/xvdb:rw",
    });
  }
  return dev;
}

/** Docker's --sysctl KEY=VALUE. */
export function parseSysctls(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0)
      throw new CliError(`invalid sysctl '${item}'`, { hint: "use KEY=VALUE, e.g. --sysctl net.ipv4.ip_forward=1" });
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** "no" | "always" | "unless-stopped" | "on-failure[:N]". */
export function parseRestart(text: string): RestartPolicy {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== "on-failure")) {
    throw new CliError(`invalid restart policy '${text}'`, {
      hint: "use one of: no, always, unless-stopped, on-failure[:max-retries]",
    });
  }
  const name = m[1] as RestartPolicy["name"];
  return m[2] !== undefined ? { name, maximumRetryCount: Number(m[2]) } : { name };
}

const isPathLike = (s: string) =>
  s.startsWith("/") || s.startsWith("./") || s.startsWith("../") || s === "." || s === "~";

/** -v HOST:CTR[:opts], NAME:CTR[:opts] or CTR (anonymous volume). */
export function parseVolume(spec: string, cwd = "/"): MountRequest {
  const parts = spec.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new CliError(`invalid volume specification: '${spec}'`, {
      hint: "use HOST-PATH:CONTAINER-PATH[:ro] or NAME:CONTAINER-PATH",
    });
  }
  if (parts.length === 1) {
    if (!parts[0]!.startsWith("/"))
      throw new CliError(`invalid volume specification: '${spec}': the container path must be absolute`);
    return { type: "volume", target: parts[0]! };
  }
  const [source, target, opts = ""] = parts as [string, string, string?];
  if (!target.startsWith("/")) {
    throw new CliError(`invalid volume specification: '${spec}': the container path must be absolute`);
  }
  const mount: MountRequest = isPathLike(source)
    ? { type: "bind", source: resolvePath(cwd, source), target }
    : { type: "volume", source, target };
  for (const o of opts.split(",").filter(Boolean)) {
    if (o === "ro") mount.readOnly = true;
    else if (o === "rw") mount.readOnly = false;
    else if (/^r?(private|shared|slave)$/.test(o)) mount.bindPropagation = o as MountRequest["bindPropagation"];
    else if (o === "z" || o === "Z") {
      // SELinux relabel: nothing to do here
    } else
      throw new CliError(`invalid volume option '${o}' in '${spec}'`, {
        hint: "options: ro, rw, z, Z, [r]private, [r]shared, [r]slave",
      });
  }
  return mount;
}

/** --mount type=bind,source=/a,target=/b,readonly */
export function parseMount(spec: string, cwd = "/"): MountRequest {
  const fields = new Map<string, string>();
  for (const kv of spec.split(",")) {
    const eq = kv.indexOf("=");
    fields.set((eq < 0 ? kv : kv.slice(0, eq)).trim().toLowerCase(), eq < 0 ? "true" : kv.slice(eq + 1));
  }
  const type = (fields.get("type") ?? "volume") as MountRequest["type"];
  if (!["bind", "volume", "tmpfs"].includes(type)) {
    throw new CliError(`invalid mount type '${type}' in '${spec}'`, { hint: "type is one of bind, volume, tmpfs" });
  }
  const target = fields.get("target") ?? fields.get("destination") ?? fields.get("dst") ?? fields.get("dest");
  if (!target)
    throw new CliError(`invalid mount '${spec}': target is required`, {
      hint: "e.g. --mount type=bind,source=/data,target=/data",
    });
  const source = fields.get("source") ?? fields.get("src");
  if (type === "bind" && !source) throw new CliError(`invalid mount '${spec}': a bind mount needs source=`);
  const mount: MountRequest = { type, target };
  if (source) mount.source = type === "bind" ? resolvePath(cwd, source) : source;
  const ro = fields.get("readonly") ?? fields.get("ro");
  if (ro !== undefined) mount.readOnly = ro !== "false" && ro !== "0";
  const prop = fields.get("bind-propagation");
  if (prop) mount.bindPropagation = prop as MountRequest["bindPropagation"];
  const size = fields.get("tmpfs-size");
  if (size) mount.tmpfsSize = sizeOf(size, spec);
  return mount;
}

function sizeOf(text: string, spec: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    if (err instanceof UnitError) throw new CliError(`${err.message} in '${spec}'`, err.hint ? { hint: err.hint } : {});
    throw err;
  }
}

export function parseTmpfs(spec: string): MountRequest {
  const [target, opts = ""] = spec.split(":", 2) as [string, string?];
  const mount: MountRequest = { type: "tmpfs", target };
  const size = /(?:^|,)size=([^,]+)/.exec(opts)?.[1];
  if (size) mount.tmpfsSize = sizeOf(size, spec);
  return mount;
}

/** KEY=VALUE lines; KEY alone takes the value from `env` (and is dropped when unset), as docker does. */
export function parseEnvLines(lines: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.replace(/^\s+/, "");
    if (!line || line.startsWith("#")) continue;
    if (line.includes("=")) out.push(line);
    else {
      const v = env[line.trim()];
      if (v !== undefined) out.push(`${line.trim()}=${v}`);
    }
  }
  return out;
}

function readEnvFile(path: string, what = "env file"): string[] {
  try {
    return readFileSync(path, "utf8").split(/\r?\n/);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * `seccomp=FILE` becomes `seccomp=<the file's JSON>`, as Docker's CLI sends it: the profile is read here,
 * where the file is, and berthd need not see the client's files. Other options go as given.
 */
export function securityOpt(opt: string, cwd = "/"): string {
  const m = /^seccomp[=:](.+)$/.exec(opt);
  if (!m || m[1] === "unconfined" || m[1]!.trimStart().startsWith("{")) return opt;
  const path = resolvePath(cwd, m[1]!);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the seccomp profile ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      hint: "give a JSON profile file (e.g. Docker's default.json), or seccomp=unconfined",
    });
  }
  try {
    JSON.parse(text);
  } catch (err) {
    throw new CliError(`the seccomp profile ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return `seccomp=${text}`;
}

export function parseLabels(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of items) {
    const eq = l.indexOf("=");
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return labels;
}

/** Shell-like split for --entrypoint "a b" (docker takes it as one word; podman splits JSON arrays). */
function entrypointOf(text: string): string[] {
  if (text.startsWith("[")) {
    try {
      const arr = JSON.parse(text) as unknown;
      if (Array.isArray(arr) && arr.every((x) => typeof x === "string")) return arr as string[];
    } catch {
      // fall through
    }
  }
  return text === "" ? [] : [text];
}

export interface CreateInput {
  image: string;
  cmd: readonly string[];
  flags: ContainerFlags;
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

/** The ContainerCreate body for `run` / `create`. */
export function toCreate({ image, cmd, flags: f, env, cwd = "/" }: CreateInput): ContainerCreate {
  if (f.publish.length) {
    throw new CliError("publishing ports (-p) is not implemented yet: it comes with networking", {
      hint: "use --network host to share the host's ports",
    });
  }
  const body: ContainerCreate = { image };
  if (f.name !== undefined) body.name = f.name;
  if (cmd.length) body.cmd = [...cmd];
  if (f.entrypoint !== undefined) body.entrypoint = entrypointOf(f.entrypoint);
  const envs = [...f["env-file"].flatMap((p) => parseEnvLines(readEnvFile(p), env)), ...parseEnvLines(f.env, env)];
  if (envs.length) body.env = envs;
  if (f.workdir !== undefined) body.workingDir = f.workdir;
  if (f.user !== undefined) body.user = f.user;
  if (f.hostname !== undefined) body.hostname = f.hostname;
  const mounts = [
    ...f.volume.map((v) => parseVolume(v, cwd)),
    ...f.mount.map((m) => parseMount(m, cwd)),
    ...f.tmpfs.map(parseTmpfs),
  ];
  if (mounts.length) body.mounts = mounts;
  const network = f.network ?? f.net;
  if (network !== undefined) body.network = network as "none" | "host";
  if (f["read-only"]) body.readOnly = true;
  if (f.tty) body.tty = true;
  if (f.interactive) body.openStdin = true;
  // Kept with the container: run -it detaches with it, and so do a later attach and start -a.
  if (f["detach-keys"] !== undefined) body.detachKeys = f["detach-keys"];
  if (f.init) body.init = true;
  if (f.privileged) body.privileged = true;
  if (f["cap-add"].length) body.capAdd = [...f["cap-add"]];
  if (f["cap-drop"].length) body.capDrop = [...f["cap-drop"]];
  if (f["security-opt"].length) body.securityOpt = f["security-opt"].map((o) => securityOpt(o, cwd));
  if (f["stop-signal"] !== undefined) body.stopSignal = f["stop-signal"];
  if (f["stop-timeout"] !== undefined) body.stopTimeoutSeconds = f["stop-timeout"];
  const labels = [...f["label-file"].flatMap((p) => readEnvFile(p, "label file")), ...f.label];
  const labelLines = labels.filter((l) => l.trim() !== "" && !l.trimStart().startsWith("#"));
  if (labelLines.length) body.labels = parseLabels(labelLines);
  if (f.ulimit.length) body.ulimits = f.ulimit.map(parseUlimit);
  if (f.sysctl.length) body.sysctls = parseSysctls(f.sysctl);
  if (f.device.length) body.devices = f.device.map(parseDevice);
  if (f["group-add"].length) body.groupAdd = [...f["group-add"]];
  if (f["oom-score-adj"] !== undefined) body.oomScoreAdj = f["oom-score-adj"];
  if (f["shm-size"] !== undefined) body.shmSizeBytes = f["shm-size"];
  if (f.pid !== undefined) body.pidMode = f.pid;
  if (f.ipc !== undefined) body.ipcMode = f.ipc as "host" | "private";
  if (f.uts !== undefined) body.utsMode = f.uts as "host" | "private";
  if (f.restart !== undefined) body.restartPolicy = parseRestart(f.restart);
  if (f["log-opt"].length) body.logOptions = parseLogOpts(f["log-opt"]);

  const r: NonNullable<ContainerCreate["resources"]> = {};
  if (f.memory !== undefined) r.memory = f.memory;
  if (f["memory-swap"] !== undefined) r.memorySwap = f["memory-swap"];
  if (f["memory-reservation"] !== undefined) r.memoryReservation = f["memory-reservation"];
  if (f.cpus !== undefined) {
    if (f.cpus <= 0) throw new CliError(`invalid argument "${f.cpus}" for "--cpus" flag: must be greater than 0`);
    r.cpus = f.cpus;
  }
  if (f["cpu-shares"] !== undefined) r.cpuShares = f["cpu-shares"];
  if (f["cpuset-cpus"] !== undefined) r.cpusetCpus = f["cpuset-cpus"];
  if (f["cpuset-mems"] !== undefined) r.cpusetMems = f["cpuset-mems"];
  if (f["pids-limit"] !== undefined) r.pidsLimit = f["pids-limit"];
  if (r.memorySwap !== undefined && r.memorySwap !== -1 && r.memory !== undefined && r.memorySwap < r.memory) {
    throw new CliError("minimum memoryswap limit should be larger than memory limit, see usage", {
      hint: "--memory-swap is memory plus swap: give at least --memory, or -1 for unlimited swap",
    });
  }
  if (Object.keys(r).length) body.resources = r;

  if (f["no-healthcheck"]) body.healthcheck = { test: ["NONE"] };
  else {
    // Timings without --health-cmd override the image's HEALTHCHECK timings and keep its test (Docker's).
    const h: NonNullable<ContainerCreate["healthcheck"]> = {};
    if (f["health-cmd"] !== undefined) h.test = ["CMD-SHELL", f["health-cmd"]];
    if (f["health-interval"] !== undefined) h.intervalMs = f["health-interval"];
    if (f["health-timeout"] !== undefined) h.timeoutMs = f["health-timeout"];
    if (f["health-start-period"] !== undefined) h.startPeriodMs = f["health-start-period"];
    if (f["health-retries"] !== undefined) h.retries = f["health-retries"];
    if (Object.keys(h).length) body.healthcheck = h;
  }
  return body;
}
