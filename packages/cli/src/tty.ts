/**
 * The client side of berthd's upgrade streams (attach, console, exec -it), shared by console, attach, run -it
 * and exec -it: open the HTTP upgrade, put the local TTY in raw mode, forward window sizes (SIGWINCH, i.e.
 * stdout's "resize" event) to a resize route, and pump bytes both ways until the stream ends or the detach
 * keys are typed.
 */
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Context } from "./framework/command.js";
import { CliError, cannotRunExitCode } from "./framework/errors.js";
import { parseHost, tlsClientOptions } from "./transport.js";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/** Docker's detach-keys format: "ctrl-a,q", "ctrl-p,ctrl-q", single characters, ctrl-@..ctrl-_ , DEL. */
export function parseDetachKeys(spec: string): Buffer {
  const hint = 'use comma-separated keys such as "ctrl-a,q" or "ctrl-p,ctrl-q"';
  if (spec === "") throw new CliError("empty --detach-keys", { hint });
  const codes: number[] = [];
  for (const key of spec.split(",")) {
    if (key.length === 1 && key.charCodeAt(0) < 128) codes.push(key.charCodeAt(0));
    else if (key === "DEL") codes.push(127);
    else {
      const c = /^ctrl-(.)$/i.exec(key)?.[1]?.toLowerCase();
      if (c !== undefined && c >= "a" && c <= "z") codes.push(c.charCodeAt(0) - 96);
      else if (c !== undefined && "@[\\]^_".includes(c)) codes.push(c.charCodeAt(0) - 64);
      else throw new CliError(`unknown detach key "${key}" in "${spec}"`, { hint });
    }
  }
  return Buffer.from(codes);
}

/** Finds the detach sequence across chunks; bytes held while it might match are released on mismatch. */
export class DetachMatcher {
  private held = 0;
  constructor(private readonly keys: Buffer) {}
  push(data: Buffer): { forward: Buffer; matched: boolean } {
    const out: number[] = [];
    for (const byte of data) {
      if (byte === this.keys[this.held]) {
        if (++this.held === this.keys.length) {
          this.held = 0;
          return { forward: Buffer.from(out), matched: true };
        }
        continue;
      }
      for (let k = 0; k < this.held; k++) out.push(this.keys[k]!);
      this.held = 0;
      if (byte === this.keys[0]) {
        if (this.keys.length === 1) return { forward: Buffer.from(out), matched: true };
        this.held = 1;
      } else out.push(byte);
    }
    return { forward: Buffer.from(out), matched: false };
  }
}

type HttpModule = typeof import("node:http");

export interface Endpoint {
  readonly http: HttpModule;
  readonly base: {
    socketPath?: string;
    host?: string;
    port?: number;
    headers: Record<string, string>;
    ca?: Buffer | string[];
    rejectUnauthorized?: boolean;
  };
  readonly display: string;
}

export async function endpoint(ctx: Pick<Context, "host" | "env">): Promise<Endpoint> {
  const target = parseHost(ctx.host);
  const http = (
    target.kind === "tcp" && target.tls ? await import("node:https") : await import("node:http")
  ) as HttpModule;
  const token = ctx.env.BERTH_TOKEN;
  const roots = target.kind === "tcp" && target.tls ? (await import("node:tls")).rootCertificates : [];
  const base =
    target.kind === "unix"
      ? { socketPath: target.socketPath, headers: { host: "berthd" } as Record<string, string> }
      : {
          host: target.hostname,
          port: target.port,
          headers: token ? { authorization: `Bearer ${token}` } : ({} as Record<string, string>),
          ...(target.tls ? tlsClientOptions(ctx.env, roots) : {}),
        };
  return { http, base, display: target.display };
}

/** POST `path` with `Connection: Upgrade`; resolves with the raw stream once berthd answers 101. */
export function openUpgrade(
  ep: Endpoint,
  path: string,
  body?: unknown,
): Promise<{ socket: Duplex; headers: IncomingHttpHeaders; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = ep.http.request({
      ...ep.base,
      method: "POST",
      path,
      headers: {
        ...ep.base.headers,
        connection: "Upgrade",
        upgrade: "tcp",
        ...(payload ? { "content-type": "application/json", "content-length": String(payload.length) } : {}),
      },
    });
    req.on("upgrade", (res: IncomingMessage, socket: Duplex, head: Buffer) =>
      resolve({ socket, headers: res.headers, head }),
    );
    req.on("response", (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let detail = Buffer.concat(chunks).toString("utf8");
        try {
          detail = (JSON.parse(detail) as { detail?: string }).detail ?? detail;
        } catch {}
        // A command the image lacks (or cannot execute) exits 127 (126), as with Docker.
        const exitCode = cannotRunExitCode(detail);
        reject(new CliError(detail || `${path} failed with HTTP ${res.statusCode}`, exitCode ? { exitCode } : {}));
      });
    });
    req.on("error", (err) => reject(new CliError(`cannot reach berthd at ${ep.display}: ${err.message}`)));
    req.end(payload);
  });
}

/** POST `path?h=ROWS&w=COLS` with the local terminal's size (errors ignored: a resize is best effort). */
export function sendSize(ep: Endpoint, path: string): Promise<void> {
  const { rows, columns } = process.stdout;
  if (!rows || !columns) return Promise.resolve();
  return new Promise((resolve) => {
    const r = ep.http.request({ ...ep.base, method: "POST", path: `${path}?h=${rows}&w=${columns}` });
    r.on("response", (res: IncomingMessage) => {
      res.resume();
      res.on("end", () => resolve());
    });
    r.on("error", () => resolve());
    r.end();
  });
}

export interface PumpOptions {
  /** Detach sequence (parsed); undefined: none. */
  readonly detachKeys?: Buffer;
  /** Forward local stdin (false: output only). */
  readonly stdin: boolean;
  /** On local stdin EOF, half-close the stream so the container's stdin sees EOF (run -i, exec -i). */
  readonly closeOnEof: boolean;
  /** Where to POST window sizes; undefined: no resize forwarding. */
  readonly resizePath?: string;
  /** On local stdin EOF, keep showing output this long, then detach (console with piped input). */
  readonly detachOnEofMs?: number;
}

/**
 * Pumps the stream and the local stdio; resolves "detached" (keys typed, or stdin ended with
 * `detachOnEofMs`), "ended" (the stream closed) or "failed" (the stream broke).
 */
export async function pump(
  ep: Endpoint,
  socket: Duplex,
  head: Buffer,
  o: PumpOptions,
): Promise<"detached" | "ended" | "failed"> {
  const stdin = process.stdin;
  const raw = o.stdin && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const resize = () => void sendSize(ep, o.resizePath!);
  if (o.resizePath && process.stdout.isTTY) {
    await sendSize(ep, o.resizePath);
    process.stdout.on("resize", resize);
  }
  if (head.length) process.stdout.write(head);
  const matcher = o.detachKeys?.length ? new DetachMatcher(o.detachKeys) : undefined;
  return new Promise<"detached" | "ended" | "failed">((resolve) => {
    let done = false;
    const finish = (how: "detached" | "ended" | "failed") => {
      if (done) return;
      done = true;
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.pause();
      if (raw) stdin.setRawMode(false);
      process.stdout.off("resize", resize);
      socket.destroy();
      resolve(how);
    };
    const onData = (chunk: Buffer) => {
      if (!matcher) {
        socket.write(chunk);
        return;
      }
      const { forward, matched } = matcher.push(chunk);
      if (forward.length) socket.write(forward);
      if (matched) {
        if (raw) process.stdout.write("\r\n");
        finish("detached");
      }
    };
    const onEnd = () => {
      if (o.closeOnEof) socket.end();
      else if (o.detachOnEofMs !== undefined) setTimeout(() => finish("detached"), o.detachOnEofMs).unref();
    };
    socket.on("data", (b: Buffer) => process.stdout.write(b));
    socket.on("end", () => finish("ended"));
    socket.on("close", () => finish("ended"));
    socket.on("error", () => finish("failed"));
    if (o.stdin) {
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      stdin.resume();
    }
  });
}
