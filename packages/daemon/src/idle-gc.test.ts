import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { getHeapSpaceStatistics } from "node:v8";
import { IdleGc } from "./idle-gc.js";

describe("IdleGc", () => {
  it("collects once after a burst and a quiet spell, not during the burst nor after a few requests", (t) => {
    // Mocked timers and clock: the test decides when time passes, so a slow machine cannot reorder anything.
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tick = (ms: number) => t.mock.timers.tick(ms);
    const g = new IdleGc({ idleMs: 150, minRequests: 5, cpuTimes: () => undefined });
    for (let i = 0; i < 4; i++) g.noteRequest();
    tick(300);
    assert.equal(g.collections, 0, "4 requests are not a burst");
    // A burst that goes on past idleMs: nothing while requests keep coming.
    for (let i = 0; i < 8; i++) {
      g.noteRequest();
      tick(50);
    }
    assert.equal(g.collections, 0, "collected during the burst");
    // The last request was 50 ms ago: the collection comes idleMs after it, not before.
    tick(99);
    assert.equal(g.collections, 0, "collected before idleMs of quiet");
    tick(1);
    assert.equal(g.collections, 1);
    assert.ok(g.lastMs > 0);
    tick(1000);
    assert.equal(g.collections, 1, "one collection per burst");
    g.soon();
    tick(149);
    assert.equal(g.collections, 1, "soon() waits for idleMs of quiet");
    tick(1);
    assert.equal(g.collections, 2, "soon() collects at the next quiet moment");
    g.close();
  });

  it("waits for quiet after the last response too, not only the last request", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tick = (ms: number) => t.mock.timers.tick(ms);
    const g = new IdleGc({ idleMs: 150, minRequests: 5, cpuTimes: () => undefined });
    // A burst of `run -d` arrives at once and is answered over the next few hundred ms.
    for (let i = 0; i < 6; i++) g.noteRequest();
    for (let i = 0; i < 6; i++) {
      tick(100);
      g.noteAnswered();
    }
    assert.equal(g.collections, 0, "collected while the burst was still being answered");
    tick(149);
    assert.equal(g.collections, 0, "collected before idleMs after the last response");
    tick(1);
    assert.equal(g.collections, 1);
    g.close();
  });

  it("puts the collection off while the host's CPUs are busy, up to maxDeferMs", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const tick = (ms: number) => t.mock.timers.tick(ms);
    // A host whose CPUs are busy (3 of every 4 ticks) until `quietFrom`, then idle.
    let clock = 0;
    let quietFrom = Number.POSITIVE_INFINITY;
    let busy = 0;
    const cpuTimes = () => ({ busy, total: clock });
    const advance = (ms: number) => {
      for (let i = 0; i < ms; i += 10) {
        clock += 10;
        if (Date.now() < quietFrom) busy += 7.5;
        tick(10);
      }
    };
    const g = new IdleGc({ idleMs: 200, minRequests: 1, maxDeferMs: 2000, cpuTimes });
    g.noteRequest();
    advance(1500);
    assert.equal(g.collections, 0, "collected while the host was busy");
    quietFrom = Date.now();
    advance(400);
    assert.equal(g.collections, 1, "did not collect once the host was quiet");

    // Busy for good: the collection still comes, maxDeferMs after the first busy check.
    quietFrom = Number.POSITIVE_INFINITY;
    g.noteRequest();
    advance(2000);
    assert.equal(g.collections, 1, "gave up waiting before maxDeferMs");
    advance(600);
    assert.equal(g.collections, 2, "waited past maxDeferMs");
    g.close();
  });

  it("gives back old-generation pages that a burst left half empty", () => {
    const g = new IdleGc({ idleMs: 1000, minRequests: 1 });
    g.collect(); // start from a compacted heap
    // The old generation alone: the young one's size follows --max-semi-space-size (1 MiB in berthd).
    const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.physical_space_size;
    const base = oldSpace();
    // A burst: many objects promoted to the old generation, one in 50 still referenced afterwards.
    let churn: { i: number; s: string }[] | null = [];
    const kept: { i: number; s: string }[] = [];
    for (let i = 0; i < 400_000; i++) {
      const o = { i, s: `object-${i}` };
      if (i % 50 === 0) kept.push(o);
      else churn.push(o);
    }
    const grown = oldSpace();
    churn = null;
    g.collect();
    const after = oldSpace();
    assert.ok(grown - base > 10 * 2 ** 20, `the burst grew the heap by ${(grown - base) / 2 ** 20} MiB`);
    assert.ok(after - base < (grown - base) / 4, `after: ${(after - base) / 2 ** 20} MiB above the start`);
    assert.equal(kept.length, 8000);
    assert.equal(churn, null);
  });
});
