/**
 * Node's own handles for the two things nearly every CLI run does: ask whether stdout is a terminal, and open
 * one connection to berthd's unix socket.
 *
 * node:tty and node:net load node:stream and 25 more built-in modules, which every process compiles afresh:
 * about 3 ms of CPU per run here, a tenth of `berth run -d`, and 50 CLIs at once share two cores. The handles
 * under them (`tty_wrap`, `pipe_wrap`, `stream_wrap`) are on `process.binding`'s allow-list and have kept their
 * shape since Node 12. Where they are missing or differ, or `--pending-deprecation` would print a warning for
 * `process.binding`, this falls back to node:tty and node:net: the same behaviour, at their cost.
 */
import { EventEmitter } from "node:events";
import { getSystemErrorName } from "node:util";

/**
 * A built-in module, loaded when first asked for: process.getBuiltinModule (Node 20.16 and later), else the
 * bundle's CommonJS require. A static import would load it in every run.
 */
function builtin<T>(id: string): T {
  const get = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return (get ? get(id) : require(id)) as T;
}

/** A connection as unix-http.ts uses it: the part of node:net's Socket that it needs. */
export interface UnixConn {
  readonly destroyed: boolean;
  /** Queues bytes; false when the caller should wait for "drain" before writing more. */
  write(data: Buffer): boolean;
  /** Half-closes once the queued bytes are out: the other side reads the end, and may go on writing. */
  end(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  destroy(): void;
  on(event: "data", fn: (chunk: Buffer) => void): this;
  on(event: "end" | "close" | "drain", fn: () => void): this;
  on(event: "error", fn: (err: NodeJS.ErrnoException) => void): this;
  off(event: "data", fn: (chunk: Buffer) => void): this;
  off(event: "end" | "close" | "drain", fn: () => void): this;
  off(event: "error", fn: (err: NodeJS.ErrnoException) => void): this;
}

// The internal handles' shapes (Node 12 to 24).
interface StreamHandle {
  onread: (buf: ArrayBuffer | undefined) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  shutdown(req: ShutdownReq): number;
  close(cb: () => void): void;
  connect(req: ConnectReq, path: string): number;
}
interface WriteReq {
  handle: StreamHandle;
  buffer?: Buffer;
  oncomplete: (status: number) => void;
}
interface ConnectReq {
  oncomplete: (status: number) => void;
}
interface ShutdownReq {
  handle: StreamHandle;
  oncomplete: (status: number) => void;
}
interface Bindings {
  Pipe: new (type: number) => StreamHandle;
  PipeConnectWrap: new () => ConnectReq;
  SOCKET: number;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
  isTTY: (fd: number) => boolean;
}

let cached: Bindings | null | undefined;

/** The handles, or null where this Node lacks them (or would warn that process.binding is deprecated). */
function bindings(): Bindings | null {
  if (cached !== undefined) return cached;
  cached = null;
  const pending =
    process.execArgv.includes("--pending-deprecation") ||
    /--pending-deprecation/.test(process.env.NODE_OPTIONS ?? "") ||
    process.env.NODE_PENDING_DEPRECATION === "1";
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (pending || typeof binding !== "function") return cached;
  try {
    const pipe = binding("pipe_wrap");
    const stream = binding("stream_wrap");
    const uv = binding("uv");
    const tty = binding("tty_wrap");
    const consts = pipe.constants as Record<string, unknown> | undefined;
    const b = {
      Pipe: pipe.Pipe,
      PipeConnectWrap: pipe.PipeConnectWrap,
      SOCKET: consts?.SOCKET,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kArrayBufferOffset: stream.kArrayBufferOffset,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
      UV_EOF: uv.UV_EOF,
      isTTY: tty.isTTY,
    };
    const fns = [b.Pipe, b.PipeConnectWrap, b.WriteWrap, b.ShutdownWrap, b.isTTY];
    const nums = [b.SOCKET, b.kReadBytesOrError, b.kArrayBufferOffset, b.kLastWriteWasAsync, b.UV_EOF];
    if (
      fns.every((f) => typeof f === "function") &&
      nums.every((n) => typeof n === "number") &&
      b.state instanceof Int32Array
    )
      cached = b as Bindings;
  } catch {}
  return cached;
}

/** Whether `fd` is a terminal: tty.isatty without loading node:tty. */
export function isatty(fd: number): boolean {
  const b = bindings();
  if (b) return b.isTTY(fd);
  return builtin<typeof import("node:tty")>("node:tty").isatty(fd);
}

/** A node:net-style error for a failed handle call (`connect ENOENT /run/berth/berth.sock`). */
function uvError(status: number, syscall: string, address: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = `E${-status}`;
  }
  return Object.assign(new Error(`${syscall} ${code} ${address}`), { errno: status, code, syscall, address });
}

/**
 * One connection to a unix socket on a bare pipe handle: writes before the connection is up wait for it,
 * the end of input is the end of the connection (node:net's allowHalfOpen: false), and every way out
 * ("end" after the last data, an error, destroy()) ends in one "close".
 */
class PipeConn extends EventEmitter implements UnixConn {
  destroyed = false;
  private connected = false;
  private paused = false;
  private waiting: Buffer[] = [];
  /** end() was called before the connection was up: shut down once the waiting writes are sent. */
  private ending = false;
  private inFlight = 0;
  private needDrain = false;
  private readonly handle: StreamHandle;

  constructor(
    private readonly b: Bindings,
    private readonly path: string,
  ) {
    super();
    this.handle = new b.Pipe(b.SOCKET);
    this.handle.onread = (buf) => {
      const n = b.state[b.kReadBytesOrError]!;
      if (n > 0 && buf) this.emit("data", Buffer.from(buf, b.state[b.kArrayBufferOffset]!, n));
      else if (n === b.UV_EOF) {
        this.emit("end");
        this.destroy();
      } else if (n < 0) this.fail(n, "read");
    };
    const req = new b.PipeConnectWrap();
    req.oncomplete = (status) => {
      if (this.destroyed) return;
      if (status < 0) return this.fail(status, "connect");
      this.connected = true;
      const waiting = this.waiting;
      this.waiting = [];
      for (const data of waiting) if (!this.destroyed) this.send(data);
      if (this.ending && !this.destroyed) this.shutdown();
      if (!this.paused && !this.destroyed) this.handle.readStart();
      this.maybeDrain();
    };
    const err = this.handle.connect(req, path);
    if (err < 0) process.nextTick(() => this.fail(err, "connect"));
  }

  write(data: Buffer): boolean {
    if (this.destroyed) return false;
    if (!this.connected) {
      this.waiting.push(data);
      this.needDrain = true;
      return false;
    }
    this.send(data);
    if (this.inFlight === 0) return true;
    this.needDrain = true;
    return false;
  }

  end(): void {
    if (this.destroyed || this.ending) return;
    this.ending = true;
    if (this.connected) this.shutdown();
  }

  pause(): void {
    this.paused = true;
    if (this.connected && !this.destroyed) this.handle.readStop();
  }

  resume(): void {
    this.paused = false;
    if (this.connected && !this.destroyed) this.handle.readStart();
  }

  isPaused(): boolean {
    return this.paused;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.waiting = [];
    this.handle.onread = () => {}; // a function is required: the handle checks the type
    this.handle.close(() => this.emit("close"));
  }

  private send(data: Buffer): void {
    const req = new this.b.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = (status) => {
      this.inFlight--;
      if (status < 0) this.fail(status, "write");
      else this.maybeDrain();
    };
    const err = this.handle.writeBuffer(req, data);
    if (err < 0) {
      process.nextTick(() => this.fail(err, "write"));
      return;
    }
    if (this.b.state[this.b.kLastWriteWasAsync]) {
      req.buffer = data; // kept alive until the write completes
      this.inFlight++;
    }
  }

  /** uv_shutdown: libuv sends the writes still queued first. */
  private shutdown(): void {
    const req = new this.b.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = (status) => {
      if (status < 0) this.fail(status, "shutdown");
    };
    const err = this.handle.shutdown(req);
    if (err < 0) process.nextTick(() => this.fail(err, "shutdown"));
  }

  private maybeDrain(): void {
    if (this.needDrain && this.inFlight === 0 && this.waiting.length === 0 && !this.destroyed) {
      this.needDrain = false;
      this.emit("drain");
    }
  }

  private fail(status: number, syscall: string): void {
    if (this.destroyed) return;
    const err = uvError(status, syscall, this.path);
    this.destroy();
    this.emit("error", err);
  }
}

/** How a connection is opened: on the bare handles when this Node has them, else with node:net. */
export type UnixConnector = (path: string) => UnixConn;

export const connectWithNet: UnixConnector = (path) =>
  builtin<typeof import("node:net")>("node:net").connect(path) as unknown as UnixConn;

export const connectWithHandle: UnixConnector | undefined = (() => {
  const b = bindings();
  return b ? (path: string) => new PipeConn(b, path) : undefined;
})();

export const connectUnix: UnixConnector = connectWithHandle ?? connectWithNet;
