/**
 * Pure parsers for cgroup v1 and v2 interface files: text in, values out. No I/O here (a lint rule keeps it so);
 * v1/ and v2/ read the files, these functions make sense of them. Every error is a {@link CgroupParseError}
 * naming the file and the offending line.
 */
export { type BlkioRwStat, parseBlkioRwStat } from "./blkio.js";
export { parseCpuList } from "./cpuset.js";
export { CgroupParseError, type ParseErrorLocation } from "./error.js";
export { type IoStatLine, parseFlatKeyed, parseIoStat, parseNestedKeyed, parseNestedKeyedRaw } from "./keyed.js";
export { isUnlimited, parseSingleValue, parseU64, U64_MAX, UNLIMITED_THRESHOLD } from "./values.js";
