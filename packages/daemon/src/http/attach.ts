/**
 * Attach as an HTTP upgrade: `POST /1.0/containers/{id}/attach` with `Connection: Upgrade, Upgrade: tcp`
 * answers 101 and then the connection is a bidirectional stream bridged to conmon's attach socket
 * (libct `attach()`): bytes from the client go to the container's stdin (its console for a system
 * container), raw; the container's output comes back.
 *
 * The output, as Docker frames it (its stdcopy; the 101 says which in its Content-Type):
 * - with a terminal, `application/vnd.docker.raw-stream`: the pty's bytes as they are, no framing;
 * - without, `application/vnd.docker.multiplexed-stream`: each chunk conmon hands over (8 KiB at most) is one
 *   frame, an 8-byte header `[stream, 0, 0, 0, size uint32 big-endian]` (stream 1 = stdout, 2 = stderr) then
 *   the payload, so the client can put stdout and stderr back on separate fds (@berth/api `FrameDecoder`).
 * Detach keys are the client's business: it closes the connection, and berthd detaches without closing
 * the container's stdin.
 *
 * `POST /1.0/containers/{id}/resize?h=ROWS&w=COLS` writes conmon's ctl fifo (the pty size).
 *
 * `?closeStdin=true` on attach (run -i): when the client half-closes its side, the container's stdin is
 * closed (EOF) and output keeps flowing until the container ends it; without it, a client going away only
 * detaches. A container that is created but not started can be attached (run -it attaches before start).
 * `?start=true` (start -a, run): berthd starts the container itself once attached, so a stopped container
 * (whose monitor is gone until it is created again) loses none of its first output; a running one is just
 * attached.
 *
 * Exec (`berth exec`, `exec -i`, `exec -it`): `POST /1.0/containers/{id}/exec` with the upgrade headers and an
 * ExecCreate body starts a session under its own conmon (services/exec-session.ts), attached before the
 * command runs so none of its output is lost, and answers 101 with `X-Berth-Exec-Session: SESSION`; the
 * stream is the session's stdio, framed as above by its `tty`, and the command's stdin only with `attachStdin`
 * (otherwise it reads /dev/null). `POST .../exec/{session}/resize?h=&w=` sizes its pty, and
 * `GET .../exec/{session}` waits for it and answers `{"exitCode": N}` (the client calls it when the stream
 * ends: no in-band trailer, so a TTY stream stays byte-transparent). A command that cannot be run fails
 * before the 101, with the problem saying "cannot be run".
 *
 * A client that stops reading is detached once MAX_UNREAD_BYTES of output wait for it: conmon's attach socket
 * cannot be paused (a SOCK_SEQPACKET socket read by node-unix-socket), so what the container writes would
 * otherwise pile up in berthd's memory. The container goes on, and its log keeps everything.
 *
 * All are served ahead of the router: `installAttach(server, ...)` wraps the server's request listeners.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { PassThrough, Writable } from "node:stream";
import { type ExecCreate, encodeFrames, MULTIPLEXED_STREAM, RAW_STREAM, type StdStream } from "@berth/api";
import { type AttachSession, type AttachStreams, attach, type Libct, LibctError } from "@berth/libct";
import type { Logger } from "../log.js";
import type { ContainerService } from "../services/containers.js";
import { ExecSessions } from "../services/exec-session.js";
import { toProblem } from "./problem.js";
import { validateBody } from "./validate.js";

export interface AttachDeps {
  readonly containers: ContainerService;
  readonly libct: Libct;
  readonly log: Logger;
}

const ROUTE = /^\/1\.0\/containers\/([^/?]+)\/(attach|resize)(?:\?(.*))?$/;
const EXEC_UPGRADE = /^\/1\.0\/containers\/([^/?]+)\/exec(?:\?.*)?$/;
const EXEC_SESSION = /^\/1\.0\/containers\/([^/?]+)\/exec\/([^/?]+)(\/resize)?(?:\?(.*))?$/;
/** An ExecCreate body is small; refuse more. */
const MAX_EXEC_BODY = 64 * 1024;

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
  const sessions = new ExecSessions(containers, libct);

  /** Running, paused, or created with its conmon up (run -it attaches before start). */
  const attachable = async (ref: string, allowCreated: boolean) => {
    const row = containers.find(decodeURIComponent(ref));
    const st = await libct.state(row.id).catch(() => undefined);
    const ok = st && (st.status === "running" || st.status === "paused" || (allowCreated && st.status === "created"));
    if (!ok) {
      throw new LibctError(
        "precondition",
        `container '${row.name}' is not running; start it with berth start ${row.name}`,
      );
    }
    return row;
  };

  // ---- resize, exec status (and a plain POST /attach, which needs the upgrade) ahead of the router ----
  const original = server.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "";
    const m = req.method === "POST" ? ROUTE.exec(url) : null;
    const e = EXEC_SESSION.exec(url);
    const isExec = e && ((req.method === "GET" && !e[3]) || (req.method === "POST" && e[3]));
    if (!m && !isExec) {
      for (const l of original) l.call(server, req, res);
      return;
    }
    const reply = (status: number, body?: string, type = "application/problem+json") => {
      req.resume();
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { "content-type": type }).end(body);
    };
    const failed = (err: unknown) => {
      const p = problemBody(err, log, { method: req.method, path: req.url });
      reply(p.status, p.body);
    };
    if (e) {
      const [, ref = "", session = "", resize, query = ""] = e;
      const cref = decodeURIComponent(ref);
      if (resize) {
        const q = new URLSearchParams(query);
        Promise.resolve()
          .then(() => resizeTerminal(sessions.bundle(cref, session).bundle, Number(q.get("h")), Number(q.get("w"))))
          .then(() => reply(204), failed);
        return;
      }
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      Promise.resolve()
        .then(() => sessions.exitCode(cref, decodeURIComponent(session), abort.signal))
        .then((exitCode) => reply(200, JSON.stringify({ exitCode }), "application/json"), failed);
      return;
    }
    const [, ref = "", what, query = ""] = m!;
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
    attachable(ref, true)
      .then((row) => resizeTerminal(libct.bundlePath(row.id), Number(q.get("h")), Number(q.get("w"))))
      .then(() => reply(204), failed);
  });

  // ---- attach and exec: the upgrades ----
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? "";
    const m = req.method === "POST" ? ROUTE.exec(url) : null;
    const x = req.method === "POST" ? EXEC_UPGRADE.exec(url) : null;
    const fail = (err: unknown) => {
      const p = problemBody(err, log, { method: req.method, path: req.url });
      socket.end(
        `HTTP/1.1 ${p.status} ${p.status === 404 ? "Not Found" : "Error"}\r\ncontent-type: application/problem+json\r\n` +
          `content-length: ${Buffer.byteLength(p.body)}\r\nconnection: close\r\n\r\n${p.body}`,
      );
    };
    if (m?.[2] !== "attach" && !x) {
      fail(
        new LibctError(
          "not-found",
          `no upgrade route ${req.method} ${req.url}; use POST /1.0/containers/{id}/attach or /exec`,
        ),
      );
      return;
    }
    socket.on("error", () => {});
    void (async () => {
      /** What the request asks for, known before anything is attached. */
      let target: {
        id: string;
        tty: boolean;
        /** Whether the client's bytes go anywhere: an exec without attachStdin or tty reads /dev/null. */
        stdin: boolean;
        /** A half-close from the client closes the process's stdin (otherwise it only detaches). */
        closeStdin: boolean;
        /** Attaches `streams` (and starts what the request asks to start); headers for the 101. */
        connect(streams: AttachStreams): Promise<{ session: AttachSession; headers?: string }>;
      };
      let rest = head;
      try {
        if (x) {
          // The ExecCreate body follows the headers: content-length bytes, part of them maybe already in head.
          const len = Number(req.headers["content-length"] ?? "0");
          if (!Number.isInteger(len) || len <= 0 || len > MAX_EXEC_BODY)
            throw new LibctError("invalid", "send the exec request (ExecCreate JSON, at most 64 KiB) as the body");
          const body = await readExactly(socket, head, len);
          rest = body.rest;
          let parsed: unknown;
          try {
            parsed = JSON.parse(body.data.toString("utf8"));
          } catch {
            throw new LibctError("invalid", "the exec request body is not valid JSON");
          }
          const exec = validateBody("ExecCreate", parsed) as ExecCreate;
          const ref = decodeURIComponent(x[1] ?? "");
          target = {
            id: ref,
            tty: exec.tty === true,
            stdin: exec.attachStdin === true || exec.tty === true,
            closeStdin: true,
            connect: async (streams) => {
              const s = await sessions.start(ref, exec, streams);
              return { session: s.attached, headers: `X-Berth-Exec-Session: ${s.sessionId}\r\n` };
            },
          };
        } else {
          const q = new URLSearchParams(m![3] ?? "");
          const startIt = q.get("start") === "true";
          const row = startIt ? containers.find(decodeURIComponent(m![1] ?? "")) : await attachable(m![1] ?? "", true);
          const bundle = libct.bundlePath(row.id);
          let size: { h: number; w: number } | undefined;
          if (q.has("h") || q.has("w")) {
            size = { h: Number(q.get("h")), w: Number(q.get("w")) };
            if (![size.h, size.w].every((v) => Number.isInteger(v) && v >= 1 && v <= 1000))
              throw new LibctError("invalid", "h and w are the terminal's rows and columns: integers from 1 to 1000");
          }
          target = {
            id: row.id,
            tty: row.description.process.terminal === true,
            stdin: true,
            closeStdin: q.get("closeStdin") === "true",
            connect: async (streams) => {
              let session: AttachSession | undefined;
              const connect = async () => {
                session = await attach(bundle, streams);
                // start=true with the client's terminal size (h, w): set before the process starts.
                if (startIt && size) await resizeTerminal(bundle, size.h, size.w).catch(() => {});
              };
              try {
                if (startIt) await containers.start(row.id, { beforeStart: connect });
                if (!session) {
                  if (startIt) await attachable(row.id, true); // it was running already: attach as a plain attach does
                  await connect();
                }
              } catch (err) {
                session?.detach();
                throw err;
              }
              return { session: session! };
            },
          };
        }
      } catch (err) {
        fail(err);
        return;
      }
      // Our own stdin stream: a client going away detaches, it does not close the console; with closeStdin
      // a half-close from the client ends it (the container's stdin sees EOF).
      const stdin = new PassThrough();
      if (rest.length) stdin.write(rest);
      socket.on("data", (b: Buffer) => stdin.write(b));
      socket.resume();
      // The output waits here until the 101 is on the wire (with start=true or an exec it may come first).
      const output = new PassThrough();
      let overflow: (() => void) | undefined;
      const unread = () => {
        if (output.readableLength + output.writableLength > MAX_UNREAD_BYTES) overflow?.();
      };
      const streams: AttachStreams = {
        ...(target.stdin ? { stdin } : {}),
        ...(target.tty
          ? { stdout: framing(output, undefined, unread), stderr: framing(output, undefined, unread) }
          : { stdout: framing(output, "stdout", unread), stderr: framing(output, "stderr", unread) }),
      };
      // A client that goes away while the session is being set up (an exec starting) must not leave it attached.
      let gone = false;
      socket.once("close", () => {
        gone = true;
      });
      let attached: { session: AttachSession; headers?: string };
      try {
        attached = await target.connect(streams);
      } catch (err) {
        fail(err);
        return;
      }
      const { session } = attached;
      if (gone || socket.destroyed) {
        session.detach();
        return;
      }
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" +
          `Content-Type: ${target.tty ? RAW_STREAM : MULTIPLEXED_STREAM}\r\n${attached.headers ?? ""}\r\n`,
      );
      output.pipe(socket);
      log.debug("attached", { id: target.id, tty: target.tty });
      const detach = () => session.detach();
      overflow = () => {
        overflow = undefined;
        log.warn("detached an attach client that stopped reading", { id: target.id, unreadBytes: MAX_UNREAD_BYTES });
        session.detach();
        socket.destroy();
      };
      socket.once("close", detach);
      socket.once("end", target.closeStdin ? () => stdin.end() : detach);
      session.done.then(
        () => output.end(),
        () => socket.destroy(),
      );
    })();
  });
}

/** Output berthd holds for one attached client that does not read it, at most. */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/**
 * A writable that puts what is written to it into `output`: as stdcopy frames of `stream`, or raw without one
 * (a terminal). `written` is called after each write (the unread-output check).
 */
function framing(output: PassThrough, stream: StdStream | undefined, written: () => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (stream === undefined) output.write(chunk);
      else for (const frame of encodeFrames(stream, chunk)) output.write(frame);
      written();
      done();
    },
  });
}

/** Reads `len` bytes from `head` then the socket; returns them and what came after (stdin already). */
function readExactly(socket: Duplex, head: Buffer, len: number): Promise<{ data: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = head;
    const check = () => {
      if (buf.length < len) return false;
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
      resolve({ data: buf.subarray(0, len), rest: buf.subarray(len) });
      return true;
    };
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      check();
    };
    const onEnd = () => reject(new LibctError("invalid", "the exec request body ended early"));
    if (check()) return;
    socket.on("data", onData);
    socket.on("end", onEnd);
  });
}
