import { LibctError } from "../../errors.js";

/** Where in a file a parse error is: the offending line (the whole text for single-value files), 1-based. */
export interface ParseErrorLocation {
  readonly line: string;
  readonly lineNumber: number;
}

/**
 * A cgroup interface file did not have the format the kernel documents. Kind "internal": the kernel printed
 * something we do not understand, which is not the caller's fault.
 * @example new CgroupParseError("memory.stat", { line: "anon x", lineNumber: 1 }, '"x" is not a u64').message
 *   // 'cannot parse cgroup file memory.stat, line 1 "anon x": "x" is not a u64'
 */
export class CgroupParseError extends LibctError {
  /** The offending line; undefined when the problem is a missing line (a required key). */
  readonly line: string | undefined;
  readonly lineNumber: number | undefined;

  constructor(
    /** The interface file as given to the parser ("memory.stat" or a full path). */
    readonly file: string,
    at: ParseErrorLocation | undefined,
    /** What is wrong with the line. */
    readonly reason: string,
  ) {
    super(
      "internal",
      at
        ? `cannot parse cgroup file ${file}, line ${at.lineNumber} ${JSON.stringify(at.line)}: ${reason}`
        : `cannot parse cgroup file ${file}: ${reason}`,
    );
    this.line = at?.line;
    this.lineNumber = at?.lineNumber;
  }
}
