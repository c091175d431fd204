import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { encodeFrames, FrameDecoder, FrameError, MAX_FRAME_PAYLOAD, type StdStream } from "./stdcopy.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

/** Decodes `wire` cut into the given chunk sizes; returns each stream's bytes and the pieces' streams in order. */
function decode(wire: Uint8Array, cut: (i: number) => number = () => wire.length) {
  const dec = new FrameDecoder();
  const got: Record<StdStream, Uint8Array[]> = { stdout: [], stderr: [] };
  const order: StdStream[] = [];
  for (let off = 0, i = 0; off < wire.length; i++) {
    const n = Math.max(1, cut(i));
    dec.push(wire.subarray(off, off + n), (stream, data) => {
      got[stream].push(data.slice());
      if (order.at(-1) !== stream) order.push(stream);
    });
    off += n;
  }
  dec.end();
  return { stdout: concat(got.stdout), stderr: concat(got.stderr), order };
}

describe("stdcopy framing", () => {
  it("encodes Docker's header: stream byte, three zeros, big-endian size", () => {
    const [frame, more] = encodeFrames("stderr", bytes("hi\n"));
    assert.equal(more, undefined);
    assert.deepEqual([...frame!], [2, 0, 0, 0, 0, 0, 0, 3, 104, 105, 10]);
    assert.deepEqual([...encodeFrames("stdout", bytes("x"))[0]!.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(encodeFrames("stdout", new Uint8Array(0)), [], "nothing to say: no frame");
  });

  it("round-trips interleaved streams, whatever the chunking (headers split across chunks, one byte at a time)", () => {
    const wire = concat([
      ...encodeFrames("stdout", bytes("out 1\n")),
      ...encodeFrames("stderr", bytes("err 1\n")),
      ...encodeFrames("stdout", bytes("out 2\n")),
      ...encodeFrames("stderr", bytes("err 2\n")),
    ]);
    for (const cut of [() => wire.length, () => 1, () => 3, (i: number) => (i % 2 ? 7 : 9), () => 13]) {
      const r = decode(wire, cut);
      assert.equal(new TextDecoder().decode(r.stdout), "out 1\nout 2\n");
      assert.equal(new TextDecoder().decode(r.stderr), "err 1\nerr 2\n");
      assert.deepEqual(r.order, ["stdout", "stderr", "stdout", "stderr"]);
    }
  });

  it("accepts zero-length frames", () => {
    const empty = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
    const wire = concat([
      empty,
      ...encodeFrames("stderr", bytes("e")),
      empty,
      new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    const r = decode(wire, () => 5);
    assert.equal(r.stdout.length, 0);
    assert.equal(new TextDecoder().decode(r.stderr), "e");
  });

  it("splits large payloads into frames of at most MAX_FRAME_PAYLOAD, and decodes them back byte for byte", () => {
    const big = new Uint8Array(3 * MAX_FRAME_PAYLOAD + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const frames = encodeFrames("stdout", big);
    assert.deepEqual(
      frames.map((f) => f.length - 8),
      [MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, 123],
    );
    const r = decode(concat(frames), (i) => 1000 + i * 4099);
    assert.deepEqual(r.stdout, big);
    // A frame larger than any berthd sends (Docker's limit is the uint32) decodes too, streamed in pieces.
    const header = new Uint8Array([2, 0, 0, 0, 0, 0x10, 0, 1]);
    const payload = new Uint8Array(0x100001).fill(7);
    assert.deepEqual(decode(concat([header, payload]), () => 65536).stderr, payload);
  });

  it("refuses a bad stream byte or non-zero padding, after handing on what came before, and then refuses more", () => {
    for (const bad of [
      [0, 0, 0, 0, 0, 0, 0, 1],
      [3, 0, 0, 0, 0, 0, 0, 1],
      [1, 0, 1, 0, 0, 0, 0, 1],
    ]) {
      const dec = new FrameDecoder();
      let seen = "";
      const good = encodeFrames("stdout", bytes("fine"))[0]!;
      assert.throws(
        () =>
          dec.push(concat([good, new Uint8Array(bad), bytes("x")]), (_s, d) => (seen += new TextDecoder().decode(d))),
        (err: Error) => err instanceof FrameError && /bad frame header at byte 12/.test(err.message),
      );
      assert.equal(seen, "fine");
      assert.throws(() => dec.push(bytes("more"), () => {}), FrameError);
    }
    // Plain text is not a multiplexed stream: 'h' is no stream byte.
    assert.throws(() => new FrameDecoder().push(bytes("hello world\n"), () => {}), /malformed multiplexed stream/);
  });

  it("end() refuses a stream cut inside a header or a payload", () => {
    const frame = encodeFrames("stdout", bytes("abcdef"))[0]!;
    for (const [cut, why] of [
      [3, /inside a frame header \(3 of 8 bytes\)/],
      [10, /4 bytes short/],
    ] as const) {
      const dec = new FrameDecoder();
      dec.push(frame.subarray(0, cut), () => {});
      assert.throws(() => dec.end(), why);
    }
    const dec = new FrameDecoder();
    dec.push(frame, () => {});
    dec.end();
  });
});
