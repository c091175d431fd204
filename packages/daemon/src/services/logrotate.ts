/**
 * Log rotation by size and count (Docker's --log-opt max-size / max-file). conmon writes the live log
 * (`<libct bundle>/ctr.log`); when it grows past maxSizeBytes, berthd renames it to
 * `<root>/containers/<id>/logs/ctr.log.1` (older ones shift up, at most maxFiles-1 are kept) and asks conmon
 * to reopen its log through the ctl fifo (message type 2). Lines conmon writes between the rename and the
 * reopen land in ctr.log.1, so nothing is lost.
 *
 * The live log goes when libct deletes a container to create it again (a restart), so `archive` moves it
 * to the rotated files first: `logs` then shows every run, as Docker's does.
 *
 * The sweep measures running logs once a second, so a burst can overshoot max-size until the next sweep;
 * when the container exits, `settle` cuts what it left into files of at most max-size (at line boundaries)
 * and keeps the newest max-file of them, so an exited container's log holds what Docker's would.
 */
import { constants } from "node:fs";
import {
  appendFile,
  copyFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
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

/** Text cut at line boundaries into pieces of at most max bytes; a longer line is a piece of its own. */
export function cutLines(text: Buffer, max: number): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  let end = 0; // end of the whole lines taken into the current piece
  while (end < text.length) {
    const nl = text.indexOf(10, end);
    const next = nl < 0 ? text.length : nl + 1;
    if (next - start > max && end > start) {
      pieces.push(text.subarray(start, end));
      start = end;
    }
    end = next;
  }
  pieces.push(text.subarray(start, end));
  return pieces;
}

export class LogRotator implements ContainerHooks {
  private readonly live = new Map<string, Required<LogOptions>>();
  private readonly busy = new Set<string>();
  /** Containers whose exited log is being cut (settle), so a restart's archive waits for it. */
  private readonly settling = new Map<string, Promise<void>>();
  /** A sweep's rotation under way, so settle starts after it. */
  private readonly rotating = new Map<string, Promise<void>>();
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
    if (row.config.autoRemove) return; // its log goes with it
    const opts = this.optionsOf(row);
    const done = (this.settling.get(row.id) ?? Promise.resolve())
      .then(() => this.settle(row.id, opts))
      .catch((err: NodeJS.ErrnoException) => {
        // removed meanwhile: nothing left to cut
        if (err.code !== "ENOENT") this.d.log.warn("log rotation failed", { id: row.id, err });
      })
      .finally(() => {
        if (this.settling.get(row.id) === done) this.settling.delete(row.id);
      });
    this.settling.set(row.id, done);
  }

  /**
   * An exited container's log: the rotated files and the live file, oldest first, cut at line boundaries
   * into pieces of at most maxSizeBytes (a longer line is a piece of its own), of which the newest maxFiles
   * are kept, the last as the live log. A sweep that rotated while the container ran may have left a
   * rotated file past maxSizeBytes (the log grew between two sweeps), so those are cut too.
   */
  async settle(id: string, opts: Required<LogOptions>): Promise<void> {
    // A sweep's rotation that was under way when the container exited. Its reopen fails once conmon is gone
    // (the sweep logs that); the files are cut here all the same.
    await this.rotating.get(id)?.catch(() => {});
    this.busy.add(id);
    try {
      const live = this.d.libct.logPath(id);
      const sizeOf = (path: string) =>
        stat(path).then(
          (st) => st.size,
          () => -1,
        );
      const rotated = await this.rotatedNumbers(id); // oldest first
      const sizes = await Promise.all(rotated.map((n) => sizeOf(join(this.dir(id), `ctr.log.${n}`))));
      const liveSize = Math.max(await sizeOf(live), 0);
      const fits = (size: number) => size <= opts.maxSizeBytes;
      if (fits(liveSize) && sizes.every(fits) && rotated.length <= opts.maxFiles - 1) return;
      const parts = await this.rotatedParts(id, rotated);
      parts.push(await readFile(live).catch(() => Buffer.alloc(0)));
      const kept = cutLines(Buffer.concat(parts), opts.maxSizeBytes).slice(-opts.maxFiles);
      // kept[0] is the oldest: ctr.log.<k-1> ... ctr.log.1, then the live log; each written aside and renamed
      const older = kept.slice(0, -1);
      await mkdir(this.dir(id), { recursive: true });
      for (const [i, piece] of older.entries()) {
        const target = join(this.dir(id), `ctr.log.${older.length - i}`);
        await writeFile(`${target}.tmp`, piece);
        await rename(`${target}.tmp`, target);
      }
      for (const n of rotated) if (n > older.length) await rm(join(this.dir(id), `ctr.log.${n}`), { force: true });
      await writeFile(`${live}.tmp`, kept.at(-1) ?? Buffer.alloc(0));
      await rename(`${live}.tmp`, live);
    } finally {
      this.busy.delete(id);
    }
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
      // the container may have exited (settle owns its log now) while the stat ran
      if (size > opts.maxSizeBytes && this.live.has(id) && !this.busy.has(id)) {
        await this.rotate(id, opts).catch((err) => this.d.log.warn("log rotation failed", { id, err }));
      }
    }
  }

  /** Shifts ctr.log.N up, drops those past maxFiles-1, and gives the live log the place of ctr.log.1. */
  async rotate(id: string, opts: Required<LogOptions>, reopen = true): Promise<void> {
    this.busy.add(id);
    const done = this.shift(id, opts, reopen).finally(() => {
      this.busy.delete(id);
      if (this.rotating.get(id) === done) this.rotating.delete(id);
    });
    this.rotating.set(id, done);
    return done;
  }

  private async shift(id: string, opts: Required<LogOptions>, reopen: boolean): Promise<void> {
    const dir = this.dir(id);
    await mkdir(dir, { recursive: true });
    const keep = opts.maxFiles - 1;
    for (let n = Math.max(keep, 1) + 5; n >= keep && n >= 1; n--) await rm(join(dir, `ctr.log.${n}`), { force: true });
    for (let n = keep - 1; n >= 1; n--) {
      await rename(join(dir, `ctr.log.${n}`), join(dir, `ctr.log.${n + 1}`)).catch(() => {});
    }
    const live = this.d.libct.logPath(id);
    if (keep >= 1) await moveFile(live, join(dir, "ctr.log.1"));
    else await truncate(live, 0);
    if (reopen && keep >= 1) await this.reopen(id);
    this.d.log.debug("log rotated", { id, ...opts });
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
    await this.settling.get(row.id);
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

  /** The numbers of the rotated files, oldest (highest) first. */
  private async rotatedNumbers(id: string): Promise<number[]> {
    const names = await readdir(this.dir(id)).catch(() => [] as string[]);
    return names
      .map((f) => /^ctr\.log\.(\d+)$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
  }

  /** The rotated files' bytes, oldest first, each ending in a newline (a line is never glued to the next file's). */
  private async rotatedParts(id: string, numbers?: number[]): Promise<Buffer[]> {
    const parts: Buffer[] = [];
    for (const n of numbers ?? (await this.rotatedNumbers(id))) {
      const t = await readFile(join(this.dir(id), `ctr.log.${n}`)).catch(() => undefined);
      if (t !== undefined && t.length > 0) parts.push(t.at(-1) === 10 ? t : Buffer.concat([t, Buffer.from("\n")]));
    }
    return parts;
  }

  /** The rotated files' text, oldest first (the live log follows it). */
  async rotatedText(id: string): Promise<string> {
    return Buffer.concat(await this.rotatedParts(id)).toString("utf8");
  }

  close(): void {
    clearInterval(this.timer);
  }
}
