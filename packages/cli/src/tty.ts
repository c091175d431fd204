/**
 * The client side of berthd's upgrade streams (attach, console, exec), shared by console, attach, run, start -a
 * and exec: the stream itself comes from `ctx.api.upgrade` (the transport opens it); this puts the local TTY in
 * raw mode, forwards window sizes (SIGWINCH, i.e. stdout's "resize" event) to a resize route, and pumps bytes
 * both ways until the stream ends or the detach keys are typed. Without a TTY berthd frames the output
 * (Docker's stdcopy, announced by the 101's Content-Type): stdout frames go to our stdout, stderr frames to our
 * stderr, byte for byte.
 */
import type { UpgradeStream } from "@berth/api/client";
import { FrameDecoder, MULTIPLEXED_STREAM } from "@berth/api/stdcopy";
import type { Context } from "./framework/command.js";
import { CliError } from "./framework/errors.js";

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

/** Whether the stream's output is in stdcopy frames (no TTY), from the 101's Content-Type. */
export const isMultiplexed = (up: UpgradeStream): boolean =>
  (up.headers["content-type"] ?? "").split(";")[0]!.trim() === MULTIPLEXED_STREAM;

export interface PumpOptions {
  /** Detach sequence (parsed); undefined: none. */
  readonly detachKeys?: Buffer;
  /** Forward local stdin (false: output only). */
  readonly stdin: boolean;
  /** On local stdin EOF, half-close the stream so the container's stdin sees EOF (run -i, exec -i). */
  readonly closeOnEof: boolean;
  /** Sends the local terminal's size to a resize route (best effort); undefined: no resize forwarding. */
  readonly resize?: (rows: number, cols: number) => Promise<unknown>;
  /** On local stdin EOF, keep showing output this long, then detach (console with piped input). */
  readonly detachOnEofMs?: number;
}

/**
 * Pumps the stream and the local stdio; resolves "detached" (keys typed, or stdin ended with
 * `detachOnEofMs`), "ended" (the stream closed) or "failed" (the stream broke). Rejects with a CliError when
 * a multiplexed stream is malformed: what follows a bad frame header is not printed.
 */
export async function pump(ctx: Context, up: UpgradeStream, o: PumpOptions): Promise<"detached" | "ended" | "failed"> {
  // process.stdin is created on first use (a tty, net or fs stream: a few ms of start-up): only when forwarded.
  const stdin = o.stdin ? process.stdin : undefined;
  // Raw mode only when the other end is a terminal too (-t: a raw stream), as Docker: with -i alone the local
  // terminal keeps its echo, line editing and Ctrl-C (which run forwards as a signal).
  const raw = stdin?.isTTY === true && !isMultiplexed(up);
  if (raw) stdin!.setRawMode(true);
  const sendSize = () => {
    const { rows, columns } = process.stdout;
    if (rows && columns) void o.resize!(rows, columns).catch(() => undefined);
  };
  const resize = o.resize && process.stdout.isTTY ? sendSize : undefined;
  if (resize) {
    const { rows, columns } = process.stdout;
    if (rows && columns) await o.resize!(rows, columns).catch(() => undefined);
    process.stdout.on("resize", resize);
  }
  const matcher = o.detachKeys?.length ? new DetachMatcher(o.detachKeys) : undefined;
  const decoder = isMultiplexed(up) ? new FrameDecoder() : undefined;
  return new Promise<"detached" | "ended" | "failed">((resolve, reject) => {
    let done = false;
    const finish = (how: "detached" | "ended" | "failed", err?: Error) => {
      if (done) return;
      done = true;
      stdin?.off("data", onData);
      stdin?.off("end", onEnd);
      stdin?.pause();
      if (raw) stdin!.setRawMode(false);
      if (resize) process.stdout.off("resize", resize);
      up.destroy();
      if (err) {
        reject(
          new CliError(`cannot read the output stream: ${err.message}`, {
            hint: "berth and berthd may be of different versions (berth version shows both), or a proxy between them changed the stream",
          }),
        );
      } else resolve(how);
    };
    // A local stdout slower than the container (a pipe to a pager) holds the stream back instead of filling memory.
    let blocked = 0;
    const write = (to: "stdout" | "stderr", data: Uint8Array) => {
      const wait = ctx.out.write(to, data);
      if (!wait) return;
      if (blocked++ === 0) up.pause();
      void wait.then(() => {
        if (--blocked === 0 && !done) up.resume();
      });
    };
    const onOutput = (b: Uint8Array) => {
      if (done) return;
      if (!decoder) {
        write("stdout", b);
        return;
      }
      try {
        decoder.push(b, write);
      } catch (err) {
        finish("failed", err as Error);
      }
    };
    const onStreamEnd = () => {
      try {
        decoder?.end();
      } catch (err) {
        finish("failed", err as Error);
      }
      finish("ended");
    };
    const onData = (chunk: Buffer) => {
      if (!matcher) {
        up.write(chunk);
        return;
      }
      const { forward, matched } = matcher.push(chunk);
      if (forward.length) up.write(forward);
      if (matched) {
        if (raw) process.stdout.write("\r\n");
        finish("detached");
      }
    };
    const onEnd = () => {
      if (o.closeOnEof) up.end();
      else if (o.detachOnEofMs !== undefined) setTimeout(() => finish("detached"), o.detachOnEofMs).unref();
    };
    up.on("data", onOutput);
    up.on("end", onStreamEnd);
    up.on("error", () => finish("failed"));
    up.resume();
    if (stdin) {
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      stdin.resume();
    }
  });
}
