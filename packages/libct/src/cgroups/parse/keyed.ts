import { CgroupParseError } from "./error.js";
import { linesOf, parseU64 } from "./values.js";

/**
 * Parses a "flat keyed" file, one `key value` pair a line: memory.stat, cpu.stat, cpuacct.stat, memory.events,
 * memory.oom_control, pids.events. Counters are u64, hence bigint; "max" becomes U64_MAX.
 * @example parseFlatKeyed("memory.stat", "anon 6121017344\nfile 0\n").get("anon") === 6121017344n
 */
export function parseFlatKeyed(file: string, text: string): Map<string, bigint> {
  const stats = new Map<string, bigint>();
  for (const { line, lineNumber } of linesOf(text)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 2) {
      throw new CgroupParseError(file, { line, lineNumber }, `expected "key value", found ${fields.length} fields`);
    }
    const [key, value] = fields as [string, string];
    stats.set(key, parseU64(file, value, { line, lineNumber }));
  }
  return stats;
}

interface NestedLine {
  readonly name: string;
  readonly fields: Map<string, string>;
  readonly line: string;
  readonly lineNumber: number;
}

function nestedLines(file: string, text: string): NestedLine[] {
  return linesOf(text).map(({ line, lineNumber }) => {
    const [name, ...pairs] = line.trim().split(/\s+/) as [string, ...string[]];
    const fields = new Map<string, string>();
    for (const pair of pairs) {
      const eq = pair.indexOf("=");
      if (eq <= 0 || eq === pair.length - 1) {
        throw new CgroupParseError(file, { line, lineNumber }, `expected key=value, found ${JSON.stringify(pair)}`);
      }
      fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return { name, fields, line, lineNumber };
  });
}

/**
 * Parses a "nested keyed" file into strings, one `name k1=v1 k2=v2 ...` line each: io.stat (whose iocost fields
 * such as cost.vrate are decimals), io.max, the pressure files. Use {@link parseNestedKeyed} when every value is a u64.
 * @example parseNestedKeyedRaw("io.stat", "8:0 rbytes=1 wbytes=2\n").get("8:0")?.get("wbytes") === "2"
 */
export function parseNestedKeyedRaw(file: string, text: string): Map<string, Map<string, string>> {
  return new Map(nestedLines(file, text).map(({ name, fields }) => [name, fields]));
}

/**
 * Parses a "nested keyed" file whose values are all u64 (or "max"), such as io.stat without iocost:
 * `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
 * @example parseNestedKeyed("io.stat", "8:0 rbytes=1 wbytes=2\n").get("8:0")?.get("rbytes") === 1n
 */
export function parseNestedKeyed(file: string, text: string): Map<string, Map<string, bigint>> {
  const out = new Map<string, Map<string, bigint>>();
  for (const { name, fields, line, lineNumber } of nestedLines(file, text)) {
    const parsed = new Map<string, bigint>();
    for (const [key, value] of fields) parsed.set(key, parseU64(file, value, { line, lineNumber }));
    out.set(name, parsed);
  }
  return out;
}

/** One device line of v2 io.stat. */
export interface IoStatLine {
  readonly rbytes: bigint;
  readonly wbytes: bigint;
  readonly rios: bigint;
  readonly wios: bigint;
  readonly dbytes: bigint;
  readonly dios: bigint;
}

const IO_KEYS = ["rbytes", "wbytes", "rios", "wios", "dbytes", "dios"] as const;

/**
 * Parses v2 io.stat, keyed by "MAJ:MIN". The six documented counters are strict u64 (missing ones are 0); other
 * fields that controllers append (iocost's `cost.vrate=100.00`, iolatency's `avg_lat=...`) are skipped.
 * @example parseIoStat("io.stat", "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n").get("8:0")?.wios === 4n
 */
export function parseIoStat(file: string, text: string): Map<string, IoStatLine> {
  const out = new Map<string, IoStatLine>();
  for (const { name, fields, line, lineNumber } of nestedLines(file, text)) {
    if (!/^\d+:\d+$/.test(name)) throw new CgroupParseError(file, { line, lineNumber }, `${name} is not MAJ:MIN`);
    const counters = Object.fromEntries(
      IO_KEYS.map((key) => {
        const value = fields.get(key);
        return [key, value === undefined ? 0n : parseU64(file, value, { line, lineNumber })];
      }),
    ) as unknown as IoStatLine;
    out.set(name, counters);
  }
  return out;
}
