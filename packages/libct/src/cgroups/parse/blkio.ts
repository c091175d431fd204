import { CgroupParseError } from "./error.js";
import { linesOf, parseU64 } from "./values.js";

/** A v1 blkio "rwstat" file: per-device operation counters (Read, Write, Sync, Async, Discard, Total) and the sum. */
export interface BlkioRwStat {
  /** "8:0" → "Read" → value. */
  readonly devices: Map<string, Map<string, bigint>>;
  /** The last line, `Total N`; absent only if the kernel left it out. */
  readonly total?: bigint;
}

const DEVICE = /^\d+:\d+$/;

/**
 * Parses v1 blkio.throttle.io_service_bytes[_recursive] and blkio.throttle.io_serviced[_recursive]:
 * `8:0 Read 123` lines, then `Total 456`. An idle cgroup prints only `Total 0`.
 * @example parseBlkioRwStat(f, "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n").devices.get("8:0")?.get("Read") === 4096n
 */
export function parseBlkioRwStat(file: string, text: string): BlkioRwStat {
  const devices = new Map<string, Map<string, bigint>>();
  let total: bigint | undefined;
  for (const { line, lineNumber } of linesOf(text)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 2 && fields[0] === "Total") {
      total = parseU64(file, fields[1]!, { line, lineNumber });
    } else if (fields.length === 3 && DEVICE.test(fields[0]!)) {
      const [device, op, value] = fields as [string, string, string];
      const ops = devices.get(device) ?? new Map<string, bigint>();
      devices.set(device, ops);
      ops.set(op, parseU64(file, value, { line, lineNumber }));
    } else {
      throw new CgroupParseError(file, { line, lineNumber }, `expected "MAJ:MIN Op value" or "Total value"`);
    }
  }
  return total === undefined ? { devices } : { devices, total };
}
