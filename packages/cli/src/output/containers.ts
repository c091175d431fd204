/** How containers look in `ps` and `list`: docker's columns and its template context. */
import type { Container } from "@berth/api";
import { humanDuration } from "../framework/units.js";
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

/** docker ps's template fields (ID, Names, Status, RunningFor, Command, ...) over the wire object. */
export function psContext(c: Container, noTrunc = false, now = Date.now()): Record<string, unknown> {
  return {
    ...c,
    ID: shortId(c.id, noTrunc),
    Names: c.name,
    Image: c.image,
    Command: `"${noTrunc ? commandOf(c) : ellipsis(commandOf(c), 20)}"`,
    CreatedAt: c.createdAt,
    RunningFor: ago(c.createdAt, now),
    Status: statusText(c, now),
    Ports: "",
    Labels: Object.entries(c.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
  };
}

export const psView = (noTrunc: boolean): TableView<Container> => {
  const now = Date.now();
  return {
    headers: ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
    row: (c) => {
      const x = psContext(c, noTrunc, now);
      return [x.ID, x.Image, x.Command, x.RunningFor, x.Status, x.Ports, x.Names] as string[];
    },
    context: (c) => psContext(c, noTrunc, now),
    fieldHeaders: { ID: "CONTAINER ID", RunningFor: "CREATED", CreatedAt: "CREATED AT", Names: "NAMES" },
  };
};

/** Incus's list: NAME STATE TYPE IMAGE. */
export const listView: TableView<Container> = {
  headers: ["NAME", "STATE", "TYPE", "IMAGE", "PID"],
  row: (c) => [
    c.name,
    c.state.status.toUpperCase(),
    c.kind === "system" ? "CONTAINER" : "APP",
    c.image,
    c.state.pid ? String(c.state.pid) : "",
  ],
};
