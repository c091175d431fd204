/**
 * With BERTH_ROUTE_LOG=FILE, berthd appends the operation id of every request it receives (routed, upgraded
 * or refused) to FILE. The test runner sets it for a full run and then checks that every route of the
 * OpenAPI document was exercised by some test (scripts/run-tests.mjs). Unset, it costs nothing.
 */
import { appendFileSync } from "node:fs";
import type { IncomingMessage, Server } from "node:http";
import { route } from "./router.js";

export function logRoutes(server: Server, file = process.env.BERTH_ROUTE_LOG): void {
  if (!file) return;
  const note = (req: IncomingMessage) => {
    try {
      const path = new URL(req.url ?? "/", "http://berth").pathname;
      appendFileSync(file, `${route(req.method ?? "GET", path).id}\n`);
    } catch {
      // no route matched (a 404 or 405): nothing to note
    }
  };
  server.prependListener("request", note);
  server.prependListener("upgrade", note);
}
