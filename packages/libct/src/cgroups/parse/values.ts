import { CgroupParseError, type ParseErrorLocation } from "./error.js";

/** 2^64 - 1: what "max" means in a u64 cgroup file. */
export const U64_MAX = 18446744073709551615n;

/**
 * v1 reports "no limit" as a page-rounded LONG_MAX (9223372036854771712) rather than "max"; anything at or above
 * 2^62 is no real limit on any machine, so both spellings are treated as unlimited.
 */
export const UNLIMITED_THRESHOLD = 1n << 62n;

export const isUnlimited = (value: bigint): boolean => value >= UNLIMITED_THRESHOLD;

const U64_TEXT = /^\d{1,20}$/;

/**
 * Converts one u64 token ("123" or "max") to a bigint; `file` and `at` only serve the error message.
 * Rejects signs, decimals, hex and values above 2^64 - 1.
 */
export function parseU64(file: string, token: string, at?: ParseErrorLocation): bigint {
  if (token === "max") return U64_MAX;
  if (!U64_TEXT.test(token)) throw new CgroupParseError(file, at, `${JSON.stringify(token)} is not a u64`);
  const value = BigInt(token);
  if (value > U64_MAX) throw new CgroupParseError(file, at, `${token} is larger than 2^64 - 1`);
  return value;
}

/** The non-empty lines of a kernel file with their 1-based numbers; trailing whitespace is dropped. */
export function linesOf(text: string): { line: string; lineNumber: number }[] {
  const out: { line: string; lineNumber: number }[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line !== "") out.push({ line, lineNumber: i + 1 });
  });
  return out;
}

/**
 * Parses a single-value file: memory.current, memory.max, memory.usage_in_bytes, cpuacct.usage (ns),
 * pids.current, pids.max. "max" becomes {@link U64_MAX}.
 * @example parseSingleValue("pids.max", "max\n") === U64_MAX
 */
export function parseSingleValue(file: string, text: string): bigint {
  const lines = linesOf(text);
  if (lines.length !== 1) {
    const shown = lines[1] ?? { line: text, lineNumber: 1 };
    throw new CgroupParseError(file, shown, `expected one value, found ${lines.length} lines`);
  }
  const { line, lineNumber } = lines[0]!;
  return parseU64(file, line.trim(), { line, lineNumber });
}
