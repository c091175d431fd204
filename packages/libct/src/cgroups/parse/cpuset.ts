import { CgroupParseError } from "./error.js";
import { linesOf } from "./values.js";

const ITEM = /^(\d+)(?:-(\d+))?$/;

/**
 * Parses a kernel CPU or memory-node list (cpuset.cpus, cpuset.mems, cpuset.cpus.effective), sorted and without
 * duplicates. An empty file (no CPUs yet) gives [].
 * @example parseCpuList("cpuset.cpus", "0-3,5\n") // [0, 1, 2, 3, 5]
 */
export function parseCpuList(file: string, text: string): number[] {
  const lines = linesOf(text);
  if (lines.length === 0) return [];
  if (lines.length > 1) {
    const { line, lineNumber } = lines[1]!;
    throw new CgroupParseError(file, { line, lineNumber }, "a cpu list is a single line");
  }
  const { line, lineNumber } = lines[0]!;
  const out = new Set<number>();
  for (const item of line.trim().split(",")) {
    const m = ITEM.exec(item);
    if (!m) throw new CgroupParseError(file, { line, lineNumber }, `${JSON.stringify(item)} is not N or N-M`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new CgroupParseError(file, { line, lineNumber }, `range ${item} runs backwards`);
    if (to - from > 65536) throw new CgroupParseError(file, { line, lineNumber }, `range ${item} is implausibly large`);
    for (let cpu = from; cpu <= to; cpu++) out.add(cpu);
  }
  return [...out].sort((a, b) => a - b);
}
