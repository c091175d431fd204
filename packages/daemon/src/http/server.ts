/**
 * node:http server for the API: body limit, JSON parsing, schema validation, routing, replies, and
 * problem+json for every failure (through toProblem only).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { LibctError } from "@berth/libct";
import type { Logger } from "../log.js";
import { HttpError, toProblem } from "./problem.js";
import { type ApiRequest, type HandlerTable, type Reply, route } from "./router.js";
import { validateBody } from "./validate.js";

export const MAX_BODY = 1 << 20;

function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_BODY) {
    return Promise.reject(
      new HttpError(413, "invalid", `request body is ${declared} bytes; the limit is ${MAX_BODY} (1 MiB)`),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (over) return; // keep draining so the client can read the answer
      if (size > MAX_BODY) {
        over = true;
        reject(new HttpError(413, "invalid", `request body is larger than the limit of ${MAX_BODY} bytes (1 MiB)`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function drain(req: IncomingMessage, ms: number): Promise<void> {
  if (req.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    req.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
    req.resume();
  });
}

function parseJson(buf: Buffer): unknown {
  const text = buf.toString("utf8");
  if (text.trim() === "") throw new LibctError("invalid", "request body is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LibctError("invalid", `request body is not valid JSON: ${(err as Error).message}`);
  }
}

function sendProblem(res: ServerResponse, err: unknown, log: Logger, ctx: Record<string, unknown>): void {
  const p = toProblem(err, log, ctx);
  if (res.headersSent) {
    res.end();
    return;
  }
  const close = p.status === 413;
  res.writeHead(p.status, {
    "content-type": "application/problem+json",
    ...(close ? { connection: "close" } : {}),
  });
  res.end(JSON.stringify(p));
}

async function send(res: ServerResponse, r: Reply, status: number, signal: AbortSignal): Promise<void> {
  if (r.kind === "empty") {
    res.writeHead(204).end();
    return;
  }
  if (r.kind === "json") {
    const body = JSON.stringify(r.body);
    res.writeHead(r.status || status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  if (r.kind === "bytes") {
    res.writeHead(200, { "content-type": r.contentType });
    try {
      for await (const chunk of r.items) {
        if (signal.aborted) break;
        if (!res.write(chunk))
          await new Promise((resolve) => {
            res.once("drain", resolve);
            res.once("close", resolve);
          });
      }
      res.end();
    } catch {
      res.destroy(); // headers are gone: a cut connection tells the client the body is incomplete
    }
    return;
  }
  const sse = r.kind === "sse";
  res.writeHead(200, {
    "content-type": sse ? "text/event-stream" : "application/x-ndjson",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
  });
  res.flushHeaders();
  const it = r.items[Symbol.asyncIterator]();
  const stop = () => void it.return?.();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const next = await it.next();
      if (next.done || signal.aborted) break;
      res.write(sse ? `data: ${JSON.stringify(next.value)}\n\n` : `${JSON.stringify(next.value)}\n`);
    }
  } catch (err) {
    // Headers are gone: the error travels as a last line.
    const p = toProblem(err);
    res.write(sse ? `event: error\ndata: ${JSON.stringify(p)}\n\n` : `${JSON.stringify({ error: p })}\n`);
  } finally {
    signal.removeEventListener("abort", stop);
    res.end();
  }
}

/** With `tls`, an HTTPS server (the TCP API); otherwise plain HTTP (the unix socket). */
export function createApiServer<S>(
  handlers: HandlerTable<S>,
  services: S,
  log: Logger,
  opts: { tls?: { cert: Buffer; key: Buffer } } = {},
): Server {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://berth");
    const ctx = { method: req.method, path: url.pathname };
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    void (async () => {
      try {
        const m = route(req.method ?? "GET", url.pathname);
        const handler = handlers[m.id];
        if (!handler)
          throw new HttpError(
            501,
            "unavailable",
            `${m.id} (${m.route.method} ${m.route.path}) is not implemented by this berthd yet`,
          );
        let body: unknown;
        if (m.route.body) body = validateBody(m.route.body, parseJson(await readBody(req)));
        const apiReq: ApiRequest = {
          params: m.params,
          query: url.searchParams,
          body,
          signal: abort.signal,
          ...(m.route.body ? {} : { stream: req }),
        };
        await send(res, await handler(apiReq, services), m.route.status, abort.signal);
        log.debug("request", { ...ctx, status: res.statusCode, ms: Date.now() - started });
      } catch (err) {
        // An oversized body: let the client finish writing (up to 2 s) so it reads the 413 instead of EPIPE.
        if (err instanceof HttpError && err.status === 413) await drain(req, 2000);
        sendProblem(res, err, log, ctx);
        log.debug("request failed", {
          ...ctx,
          status: res.statusCode,
          ms: Date.now() - started,
          detail: (err as Error).message,
        });
      }
    })();
  };
  const server = opts.tls
    ? createHttpsServer({ ...opts.tls, minVersion: "TLSv1.2", allowHalfOpen: true }, listener)
    : createServer(listener);
  server.keepAliveTimeout = 5000;
  return server;
}
