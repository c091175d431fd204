/**
 * The router: built from the api route table (routes as data); each operation id is bound to a handler
 * that parses input, calls one service method and returns a Reply value.
 */
import type { Readable } from "node:stream";
import { matchPath, type OperationId, type RouteSpec, routes } from "@berth/api";
import { HttpError } from "./problem.js";

export interface ApiRequest {
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed and validated JSON body (routes with a `body` schema), else undefined. */
  readonly body: unknown;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  /** The raw request body, for routes without a JSON `body` schema (tar uploads: import, load). */
  readonly stream?: Readable;
}

export type Reply =
  | { readonly kind: "json"; readonly status: number; readonly body: unknown }
  | { readonly kind: "empty" }
  | { readonly kind: "ndjson" | "sse"; readonly items: AsyncIterable<unknown> }
  | { readonly kind: "bytes"; readonly contentType: string; readonly items: AsyncIterable<Uint8Array> };

export const reply = {
  json: (body: unknown, status = 200): Reply => ({ kind: "json", status, body }),
  noContent: (): Reply => ({ kind: "empty" }),
  ndjson: (items: AsyncIterable<unknown>): Reply => ({ kind: "ndjson", items }),
  sse: (items: AsyncIterable<unknown>): Reply => ({ kind: "sse", items }),
  bytes: (items: AsyncIterable<Uint8Array>, contentType = "application/octet-stream"): Reply => ({
    kind: "bytes",
    contentType,
    items,
  }),
};

export type Handler<S> = (req: ApiRequest, services: S) => Promise<Reply>;
export type HandlerTable<S> = Partial<Record<OperationId, Handler<S>>>;

export interface Match {
  readonly id: OperationId;
  readonly route: RouteSpec;
  readonly params: Record<string, string>;
}

/** Routes with literal segments win over templates ("/1.0/images/prune" before "/1.0/images/{ref}"). */
const ordered = (Object.entries(routes) as [OperationId, RouteSpec][]).sort(
  ([, a], [, b]) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0),
);

/** Finds the route for a method and path; 404 when no path matches, 405 when only the method is wrong. */
export function route(method: string, path: string): Match {
  const allowed: string[] = [];
  for (const [id, r] of ordered) {
    const params = matchPath(r.path, path);
    if (!params) continue;
    if (r.method === method) return { id, route: r, params };
    allowed.push(r.method);
  }
  if (allowed.length) {
    throw new HttpError(
      405,
      "invalid",
      `${method} is not allowed on ${path}; use ${[...new Set(allowed)].join(" or ")}`,
    );
  }
  throw new HttpError(404, "not-found", `no API endpoint ${method} ${path}; see GET /1.0/openapi.json for the routes`);
}
