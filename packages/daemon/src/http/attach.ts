/**
 * Attach as an HTTP upgrade: `POST /1.0/containers/{id}/attach` with `Connection: Upgrade, Upgrade: tcp`
 * answers 101 and then the connection is a raw bidirectional stream bridged to conmon's attach socket
 * (libct `attach()`): bytes from the client go to the container's stdin (its console for a system
 * container), the container's output comes back. With a terminal there is no stdout/stderr framing.
 * Detach keys are the client's business: it closes the connection, and berthd detaches without closing
 * the container's stdin.
 *
 * `POST /1.0/containers/{id}/resize?h=ROWS&w=COLS` writes conmon's ctl fifo (the pty size).
 *
 * Both are served ahead of the router: `installAttach(server, ...)` wraps the server's request listeners.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { PassThrough } from "node:stream";
import { attach, type Libct, LibctError } from "@berth/libct";
import type { Logger } from "../log.js";
import type { ContainerService } from "../services/containers.js";
import { toProblem } from "./problem.js";

export interface AttachDeps {
  readonly containers: ContainerService;
  readonly libct: Libct;
  readonly log: Logger;
}

const ROUTE = /^\/1\.0\/containers\/([^/?]+)\/(attach|resize)(?:\?(.*))?$/;

function problemBody(err: unknown, log: Logger, ctx: Record<string, unknown>): { status: number; body: string } {
  const p = toProblem(err, log, ctx);
  return { status: p.status, body: JSON.stringify(p) };
}

/** Writes `1 rows cols` to conmon's ctl fifo (non-blocking: fails instead of hanging when conmon is gone). */
export async function resizeTerminal(bundle: string, rows: number, cols: number): Promise<void> {
  for (const [n, v] of [
    ["h", rows],
    ["w", cols],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 1000)
      throw new LibctError("invalid", `${n} must be an integer from 1 to 1000 (terminal size), got ${v}`);
  }
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(join(bundle, "ctl"), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new LibctError("precondition", "the container's monitor is not running; start the container first", {
      cause: err,
    });
  }
  try {
    await fh.write(`1 ${rows} ${cols}\n`);
  } finally {
    await fh.close();
  }
}

export function installAttach(server: Server, deps: AttachDeps): void {
  const { containers, libct, log } = deps;

  const running = async (ref: string) => {
    const row = containers.find(decodeURIComponent(ref));
    const st = await libct.state(row.id).catch(() => undefined);
    if (!st || (st.status !== "running" && st.status !== "paused")) {
      throw new LibctError(
        "precondition",
        `container '${row.name}' is not running; start it with berth start ${row.name}`,
      );
    }
    return row;
  };

  // ---- resize (and a plain POST /attach, which needs the upgrade) ahead of the router ----
  const original = server.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const m = req.method === "POST" ? ROUTE.exec(req.url ?? "") : null;
    if (!m) {
      for (const l of original) l.call(server, req, res);
      return;
    }
    const [, ref = "", what, query = ""] = m;
    const reply = (status: number, body?: string) => {
      req.resume();
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { "content-type": "application/problem+json" }).end(body);
    };
    if (what === "attach") {
      reply(
        426,
        JSON.stringify({
          type: "about:blank",
          title: "Upgrade Required",
          status: 426,
          detail: "attach is a stream: send the request with 'Connection: Upgrade' and 'Upgrade: tcp'",
        }),
      );
      return;
    }
    const q = new URLSearchParams(query);
    running(ref)
      .then((row) => resizeTerminal(libct.bundlePath(row.id), Number(q.get("h")), Number(q.get("w"))))
      .then(
        () => reply(204),
        (err) => {
          const p = problemBody(err, log, { method: req.method, path: req.url });
          reply(p.status, p.body);
        },
      );
  });

  // ---- attach: the upgrade ----
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const m = req.method === "POST" ? ROUTE.exec(req.url ?? "") : null;
    const fail = (err: unknown) => {
      const p = problemBody(err, log, { method: req.method, path: req.url });
      socket.end(
        `HTTP/1.1 ${p.status} ${p.status === 404 ? "Not Found" : "Error"}\r\ncontent-type: application/problem+json\r\n` +
          `content-length: ${Buffer.byteLength(p.body)}\r\nconnection: close\r\n\r\n${p.body}`,
      );
    };
    if (m?.[2] !== "attach") {
      fail(
        new LibctError("not-found", `no upgrade route ${req.method} ${req.url}; use POST /1.0/containers/{id}/attach`),
      );
      return;
    }
    socket.on("error", () => {});
    void (async () => {
      let row: Awaited<ReturnType<typeof running>>;
      try {
        row = await running(m[1] ?? "");
      } catch (err) {
        fail(err);
        return;
      }
      // Our own stdin stream that never ends: a client going away detaches, it does not close the console.
      const stdin = new PassThrough();
      if (head.length) stdin.write(head);
      socket.on("data", (b: Buffer) => stdin.write(b));
      let session: Awaited<ReturnType<typeof attach>>;
      try {
        session = await attach(libct.bundlePath(row.id), { stdin, stdout: socket, stderr: socket });
      } catch (err) {
        fail(err);
        return;
      }
      socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
      log.debug("attached", { id: row.id });
      const detach = () => session.detach();
      socket.once("close", detach);
      socket.once("end", detach);
      session.done.then(
        () => socket.end(),
        () => socket.destroy(),
      );
    })();
  });
}
