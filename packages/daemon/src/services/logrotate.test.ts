/**
 * LogRotator on real files: what `settle` leaves once a container has exited, whatever the sweeps did while
 * it ran. The end-to-end path (conmon writing, the ctl fifo, `berth logs`) is in supervisor.test.ts.
 */
import { strict as assert } from "node:assert";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../log.js";
import { cutLines, LogRotator } from "./logrotate.js";

const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `line-${String(from + i).padStart(4, "0")}-xxxxxxxxxxxxxxxx\n`).join("");

describe("cutLines", () => {
  it("cuts at line boundaries, at most max bytes a piece; a longer line is its own piece", () => {
    const text = Buffer.from("aaa\nbbb\nccc\n");
    assert.deepEqual(
      cutLines(text, 8).map((b) => b.toString()),
      ["aaa\nbbb\n", "ccc\n"],
    );
    assert.deepEqual(
      cutLines(Buffer.from("a\nlonglonglong\nb\n"), 4).map((b) => b.toString()),
      ["a\n", "longlonglong\n", "b\n"],
    );
    assert.deepEqual(
      cutLines(Buffer.from("abc"), 8).map((b) => b.toString()),
      ["abc"],
    );
    assert.deepEqual(
      cutLines(Buffer.alloc(0), 8).map((b) => b.toString()),
      [""],
    );
  });
});

describe("LogRotator.settle", () => {
  let base: string;
  let n = 0;
  const rotators: LogRotator[] = [];
  before(async () => {
    base = await mkdtemp(join(tmpdir(), "berth-logrotate-"));
  });
  after(async () => {
    for (const r of rotators) r.close();
    await rm(base, { recursive: true, force: true });
  });

  /** A container's files as berthd lays them out: the live log in its bundle, rotated ones under logs/. */
  function setup() {
    const id = `c${++n}`;
    const bundle = join(base, "libct", id);
    mkdirSync(bundle, { recursive: true });
    const rotator = new LogRotator({
      libct: { logPath: (i) => join(base, "libct", i, "ctr.log"), bundlePath: (i) => join(base, "libct", i) },
      root: base,
      log: createLogger("error"),
      intervalMs: 3_600_000,
    });
    rotators.push(rotator);
    const logs = join(base, "containers", id, "logs");
    const live = join(bundle, "ctr.log");
    const files = () => {
      const rotated = (() => {
        try {
          return readdirSync(logs).sort();
        } catch {
          return [];
        }
      })();
      return Object.fromEntries([
        ...rotated.map((f) => [f, statSync(join(logs, f)).size]),
        ["live", statSync(live).size],
      ]) as Record<string, number>;
    };
    /** Everything kept, oldest first. */
    const text = () => {
      const rotated = (() => {
        try {
          return readdirSync(logs);
        } catch {
          return [];
        }
      })()
        .map((f) => Number(f.split(".")[2]))
        .sort((a, b) => b - a);
      return rotated.map((k) => readFileSync(join(logs, `ctr.log.${k}`), "utf8")).join("") + readFileSync(live, "utf8");
    };
    return { id, rotator, logs, live, files, text };
  }

  it("cuts a rotated file a sweep left past max-size, and keeps the newest max-file pieces", async () => {
    const { id, rotator, logs, live, files, text } = setup();
    mkdirSync(logs, { recursive: true });
    // the log grew to 5 KiB between two sweeps, then the sweep rotated it whole; the last lines stayed live
    writeFileSync(join(logs, "ctr.log.1"), lines(0, 140));
    writeFileSync(live, lines(140, 150));
    await rotator.settle(id, { maxSizeBytes: 2048, maxFiles: 2 });
    const f = files();
    assert.deepEqual(Object.keys(f), ["ctr.log.1", "live"]);
    for (const [name, size] of Object.entries(f)) assert.ok(size <= 2048, `${name} is ${size} bytes`);
    const kept = text();
    assert.ok(kept.endsWith(lines(140, 150)), "the newest lines are kept");
    assert.ok(lines(0, 150).endsWith(kept), "contiguous, in order");
    assert.ok(kept.length > 2048, "two files' worth is kept, not one");
  });

  it("leaves a log within its limits as it is", async () => {
    const { id, rotator, logs, live, text } = setup();
    mkdirSync(logs, { recursive: true });
    writeFileSync(join(logs, "ctr.log.1"), lines(0, 10));
    writeFileSync(live, lines(10, 20));
    const before = statSync(live).ino;
    await rotator.settle(id, { maxSizeBytes: 2048, maxFiles: 2 });
    assert.equal(text(), lines(0, 20));
    assert.equal(statSync(live).ino, before, "not rewritten");
  });

  it("starts after a sweep's rotation that was under way, and the result still fits", async () => {
    const { id, rotator, live, files, text } = setup();
    writeFileSync(live, lines(0, 200));
    const opts = { maxSizeBytes: 2048, maxFiles: 3 };
    // a rotation already running (as a sweep's would be) when the exit hook settles the log
    const rotating = rotator.rotate(id, opts, false);
    await rotator.settle(id, opts);
    await rotating;
    const f = files();
    assert.ok(Object.keys(f).length <= 3, JSON.stringify(f));
    for (const [name, size] of Object.entries(f)) assert.ok(size <= 2048, `${name} is ${size} bytes`);
    const kept = text();
    assert.ok(kept.endsWith(lines(190, 200)) && lines(0, 200).endsWith(kept), "the newest lines, contiguous");
  });

  it("cuts the log even when that rotation's reopen failed (conmon gone with the container)", async () => {
    const { id, rotator, live, files, text } = setup();
    writeFileSync(live, lines(0, 200));
    const opts = { maxSizeBytes: 2048, maxFiles: 3 };
    const rotating = assert.rejects(rotator.rotate(id, opts), /ctl/); // reopen: this bundle has no ctl fifo
    await rotator.settle(id, opts);
    await rotating;
    for (const [name, size] of Object.entries(files())) assert.ok(size <= 2048, `${name} is ${size} bytes`);
    assert.ok(text().endsWith(lines(190, 200)));
  });

  it("max-file 1: only the live log is left", async () => {
    const { id, rotator, logs, live, files, text } = setup();
    mkdirSync(logs, { recursive: true });
    writeFileSync(join(logs, "ctr.log.2"), lines(0, 10)); // more files than max-file allows
    writeFileSync(join(logs, "ctr.log.1"), lines(10, 40).slice(0, -1)); // its last line unterminated
    writeFileSync(live, lines(40, 50));
    await rotator.settle(id, { maxSizeBytes: 4096, maxFiles: 1 });
    assert.deepEqual(Object.keys(files()), ["live"]);
    const kept = text();
    assert.ok(kept.endsWith(lines(40, 50)) && lines(0, 50).endsWith(kept), "not glued to the next file's first line");
  });
});
