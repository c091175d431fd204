/** How containers look in `ps` and `list`: docker's columns and its template context. */
import type { Container, ContainerMount } from "@berth/api";
import { formatSize, humanDuration } from "../framework/units.js";
import type { TableView } from "./format.js";
import { ellipsis } from "./table.js";

const ago = (iso: string | undefined, now: number) =>
  iso ? `${humanDuration(Math.max(0, now - Date.parse(iso)))} ago` : "";

/** "Up 5 minutes (healthy)", "Exited (3) 2 seconds ago", "Created", "Up 1 hour (Paused)". */
export function statusText(c: Container, now = Date.now()): string {
  const s = c.state;
  const health =
    s.health && s.health.status !== "none"
      ? s.health.status === "starting"
        ? " (health: starting)"
        : ` (${s.health.status})`
      : "";
  switch (s.status) {
    case "running":
      return `Up ${s.startedAt ? humanDuration(Math.max(0, now - Date.parse(s.startedAt))) : ""}${health}`.replace(
        "Up  ",
        "Up ",
      );
    case "paused":
      return `Up ${s.startedAt ? humanDuration(Math.max(0, now - Date.parse(s.startedAt))) : ""} (Paused)`;
    case "restarting":
      return `Restarting (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}`.trimEnd();
    case "exited":
      return `Exited (${s.exitCode ?? 0}) ${ago(s.finishedAt, now)}`.trimEnd();
    case "created":
      return "Created";
    case "dead":
      return "Dead";
  }
  return s.status;
}

export const commandOf = (c: Container): string => [...(c.config.entrypoint ?? []), ...(c.config.cmd ?? [])].join(" ");

export const shortId = (id: string, noTrunc = false) => (noTrunc ? id : id.replace(/^sha256:/, "").slice(0, 12));

/** Go's time.String() in UTC, as docker ps prints CreatedAt: "2026-11-24 06:36:43 +0000 UTC". */
export const goTime = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`;
};

/** Mounts as docker ps lists them: volume names and bind sources, comma-separated. */
const mountNames = (c: Container): string =>
  (c.mounts ?? (c.config.mounts ?? []).map(requestedMount))
    .filter((m) => m.type !== "tmpfs")
    .map((m) => (m.type === "volume" ? (m.name ?? "") : m.source))
    .join(",");

/**
 * docker ps's template context (ID, Names, Image, Command, CreatedAt, RunningFor, Ports, State, Status,
 * Size, Labels, Label "key", Mounts, Networks, LocalVolumes) over the wire object, so `{{.state.status}}`
 * and berth's own fields still work.
 */
export function psContext(c: Container, noTrunc = false, now = Date.now()): Record<string, unknown> {
  const labels = c.labels ?? {};
  return {
    ...c,
    ID: shortId(c.id, noTrunc),
    Names: c.name,
    Image: c.image,
    Command: `"${noTrunc ? commandOf(c) : ellipsis(commandOf(c), 20)}"`,
    CreatedAt: goTime(c.createdAt),
    RunningFor: ago(c.createdAt, now),
    Ports: "",
    State: c.state.status,
    Status: statusText(c, now),
    // Docker's "2B (virtual 4.26MB)", when the list was asked for sizes (ps -s).
    Size: c.sizeRw === undefined ? "" : `${formatSize(c.sizeRw)} (virtual ${formatSize(c.sizeRootFs ?? c.sizeRw)})`,
    Labels: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    Label: (key: unknown) => labels[String(key)] ?? "",
    Mounts: mountNames(c),
    Networks: c.config.network ?? "none",
    LocalVolumes: String((c.config.mounts ?? []).filter((m) => m.type === "volume").length),
  };
}

export const psView = (noTrunc: boolean, size = false): TableView<Container> => {
  const now = Date.now();
  return {
    headers: ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", ...(size ? ["SIZE"] : [])],
    row: (c) => {
      const x = psContext(c, noTrunc, now);
      return [
        x.ID,
        x.Image,
        x.Command,
        x.RunningFor,
        x.Status,
        x.Ports,
        x.Names,
        ...(size ? [x.Size] : []),
      ] as string[];
    },
    context: (c) => psContext(c, noTrunc, now),
    fieldHeaders: { ID: "CONTAINER ID", RunningFor: "CREATED", CreatedAt: "CREATED AT", Names: "NAMES" },
  };
};

/** Incus's list: NAME STATE TYPE IMAGE. */
export const listView: TableView<Container> = {
  headers: ["NAME", "STATE", "TYPE", "IMAGE", "PID"],
  jsonArray: true,
  row: (c) => [
    c.name,
    c.state.status.toUpperCase(),
    c.kind === "system" ? "CONTAINER" : "APP",
    c.image,
    c.state.pid ? String(c.state.pid) : "",
  ],
};

/** A request's mount in the shape of berthd's `mounts` (what an older berthd does not send). */
const requestedMount = (m: NonNullable<Container["config"]["mounts"]>[number]): ContainerMount => ({
  type: m.type,
  ...(m.type === "volume" ? { name: m.source ?? "" } : {}),
  source: m.type === "tmpfs" ? "" : (m.source ?? ""),
  destination: m.target,
  rw: !m.readOnly,
  ...(m.type === "bind" ? { propagation: m.bindPropagation ?? "rprivate" } : {}),
});

/** Go's zero time, which docker inspect prints for a time that has not happened. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * What `berth inspect` shows for a container: the wire object plus the fields Docker's inspect has that it
 * lacks (Created, Path, Args, RestartCount, HostConfig, Mounts, State.ExitCode/Error/Restarting/Dead,
 * Config.Labels/Tty/OpenStdin/StopTimeout), in camelCase so that templates find them the Docker way
 * (`{{.HostConfig.Memory}}`, `{{.RestartCount}}`, `{{.State.ExitCode}}`) and nothing appears twice in a
 * different case.
 */
export function inspectContext(c: Container): Record<string, unknown> {
  const cfg = c.config;
  const argv = [...(cfg.entrypoint ?? []), ...(cfg.cmd ?? [])];
  const r = c.resources ?? {};
  const mounts = cfg.mounts ?? [];
  const logOpts = cfg.logOptions ?? {};
  return {
    ...c,
    created: c.createdAt,
    path: argv[0] ?? "",
    args: argv.slice(1),
    restartCount: c.state.restartCount,
    state: {
      ...c.state,
      restarting: c.state.status === "restarting",
      dead: c.state.status === "dead",
      exitCode: c.state.exitCode ?? 0,
      error: "",
      startedAt: c.state.startedAt ?? ZERO_TIME,
      finishedAt: c.state.finishedAt ?? ZERO_TIME,
    },
    config: {
      ...cfg,
      labels: c.labels ?? {},
      tty: cfg.tty ?? false,
      openStdin: cfg.openStdin ?? false,
      ...(cfg.stopTimeoutSeconds !== undefined ? { stopTimeout: cfg.stopTimeoutSeconds } : {}),
    },
    hostConfig: {
      memory: r.memory ?? 0,
      memorySwap: r.memorySwap ?? 0,
      memoryReservation: r.memoryReservation ?? 0,
      nanoCpus: Math.round((r.cpus ?? 0) * 1e9),
      cpuShares: r.cpuShares ?? 0,
      cpusetCpus: r.cpusetCpus ?? "",
      cpusetMems: r.cpusetMems ?? "",
      pidsLimit: r.pidsLimit ?? 0,
      blkioWeight: r.blkioWeight ?? 0,
      restartPolicy: {
        name: c.restartPolicy?.name ?? "no",
        maximumRetryCount: c.restartPolicy?.maximumRetryCount ?? 0,
      },
      autoRemove: cfg.autoRemove ?? false,
      networkMode: cfg.network ?? "none",
      readonlyRootfs: cfg.readOnly ?? false,
      privileged: cfg.privileged ?? false,
      init: cfg.init ?? false,
      capAdd: cfg.capAdd ?? [],
      capDrop: cfg.capDrop ?? [],
      securityOpt: cfg.securityOpt ?? [],
      ulimits: (cfg.ulimits ?? []).map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })),
      sysctls: cfg.sysctls ?? {},
      devices: (cfg.devices ?? []).map((d) => ({
        pathOnHost: d.pathOnHost,
        pathInContainer: d.pathInContainer ?? d.pathOnHost,
        cgroupPermissions: d.permissions ?? "rwm",
      })),
      groupAdd: cfg.groupAdd ?? [],
      oomScoreAdj: cfg.oomScoreAdj ?? 0,
      shmSize: cfg.shmSizeBytes ?? 64 * 1024 * 1024,
      pidMode: cfg.pidMode === "private" ? "" : (cfg.pidMode ?? ""),
      ipcMode: cfg.ipcMode ?? "private",
      utsMode: cfg.utsMode === "host" ? "host" : "",
      binds: mounts
        .filter((m) => m.type !== "tmpfs")
        .map((m) => `${m.source ?? ""}:${m.target}${m.readOnly ? ":ro" : ""}`),
      tmpfs: Object.fromEntries(
        mounts.filter((m) => m.type === "tmpfs").map((m) => [m.target, m.tmpfsSize ? `size=${m.tmpfsSize}` : ""]),
      ),
      logConfig: {
        type: "k8s-file",
        config: {
          ...(logOpts.maxSizeBytes ? { "max-size": String(logOpts.maxSizeBytes) } : {}),
          ...(logOpts.maxFiles ? { "max-file": String(logOpts.maxFiles) } : {}),
        },
      },
    },
    // Docker's Mounts, from berthd's list (volumes under their generated names, the image's VOLUMEs included);
    // a daemon without one: the request's mounts.
    mounts: (c.mounts ?? mounts.map(requestedMount)).map((m) => ({
      type: m.type,
      ...(m.type === "volume" ? { name: m.name ?? "", driver: "local" } : {}),
      source: m.source,
      destination: m.destination,
      mode: m.rw ? "" : "ro",
      rw: m.rw,
      propagation: m.propagation ?? "",
    })),
  };
}
