/** Operation id → handler: each parses its input, calls one service method and returns a Reply. */
import type { BerthEvent, ContainerCreate, ContainerPut, ExecCreate, HostInfo } from "@berth/api";
import type { TokenCreate } from "@berth/api/client";
import { openapiDocument } from "@berth/api/openapi";
import { parseDockerTime } from "@berth/api/time";
import { ValidationError } from "@berth/libct";
import type { EventBus } from "../events/bus.js";
import { getArchive, putArchive } from "../services/archive.js";
import { type ContainerService, timeNs } from "../services/containers.js";
import type { ImageService } from "../services/images.js";
import type { TokenService } from "../services/tokens.js";
import { imageHandlers } from "./image-handlers.js";
import { type HandlerTable, reply } from "./router.js";

export interface Services {
  readonly containers: ContainerService;
  readonly images: ImageService;
  readonly events: EventBus;
  readonly tokens: TokenService;
  readonly info: () => Record<string, unknown>;
  readonly hostInfo: () => Promise<HostInfo>;
  readonly version: string;
}

const id = (p: Readonly<Record<string, string>>) => p.id!;

function bool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === "" || v === "false" || v === "0") return v === "";
  if (v === "true" || v === "1") return true;
  throw new ValidationError([{ field: name, message: `must be true or false, not '${v}'` }]);
}

function seconds(q: URLSearchParams, name = "t"): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 86400) {
    throw new ValidationError([{ field: name, message: `must be whole seconds between 0 and 86400, not '${v}'` }]);
  }
  return Number(v);
}

const WAIT_CONDITIONS = ["not-running", "next-exit", "removed"] as const;

function waitCondition(q: URLSearchParams): (typeof WAIT_CONDITIONS)[number] {
  const v = q.get("condition") ?? "not-running";
  const c = WAIT_CONDITIONS.find((w) => w === v);
  if (c) return c;
  throw new ValidationError([{ field: "condition", message: `must be ${WAIT_CONDITIONS.join(", ")}, not '${v}'` }]);
}

function tail(q: URLSearchParams): number | undefined {
  const v = q.get("tail");
  if (v === null || v === "" || v === "all") return undefined;
  if (!/^\d+$/.test(v))
    throw new ValidationError([{ field: "tail", message: `must be a number of lines or 'all', not '${v}'` }]);
  return Number(v);
}

/** ISO time, Unix seconds, or a duration back from now as Docker takes it (Go's: "10m", "1h30m", "1.5h"). */
function since(q: URLSearchParams, name = "since"): string | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const t = parseDockerTime(v);
  if (t === undefined)
    throw new ValidationError([{ field: name, message: `'${v}' is neither an ISO time nor a duration like 10m` }]);
  return new Date(t).toISOString();
}

/**
 * since/until of logs: as `since`, but a time given in full (a `logs -t` stamp, nanoseconds and offset) is
 * kept as it is, so that a bound at a line's own stamp includes that line.
 */
function logTime(q: URLSearchParams, name: "since" | "until"): string | undefined {
  const iso = since(q, name);
  const v = q.get(name) ?? "";
  return iso !== undefined && /^\d{4}-\d\d-\d\dT/.test(v) && timeNs(v) !== undefined ? v : iso;
}

/**
 * The events after `after` that berthd still holds, then each new one as it happens. With `until`, as Docker's:
 * only events up to it (the held ones from the start when there is no `after`), and the stream ends there, at
 * once after the replay when it is past.
 */
async function* eventStream(
  bus: EventBus,
  after: string | undefined,
  until: string | undefined,
  signal: AbortSignal,
): AsyncGenerator<BerthEvent> {
  const queue: BerthEvent[] = after ? bus.since(after) : until ? bus.since("") : [];
  let wake: (() => void) | undefined;
  let expired = false;
  const off = bus.subscribe((e) => {
    queue.push(e);
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  const timer =
    until === undefined
      ? undefined
      : setTimeout(
          () => {
            expired = true;
            wake?.();
          },
          Math.max(0, Date.parse(until) - Date.now()),
        );
  try {
    for (;;) {
      while (queue.length) {
        const e = queue.shift()!;
        if (until !== undefined && e.at > until) return;
        yield e;
      }
      if (signal.aborted || expired) return;
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
    }
  } finally {
    clearTimeout(timer);
    off();
    signal.removeEventListener("abort", onAbort);
  }
}

export const handlers: HandlerTable<Services> = {
  serverInfo: async (_req, s) => reply.json(s.info()),
  hostInfo: async (_req, s) => reply.json(await s.hostInfo()),
  openapi: async (_req, s) => reply.json(openapiDocument(s.version)),
  events: async (req, s) => {
    const after = since(req.query);
    const until = since(req.query, "until");
    if (after !== undefined && until !== undefined && until < after)
      throw new ValidationError([
        { field: "until", message: `${until} is before since (${after}): nothing is in between` },
      ]);
    return reply.sse(eventStream(s.events, after, until, req.signal));
  },

  listContainers: async ({ query }, s) => {
    const list = s.containers.list({ all: bool(query, "all"), filters: query.getAll("filter") });
    return reply.json(bool(query, "size") ? await s.containers.withSizes(list) : list);
  },
  createContainer: async ({ body }, s) => reply.json(await s.containers.create(body as ContainerCreate), 201),
  getContainer: async ({ params, query }, s) => {
    const c = s.containers.inspect(id(params));
    return reply.json(bool(query, "size") ? (await s.containers.withSizes([c]))[0] : c);
  },
  updateContainer: async ({ params, body }, s) =>
    reply.json(await s.containers.update(id(params), body as ContainerPut)),
  deleteContainer: async ({ params, query }, s) => {
    await s.containers.remove(id(params), { force: bool(query, "force"), volumes: bool(query, "volumes") });
    return reply.noContent();
  },
  startContainer: async ({ params }, s) => {
    await s.containers.start(id(params));
    return reply.noContent();
  },
  stopContainer: async ({ params, query }, s) => {
    const t = seconds(query);
    await s.containers.stop(id(params), t === undefined ? {} : { timeoutSeconds: t });
    return reply.noContent();
  },
  restartContainer: async ({ params, query }, s) => {
    const t = seconds(query);
    await s.containers.restart(id(params), t === undefined ? {} : { timeoutSeconds: t });
    return reply.noContent();
  },
  killContainer: async ({ params, query }, s) => {
    await s.containers.kill(id(params), query.get("signal") || "SIGKILL");
    return reply.noContent();
  },
  pauseContainer: async ({ params }, s) => {
    await s.containers.pause(id(params));
    return reply.noContent();
  },
  unpauseContainer: async ({ params }, s) => {
    await s.containers.unpause(id(params));
    return reply.noContent();
  },
  waitContainer: async ({ params, query, signal }, s) =>
    reply.json(await s.containers.wait(id(params), signal, waitCondition(query))),
  renameContainer: async ({ params, query }, s) => {
    await s.containers.rename(id(params), query.get("name"));
    return reply.noContent();
  },
  containerLogs: async ({ params, query, signal }, s) => {
    const t = tail(query);
    const from = logTime(query, "since");
    const to = logTime(query, "until");
    return reply.ndjson(
      await s.containers.logs(id(params), {
        follow: bool(query, "follow"),
        signal,
        ...(t !== undefined ? { tail: t } : {}),
        ...(from !== undefined ? { since: from } : {}),
        ...(to !== undefined ? { until: to } : {}),
      }),
    );
  },
  containerStats: async ({ params, query }, s) => {
    if (bool(query, "stream")) {
      throw new ValidationError([
        { field: "stream", message: "streaming stats are not served yet; poll without stream=true" },
      ]);
    }
    return reply.json(await s.containers.stats(id(params)));
  },
  containerTop: async ({ params, query }, s) =>
    reply.json(await s.containers.top(id(params), query.get("psArgs") || undefined)),
  execContainer: async ({ params, body }, s) => {
    const r = await s.containers.exec(id(params), body as ExecCreate);
    return reply.json(r, "session" in r ? 202 : 200);
  },
  getArchive: async ({ params, query }, s) =>
    reply.bytes(await getArchive(s.containers, id(params), query.get("path")), "application/x-tar"),
  putArchive: async ({ params, query, stream }, s) => {
    if (!stream) throw new ValidationError([{ field: "body", message: "send the tar as the request body" }]);
    await putArchive(s.containers, id(params), query.get("path"), stream);
    return reply.noContent();
  },

  createToken: async ({ body }, s) => reply.json(s.tokens.create(body as TokenCreate), 201),
  listTokens: async (_req, s) => reply.json(s.tokens.list()),
  deleteToken: async ({ params }, s) => {
    s.tokens.remove(id(params));
    return reply.noContent();
  },

  ...imageHandlers,
};
