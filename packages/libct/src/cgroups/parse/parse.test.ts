import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  CgroupParseError,
  isUnlimited,
  parseBlkioRwStat,
  parseCpuList,
  parseFlatKeyed,
  parseIoStat,
  parseNestedKeyed,
  parseNestedKeyedRaw,
  parseSingleValue,
  U64_MAX,
} from "./index.js";

const testdata = new URL("../../../testdata/cgroup/", import.meta.url);
const fixture = (path: string) => readFileSync(new URL(path, testdata), "utf8");

/** Asserts that `fn` throws a CgroupParseError for `file` naming `line`, and that the message names both. */
function assertParseError(fn: () => unknown, file: string, line: string | undefined, lineNumber?: number) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CgroupParseError, `expected CgroupParseError, got ${String(err)}`);
    assert.equal(err.kind, "internal");
    assert.equal(err.name, "CgroupParseError");
    assert.equal(err.file, file);
    assert.equal(err.line, line);
    if (lineNumber !== undefined) assert.equal(err.lineNumber, lineNumber);
    assert.match(err.message, new RegExp(file.replace(/\./g, "\\.")));
    if (line !== undefined) assert.ok(err.message.includes(JSON.stringify(line)), err.message);
    return true;
  });
}

describe("parseFlatKeyed", () => {
  it("parses v1 memory.stat captured on a v1 host", () => {
    const stat = parseFlatKeyed("memory.stat", fixture("v1/busy/memory/memory.stat"));
    assert.equal(stat.get("total_cache"), 4202496n);
    assert.equal(stat.get("total_rss"), 110592n);
    assert.equal(stat.get("hierarchical_memory_limit"), 536870912n);
    assert.equal(stat.get("hierarchical_memsw_limit"), 9223372036854771712n);
    assert.equal(stat.size, 42);
  });

  it("parses v1 cpu.stat, cpuacct.stat and memory.oom_control", () => {
    const cpu = parseFlatKeyed("cpu.stat", fixture("v1/busy/cpu/cpu.stat"));
    assert.deepEqual(
      [...cpu],
      [
        ["nr_periods", 7n],
        ["nr_throttled", 6n],
        ["throttled_time", 245286869n],
        ["nr_bursts", 0n],
        ["burst_time", 0n],
      ],
    );
    assert.deepEqual(
      [...parseFlatKeyed("cpuacct.stat", fixture("v1/busy/cpuacct/cpuacct.stat"))],
      [
        ["user", 25n],
        ["system", 4n],
      ],
    );
    assert.equal(
      parseFlatKeyed("memory.oom_control", fixture("v1/busy/memory/memory.oom_control")).get("oom_kill"),
      0n,
    );
  });

  it("parses v2 memory.stat, cpu.stat and memory.events", () => {
    const stat = parseFlatKeyed("memory.stat", fixture("v2/limited/memory.stat"));
    assert.equal(stat.get("anon"), 6121017344n);
    assert.equal(stat.get("file"), 1180672000n);
    assert.equal(stat.get("thp_swpout_fallback"), 0n);
    assert.equal(parseFlatKeyed("cpu.stat", fixture("v2/limited/cpu.stat")).get("throttled_usec"), 1931406n);
    assert.equal(parseFlatKeyed("cpu.stat", fixture("v1/busy/unified/cpu.stat")).get("usage_usec"), 304670n);
    assert.equal(parseFlatKeyed("memory.events", fixture("v2/limited/memory.events")).get("oom_kill"), 2n);
  });

  it("maps max to U64_MAX and accepts the largest u64", () => {
    const m = parseFlatKeyed("f", "a max\nb 18446744073709551615\n");
    assert.equal(m.get("a"), U64_MAX);
    assert.equal(m.get("b"), U64_MAX);
  });

  it("rejects malformed lines, naming the file and the line", () => {
    assertParseError(() => parseFlatKeyed("memory.stat", "anon 1\nfile\n"), "memory.stat", "file", 2);
    assertParseError(() => parseFlatKeyed("memory.stat", "anon 1 2\n"), "memory.stat", "anon 1 2", 1);
    assertParseError(() => parseFlatKeyed("cpu.stat", "usage_usec -5\n"), "cpu.stat", "usage_usec -5", 1);
    assertParseError(() => parseFlatKeyed("cpu.stat", "usage_usec 1.5\n"), "cpu.stat", "usage_usec 1.5", 1);
    assertParseError(
      () => parseFlatKeyed("cpu.stat", "x 18446744073709551616\n"),
      "cpu.stat",
      "x 18446744073709551616",
    );
  });
});

describe("parseSingleValue", () => {
  it("parses captured and documented single values", () => {
    assert.equal(parseSingleValue("cpuacct.usage", fixture("v1/busy/cpuacct/cpuacct.usage")), 304670342n);
    assert.equal(parseSingleValue("memory.usage_in_bytes", fixture("v1/busy/memory/memory.usage_in_bytes")), 5005312n);
    assert.equal(
      parseSingleValue("memory.limit_in_bytes", fixture("v1/idle/memory/memory.limit_in_bytes")),
      9223372036854771712n,
    );
    assert.equal(parseSingleValue("pids.current", fixture("v1/busy/pids/pids.current")), 1n);
    assert.equal(parseSingleValue("pids.max", fixture("v1/busy/pids/pids.max")), 64n);
    assert.equal(parseSingleValue("pids.max", fixture("v1/idle/pids/pids.max")), U64_MAX);
    assert.equal(parseSingleValue("memory.max", fixture("v2/old-kernel/memory.max")), U64_MAX);
    assert.equal(parseSingleValue("memory.peak", fixture("v2/limited/memory.peak")), 8001486848n);
  });

  it("treats max and v1's page-rounded LONG_MAX as unlimited, real limits not", () => {
    assert.ok(isUnlimited(U64_MAX));
    assert.ok(isUnlimited(9223372036854771712n));
    assert.ok(!isUnlimited(536870912n));
  });

  it("rejects empty, multi-line and non-numeric files", () => {
    assertParseError(() => parseSingleValue("pids.max", "unlimited\n"), "pids.max", "unlimited", 1);
    assertParseError(() => parseSingleValue("memory.current", "1\n2\n"), "memory.current", "2", 2);
    assertParseError(() => parseSingleValue("memory.current", ""), "memory.current", "", 1);
  });
});

describe("parseNestedKeyed / parseIoStat", () => {
  it("parses the documented io.stat line", () => {
    const io = parseNestedKeyed("io.stat", "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
    assert.deepEqual(
      [...io.get("8:0")!],
      [
        ["rbytes", 1n],
        ["wbytes", 2n],
        ["rios", 3n],
        ["wios", 4n],
        ["dbytes", 0n],
        ["dios", 0n],
      ],
    );
  });

  it("parses io.stat with iocost's decimal fields, keeping only the counters", () => {
    const io = parseIoStat("io.stat", fixture("v2/limited/io.stat"));
    assert.deepEqual([...io.keys()], ["254:0", "8:16", "8:0"]);
    assert.deepEqual(io.get("254:0"), {
      rbytes: 90430464n,
      wbytes: 299008000n,
      rios: 8950n,
      wios: 1252n,
      dbytes: 50331648n,
      dios: 3021n,
    });
    assert.equal(io.get("8:0")?.rbytes, 4096n);
    assert.equal(parseIoStat("io.stat", fixture("v2/old-kernel/io.stat")).size, 0);
    assertParseError(
      () => parseNestedKeyed("io.stat", fixture("v2/limited/io.stat")),
      "io.stat",
      fixture("v2/limited/io.stat").split("\n")[2],
      3,
    );
  });

  it("keeps pressure values as text in the raw form", () => {
    const psi = parseNestedKeyedRaw(
      "memory.pressure",
      "some avg10=0.00 avg60=0.12 avg300=0.05 total=3316\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1220\n",
    );
    assert.equal(psi.get("some")?.get("avg60"), "0.12");
    assert.equal(psi.get("full")?.get("total"), "1220");
  });

  it("rejects fields without '=' or with bad counters", () => {
    assertParseError(() => parseNestedKeyed("io.stat", "8:0 rbytes=1 wbytes\n"), "io.stat", "8:0 rbytes=1 wbytes", 1);
    assertParseError(() => parseNestedKeyedRaw("io.max", "8:0 =5\n"), "io.max", "8:0 =5", 1);
    assertParseError(() => parseIoStat("io.stat", "\n8:0 rbytes=x\n"), "io.stat", "8:0 rbytes=x", 2);
    assertParseError(() => parseIoStat("io.stat", "sda rbytes=1\n"), "io.stat", "sda rbytes=1", 1);
  });
});

describe("parseBlkioRwStat", () => {
  it("parses captured blkio.throttle.io_service_bytes_recursive and io_serviced_recursive", () => {
    const bytes = parseBlkioRwStat(
      "blkio.throttle.io_service_bytes_recursive",
      fixture("v1/busy/blkio/blkio.throttle.io_service_bytes_recursive"),
    );
    assert.equal(bytes.total, 16781312n);
    assert.deepEqual(
      [...bytes.devices.get("254:0")!],
      [
        ["Read", 8388608n],
        ["Write", 8392704n],
        ["Sync", 16777216n],
        ["Async", 4096n],
        ["Discard", 0n],
        ["Total", 16781312n],
      ],
    );
    const ops = parseBlkioRwStat(
      "blkio.throttle.io_serviced_recursive",
      fixture("v1/busy/blkio/blkio.throttle.io_serviced_recursive"),
    );
    assert.equal(ops.devices.get("254:0")?.get("Read"), 8n);
    assert.equal(ops.devices.get("254:0")?.get("Write"), 17n);
    assert.equal(ops.total, 25n);
  });

  it("parses an idle cgroup's lone Total line", () => {
    const idle = parseBlkioRwStat("blkio.throttle.io_serviced", fixture("v1/idle/blkio/blkio.throttle.io_serviced"));
    assert.equal(idle.devices.size, 0);
    assert.equal(idle.total, 0n);
  });

  it("rejects other shapes", () => {
    const f = "blkio.throttle.io_service_bytes";
    assertParseError(() => parseBlkioRwStat(f, "8:0 Read 1\n8:0 Read\n"), f, "8:0 Read", 2);
    assertParseError(() => parseBlkioRwStat(f, "sda Read 1\n"), f, "sda Read 1", 1);
    assertParseError(() => parseBlkioRwStat(f, "8:0 Write lots\n"), f, "8:0 Write lots", 1);
  });
});

describe("parseCpuList", () => {
  it("expands ranges", () => {
    assert.deepEqual(parseCpuList("cpuset.cpus", "0-3,5\n"), [0, 1, 2, 3, 5]);
    assert.deepEqual(parseCpuList("cpuset.cpus", fixture("v1/cpuset.cpus")), [0, 1]);
    assert.deepEqual(parseCpuList("cpuset.mems", "0\n"), [0]);
    assert.deepEqual(parseCpuList("cpuset.cpus", "8-9,0-1,1\n"), [0, 1, 8, 9]);
    assert.deepEqual(parseCpuList("cpuset.cpus", "\n"), []);
  });

  it("rejects bad items", () => {
    assertParseError(() => parseCpuList("cpuset.cpus", "0-3,a\n"), "cpuset.cpus", "0-3,a", 1);
    assertParseError(() => parseCpuList("cpuset.cpus", "3-1\n"), "cpuset.cpus", "3-1", 1);
    assertParseError(() => parseCpuList("cpuset.cpus", "0,,1\n"), "cpuset.cpus", "0,,1", 1);
    assertParseError(() => parseCpuList("cpuset.cpus", "0-1\n2\n"), "cpuset.cpus", "2", 2);
  });
});
