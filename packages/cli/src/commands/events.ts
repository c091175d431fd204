/**
 * `berth events`: berthd's event stream (GET /1.0/events) as Docker prints it, one line per event:
 * `TIME container start ID (name=web)`. --since replays what berthd still holds; --until ends the stream.
 */
import type { BerthEvent } from "@berth/api";
import { parseDockerTime } from "@berth/api/time";
import { defineCommand, formatLongFlag } from "../framework/command.js";
import { CliError } from "../framework/errors.js";

/** Docker's action names for berth's event types. */
const ACTIONS: Readonly<Record<string, string>> = {
  "container.created": "create",
  "container.started": "start",
  "container.stopped": "stop",
  "container.exited": "die",
  "container.paused": "pause",
  "container.resumed": "unpause",
  "container.removed": "destroy",
  "container.renamed": "rename",
  "container.updated": "update",
  "container.health": "health_status",
  "image.pulled": "pull",
  "image.removed": "delete",
  "image.built": "build",
  "operation.progress": "progress",
};

/** One event as a flat record: what --format sees, and what the filters test. */
export function eventRecord(e: BerthEvent): Record<string, unknown> {
  const [type = "", kind = ""] = e.type.split(".");
  const r: Record<string, unknown> = { time: e.at, type, action: ACTIONS[e.type] ?? kind };
  if ("id" in e) Object.assign(r, { id: e.id, name: e.name });
  if ("exitCode" in e) Object.assign(r, { exitCode: e.exitCode, oomKilled: e.oomKilled });
  if ("status" in e) r.status = e.status;
  if ("ref" in e) Object.assign(r, { ref: e.ref, digest: e.digest });
  if ("operation" in e) r.operation = e.operation;
  return r;
}

/** Docker's line: `TIME TYPE ACTION ID (attr=value, ...)`. */
export function eventLine(r: Record<string, unknown>): string {
  const action = r.action === "health_status" ? `health_status: ${String(r.status)}` : String(r.action);
  const subject = String(r.id ?? r.ref ?? "");
  const attrs = ["name", "exitCode", "digest"].filter((k) => r[k] !== undefined).map((k) => `${k}=${String(r[k])}`);
  return `${String(r.time)} ${String(r.type)} ${action} ${subject}${attrs.length ? ` (${attrs.join(", ")})` : ""}\n`;
}

/** How long after --until the stream is still read: the replay (or a late event) in flight is not cut off. */
const UNTIL_GRACE_MS = 1000;

const FILTERS = ["type", "event", "container", "image"] as const;

/** --filter: values of one key are alternatives, different keys must all match (Docker's rule). */
function matcher(filters: readonly string[]): (r: Record<string, unknown>) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = f.slice(0, eq);
    if (eq < 1 || eq === f.length - 1 || !(FILTERS as readonly string[]).includes(key))
      throw new CliError(`invalid filter '${f}'`, { hint: `use KEY=VALUE with KEY one of ${FILTERS.join(", ")}` });
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(eq + 1)]);
  }
  const test = (key: string, r: Record<string, unknown>, v: string): boolean => {
    switch (key) {
      case "type":
        return r.type === v;
      case "event":
        return r.action === v || `${String(r.type)}.${String(r.action)}` === v;
      case "container":
        return r.type === "container" && (r.name === v || String(r.id).startsWith(v));
      default:
        return r.type === "image" && (r.ref === v || String(r.ref).split(":")[0] === v);
    }
  };
  // Progress lines of long operations are shown only when asked for (type=operation).
  const wantsProgress = byKey.get("type")?.includes("operation") ?? false;
  return (r) =>
    (r.type !== "operation" || wantsProgress) &&
    [...byKey].every(([key, values]) => values.some((v) => test(key, r, v)));
}

/** --since / --until as Docker takes them (see parseDockerTime), or a CliError naming the flag. */
function parseTime(v: string, flag: string): number {
  const t = parseDockerTime(v);
  if (t === undefined)
    throw new CliError(`invalid value '${v}' for ${flag}`, {
      hint: "give a time (2026-01-02T15:04:05Z), Unix seconds, or a duration back from now (10m, 1h30m)",
    });
  return t;
}

export const events = defineCommand({
  name: "events",
  summary: "Get real time events from the server",
  usage: "events [OPTIONS]",
  description:
    "Streams berthd's events until interrupted, or until --until. --since replays the events berthd still\nholds from that time on.",
  examples: [
    "berth events",
    "berth events --filter container=web --filter event=die",
    "berth events --since 10m --until 0s --format '{{.Action}} {{.Name}}'",
    "berth events --filter type=image --format json",
  ],
  args: { max: 0 },
  flags: {
    filter: {
      type: "string",
      short: "f",
      repeatable: true,
      placeholder: "filter",
      description: "Filter output based on conditions provided (type=, event=, container=, image=)",
    },
    since: { type: "string", placeholder: "string", description: "Show all events created since timestamp" },
    until: { type: "string", placeholder: "string", description: "Stream events until this timestamp" },
    ...formatLongFlag,
  },
  async run({ flags }, { api, out }) {
    const keep = matcher(flags.filter);
    const since = flags.since === undefined ? undefined : parseTime(flags.since, "--since");
    const until = flags.until === undefined ? undefined : parseTime(flags.until, "--until");
    if (since !== undefined && until !== undefined && until < since)
      throw new CliError("--until is before --since: no event can be in between");
    const line = out.format
      ? (await import("../output/format.js")).streamFormatter(
          out.format,
          "berth events --format '{{.Time}} {{.Action}} {{.Name}}'",
        )
      : eventLine;
    const stream = await api.events({
      query: {
        ...(since === undefined ? {} : { since: new Date(since).toISOString() }),
        ...(until === undefined ? {} : { until: new Date(until).toISOString() }),
      },
    });
    const stop = () => stream.cancel();
    process.once("SIGINT", stop);
    // --until: berthd ends the stream there (right after the replay when it is past). The timer is for a berthd
    // that does not know `until`: the grace lets its replay (and an event from just before --until) arrive even
    // when it or this process is slow to be scheduled. An event after --until ends it sooner.
    const timer = until === undefined ? undefined : setTimeout(stop, Math.max(0, until - Date.now()) + UNTIL_GRACE_MS);
    try {
      for await (const e of stream) {
        const r = eventRecord(e);
        if (until !== undefined && Date.parse(e.at) > until) break;
        if (keep(r)) out.stdout(line(r));
      }
    } catch (err) {
      if (!(err instanceof Error && /aborted|socket hang up|premature close/i.test(err.message))) throw err;
    } finally {
      clearTimeout(timer);
      process.off("SIGINT", stop);
      stream.cancel();
    }
    return 0;
  },
});
