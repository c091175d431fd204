/**
 * A client for conmon's attach socket and terminal control fifo: connect berth's stdio to a container's
 * (or an exec session's) stdio and TTY.
 *
 * Protocol (conmon 2.1.x, src/conn_sock.c, src/ctr_stdio.c, src/ctrl.c):
 * - `BUNDLE/attach` is a SOCK_SEQPACKET unix socket. Each packet conmon sends is `[pipe][data...]`, where
 *   `pipe` is conmon's `stdpipe_t`: 2 = stdout, 3 = stderr (1 = stdin is unused on the wire). With a terminal
 *   everything arrives as stdout.
 * - Every packet the client sends is written, raw, to the container's stdin (conmon must run with `-i`).
 *   conmon reads at most 8191 bytes per packet and drops the rest, and treats a zero-length read as EOF,
 *   so we never send empty packets and split large writes.
 * - When the client's side reaches EOF (half-close or close), conmon closes the container's stdin unless it
 *   was started with `--leave-stdin-open`.
 * - `BUNDLE/ctl` is a fifo read by conmon: the line `"1 <rows> <cols>\n"` resizes the pty (type 2 reopens
 *   logs). conmon forwards the size internally to its own `winsz` fifo, which clients do not write.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { SeqpacketSocket } from "node-unix-socket";
import { LibctError } from "../errors.js";

export interface AttachStreams {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface AttachSession {
  /** Resolves when conmon closes the socket (container exited) or on detach(); rejects on a socket error. */
  done: Promise<void>;
  /** Sets the container's pty size through conmon's ctl fifo. Only meaningful for a terminal. */
  resize(rows: number, cols: number): Promise<void>;
  /**
   * Closes our side without stopping the container. conmon then closes the container's stdin unless it
   * was started with `--leave-stdin-open`, so an interactive shell without it will see EOF and exit.
   */
  detach(): void;
}

export interface AttachOptions {
  /** On seeing this sequence on stdin, detach instead of forwarding it; see parseDetachKeys. */
  detachKeys?: Buffer;
}

/** conmon's stdpipe_t values as they appear in the first byte of each packet. */
const PIPE_STDOUT = 2;
const PIPE_STDERR = 3;
/** conmon's recvfrom takes CONN_SOCK_BUF_SIZE - 1 bytes at most (8192 in older releases); the excess is lost. */
const MAX_STDIN_PACKET = 8191;
/** Pause stdin while this many packets are queued in the socket, so a fast producer cannot grow memory. */
const MAX_PENDING_WRITES = 64;
/** sizeof(sockaddr_un.sun_path) minus the terminating NUL. */
const MAX_SUN_PATH = 107;
/** conmon rejects sizes outside 0..1000 (src/ctrl.c). */
const MAX_WINSIZE = 1000;

/**
 * Connects to conmon's attach socket in `bundleDir` and pumps `streams` until conmon closes the socket
 * or the caller detaches. Attach before `runc start` to see the container's first output.
 *
 * @example
 * const session = await attach(bundle, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
 *   { detachKeys: parseDetachKeys("ctrl-p,ctrl-q") });
 * await session.resize(process.stdout.rows, process.stdout.columns);
 * await session.done;
 */
export async function attach(
  bundleDir: string,
  streams: AttachStreams,
  opts: AttachOptions = {},
): Promise<AttachSession> {
  const socket = new SeqpacketSocket();
  await connect(socket, join(bundleDir, "attach"));

  let finished = false;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A session given up on (detached after a failed exec start) may still see its socket fail: not a crash.
  done.catch(() => {});

  const { stdin, stdout, stderr } = streams;
  const matcher = opts.detachKeys && opts.detachKeys.length > 0 ? new SequenceMatcher(opts.detachKeys) : undefined;
  let pending = 0;
  let stdinPaused = false;
  /** True while the socket's "data" handler runs (our output streams' writes included). */
  let inSocketCallback = false;

  const finish = (err?: Error): void => {
    if (finished) return;
    finished = true;
    if (stdin) {
      stdin.removeListener("data", onStdinData);
      stdin.removeListener("end", onStdinEnd);
      if (stdinPaused) stdin.resume();
      stdin.pause();
    }
    // Destroyed from inside its own read callback (an output stream's write detaching), node-unix-socket's
    // native side panics ("emitter already unreferenced") and takes the process down: after the callback, then.
    if (inSocketCallback) setImmediate(() => socket.destroy());
    else socket.destroy();
    if (err) settle.reject(err);
    else settle.resolve();
  };

  const send = (data: Buffer): void => {
    for (let off = 0; off < data.length && !finished; off += MAX_STDIN_PACKET) {
      const chunk = data.subarray(off, off + MAX_STDIN_PACKET);
      pending++;
      socket.write(chunk, 0, chunk.length, () => {
        pending--;
        if (stdinPaused && pending < MAX_PENDING_WRITES / 2 && !finished) {
          stdinPaused = false;
          stdin?.resume();
        }
      });
    }
    if (pending >= MAX_PENDING_WRITES && !finished && stdin) {
      stdinPaused = true;
      stdin.pause();
    }
  };

  const onStdinData = (chunk: Buffer | string): void => {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (!matcher) {
      if (data.length > 0) send(data);
      return;
    }
    const { forward, matched } = matcher.push(data);
    if (forward.length > 0) send(forward);
    if (matched) finish();
  };
  const onStdinEnd = (): void => {
    if (finished) return;
    const held = matcher?.flush();
    if (held && held.length > 0) send(held);
    socket.end(); // half-close: conmon sees EOF and closes the container's stdin
  };

  socket.on("data", (packet: Buffer) => {
    if (packet.length < 2 || finished) return;
    const data = packet.subarray(1);
    inSocketCallback = true;
    try {
      if (packet[0] === PIPE_STDOUT) stdout?.write(data);
      else if (packet[0] === PIPE_STDERR) stderr?.write(data);
    } finally {
      inSocketCallback = false;
    }
  });
  socket.on("end", () => finish());
  socket.on("close", () => finish());
  socket.on("error", (err: Error) =>
    finish(new LibctError("unavailable", `attach socket in ${bundleDir}: ${err.message}`, { cause: err })),
  );

  if (stdin) {
    stdin.on("data", onStdinData);
    stdin.on("end", onStdinEnd);
    stdin.resume();
  }

  return {
    done,
    resize: (rows, cols) => resize(bundleDir, rows, cols),
    detach: () => finish(),
  };
}

/** Writes a resize request to conmon's ctl fifo. Rejects with "unavailable" when conmon is not running. */
async function resize(bundleDir: string, rows: number, cols: number): Promise<void> {
  for (const [name, v] of [
    ["rows", rows],
    ["cols", cols],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_WINSIZE) {
      throw new LibctError("invalid", `terminal ${name} must be an integer from 0 to ${MAX_WINSIZE}, got ${v}`);
    }
  }
  const path = join(bundleDir, "ctl");
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: fail with ENXIO instead of blocking forever when conmon (the reader) is gone.
    fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fifoError(path, err);
  }
  try {
    // One write below PIPE_BUF is atomic, so concurrent resizes cannot interleave.
    await fh.write(`1 ${rows} ${cols}\n`);
  } catch (err) {
    throw fifoError(path, err);
  } finally {
    await fh.close();
  }
}

function fifoError(path: string, err: unknown): LibctError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    return new LibctError("not-found", `${path} does not exist: is conmon running for this bundle?`, { cause: err });
  }
  if (code === "ENXIO" || code === "EPIPE") {
    return new LibctError("unavailable", `nobody reads ${path}: conmon has exited`, { cause: err });
  }
  return new LibctError("internal", `writing ${path}: ${(err as Error).message}`, { cause: err });
}

/**
 * Connects, keeping the address within sun_path: a long bundle path is reached through /proc/self/fd,
 * the same trick conmon uses to bind it.
 */
async function connect(socket: SeqpacketSocket, path: string): Promise<void> {
  let dirFd: Awaited<ReturnType<typeof open>> | undefined;
  let target = path;
  try {
    if (Buffer.byteLength(path) > MAX_SUN_PATH) {
      dirFd = await open(join(path, ".."), constants.O_RDONLY | constants.O_DIRECTORY);
      target = `/proc/self/fd/${dirFd.fd}/attach`;
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      socket.once("error", onError);
      try {
        socket.connect(target, () => {
          socket.removeListener("error", onError);
          resolve();
        });
      } catch (err) {
        reject(err);
      }
    });
  } catch (err) {
    socket.destroy();
    const msg = (err as Error).message;
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || /no such file/i.test(msg)) {
      throw new LibctError("not-found", `no attach socket at ${path}: was conmon started with this bundle (-b)?`, {
        cause: err,
      });
    }
    throw new LibctError("unavailable", `connecting to ${path}: ${msg}`, { cause: err });
  } finally {
    await dirFd?.close();
  }
}

/**
 * Finds a key sequence in a byte stream split across chunks. Bytes that might start the sequence are held
 * back until it is clear whether they do; if they don't, they are forwarded (as Docker does).
 */
class SequenceMatcher {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  push(data: Buffer): { forward: Buffer; matched: boolean } {
    const out: number[] = [];
    for (let i = 0; i < data.length; i++) {
      const byte = data[i]!;
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.held = 0;
          return { forward: Buffer.from(out), matched: true };
        }
        continue;
      }
      // Mismatch: release what was held, then see whether this byte starts a new attempt.
      for (let k = 0; k < this.held; k++) out.push(this.keys[k]!);
      this.held = 0;
      if (byte === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { forward: Buffer.from(out), matched: true };
      } else {
        out.push(byte);
      }
    }
    return { forward: Buffer.from(out), matched: false };
  }

  /** Returns the bytes held back at end of input. */
  flush(): Buffer {
    const held = this.keys.subarray(0, this.held);
    this.held = 0;
    return Buffer.from(held);
  }
}

/** ctrl-<c> is c - 64 for these, as on a terminal: ctrl-@ = 0 ... ctrl-_ = 31. */
/** For these, ctrl-<c> is the code of c minus 64, as on a terminal: ctrl-@ = 0 ... ctrl-_ = 31. */
const CTRL_PUNCTUATION = "@[\\]^_";

/**
 * Parses Docker's detach-keys format: comma-separated keys, each a single character ("d"), "ctrl-<a-z>",
 * "ctrl-<@[\]^_>" or "DEL". Examples: "ctrl-p,ctrl-q" → [16, 17]; "ctrl-a,d" → [1, 100].
 */
export function parseDetachKeys(spec: string): Buffer {
  const hint =
    'use comma-separated keys such as "ctrl-p,ctrl-q" or "ctrl-a,d" (a single character, ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or DEL)';
  if (spec === "") throw new LibctError("invalid", `empty detach keys: ${hint}; omit detach keys to disable detaching`);
  const codes: number[] = [];
  for (const key of spec.split(",")) {
    if (key.length === 1) {
      const code = key.charCodeAt(0);
      if (code > 127) throw new LibctError("invalid", `detach key "${key}" is not ASCII: ${hint}`);
      codes.push(code);
      continue;
    }
    if (key === "DEL") {
      codes.push(127);
      continue;
    }
    const m = /^ctrl-(.)$/i.exec(key);
    const c = m?.[1]?.toLowerCase();
    if (c !== undefined && c >= "a" && c <= "z") codes.push(c.charCodeAt(0) - 96);
    else if (c !== undefined && CTRL_PUNCTUATION.includes(c)) codes.push(c.charCodeAt(0) - 64);
    else throw new LibctError("invalid", `unknown detach key "${key}" in "${spec}": ${hint}`);
  }
  return Buffer.from(codes);
}
