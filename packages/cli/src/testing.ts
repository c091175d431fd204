/** Test helpers: an in-memory Transport that answers routes by id, and an Io that records output. */
import { matchPath, type OperationId, routes } from "@berth/api";
import type { Transport, TransportRequest, TransportResponse } from "@berth/api/client";
import type { Io } from "./cli.js";

export interface FakeReply {
  status?: number;
  body?: unknown;
  /** NDJSON lines for stream routes. */
  lines?: unknown[];
  contentType?: string;
}
export type FakeHandler = (req: { params: Record<string, string>; query: URLSearchParams; body: unknown }) => FakeReply;

export interface FakeDaemon extends Transport {
  readonly calls: { id: OperationId; params: Record<string, string>; query: string; body: unknown }[];
}

const enc = new TextEncoder();
async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

export function fakeDaemon(handlers: Partial<Record<OperationId, FakeHandler>>): FakeDaemon {
  const calls: FakeDaemon["calls"] = [];
  return {
    calls,
    async request(req: TransportRequest): Promise<TransportResponse> {
      const url = new URL(req.path, "http://x");
      for (const [id, route] of Object.entries(routes) as [OperationId, (typeof routes)[OperationId]][]) {
        if (route.method !== req.method) continue;
        const params = matchPath(route.path, url.pathname);
        if (!params) continue;
        const body = typeof req.body === "string" ? JSON.parse(req.body) : undefined;
        calls.push({ id, params, query: url.search, body });
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
      }
      throw new Error(`no route for ${req.method} ${req.path}`);
    },
  };
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
