/**
 * Gives memory back after a burst. V8 keeps the old generation's pages once it has grown: a burst of creates
 * promotes short-lived request objects (specs, seccomp profiles, replies), and after the collection that
 * frees them the pages stay resident, half empty. Once berthd has served at least `minRequests` and then had
 * none for `idleMs`, this runs one full collection with compaction, which moves the survivors together and
 * releases the emptied pages. Measured with bench density (200 containers created 16 at a time, then 3 s
 * idle): berthd's V8 pages grew by 5–8 MiB without it and by about 2 MiB with it. The collection itself
 * pauses the loop for 25–30 ms with 15 MiB of live heap, at a moment when nothing is waiting.
 *
 * It needs `gc`, which V8 exposes only behind --expose-gc: the flag is set at run time and the function is
 * taken from a fresh context (it is not put on berthd's own global). Compaction is switched on for that
 * one collection only, so the collections V8 makes under load keep their usual cost.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "./log.js";

export interface IdleGcOptions {
  /** Quiet time after the last request before collecting. */
  readonly idleMs: number;
  /** Requests since the last collection that make one worth it (a few polls are not a burst). */
  readonly minRequests: number;
  readonly log?: Logger;
}

export class IdleGc {
  private requests = 0;
  private lastRequest = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly gc: (() => void) | undefined;
  /** Collections made, and the last one's duration (ms): for the log and the tests. */
  collections = 0;
  lastMs = 0;

  constructor(private readonly opts: IdleGcOptions) {
    this.gc = exposeGc();
    if (!this.gc) opts.log?.debug("idle gc unavailable: this node refused --expose-gc at run time");
  }

  /** Called for every API request. */
  noteRequest(): void {
    this.requests++;
    this.lastRequest = Date.now();
    if (!this.timer && this.gc && this.requests >= this.opts.minRequests) this.arm(this.opts.idleMs);
  }

  /** Collect at the next quiet moment whatever the count: after start-up, itself a burst of allocation. */
  soon(): void {
    this.lastRequest = Date.now();
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
    const quiet = Date.now() - this.lastRequest;
    if (quiet < this.opts.idleMs) {
      this.arm(this.opts.idleMs - quiet);
      return;
    }
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
