/**
 * Gives memory back after a burst. V8 keeps the old generation's pages once it has grown: a burst of creates
 * promotes short-lived request objects (specs, seccomp profiles, replies), and after the collection that
 * frees them the pages stay resident, half empty. Once berthd has served at least `minRequests` and then had
 * none for `idleMs`, this runs one full collection with compaction, which moves the survivors together and
 * releases the emptied pages. Measured with bench density (200 containers created 16 at a time, then 3 s
 * idle): berthd's V8 pages grew by 5–8 MiB without it and by about 2 MiB with it. The collection itself
 * pauses the loop for 25–30 ms with 15 MiB of live heap, at a moment when nothing is waiting.
 *
 * Quiet means no request arrived and none was answered: a burst of `run -d` arrives at once and is answered
 * over the next second or two, while its containers start, and a collection then would stop the loop that
 * starts them. Nor does it collect while the host's CPUs are busy (more than half of their time in the last
 * 100 ms): the containers' work goes first, and the collection waits for a quiet moment, at most `maxDeferMs`.
 *
 * It needs `gc`, which V8 exposes only behind --expose-gc: the flag is set at run time and the function is
 * taken from a fresh context (it is not put on berthd's own global). Compaction is switched on for that
 * one collection only, so the collections V8 makes under load keep their usual cost.
 */
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "./log.js";

export interface IdleGcOptions {
  /** Quiet time after the last request before collecting. */
  readonly idleMs: number;
  /** Requests since the last collection that make one worth it (a few polls are not a burst). */
  readonly minRequests: number;
  /** How long a busy host may put the collection off (default 30 s); then it runs anyway. */
  readonly maxDeferMs?: number;
  /** The host's CPU time so far, busy and in all (default: /proc/stat's first line; undefined when unknown). */
  readonly cpuTimes?: () => CpuTimes | undefined;
  readonly log?: Logger;
}

/** Cumulative CPU time of the whole host, in any unit. */
export interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** The window in which the host's CPU use is measured before collecting. */
const BUSY_WINDOW_MS = 100;

export class IdleGc {
  private requests = 0;
  private lastActivity = 0;
  /** When the first check found the host busy (0: it did not). */
  private busySince = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly gc: (() => void) | undefined;
  /** Collections made, and the last one's duration (ms): for the log and the tests. */
  collections = 0;
  lastMs = 0;

  constructor(private readonly opts: IdleGcOptions) {
    this.gc = exposeGc();
    if (!this.gc) opts.log?.debug("idle gc unavailable: this node refused --expose-gc at run time");
  }

  /** Called for every API request as it arrives. */
  noteRequest(): void {
    this.requests++;
    this.lastActivity = Date.now();
    if (!this.timer && this.gc && this.requests >= this.opts.minRequests) this.arm(this.opts.idleMs);
  }

  /** Called as a request's response ends: the quiet spell starts again from here. */
  noteAnswered(): void {
    this.lastActivity = Date.now();
  }

  /** Collect at the next quiet moment whatever the count: after start-up, itself a burst of allocation. */
  soon(): void {
    this.lastActivity = Date.now();
    if (!this.timer && this.gc) this.arm(this.opts.idleMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), ms);
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    const quiet = Date.now() - this.lastActivity;
    if (quiet < this.opts.idleMs) {
      this.arm(this.opts.idleMs - quiet);
      return;
    }
    const times = this.opts.cpuTimes ?? hostCpuTimes;
    const before = times();
    if (!before) {
      this.collectNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const after = times();
      const total = after ? after.total - before.total : 0;
      const busy = after && total > 0 && (after.busy - before.busy) / total > 0.5;
      const now = Date.now();
      if (!busy) this.busySince = 0;
      else if (this.busySince === 0) this.busySince = now;
      if (busy && now - this.busySince < (this.opts.maxDeferMs ?? 30_000)) {
        this.arm(this.opts.idleMs / 4); // try again soon: the host's quiet moments can be short
        return;
      }
      // Requests may have come while the host was measured: then the quiet spell starts over.
      if (now - this.lastActivity < this.opts.idleMs) this.arm(this.opts.idleMs - (now - this.lastActivity));
      else this.collectNow();
    }, BUSY_WINDOW_MS);
    this.timer.unref();
  }

  private collectNow(): void {
    this.busySince = 0;
    this.requests = 0;
    this.collect();
  }

  /** One full, compacting collection now. */
  collect(): void {
    if (!this.gc) return;
    const t0 = performance.now();
    setFlagsFromString("--compact-on-every-full-gc");
    try {
      this.gc();
    } finally {
      setFlagsFromString("--no-compact-on-every-full-gc");
    }
    this.collections++;
    this.lastMs = Math.round((performance.now() - t0) * 10) / 10;
    this.opts.log?.debug("idle gc", { ms: this.lastMs });
  }
}

function exposeGc(): (() => void) | undefined {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** The host's CPU time from /proc/stat (busy: all but idle and iowait), or undefined where it cannot be read. */
function hostCpuTimes(): CpuTimes | undefined {
  try {
    const f = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
  } catch {
    return undefined;
  }
}
