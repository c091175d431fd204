/**
 * The typed client of the berth REST API: one method per route id of `routes`, over a small `Transport`.
 * Pure (no node: imports): the CLI brings a unix-socket / TCP transport, the dashboard a fetch one.
 *
 * ```ts
 * const api = createClient(transport);
 * const web = await api.getContainer({ params: { id: "web" } });
 * for await (const line of await api.containerLogs({ params: { id: "web" }, query: { follow: true } })) {
 *   console.log(line.text);
 * }
 * ```
 * Errors come back as `ApiError`, which carries the daemon's `Problem` (application/problem+json).
 */
import { fillPath, type OperationId, routes } from "./routes.js";
import type {
  BerthEvent,
  Container,
  ContainerCreate,
  ContainerPut,
  ContainerStats,
  ExecCreate,
  ExecResult,
  ExecStarted,
  HostInfo,
  LogLine,
  Problem,
  VersionInfo,
} from "./types.js";

// ---- wire shapes the route table names but types.ts does not define yet ----------------------------

/** POST /1.0/containers/{id}/wait. */
export interface WaitResult {
  exitCode: number;
  oomKilled?: boolean;
}
/** GET /1.0/containers/{id}/top: `ps` columns and rows. */
export interface TopResult {
  titles: string[];
  processes: string[][];
}
export interface ImageSummary {
  /** Content digest of the manifest (or config). */
  id?: string;
  digest?: string;
  ref?: string;
  tags?: string[];
  size?: number;
  createdAt?: string;
  [key: string]: unknown;
}
/** Registry access sent with a pull or push (berthd never reads the user's config.json); see schemas.ts. */
export interface RegistryAccess {
  auth?: { username: string; password: string };
  /** false: accept any certificate and fall back to plain http. */
  tlsVerify?: boolean;
  /** PEM of the registry's CA. */
  ca?: string;
}
export interface ImagePull extends RegistryAccess {
  ref: string;
  platform?: string;
}
export interface ImagePush extends RegistryAccess {
  ref: string;
  destination?: string;
}
export interface ImageBootstrap {
  /** "busybox" (busybox-static from the host) or "debian" (debootstrap). */
  kind: string;
  ref?: string;
  /** debian only: minbase (default) or systemd. */
  variant?: string;
  suite?: string;
  mirror?: string;
}
/** GET /1.0/images/usage: the content store's disk use. */
export interface ImageUsage {
  images: { ref: string; digest: string; size: number; sharedSize: number }[];
  totalBytes: number;
  unreferencedBytes: number;
  ingestBytes: number;
}
export interface PruneResult {
  removed?: string[];
  reclaimedBytes?: number;
  [key: string]: unknown;
}
export interface TokenCreate {
  name?: string;
  expiresInSeconds?: number;
}
export interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
}
/** A new token: `token` is shown only in this answer. */
export interface Token extends TokenInfo {
  token: string;
}
/** One line of pull / push / build / bootstrap progress (NDJSON). */
export interface ProgressLine {
  status?: string;
  message?: string;
  id?: string;
  done?: number;
  total?: number;
  error?: Problem | string;
  [key: string]: unknown;
}

// ---- transport ----------------------------------------------------------------------------------------

export type Body = string | Uint8Array | AsyncIterable<Uint8Array>;

export interface TransportRequest {
  method: string;
  /** Path and query string, e.g. "/1.0/containers?all=true". */
  path: string;
  headers: Record<string, string>;
  body?: Body;
  signal?: AbortSignal;
}

export interface TransportResponse {
  status: number;
  headers: Readonly<Record<string, string | undefined>>;
  /** The body, chunk by chunk; iterate it to the end or call `cancel()`. */
  body: AsyncIterable<Uint8Array>;
  cancel(): void;
}

/**
 * A connection berthd switched to a byte stream with a 101 (attach, exec): what it sends comes as "data", the
 * bytes that came with the 101 first, and "end" once it closes its side (or "error"); what is written goes to
 * the process's stdin. It starts paused, so nothing is missed: add the listeners, then `resume()`.
 */
export interface UpgradeStream {
  /** The 101's headers: content-type says whether the output is framed (see stdcopy.ts). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "end", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  write(data: Uint8Array): void;
  /** Half-closes: berthd sees the end of the input, and goes on sending. */
  end(): void;
  pause(): void;
  resume(): void;
  /** Closes the connection (berthd detaches). */
  destroy(): void;
}

/** Carries one HTTP exchange. Connection failures reject with an error whose `code` names them. */
export interface Transport {
  request(req: TransportRequest): Promise<TransportResponse>;
  /**
   * Sends `req` as an upgrade ('Connection: Upgrade', 'Upgrade: tcp'): the stream when berthd answers 101,
   * its answer otherwise. A transport without it cannot attach.
   */
  upgrade?(req: TransportRequest): Promise<UpgradeStream | TransportResponse>;
  close?(): void;
}

// ---- errors -------------------------------------------------------------------------------------------

/** A non-2xx answer of the daemon, with its problem+json body. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly problem: Problem,
    options?: ErrorOptions,
  ) {
    super(problem.detail || problem.title, options);
  }
  get status(): number {
    return this.problem.status;
  }
  get kind(): Problem["kind"] {
    return this.problem.kind;
  }
}

const kindOfStatus = (status: number): Problem["kind"] =>
  status === 404
    ? "not-found"
    : status === 409
      ? "conflict"
      : status === 412
        ? "precondition"
        : status === 503
          ? "unavailable"
          : status >= 400 && status < 500
            ? "invalid"
            : "internal";

/** Turns any error body into a Problem: problem+json as is, otherwise a synthesized one. */
export function toProblem(status: number, text: string): Problem {
  try {
    const parsed = JSON.parse(text) as Partial<Problem> & { message?: string };
    if (parsed && typeof parsed === "object") {
      return {
        type: parsed.type ?? "about:blank",
        title: parsed.title ?? `HTTP ${status}`,
        status: parsed.status ?? status,
        detail: parsed.detail ?? parsed.message ?? parsed.title ?? `HTTP ${status}`,
        kind: parsed.kind ?? kindOfStatus(status),
        ...(parsed.issues ? { issues: parsed.issues } : {}),
      };
    }
  } catch {
    // not JSON: fall through
  }
  return {
    type: "about:blank",
    title: `HTTP ${status}`,
    status,
    detail: text.trim() || `HTTP ${status}`,
    kind: kindOfStatus(status),
  };
}

// ---- the typed surface --------------------------------------------------------------------------------

type Id = { id: string };
type Ref = { ref: string };
type Bool = boolean | "true" | "false";

/** What each route takes and gives. `stream` routes give NDJSON items, `raw` routes byte chunks. */
export interface Endpoints {
  serverInfo: { result: VersionInfo };
  hostInfo: { result: HostInfo };
  openapi: { result: Record<string, unknown> };
  events: { query?: { since?: string; until?: string }; stream: BerthEvent };
  listContainers: { query?: { all?: Bool; filter?: string[]; size?: Bool }; result: Container[] };
  createContainer: { body: ContainerCreate; result: Container };
  getContainer: { params: Id; query?: { size?: Bool }; result: Container };
  updateContainer: { params: Id; body: ContainerPut; result: Container };
  deleteContainer: { params: Id; query?: { force?: Bool; volumes?: Bool }; result: undefined };
  startContainer: { params: Id; result: undefined };
  stopContainer: { params: Id; query?: { t?: number }; result: undefined };
  restartContainer: { params: Id; query?: { t?: number }; result: undefined };
  killContainer: { params: Id; query?: { signal?: string }; result: undefined };
  pauseContainer: { params: Id; result: undefined };
  unpauseContainer: { params: Id; result: undefined };
  waitContainer: { params: Id; query?: { condition?: "not-running" | "next-exit" | "removed" }; result: WaitResult };
  renameContainer: { params: Id; query: { name: string }; result: undefined };
  containerLogs: {
    params: Id;
    query?: { follow?: Bool; since?: string; until?: string; tail?: string | number; timestamps?: Bool };
    stream: LogLine;
  };
  containerStats: { params: Id; query?: { stream?: Bool }; result: ContainerStats };
  containerTop: { params: Id; query?: { psArgs?: string }; result: TopResult };
  execContainer: { params: Id; body: ExecCreate; result: ExecResult | ExecStarted };
  attachContainer: { params: Id; query?: { start?: Bool; closeStdin?: Bool; h?: number; w?: number }; raw: true };
  resizeContainer: { params: Id; query: { h: number; w: number }; result: undefined };
  execSession: { params: Id & { session: string }; result: WaitResult };
  resizeExec: { params: Id & { session: string }; query: { h: number; w: number }; result: undefined };
  getArchive: { params: Id; query: { path: string }; raw: true };
  putArchive: { params: Id; query: { path: string }; body: Body; result: undefined };
  listImages: { result: ImageSummary[] };
  pullImage: { body: ImagePull; stream: ProgressLine };
  pushImage: { body: ImagePush; stream: ProgressLine };
  getImage: { params: Ref; result: ImageSummary };
  deleteImage: { params: Ref; query?: { force?: Bool }; result: undefined };
  tagImage: { params: Ref; query: { tag: string }; result: undefined };
  pruneImages: { result: PruneResult };
  imageUsage: { result: ImageUsage };
  buildImage: { query?: { t?: string[]; f?: string; buildarg?: string[] }; body: Body; stream: ProgressLine };
  importImage: { query: { ref: string }; body: Body; result: ImageSummary };
  loadImage: { body: Body; result: ImageSummary[] };
  saveImage: { params: Ref; query?: { format?: string }; raw: true };
  bootstrapImage: { body: ImageBootstrap; stream: ProgressLine };
  commitContainer: { params: Id; query: { ref: string }; result: ImageSummary };
  createToken: { body: TokenCreate; result: Token };
  listTokens: { result: TokenInfo[] };
  deleteToken: { params: Id; result: undefined };
}

// Every route has an entry, and nothing else does.
type _Exhaustive = [OperationId] extends [keyof Endpoints]
  ? [keyof Endpoints] extends [OperationId]
    ? true
    : never
  : never;
const _exhaustive: _Exhaustive = true;
void _exhaustive;

/** Lines of an NDJSON (or SSE) body; `cancel()` stops reading early. */
export interface LineStream<T> extends AsyncIterable<T> {
  cancel(): void;
}
export interface RawStream extends AsyncIterable<Uint8Array> {
  readonly headers: Readonly<Record<string, string | undefined>>;
  cancel(): void;
}

type Pick_<E, K extends string> = K extends keyof E ? Pick<E, K> : unknown;
type OptionalIfAllOptional<T> = Partial<T> extends T ? [args?: T] : [args: T];
export type CallArgs<E> = Pick_<E, "params"> & Pick_<E, "query"> & Pick_<E, "body"> & { signal?: AbortSignal };
type Returns<E> = E extends { stream: infer T }
  ? LineStream<T>
  : E extends { raw: true }
    ? RawStream
    : E extends { result: infer R }
      ? R
      : never;

/** The routes served as an HTTP upgrade: their answer is a stream both ways. */
export type UpgradeRoute = "attachContainer" | "execContainer";

export type Client = {
  [K in keyof Endpoints]: (...args: OptionalIfAllOptional<CallArgs<Endpoints[K]>>) => Promise<Returns<Endpoints[K]>>;
} & {
  /**
   * Opens an upgrade route's stream (attach, exec: see their summaries in routes.ts); rejects with ApiError
   * when berthd answers anything but 101.
   */
  upgrade<K extends UpgradeRoute>(
    id: K,
    ...args: OptionalIfAllOptional<CallArgs<Endpoints[K]>>
  ): Promise<UpgradeStream>;
};

// ---- implementation -----------------------------------------------------------------------------------

type QueryValue = string | number | boolean | readonly (string | number | boolean)[] | undefined;

/** "?a=1&f=x&f=y": arrays repeat the key, undefined values are left out. */
export function encodeQuery(query: Readonly<Record<string, QueryValue>> | undefined): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(item))}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

async function readText(body: AsyncIterable<Uint8Array>, limit = 1 << 20): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    if (text.length > limit) break;
  }
  return text + decoder.decode();
}

/** Splits a byte stream into lines and parses each as JSON (NDJSON), or the `data:` of SSE events. */
export async function* parseLines<T>(body: AsyncIterable<Uint8Array>, sse = false): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let buf = "";
  const take = (line: string): T | undefined => {
    let text = line.trim();
    if (sse) {
      if (!text.startsWith("data:")) return undefined;
      text = text.slice(5).trim();
    }
    return text ? (JSON.parse(text) as T) : undefined;
  };
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const item = take(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (item !== undefined) yield item;
      nl = buf.indexOf("\n");
    }
  }
  buf += decoder.decode();
  const last = take(buf);
  if (last !== undefined) yield last;
}

const rawRoutes: ReadonlySet<string> = new Set(["attachContainer", "getArchive", "saveImage"]);
const rawBodyRoutes: ReadonlySet<string> = new Set(["putArchive", "buildImage", "importImage", "loadImage"]);

export interface ClientOptions {
  /** Extra headers on every request (e.g. Authorization). */
  headers?: Record<string, string>;
}

export function createClient(transport: Transport, options: ClientOptions = {}): Client {
  const prepare = (id: OperationId, args: Record<string, unknown>): TransportRequest => {
    const route = routes[id];
    const params = (args.params ?? {}) as Record<string, string>;
    const path = fillPath(route.path, params) + encodeQuery(args.query as Record<string, QueryValue> | undefined);
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    let body: Body | undefined;
    if (args.body !== undefined) {
      if (rawBodyRoutes.has(id)) {
        body = args.body as Body;
        headers["content-type"] = "application/octet-stream";
      } else {
        body = JSON.stringify(args.body);
        headers["content-type"] = "application/json";
      }
    }
    return {
      method: route.method,
      path,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(args.signal ? { signal: args.signal as AbortSignal } : {}),
    };
  };
  const call = async (id: OperationId, args: Record<string, unknown> = {}): Promise<unknown> => {
    const route = routes[id];
    const res = await transport.request(prepare(id, args));
    if (res.status < 200 || res.status >= 300) {
      const text = await readText(res.body);
      throw new ApiError(toProblem(res.status, text));
    }
    if (rawRoutes.has(id)) {
      return {
        headers: res.headers,
        cancel: () => res.cancel(),
        [Symbol.asyncIterator]: () => res.body[Symbol.asyncIterator](),
      };
    }
    if ("response" in route && route.response === "stream") {
      const sse = (res.headers["content-type"] ?? "").includes("text/event-stream");
      const lines = parseLines<unknown>(res.body, sse);
      return { cancel: () => res.cancel(), [Symbol.asyncIterator]: () => lines };
    }
    const text = await readText(res.body, Number.POSITIVE_INFINITY);
    if (res.status === 204 || text.trim() === "") return undefined;
    return JSON.parse(text);
  };
  const client: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const id of Object.keys(routes) as OperationId[])
    client[id] = (args?: Record<string, unknown>) => call(id, args);
  client.upgrade = async (id: UpgradeRoute, args: Record<string, unknown> = {}): Promise<UpgradeStream> => {
    if (!transport.upgrade) throw new Error(`this transport cannot open streams (${id})`);
    const req = prepare(id, args);
    const res = await transport.upgrade({
      ...req,
      headers: { ...req.headers, connection: "Upgrade", upgrade: "tcp" },
    });
    if (!("status" in res)) return res;
    const text = await readText(res.body);
    throw new ApiError(
      res.status >= 200 && res.status < 300
        ? toProblem(502, `berthd answered ${id} with HTTP ${res.status} instead of switching to a stream`)
        : toProblem(res.status, text),
    );
  };
  return client as unknown as Client;
}
