/**
 * Log rotation by size and count (Docker's --log-opt max-size / max-file). conmon writes the live log
 * (`<libct bundle>/ctr.log`); when it grows past maxSizeBytes, berthd renames it to
 * `<root>/containers/<id>/logs/ctr.log.1` (older ones shift up, at most maxFiles-1 are kept) and asks conmon
 * to reopen its log through the ctl fifo (message type 2). Lines conmon writes between the rename and the
 * reopen land in ctr.log.1, so nothing is lost.
 *
 * The live log goes when libct deletes a container to create it again (a restart), so `archive` moves it
 * to the rotated files first: `logs` then shows every run, as Docker's does.
 */
import { constants } from "node:fs";
import { appendFile, copyFile, mkdir, open, readdir, readFile, rename, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { LogOptions } from "@berth/api";
import type { Libct } from "@berth/libct";
import type { Logger } from "../log.js";
import type { ContainerRow } from "../store/containers.js";
import type { ContainerHooks } from "./containers.js";

export const LOG_DEFAULTS = { maxSizeBytes: 10 * 1024 * 1024, maxFiles: 3 } as const;

export interface LogRotatorDeps {
  readonly libct: Pick<Libct, "logPath" | "bundlePath">;
  readonly root: string;
  readonly log: Logger;
  readonly defaults?: Required<LogOptions>;
  /** How often running containers' logs are measured. */
  readonly intervalMs?: number;
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(from, to);
    await truncate(from, 0);
  }
}

export class LogRotator implements ContainerHooks {
  private readonly live = new Map<string, Required<LogOptions>>();
  private readonly busy = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly defaults: Required<LogOptions>;

  constructor(private readonly d: LogRotatorDeps) {
    this.defaults = d.defaults ?? { ...LOG_DEFAULTS };
    this.timer = setInterval(() => void this.sweep(), d.intervalMs ?? 1000);
    this.timer.unref();
  }

  private dir(id: string): string {
    return join(this.d.root, "containers", id, "logs");
  }

  optionsOf(row: Pick<ContainerRow, "config">): Required<LogOptions> {
    const o = row.config.logOptions ?? {};
    return {
      maxSizeBytes: o.maxSizeBytes ?? this.defaults.maxSizeBytes,
      maxFiles: o.maxFiles ?? this.defaults.maxFiles,
    };
  }

  running(row: ContainerRow): void {
    this.live.set(row.id, this.optionsOf(row));
  }

  exited(row: ContainerRow): void {
    this.live.delete(row.id);
  }

  removed(id: string): void {
    this.live.delete(id);
  }

  private async sweep(): Promise<void> {
    for (const [id, opts] of this.live) {
      if (this.busy.has(id)) continue;
      const size = await stat(this.d.libct.logPath(id)).then(
        (s) => s.size,
        () => 0,
      );
      if (size > opts.maxSizeBytes) {
        await this.rotate(id, opts).catch((err) => this.d.log.warn("log rotation failed", { id, err }));
      }
    }
  }

  /** Shifts ctr.log.N up, drops those past maxFiles-1, and gives the live log the place of ctr.log.1. */
  async rotate(id: string, opts: Required<LogOptions>, reopen = true): Promise<void> {
    this.busy.add(id);
    try {
      const dir = this.dir(id);
      await mkdir(dir, { recursive: true });
      const keep = opts.maxFiles - 1;
      for (let n = Math.max(keep, 1) + 5; n >= keep && n >= 1; n--)
        await rm(join(dir, `ctr.log.${n}`), { force: true });
      for (let n = keep - 1; n >= 1; n--) {
        await rename(join(dir, `ctr.log.${n}`), join(dir, `ctr.log.${n + 1}`)).catch(() => {});
      }
      const live = this.d.libct.logPath(id);
      if (keep >= 1) await moveFile(live, join(dir, "ctr.log.1"));
      else await truncate(live, 0);
      if (reopen && keep >= 1) await this.reopen(id);
      this.d.log.debug("log rotated", { id, ...opts });
    } finally {
      this.busy.delete(id);
    }
  }

  /** conmon's ctl fifo: "2 0 0" reopens the log file. */
  private async reopen(id: string): Promise<void> {
    const fh = await open(join(this.d.libct.bundlePath(id), "ctl"), constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      await fh.write("2 0 0\n");
    } finally {
      await fh.close();
    }
  }

  /** Before libct deletes the bundle (a restart): keeps the last run's log among the rotated files. */
  async archive(row: ContainerRow): Promise<void> {
    const live = this.d.libct.logPath(row.id);
    const size = await stat(live).then(
      (s) => s.size,
      () => 0,
    );
    if (size === 0) return;
    const opts = this.optionsOf(row);
    const first = join(this.dir(row.id), "ctr.log.1");
    const prev = await stat(first).then(
      (s) => s.size,
      () => -1,
    );
    if (prev >= 0 && prev + size <= opts.maxSizeBytes) {
      await appendFile(first, await readFile(live));
      return;
    }
    await this.rotate(row.id, opts, false);
  }

  /** The rotated files' text, oldest first (the live log follows it). */
  async rotatedText(id: string): Promise<string> {
    const dir = this.dir(id);
    const names = await readdir(dir).catch(() => [] as string[]);
    const nums = names
      .map((f) => /^ctr\.log\.(\d+)$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
    const parts: string[] = [];
    for (const n of nums) {
      const t = await readFile(join(dir, `ctr.log.${n}`), "utf8").catch(() => undefined);
      if (t !== undefined) parts.push(t.endsWith("\n") || t === "" ? t : `${t}\n`);
    }
    return parts.join("");
  }

  close(): void {
    clearInterval(this.timer);
  }
}
