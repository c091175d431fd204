/**
 * Bearer-token authentication for the TCP API. It wraps every `request` and `upgrade` listener already on
 * the server (the router, and attach/exec upgrades), so nothing reaches a handler unauthenticated.
 * Tokens are managed over the unix socket only: on TCP, POST and DELETE under /1.0/tokens answer 403.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../log.js";
import { HttpError, toProblem } from "./problem.js";

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Throws HttpError 401/403 for a request that may not pass. */
function checkRequest(req: IncomingMessage, verify: (authorization: string | undefined) => unknown): void {
  verify(req.headers.authorization);
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  if (/^\/1\.0\/tokens(\/|$)/.test(path) && req.method !== "GET") {
    throw new HttpError(
      403,
      "precondition",
      "tokens are created and revoked over the unix socket on the host (berth token create), not over TCP",
    );
  }
}

export function requireBearer(server: Server, verify: (authorization: string | undefined) => unknown, log: Logger) {
  const requests = server.listeners("request") as RequestListener[];
  const upgrades = server.listeners("upgrade") as UpgradeListener[];
  server.removeAllListeners("request");
  server.removeAllListeners("upgrade");

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    try {
      checkRequest(req, verify);
    } catch (err) {
      const p = toProblem(err, log);
      log.info("refused a TCP request", { method: req.method, path: req.url, status: p.status });
      res.writeHead(p.status, {
        "content-type": "application/problem+json",
        ...(p.status === 401 ? { "www-authenticate": 'Bearer realm="berthd"' } : {}),
      });
      res.end(JSON.stringify(p));
      req.resume();
      return;
    }
    for (const l of requests) l.call(server, req, res);
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      checkRequest(req, verify);
    } catch (err) {
      const p = toProblem(err, log);
      const body = JSON.stringify(p);
      socket.end(
        `HTTP/1.1 ${p.status} ${p.title}\r\ncontent-type: application/problem+json\r\n` +
          `${p.status === 401 ? 'www-authenticate: Bearer realm="berthd"\r\n' : ""}` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    for (const l of upgrades) l.call(server, req, socket, head);
  });
}
