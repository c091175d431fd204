/**
 * The CLI's transport to a local berthd: HTTP/1.1 over the unix socket (on Node's bare pipe handle, else
 * node:net: handles.ts) and a small response parser, instead of node:http. Loading node:http and sending one
 * request through its agent costs about 6 ms of CPU in every CLI process here (a bare request: 27 ms with
 * node:http, 21 ms with node:net; `node -e 0` is 15), a fifth of a short command such as `berth run -d`, and 50
 * of them at once share two cores.
 *
 * It covers what the CLI sends: one request per connection (closed once the answer is in), request bodies as a
 * string, bytes (Content-Length) or a stream (chunked), responses framed by Content-Length, chunked or the
 * end of the connection, and the upgrades of attach and exec (`unixUpgrade`: `berth run` and `berth exec`
 * stream through one). TCP and TLS hosts keep node:http.
 *
 * Tested against node:http's server (unix-http.test.ts) and, through every CLI test, against berthd.
 */
import type { TransportRequest, TransportResponse, UpgradeStream } from "@berth/api/client";
import { connectUnix, type UnixConn, type UnixConnector } from "./handles.js";

/** The head of a response: status and headers (lower-case names; repeated headers joined with ", "). */
export interface ResponseHead {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A response the parser cannot read: not HTTP/1.x, or framed in a way RFC 9112 does not allow. */
export class HttpParseError extends Error {
  override readonly name = "HttpParseError";
}

const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 1024;
const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers" | "eof" | "done";

/**
 * Reads one HTTP/1.x response from bytes pushed in as they arrive (RFC 9112): the head, then the body by
 * Transfer-Encoding: chunked, Content-Length, or the end of the connection; interim 1xx responses are
 * skipped. Calls `onHead` once, `onData` per body piece, `onEnd` once the body is complete.
 */
export class ResponseParser {
  private state: State = "head";
  private buf: Buffer = Buffer.alloc(0);
  private remaining = 0;

  constructor(
    private readonly requestMethod: string,
    private readonly on: {
      head(head: ResponseHead): void;
      data(chunk: Buffer): void;
      end(): void;
      /** A 101 to a request that asked for it: the head, and the bytes after it (the stream's first). */
      switched?(head: ResponseHead, rest: Buffer): void;
    },
  ) {}

  get complete(): boolean {
    return this.state === "done";
  }

  /** Whether the head has been read. */
  get started(): boolean {
    return this.state !== "head";
  }

  push(data: Buffer): void {
    if (this.state === "done") return; // bytes after a complete response: ignored (the connection closes)
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (this.buf.length > 0 && this.step()) {}
  }

  /** The connection ended: completes a body read to the end, else fails if the response is cut short. */
  end(): void {
    if (this.state === "done") return;
    if (this.state === "eof") {
      this.state = "done";
      this.on.end();
      return;
    }
    throw new HttpParseError(
      this.state === "head"
        ? "berthd closed the connection without answering"
        : "berthd closed the connection before the response was complete",
    );
  }

  /** Consumes what it can from `buf`; false when it needs more bytes. */
  private step(): boolean {
    switch (this.state) {
      case "head":
        return this.readHead();
      case "length": {
        const n = Math.min(this.remaining, this.buf.length);
        this.emit(n);
        this.remaining -= n;
        if (this.remaining === 0) this.finish();
        return true;
      }
      case "eof":
        this.emit(this.buf.length);
        return true;
      case "chunk-size": {
        const line = this.line();
        if (line === undefined) return false;
        const size = line.split(";", 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new HttpParseError(`bad chunk size '${line.slice(0, 40)}'`);
        this.remaining = Number.parseInt(size, 16);
        this.state = this.remaining === 0 ? "trailers" : "chunk-data";
        return true;
      }
      case "chunk-data": {
        const n = Math.min(this.remaining, this.buf.length);
        this.emit(n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = "chunk-end";
        return true;
      }
      case "chunk-end": {
        if (this.buf.length < 2) return false;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new HttpParseError("chunk not followed by CRLF");
        this.buf = this.buf.subarray(2);
        this.state = "chunk-size";
        return true;
      }
      case "trailers": {
        const line = this.line();
        if (line === undefined) return false;
        if (line === "") this.finish(); // trailer fields, if any, are not used
        return true;
      }
      default:
        return false;
    }
  }

  /** One CRLF-terminated line of the chunked framing, or undefined when it has not all arrived. */
  private line(): string | undefined {
    const at = this.buf.indexOf(CRLF);
    if (at < 0) {
      if (this.buf.length > MAX_CHUNK_LINE) throw new HttpParseError("chunk size line too long");
      return undefined;
    }
    const line = this.buf.subarray(0, at).toString("latin1");
    this.buf = this.buf.subarray(at + 2);
    return line;
  }

  private emit(n: number): void {
    if (n === 0) return;
    const piece = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.on.data(piece);
  }

  private finish(): void {
    this.state = "done";
    this.buf = Buffer.alloc(0);
    this.on.end();
  }

  private readHead(): boolean {
    const at = this.buf.indexOf(HEAD_END);
    if (at < 0) {
      if (this.buf.length > MAX_HEAD) throw new HttpParseError(`response head larger than ${MAX_HEAD} bytes`);
      return false;
    }
    const lines = this.buf.subarray(0, at).toString("latin1").split("\r\n");
    this.buf = this.buf.subarray(at + 4);
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) throw new HttpParseError(`not an HTTP/1.x response: '${lines[0]!.slice(0, 60)}'`);
    const status = Number(m[1]);
    const headers: Record<string, string> = Object.create(null);
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(":");
      if (colon <= 0) throw new HttpParseError(`bad header line '${l.slice(0, 60)}'`);
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    if (status === 101 && this.on.switched) {
      const rest = this.buf;
      this.state = "done";
      this.buf = Buffer.alloc(0);
      this.on.switched({ status, headers }, rest);
      return false;
    }
    if (status >= 100 && status < 200) {
      if (status === 101) throw new HttpParseError("unexpected protocol switch (101) on a plain request");
      return true; // an interim response (100 Continue, 103 Early Hints): the real one follows
    }
    this.on.head({ status, headers });
    if (this.requestMethod === "HEAD" || status === 204 || status === 304) {
      this.finish();
      return true;
    }
    const te = headers["transfer-encoding"];
    if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new HttpParseError(`unsupported transfer-encoding '${te}'`);
      this.state = "chunk-size";
      return true;
    }
    const cl = headers["content-length"];
    if (cl !== undefined) {
      const values = new Set(cl.split(",").map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new HttpParseError(`bad content-length '${cl}'`);
      this.remaining = Number(only);
      if (this.remaining === 0) this.finish();
      else this.state = "length";
      return true;
    }
    this.state = "eof";
    return true;
  }
}

/**
 * A response body as an async iterable for one reader, fed by the socket. The socket pauses while more than
 * `highWater` bytes wait unread; leaving the loop early (break, return) closes the connection.
 */
class BodyQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private error: Error | undefined;
  private waiter: { resolve(r: IteratorResult<Uint8Array>): void; reject(e: Error): void } | undefined;

  constructor(
    private readonly socket: UnixConn,
    private readonly highWater = 1 << 20,
  ) {}

  push(chunk: Buffer): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (this.queued > this.highWater) this.socket.pause();
  }

  end(): void {
    this.ended = true;
    this.settle();
  }

  fail(err: Error): void {
    if (this.ended) return;
    this.error = err;
    this.settle();
  }

  private settle(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.error) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        const chunk = this.chunks.shift();
        if (chunk) {
          this.queued -= chunk.length;
          if (this.queued <= this.highWater / 2 && this.socket.isPaused()) this.socket.resume();
          return Promise.resolve({ value: chunk, done: false });
        }
        if (this.error) return Promise.reject(this.error);
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.ended = true;
        this.chunks.length = 0;
        this.socket.destroy();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

const BODYLESS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The request line and headers. Values are checked as node:http checks them (tab, visible ASCII and bytes
 * 0x80-0xff only), so that none can start a header of its own or be mangled on the way.
 */
function requestHead(req: TransportRequest, framing: Record<string, string>): string {
  if (!/^[A-Z]+$/.test(req.method)) throw new TypeError(`bad HTTP method '${req.method}'`);
  if (!/^\/[\x21-\x7e]*$/.test(req.path)) throw new TypeError(`bad request path '${req.path}'`);
  // No `Connection: close`: a server that answers before reading the whole request body (a 404 for an
  // upload) then reads the rest instead of closing, and the body's last writes do not fail with EPIPE
  // before the answer has been read. The client closes the connection once the answer is in.
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: berthd\r\n`;
  for (const [name, value] of Object.entries({ ...req.headers, ...framing })) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[^\t\x20-\x7e\x80-\xff]/.test(value))
      throw new TypeError(`bad header '${name}'`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/**
 * Sends one request on a new connection to the unix socket at `socketPath` and resolves with the response
 * once its head has arrived; the body follows as the caller reads it. Connection errors reject with the
 * socket's error (its `code`, e.g. ENOENT or ECONNREFUSED, says why).
 */
export function unixRequest(
  socketPath: string,
  req: TransportRequest,
  track?: { add(s: UnixConn): void; delete(s: UnixConn): void },
  connect: UnixConnector = connectUnix,
): Promise<TransportResponse> {
  const body = req.body;
  const framing: Record<string, string> =
    body === undefined
      ? BODYLESS.has(req.method)
        ? {}
        : { "content-length": "0" }
      : typeof body === "string"
        ? { "content-length": String(Buffer.byteLength(body)) }
        : body instanceof Uint8Array
          ? { "content-length": String(body.length) }
          : { "transfer-encoding": "chunked" };
  let head: string;
  try {
    head = requestHead(req, framing);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    track?.add(socket);
    const queue = new BodyQueue(socket);
    let answered = false;
    let failure: Error | undefined;
    const fail = (err: Error) => {
      if (failure) return;
      failure = err;
      socket.destroy();
      if (answered) queue.fail(err);
      else reject(err);
    };
    const parser = new ResponseParser(req.method, {
      head: (h) => {
        answered = true;
        resolve({
          status: h.status,
          headers: h.headers,
          body: queue,
          cancel: () => {
            queue.end(); // the reader sees the end, not an error
            socket.destroy();
          },
        });
      },
      data: (chunk) => queue.push(chunk),
      end: () => {
        queue.end();
        socket.destroy(); // one request per connection
      },
    });
    socket.on("data", (data: Buffer) => {
      try {
        parser.push(data);
      } catch (err) {
        fail(err as Error);
      }
    });
    socket.on("end", () => {
      try {
        parser.end();
      } catch (err) {
        fail(err as Error);
      }
    });
    socket.on("error", (err) => {
      // A write cut off by berthd's early answer (e.g. 413 while an upload goes on) is no failure once
      // the whole response is in.
      if (!parser.complete) fail(err);
    });
    const abort = () => fail(new Error("aborted"));
    socket.on("close", () => {
      track?.delete(socket);
      req.signal?.removeEventListener("abort", abort);
      if (!parser.complete) fail(new HttpParseError("berthd closed the connection before the response was complete"));
    });
    if (req.signal?.aborted) abort();
    else req.signal?.addEventListener("abort", abort, { once: true });
    if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
      const bytes = Buffer.from(head, "latin1");
      socket.write(body === undefined ? bytes : Buffer.concat([bytes, Buffer.from(body)]));
      return;
    }
    socket.write(Buffer.from(head, "latin1"));
    (async () => {
      for await (const chunk of body) {
        if (socket.destroyed || parser.complete) return; // leaving the loop closes the body's source
        if (chunk.length === 0) continue; // a zero-length chunk would end the body
        const ok = socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF]));
        if (!ok) {
          await new Promise<void>((go) => {
            const done = () => {
              socket.off("drain", done);
              socket.off("close", done);
              go();
            };
            socket.on("drain", done);
            socket.on("close", done);
          });
        }
      }
      if (!socket.destroyed) socket.write(Buffer.from("0\r\n\r\n"));
    })().catch((err: Error) => fail(err));
  });
}

/**
 * Sends an upgrade request (its headers ask for it) on a new connection: resolves with the stream when berthd
 * answers 101, else with its answer, read to the end (an error's problem+json). `req.body` is a string or
 * bytes (the ExecCreate of an exec).
 */
export function unixUpgrade(
  socketPath: string,
  req: TransportRequest,
  connect: UnixConnector = connectUnix,
): Promise<UpgradeStream | TransportResponse> {
  const body = req.body;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array))
    return Promise.reject(new TypeError("an upgrade request's body is a string or bytes"));
  let head: string;
  try {
    head = requestHead(
      req,
      body === undefined ? { "content-length": "0" } : { "content-length": String(Buffer.byteLength(body)) },
    );
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let settled = false;
    const chunks: Buffer[] = [];
    let answer: ResponseHead | undefined;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    const parser = new ResponseParser(req.method, {
      head: (h) => {
        answer = h;
      },
      data: (chunk) => chunks.push(chunk),
      end: () => {
        settled = true;
        socket.destroy();
        const all = Buffer.concat(chunks);
        resolve({
          status: answer!.status,
          headers: answer!.headers,
          body: (async function* () {
            yield all;
          })(),
          cancel() {},
        });
      },
      switched: (h, rest) => {
        settled = true;
        socket.off("data", onData);
        socket.off("end", onEnd);
        socket.off("error", onError);
        socket.off("close", onClose);
        resolve(new ConnUpgrade(socket, h.headers, rest));
      },
    });
    const onData = (data: Buffer) => {
      try {
        parser.push(data);
      } catch (err) {
        fail(err as Error);
      }
    };
    const onEnd = () => {
      try {
        parser.end();
      } catch (err) {
        fail(err as Error);
      }
    };
    const onError = (err: Error) => fail(err);
    const onClose = () => fail(new HttpParseError("berthd closed the connection before the response was complete"));
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("close", onClose);
    const bytes = Buffer.from(head, "latin1");
    socket.write(body === undefined ? bytes : Buffer.concat([bytes, Buffer.from(body)]));
  });
}

/** A connection after its 101, as an UpgradeStream: paused until resume(), which hands on `head` first. */
export class ConnUpgrade implements UpgradeStream {
  private head: Buffer | undefined;
  private dataFns: ((chunk: Uint8Array) => void)[] = [];

  constructor(
    private readonly conn: UnixConn,
    readonly headers: Readonly<Record<string, string | undefined>>,
    head: Buffer,
  ) {
    conn.pause();
    this.head = head.length ? head : undefined;
    conn.on("data", (chunk: Buffer) => {
      for (const fn of this.dataFns) fn(chunk);
    });
  }

  on(event: "data", fn: (chunk: Uint8Array) => void): this;
  on(event: "end", fn: () => void): this;
  on(event: "error", fn: (err: Error) => void): this;
  on(event: "data" | "end" | "error", fn: (arg: never) => void): this {
    if (event === "data") this.dataFns.push(fn as (chunk: Uint8Array) => void);
    else if (event === "end") {
      // The stream is over when the connection is: its end, or a close without one.
      let ended = false;
      const once = () => {
        if (!ended) (fn as () => void)();
        ended = true;
      };
      this.conn.on("end", once);
      this.conn.on("close", once);
    } else this.conn.on("error", fn as (err: NodeJS.ErrnoException) => void);
    return this;
  }

  write(data: Uint8Array): void {
    this.conn.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  end(): void {
    this.conn.end();
  }

  pause(): void {
    this.conn.pause();
  }

  resume(): void {
    const head = this.head;
    this.head = undefined;
    if (head) for (const fn of this.dataFns) fn(head);
    this.conn.resume();
  }

  destroy(): void {
    this.conn.destroy();
  }
}
