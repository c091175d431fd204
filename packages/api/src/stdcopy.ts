/**
 * Docker's stdcopy multiplexing, as berthd frames the output of an attach or exec stream without a TTY
 * (`POST /1.0/containers/{id}/attach`, `POST /1.0/containers/{id}/exec` upgraded).
 *
 * Each frame is an 8-byte header then its payload: `[stream, 0, 0, 0, size (uint32, big-endian)]`, where
 * `stream` is 1 for stdout and 2 for stderr. The 101 that opens such a stream says
 * `Content-Type: application/vnd.docker.multiplexed-stream`; with a TTY there is one stream and no framing
 * (`application/vnd.docker.raw-stream`). What the client sends (the container's stdin) is raw either way.
 *
 * Plain bytes in and out (Uint8Array), no node: imports: the CLI and the dashboard decode with the same code.
 *
 * @example
 * const dec = new FrameDecoder();
 * socket.on("data", (chunk) =>
 *   dec.push(chunk, (stream, data) => (stream === "stderr" ? process.stderr : process.stdout).write(data)),
 * );
 * socket.on("end", () => dec.end()); // throws when the stream stopped inside a frame
 */

export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";
export const RAW_STREAM = "application/vnd.docker.raw-stream";

export type StdStream = "stdout" | "stderr";

/** The header's first byte, Docker's values (0 would be stdin, 3 Docker's "system error": berth sends neither). */
const STREAM_BYTE: Record<StdStream, number> = { stdout: 1, stderr: 2 };
const HEADER = 8;
/**
 * The largest payload berthd puts in one frame; larger writes are split. conmon hands over at most 8 KiB at
 * a time, so this only bounds what a future source could do.
 */
export const MAX_FRAME_PAYLOAD = 64 * 1024;

/** The header and payload of one or more frames holding `data` (none for empty data: it says nothing). */
export function encodeFrames(stream: StdStream, data: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += MAX_FRAME_PAYLOAD) {
    const payload = data.subarray(off, off + MAX_FRAME_PAYLOAD);
    const frame = new Uint8Array(HEADER + payload.length);
    frame[0] = STREAM_BYTE[stream];
    new DataView(frame.buffer).setUint32(4, payload.length, false);
    frame.set(payload, HEADER);
    frames.push(frame);
  }
  return frames;
}

/** A stream that does not follow the framing: the client must stop, not print what follows. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/**
 * Turns multiplexed bytes, cut anywhere, back into (stream, data) pieces. A frame's payload is handed to `emit`
 * as it arrives (a large frame may come out in several pieces, never merged with the next frame), so nothing
 * but a partial header is ever held. Throws FrameError on a header whose stream byte is not 1 or 2 or whose
 * padding is not zero, after emitting what came before it: the stream is then out of step, and the decoder
 * refuses further input.
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER);
  private headerFill = 0;
  private stream: StdStream = "stdout";
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  private broken: FrameError | undefined;
  /** Bytes decoded so far, for error messages. */
  private offset = 0;

  push(chunk: Uint8Array, emit: (stream: StdStream, data: Uint8Array) => void): void {
    if (this.broken) throw this.broken;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        emit(this.stream, chunk.subarray(i - n, i));
        continue;
      }
      const n = Math.min(HEADER - this.headerFill, chunk.length - i);
      this.header.set(chunk.subarray(i, i + n), this.headerFill);
      this.headerFill += n;
      i += n;
      if (this.headerFill < HEADER) break;
      this.headerFill = 0;
      this.readHeader(this.offset + i - HEADER);
    }
    this.offset += chunk.length;
  }

  /** Call at the end of the stream: throws FrameError when it ended inside a header or a payload. */
  end(): void {
    if (this.broken) throw this.broken;
    if (this.headerFill > 0 || this.remaining > 0) {
      throw this.fail(
        this.headerFill > 0
          ? `the stream ended inside a frame header (${this.headerFill} of ${HEADER} bytes)`
          : `the stream ended ${this.remaining} bytes short of the end of a frame`,
      );
    }
  }

  private readHeader(at: number): void {
    const h = this.header;
    const stream = h[0] === 1 ? "stdout" : h[0] === 2 ? "stderr" : undefined;
    if (stream === undefined || h[1] !== 0 || h[2] !== 0 || h[3] !== 0) {
      const bytes = [...h].map((b) => b.toString(16).padStart(2, "0")).join(" ");
      throw this.fail(
        `bad frame header at byte ${at} (${bytes}): the first byte must be 1 (stdout) or 2 (stderr), then three zero bytes`,
      );
    }
    this.stream = stream;
    this.remaining = new DataView(h.buffer, h.byteOffset, HEADER).getUint32(4, false);
  }

  private fail(message: string): FrameError {
    this.broken = new FrameError(`malformed multiplexed stream: ${message}`);
    return this.broken;
  }
}
