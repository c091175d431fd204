/** Test helpers: an in-memory Transport that answers routes by id, and an Io that records output. */
import { matchPath, type OperationId, routes } from "@berth/api";
import type { Transport, TransportRequest, TransportResponse, UpgradeStream } from "@berth/api/client";
import type { Io } from "./cli.js";

export interface FakeReply {
  status?: number;
  body?: unknown;
  /** NDJSON lines for stream routes. */
  lines?: unknown[];
  contentType?: string;
  /** For an upgrade (attach, exec): answer 101 with these headers, then send `output`'s pieces and close. */
  upgrade?: { headers?: Record<string, string>; output: (string | Uint8Array)[] };
}
export type FakeHandler = (req: { params: Record<string, string>; query: URLSearchParams; body: unknown }) => FakeReply;

export interface FakeDaemon extends Transport {
  readonly calls: {
    id: OperationId;
    params: Record<string, string>;
    query: string;
    body: unknown;
    /** An upgrade's input: what the client wrote, and whether it half-closed. */
    input?: { text: string; ended: boolean };
  }[];
}

const enc = new TextEncoder();
async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

export function fakeDaemon(handlers: Partial<Record<OperationId, FakeHandler>>): FakeDaemon {
  const calls: FakeDaemon["calls"] = [];
  const answer = (req: TransportRequest): { reply: FakeReply; call: FakeDaemon["calls"][number] } => {
    const url = new URL(req.path, "http://x");
    for (const [id, route] of Object.entries(routes) as [OperationId, (typeof routes)[OperationId]][]) {
      if (route.method !== req.method) continue;
      const params = matchPath(route.path, url.pathname);
      if (!params) continue;
      const body = typeof req.body === "string" ? JSON.parse(req.body) : undefined;
      const call = { id, params, query: url.search, body };
      calls.push(call);
      const h = handlers[id];
      const r: FakeReply = h
        ? h({ params, query: url.searchParams, body })
        : {
            status: 501,
            body: {
              type: "about:blank",
              title: "Not Implemented",
              status: 501,
              detail: `${id} is not implemented by this berthd yet`,
              kind: "unavailable",
            },
          };
      return { reply: r, call };
    }
    throw new Error(`no route for ${req.method} ${req.path}`);
  };
  const respond = (r: FakeReply): TransportResponse => {
    const status = r.status ?? (r.body === undefined && !r.lines ? 204 : 200);
    const text = r.lines
      ? r.lines.map((l) => `${JSON.stringify(l)}\n`).join("")
      : r.body === undefined
        ? ""
        : JSON.stringify(r.body);
    return {
      status,
      headers: {
        "content-type": r.contentType ?? (status >= 400 ? "application/problem+json" : "application/json"),
      },
      body: once(enc.encode(text)),
      cancel() {},
    };
  };
  return {
    calls,
    async request(req: TransportRequest): Promise<TransportResponse> {
      return respond(answer(req).reply);
    },
    async upgrade(req: TransportRequest): Promise<UpgradeStream | TransportResponse> {
      const { reply, call } = answer(req);
      if (!reply.upgrade) return respond(reply);
      const input = { text: "", ended: false };
      call.input = input;
      return new FakeUpgrade(reply.upgrade.headers ?? {}, reply.upgrade.output, input);
    },
  };
}

/** An upgraded stream that sends its pieces once resumed (a macrotask apart), then ends; input is recorded. */
class FakeUpgrade implements UpgradeStream {
  private readonly fns: { data: ((c: Uint8Array) => void)[]; end: (() => void)[] } = { data: [], end: [] };
  private started = false;
  private paused = true;
  private destroyed = false;

  constructor(
    readonly headers: Record<string, string>,
    private readonly output: (string | Uint8Array)[],
    private readonly input: { text: string; ended: boolean },
  ) {}

  on(event: "data" | "end" | "error", fn: (arg: never) => void): this {
    if (event === "data") this.fns.data.push(fn as (c: Uint8Array) => void);
    else if (event === "end") this.fns.end.push(fn as () => void);
    return this;
  }

  write(data: Uint8Array): void {
    this.input.text += new TextDecoder().decode(data);
  }

  end(): void {
    this.input.ended = true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.started) return;
    this.started = true;
    const pieces = [...this.output];
    const next = () => {
      if (this.destroyed) return;
      if (this.paused) {
        setTimeout(next, 1);
        return;
      }
      const piece = pieces.shift();
      if (piece === undefined) {
        for (const fn of this.fns.end) fn();
        return;
      }
      for (const fn of this.fns.data) fn(typeof piece === "string" ? enc.encode(piece) : piece);
      setTimeout(next, 0);
    };
    setTimeout(next, 0);
  }

  destroy(): void {
    this.destroyed = true;
  }
}

export const problem = (status: number, kind: string, detail: string): FakeReply => ({
  status,
  body: { type: "about:blank", title: detail, status, detail, kind },
});

export interface RecordingIo extends Io {
  out: string;
  err: string;
}

export function recordingIo(transport?: Transport, env: Record<string, string> = {}): RecordingIo {
  const io: RecordingIo = {
    out: "",
    err: "",
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
    isTTY: false,
    env,
    ...(transport ? { transport: async () => transport } : {}),
  };
  return io;
}
