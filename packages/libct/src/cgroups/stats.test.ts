import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { CgroupParseError } from "./parse/index.js";
import { type CgroupFiles, statsFromV1, statsFromV2, V1_STAT_FILES } from "./stats.js";

const testdata = new URL("../../testdata/cgroup/", import.meta.url);

/** Loads a captured v1 cgroup: every file of the hierarchies statsFromV1 reads, keyed by file name. */
function v1Fixture(name: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const controller of Object.keys(V1_STAT_FILES)) {
    const dir = new URL(`v1/${name}/${controller}/`, testdata);
    for (const file of readdirSync(dir)) files.set(file, readFileSync(new URL(file, dir), "utf8"));
  }
  return files;
}

function v2Fixture(name: string): Map<string, string> {
  const dir = new URL(`v2/${name}/`, testdata);
  return new Map(readdirSync(dir).map((file) => [file, readFileSync(new URL(file, dir), "utf8")]));
}

const at = new Date("2025-01-02T03:04:05.678Z");
const without = (files: CgroupFiles, ...names: string[]) =>
  new Map([...files].filter(([name]) => !names.some((n) => name.startsWith(n))));

describe("statsFromV1 (captured on a v1 host)", () => {
  it("reads a busy, limited cgroup", () => {
    assert.deepEqual(statsFromV1(v1Fixture("busy"), at), {
      cpu: {
        totalNs: 304670342n,
        userNs: 250_000_000n, // 25 ticks at USER_HZ 100
        systemNs: 40_000_000n,
        throttledPeriods: 6n,
        throttledNs: 245286869n,
      },
      memory: {
        usageBytes: 5005312n,
        limitBytes: 536870912n,
        peakBytes: 67895296n,
        cacheBytes: 4202496n,
        rssBytes: 110592n,
        swapBytes: 0n,
        oomKills: 0n,
      },
      pids: { current: 1n, limit: 64n },
      blockIO: [{ device: "254:0", readBytes: 8388608n, writeBytes: 8392704n, readOps: 8n, writeOps: 17n }],
      readAt: "2025-01-02T03:04:05.678Z",
    });
  });

  it("reports no limits for an idle, unlimited cgroup", () => {
    const stats = statsFromV1(v1Fixture("idle"), at);
    assert.equal(stats.memory?.limitBytes, undefined);
    assert.ok(stats.memory && !("limitBytes" in stats.memory), "unlimited means the key is absent");
    assert.deepEqual(stats.pids, { current: 0n });
    assert.deepEqual(stats.blockIO, []);
    assert.equal(stats.cpu?.totalNs, 0n);
  });

  it("leaves out what absent controllers would have said", () => {
    const files = without(v1Fixture("busy"), "pids.", "blkio.", "cpu.stat", "memory.oom_control", "memory.max_usage");
    const stats = statsFromV1(files, at);
    assert.equal(stats.pids, undefined);
    assert.ok(!("pids" in stats));
    assert.deepEqual(stats.blockIO, []);
    assert.deepEqual(stats.cpu, { totalNs: 304670342n, userNs: 250_000_000n, systemNs: 40_000_000n });
    assert.equal(stats.memory?.peakBytes, undefined);
    assert.equal(stats.memory?.oomKills, undefined);
    assert.deepEqual(statsFromV1(new Map(), at), { blockIO: [], readAt: at.toISOString() });
  });

  it("falls back to the non-recursive blkio files and to memory.stat cache/rss without total_", () => {
    const files = new Map([
      ["blkio.throttle.io_service_bytes", "8:16 Read 10\n8:16 Write 20\n8:0 Read 1\nTotal 31\n"],
      ["blkio.throttle.io_serviced", "8:16 Read 1\n8:16 Write 2\n8:0 Read 1\nTotal 4\n"],
      ["memory.usage_in_bytes", "100\n"],
      ["memory.stat", "cache 40\nrss 60\n"],
    ]);
    const stats = statsFromV1(files, at);
    assert.deepEqual(stats.blockIO, [
      { device: "8:0", readBytes: 1n, writeBytes: 0n, readOps: 1n, writeOps: 0n },
      { device: "8:16", readBytes: 10n, writeBytes: 20n, readOps: 1n, writeOps: 2n },
    ]);
    assert.deepEqual(stats.memory, { usageBytes: 100n, cacheBytes: 40n, rssBytes: 60n });
  });

  it("throws CgroupParseError for a malformed file, naming it", () => {
    const files = new Map(v1Fixture("busy")).set("cpuacct.stat", "user 25\nsystem four\n");
    assert.throws(
      () => statsFromV1(files, at),
      (err: unknown) => err instanceof CgroupParseError && err.file === "cpuacct.stat" && err.line === "system four",
    );
    const noUser = new Map(v1Fixture("busy")).set("cpuacct.stat", "system 4\n");
    assert.throws(() => statsFromV1(noUser, at), /cpuacct\.stat: no "user" line/);
  });
});

describe("statsFromV2 (kernel-format fixtures)", () => {
  it("reads a limited cgroup with every controller enabled", () => {
    assert.deepEqual(statsFromV2(v2Fixture("limited"), at), {
      cpu: {
        totalNs: 8412345000n,
        userNs: 6104512000n,
        systemNs: 2307833000n,
        throttledPeriods: 87n,
        throttledNs: 1931406000n,
      },
      memory: {
        usageBytes: 7405264896n,
        limitBytes: 8589934592n,
        peakBytes: 8001486848n,
        cacheBytes: 1180672000n,
        rssBytes: 6121017344n,
        swapBytes: 134217728n,
        oomKills: 2n,
      },
      pids: { current: 12n, limit: 1024n },
      blockIO: [
        { device: "8:0", readBytes: 4096n, writeBytes: 0n, readOps: 1n, writeOps: 0n },
        { device: "8:16", readBytes: 1459200n, writeBytes: 314773504n, readOps: 192n, writeOps: 353n },
        { device: "254:0", readBytes: 90430464n, writeBytes: 299008000n, readOps: 8950n, writeOps: 1252n },
      ],
      readAt: "2025-01-02T03:04:05.678Z",
    });
  });

  it("reads an old kernel's cgroup: no memory.peak, max limits, no throttling keys, no IO", () => {
    assert.deepEqual(statsFromV2(v2Fixture("old-kernel"), at), {
      cpu: { totalNs: 2417306000n, userNs: 1803911000n, systemNs: 613395000n },
      memory: { usageBytes: 52346880n, cacheBytes: 30674944n, rssBytes: 18661376n, swapBytes: 0n, oomKills: 0n },
      pids: { current: 3n },
      blockIO: [],
      readAt: "2025-01-02T03:04:05.678Z",
    });
  });

  it("reads the hybrid unified mount's cpu.stat captured on this host", () => {
    const cpuStat = readFileSync(new URL("v1/busy/unified/cpu.stat", testdata), "utf8");
    const stats = statsFromV2(new Map([["cpu.stat", cpuStat]]), at);
    assert.deepEqual(stats.cpu, { totalNs: 304670000n, userNs: 257189000n, systemNs: 47481000n });
    assert.equal(stats.memory, undefined);
  });

  it("leaves out the memory section when the memory controller is not enabled", () => {
    const stats = statsFromV2(without(v2Fixture("limited"), "memory."), at);
    assert.ok(!("memory" in stats));
    assert.equal(stats.pids?.current, 12n);
  });

  it("throws CgroupParseError naming the file and line", () => {
    const files = new Map(v2Fixture("limited")).set("memory.max", "8G\n");
    assert.throws(
      () => statsFromV2(files, at),
      (err: unknown) =>
        err instanceof CgroupParseError &&
        err.kind === "internal" &&
        err.file === "memory.max" &&
        err.line === "8G" &&
        /memory\.max, line 1 "8G"/.test(err.message),
    );
    const noUsage = new Map(v2Fixture("limited")).set("cpu.stat", "user_usec 1\nsystem_usec 1\n");
    assert.throws(() => statsFromV2(noUsage, at), /cpu\.stat: no "usage_usec" line/);
  });
});
