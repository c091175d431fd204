/**
 * Container resource usage from cgroup files, as plain data. Pure (no node: imports): v1/ and v2/ read the files
 * into a map of file name → text, and {@link statsFromV1} / {@link statsFromV2} turn that map into numbers, so
 * both are tested from captured fixtures. A file that is absent (its controller is not there) leaves its fields
 * or section absent; a file that is present but malformed throws CgroupParseError.
 */
import {
  CgroupParseError,
  isUnlimited,
  parseBlkioRwStat,
  parseFlatKeyed,
  parseIoStat,
  parseSingleValue,
} from "./parse/index.js";

export interface CpuStats {
  readonly totalNs: bigint;
  readonly userNs: bigint;
  readonly systemNs: bigint;
  /** Periods in which the CFS quota throttled the cgroup; absent without a cpu controller (or v2 cpu.max). */
  readonly throttledPeriods?: bigint;
  readonly throttledNs?: bigint;
}

export interface MemoryStats {
  /** Everything charged to the cgroup, page cache included (v1 memory.usage_in_bytes, v2 memory.current). */
  readonly usageBytes: bigint;
  /** undefined when unlimited ("max", or v1's page-rounded LONG_MAX). */
  readonly limitBytes?: bigint;
  /** High-water mark (v1 memory.max_usage_in_bytes, v2 memory.peak, which kernels before 5.19 lack). */
  readonly peakBytes?: bigint;
  /** Page cache: v1 memory.stat total_cache (or cache), v2 memory.stat file. */
  readonly cacheBytes: bigint;
  /** Anonymous memory: v1 total_rss (or rss), v2 anon. */
  readonly rssBytes?: bigint;
  /** v1 memory.stat total_swap (only with swap accounting), v2 memory.swap.current. */
  readonly swapBytes?: bigint;
  /** v1 memory.oom_control oom_kill, v2 memory.events oom_kill. */
  readonly oomKills?: bigint;
}

export interface PidsStats {
  readonly current: bigint;
  /** undefined when pids.max is "max". */
  readonly limit?: bigint;
}

export interface BlockIOStats {
  /** "MAJ:MIN", e.g. "8:0". */
  readonly device: string;
  readonly readBytes: bigint;
  readonly writeBytes: bigint;
  readonly readOps: bigint;
  readonly writeOps: bigint;
}

/** One reading of a container's cgroup. A section is absent when its controller is (e.g. no pids hierarchy). */
export interface ContainerStats {
  readonly cpu?: CpuStats;
  readonly memory?: MemoryStats;
  readonly pids?: PidsStats;
  /** Per device, sorted by major then minor; empty without IO or without the blkio/io controller. */
  readonly blockIO: BlockIOStats[];
  /** When the files were read, ISO 8601. */
  readonly readAt: string;
}

/** Interface file name ("memory.stat") → its text, as read from the cgroup's directories. */
export type CgroupFiles = ReadonlyMap<string, string>;

/** v1 cpuacct.stat counts in USER_HZ ticks, which is 100 per second in the kernel ABI on every architecture we run. */
export const USER_HZ = 100n;
const NS_PER_TICK = 1_000_000_000n / USER_HZ;
const NS_PER_US = 1000n;

/** The v1 files {@link statsFromV1} looks at, by controller (hierarchy name). */
export const V1_STAT_FILES = {
  cpuacct: ["cpuacct.usage", "cpuacct.stat"],
  cpu: ["cpu.stat"],
  memory: [
    "memory.usage_in_bytes",
    "memory.limit_in_bytes",
    "memory.max_usage_in_bytes",
    "memory.stat",
    "memory.oom_control",
  ],
  pids: ["pids.current", "pids.max"],
  blkio: [
    "blkio.throttle.io_service_bytes_recursive",
    "blkio.throttle.io_serviced_recursive",
    "blkio.throttle.io_service_bytes",
    "blkio.throttle.io_serviced",
  ],
} as const satisfies Record<string, readonly string[]>;

/** The v2 files {@link statsFromV2} looks at. */
export const V2_STAT_FILES = [
  "cpu.stat",
  "memory.current",
  "memory.max",
  "memory.peak",
  "memory.stat",
  "memory.swap.current",
  "memory.events",
  "pids.current",
  "pids.max",
  "io.stat",
] as const;

function parsed<T>(files: CgroupFiles, name: string, parse: (file: string, text: string) => T): T | undefined {
  const text = files.get(name);
  return text === undefined ? undefined : parse(name, text);
}

function required(file: string, stats: Map<string, bigint>, key: string): bigint {
  const value = stats.get(key);
  if (value === undefined) throw new CgroupParseError(file, undefined, `no "${key}" line`);
  return value;
}

const limitOf = (value: bigint | undefined): bigint | undefined =>
  value === undefined || isUnlimited(value) ? undefined : value;

/** Builds an object without the keys whose value is undefined, so absent really means absent. */
function defined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

function byDevice(a: BlockIOStats, b: BlockIOStats): number {
  const [amaj = 0, amin = 0] = a.device.split(":").map(Number);
  const [bmaj = 0, bmin = 0] = b.device.split(":").map(Number);
  return amaj - bmaj || amin - bmin;
}

/**
 * Turns cgroup v1 files (from the cpuacct, cpu, memory, pids and blkio hierarchies; names do not collide) into
 * stats. cpuacct.stat ticks become ns; an unlimited memory.limit_in_bytes becomes an absent limitBytes.
 * @example statsFromV1(new Map([["pids.current", "3\n"], ["pids.max", "max\n"]])).pids // { current: 3n }
 */
export function statsFromV1(files: CgroupFiles, readAt: Date = new Date()): ContainerStats {
  const usage = parsed(files, "cpuacct.usage", parseSingleValue);
  const acct = parsed(files, "cpuacct.stat", parseFlatKeyed);
  const throttle = parsed(files, "cpu.stat", parseFlatKeyed);
  const cpu =
    usage === undefined || acct === undefined
      ? undefined
      : defined<CpuStats>({
          totalNs: usage,
          userNs: required("cpuacct.stat", acct, "user") * NS_PER_TICK,
          systemNs: required("cpuacct.stat", acct, "system") * NS_PER_TICK,
          throttledPeriods: throttle?.get("nr_throttled"),
          throttledNs: throttle?.get("throttled_time"),
        });

  const memUsage = parsed(files, "memory.usage_in_bytes", parseSingleValue);
  const memStat = parsed(files, "memory.stat", parseFlatKeyed);
  const memory =
    memUsage === undefined
      ? undefined
      : defined<MemoryStats>({
          usageBytes: memUsage,
          limitBytes: limitOf(parsed(files, "memory.limit_in_bytes", parseSingleValue)),
          peakBytes: parsed(files, "memory.max_usage_in_bytes", parseSingleValue),
          cacheBytes: memStat?.get("total_cache") ?? memStat?.get("cache") ?? 0n,
          rssBytes: memStat?.get("total_rss") ?? memStat?.get("rss"),
          swapBytes: memStat?.get("total_swap") ?? memStat?.get("swap"),
          oomKills: parsed(files, "memory.oom_control", parseFlatKeyed)?.get("oom_kill"),
        });

  const bytes =
    parsed(files, "blkio.throttle.io_service_bytes_recursive", parseBlkioRwStat) ??
    parsed(files, "blkio.throttle.io_service_bytes", parseBlkioRwStat);
  const ops =
    parsed(files, "blkio.throttle.io_serviced_recursive", parseBlkioRwStat) ??
    parsed(files, "blkio.throttle.io_serviced", parseBlkioRwStat);
  const devices = new Set([...(bytes?.devices.keys() ?? []), ...(ops?.devices.keys() ?? [])]);
  const blockIO = [...devices]
    .map((device) => ({
      device,
      readBytes: bytes?.devices.get(device)?.get("Read") ?? 0n,
      writeBytes: bytes?.devices.get(device)?.get("Write") ?? 0n,
      readOps: ops?.devices.get(device)?.get("Read") ?? 0n,
      writeOps: ops?.devices.get(device)?.get("Write") ?? 0n,
    }))
    .sort(byDevice);

  return defined<ContainerStats>({ cpu, memory, pids: pidsFrom(files), blockIO, readAt: readAt.toISOString() });
}

/**
 * Turns the files of one cgroup v2 directory into stats. cpu.stat µs become ns; "max" limits become absent.
 * Throttling appears only when the cpu controller is enabled for the cgroup; memory.peak only on Linux ≥ 5.19.
 * @example statsFromV2(new Map([["cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"]])).cpu?.totalNs // 5000n
 */
export function statsFromV2(files: CgroupFiles, readAt: Date = new Date()): ContainerStats {
  const cpuStat = parsed(files, "cpu.stat", parseFlatKeyed);
  const throttledUs = cpuStat?.get("throttled_usec");
  const cpu =
    cpuStat === undefined
      ? undefined
      : defined<CpuStats>({
          totalNs: required("cpu.stat", cpuStat, "usage_usec") * NS_PER_US,
          userNs: required("cpu.stat", cpuStat, "user_usec") * NS_PER_US,
          systemNs: required("cpu.stat", cpuStat, "system_usec") * NS_PER_US,
          throttledPeriods: cpuStat.get("nr_throttled"),
          throttledNs: throttledUs === undefined ? undefined : throttledUs * NS_PER_US,
        });

  const current = parsed(files, "memory.current", parseSingleValue);
  const memStat = parsed(files, "memory.stat", parseFlatKeyed);
  const memory =
    current === undefined
      ? undefined
      : defined<MemoryStats>({
          usageBytes: current,
          limitBytes: limitOf(parsed(files, "memory.max", parseSingleValue)),
          peakBytes: parsed(files, "memory.peak", parseSingleValue),
          cacheBytes: memStat?.get("file") ?? 0n,
          rssBytes: memStat?.get("anon"),
          swapBytes: parsed(files, "memory.swap.current", parseSingleValue),
          oomKills: parsed(files, "memory.events", parseFlatKeyed)?.get("oom_kill"),
        });

  const io = parsed(files, "io.stat", parseIoStat) ?? new Map();
  const blockIO = [...io]
    .map(([device, c]) => ({ device, readBytes: c.rbytes, writeBytes: c.wbytes, readOps: c.rios, writeOps: c.wios }))
    .sort(byDevice);

  return defined<ContainerStats>({ cpu, memory, pids: pidsFrom(files), blockIO, readAt: readAt.toISOString() });
}

/** pids.current and pids.max have the same names and format on v1 and v2. */
function pidsFrom(files: CgroupFiles): PidsStats | undefined {
  const current = parsed(files, "pids.current", parseSingleValue);
  if (current === undefined) return undefined;
  return defined<PidsStats>({ current, limit: limitOf(parsed(files, "pids.max", parseSingleValue)) });
}
