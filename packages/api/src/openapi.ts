/**
 * The OpenAPI 3.0.3 document of the berth API, generated from the route table and the same schemas
 * that validate request bodies. Pure: berthd serves it at GET /1.0/openapi.json.
 */
import { type RouteSpec, routes } from "./routes.js";
import { type JsonSchema, schemas } from "./schemas.js";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const problemResponse = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});

const streamTypes: Record<string, { type: string; item: string }> = {
  events: { type: "text/event-stream", item: "BerthEvent" },
  containerLogs: { type: "application/x-ndjson", item: "LogLine" },
};

function successResponse(id: string, r: RouteSpec): Record<string, unknown> {
  if (r.status === 204) return { description: "done" };
  if (id === "openapi") {
    return { description: r.summary, content: { "application/json": { schema: { type: "object" } } } };
  }
  if (r.response === "stream") {
    const s = streamTypes[id] ?? { type: "application/x-ndjson", item: "ProgressLine" };
    return {
      description: `${r.summary}: a stream of ${s.item}, one per line`,
      content: { [s.type]: { schema: ref(s.item) } },
    };
  }
  if (r.response === "upgrade") {
    return {
      description: `${r.summary}; send 'Connection: Upgrade' and 'Upgrade: tcp'`,
      content: { "application/vnd.berth.raw-stream": { schema: { type: "string", format: "binary" } } },
    };
  }
  if (r.response && r.response in schemas) {
    return { description: r.summary, content: { "application/json": { schema: ref(r.response) } } };
  }
  return { description: r.summary };
}

/** The OpenAPI 3.0.3 document for `routes` and `schemas`. */
export function openapiDocument(version = "0.1.0"): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [id, spec] of Object.entries(routes)) {
    const r: RouteSpec = spec;
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
      description: m[1] === "id" ? "container id, unique id prefix, or name" : m[1],
    }));
    const query = Object.entries(r.query ?? {}).map(([name, description]) => ({
      name,
      in: "query",
      required: false,
      description,
      schema: { type: "string" },
    }));
    const op: Record<string, unknown> = {
      operationId: id,
      summary: r.summary,
      tags: [r.path.split("/")[2] ?? "server"],
      ...(params.length + query.length ? { parameters: [...params, ...query] } : {}),
      responses: {
        [String(r.status)]: successResponse(id, r),
        "400": problemResponse("invalid input"),
        "404": problemResponse("not found"),
        "409": problemResponse("conflict with the current state"),
        "500": problemResponse("internal error (details in the daemon log)"),
      },
    };
    if (r.also) {
      (op.responses as Record<string, unknown>)[String(r.also.status)] = {
        description: r.also.when,
        content: { "application/json": { schema: ref(r.also.response) } },
      };
    }
    if (r.body) {
      op.requestBody = { required: true, content: { "application/json": { schema: ref(r.body) } } };
      (op.responses as Record<string, unknown>)["413"] = problemResponse("body larger than 1 MiB");
    }
    const item = paths[r.path] ?? {};
    item[r.method.toLowerCase()] = op;
    paths[r.path] = item;
  }
  return {
    openapi: "3.0.3",
    info: {
      title: "berth",
      version,
      description:
        "The berthd REST API. Errors are application/problem+json (RFC 9457) with a `kind` and a detail a person can act on.",
    },
    servers: [{ url: "http://localhost", description: "unix socket /run/berth/berth.sock" }],
    paths,
    components: { schemas: schemas as Record<string, JsonSchema> },
  };
}
