/**
 * Health checks with Docker's semantics: the test (["CMD", ...] | ["CMD-SHELL", "..."] | ["NONE"]) runs
 * inside the container (libct exec) every interval; a run longer than the timeout fails; `retries`
 * consecutive failures make the container unhealthy, one success healthy. Failures during the start
 * period do not count. The last 5 results are kept; a status change publishes `container.health`.
 * The image's HEALTHCHECK (OCI config `Healthcheck`, durations in ns) fills what the request leaves out.
 * Each result is saved (store/health.ts): after a berthd restart a running container's health goes on from
 * where it was, and a stopped one still shows its last state.
 */
import type { BerthEvent, ContainerState, HealthcheckConfig, HealthStatus } from "@berth/api";
import type { Libct } from "@berth/libct";
import type { Logger } from "../log.js";
import type { ContainerRow } from "../store/containers.js";
import type { HealthRepo, SavedHealth } from "../store/health.js";
import type { ContainerHooks } from "./containers.js";

export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 } as const;
const KEEP = 5;
const MAX_OUTPUT = 4096;

/** The `Healthcheck` of an OCI/Docker image config. */
export interface ImageHealthcheck {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

const nsToMs = (ns: number | undefined) => (ns ? Math.round(ns / 1e6) : undefined);

/** Docker's merge: the request's test and non-zero fields win, the image fills the rest. */
export function mergeHealthcheck(
  req: HealthcheckConfig | undefined,
  image: ImageHealthcheck | undefined,
): HealthcheckConfig | undefined {
  const imgTest = image?.Test?.length ? image.Test : undefined;
  const test = req?.test?.length ? req.test : imgTest;
  if (!test) return undefined;
  const pick = (a: number | undefined, b: number | undefined) => (a ? a : b);
  const intervalMs = pick(req?.intervalMs, nsToMs(image?.Interval));
  const timeoutMs = pick(req?.timeoutMs, nsToMs(image?.Timeout));
  const startPeriodMs = pick(req?.startPeriodMs, nsToMs(image?.StartPeriod));
  const retries = pick(req?.retries, image?.Retries);
  return {
    test,
    ...(intervalMs ? { intervalMs } : {}),
    ...(timeoutMs ? { timeoutMs } : {}),
    ...(startPeriodMs ? { startPeriodMs } : {}),
    ...(retries ? { retries } : {}),
  };
}

/** The argv a test runs, or undefined for NONE / an empty test. */
export function probeArgs(test: readonly string[]): string[] | undefined {
  const [kind, ...rest] = test;
  if (kind === "CMD") return rest.length ? rest : undefined;
  if (kind === "CMD-SHELL") return rest.length ? ["/bin/sh", "-c", rest.join(" ")] : undefined;
  if (kind === "NONE" || kind === undefined) return undefined;
  return [...test]; // Docker's API also accepts a bare command as CMD-SHELL's string form; be lenient
}

type Health = NonNullable<ContainerState["health"]>;

interface Watch {
  health: Health;
  timer?: NodeJS.Timeout;
  startedAt: number;
  /** The run's start as the row records it: what saved state is matched against. */
  runStartedAt: string;
  generation: number;
}

export interface HealthDeps {
  readonly libct: Pick<Libct, "exec">;
  readonly publish: (e: BerthEvent) => void;
  readonly log: Logger;
  readonly store?: Pick<HealthRepo, "save" | "load">;
}

export class HealthMonitor implements ContainerHooks {
  private readonly watches = new Map<string, Watch>();
  private closed = false;
  private generation = 0;
  /** What the store holds, read once at start and kept current by every save. */
  private readonly saved: Map<string, SavedHealth>;

  constructor(private readonly d: HealthDeps) {
    this.saved = d.store?.load() ?? new Map();
  }

  health(id: string): Health | undefined {
    const h = this.watches.get(id)?.health ?? this.saved.get(id)?.health;
    return h ? { ...h, log: [...h.log] } : undefined;
  }

  running(row: ContainerRow): void {
    const hc = row.config.healthcheck;
    const args = hc && probeArgs(hc.test ?? []);
    this.stopTimer(row.id);
    if (!hc || !args || this.closed) {
      this.watches.delete(row.id);
      return;
    }
    // The same run found again (berthd restarted while it ran): go on from its saved state.
    const saved = this.saved.get(row.id);
    const resumed = saved !== undefined && row.startedAt !== undefined && saved.startedAt === row.startedAt;
    const w: Watch = {
      health: resumed ? structuredClone(saved.health) : { status: "starting", failingStreak: 0, log: [] },
      startedAt: row.startedAt ? Date.parse(row.startedAt) : Date.now(),
      runStartedAt: row.startedAt ?? new Date().toISOString(),
      generation: ++this.generation,
    };
    this.watches.set(row.id, w);
    const interval = hc.intervalMs || HEALTH_DEFAULTS.intervalMs;
    const timeout = hc.timeoutMs || HEALTH_DEFAULTS.timeoutMs;
    const startPeriod = hc.startPeriodMs || HEALTH_DEFAULTS.startPeriodMs;
    const retries = hc.retries || HEALTH_DEFAULTS.retries;
    const tick = async () => {
      if (this.watches.get(row.id) !== w || w.generation !== this.generation_of(row.id)) return;
      const start = new Date();
      let exitCode: number;
      let output: string;
      try {
        const res = await this.d.libct.exec(row.id, { args, timeoutMs: timeout });
        const timedOut = Date.now() - start.getTime() >= timeout;
        exitCode = timedOut ? -1 : res.exitCode;
        output = timedOut
          ? `Health check exceeded timeout (${timeout} ms)`
          : (res.stdout + res.stderr).slice(0, MAX_OUTPUT);
      } catch (err) {
        exitCode = -1;
        output = (err as Error).message;
      }
      if (this.watches.get(row.id) !== w) return; // stopped while the probe ran
      const h = w.health;
      h.log.push({ start: start.toISOString(), end: new Date().toISOString(), exitCode, output });
      if (h.log.length > KEEP) h.log.splice(0, h.log.length - KEEP);
      let next: HealthStatus = h.status;
      if (exitCode === 0) {
        h.failingStreak = 0;
        next = "healthy";
      } else if (Date.now() - w.startedAt >= startPeriod || h.status !== "starting") {
        h.failingStreak++;
        if (h.failingStreak >= retries) next = "unhealthy";
      }
      const changed = next !== h.status;
      h.status = next;
      this.save(row.id, w);
      if (changed) {
        this.d.log.info("container health changed", { id: row.id, name: row.name, status: next, exitCode });
        this.d.publish({
          type: "container.health",
          id: row.id,
          name: row.name,
          at: new Date().toISOString(),
          status: next,
        });
      }
      if (!this.closed && this.watches.get(row.id) === w) w.timer = setTimeout(() => void tick(), interval);
    };
    w.timer = setTimeout(() => void tick(), interval);
  }

  private save(id: string, w: Watch): void {
    const saved = { startedAt: w.runStartedAt, health: structuredClone(w.health) };
    this.saved.set(id, saved);
    try {
      this.d.store?.save(id, saved);
    } catch (err) {
      this.d.log.warn("cannot save health state", { id, err });
    }
  }

  private generation_of(id: string): number | undefined {
    return this.watches.get(id)?.generation;
  }

  private stopTimer(id: string): void {
    const w = this.watches.get(id);
    if (w?.timer) clearTimeout(w.timer);
    if (w) w.timer = undefined;
  }

  /** Probes stop; the last status stays visible in inspect until the next start. */
  exited(row: ContainerRow): void {
    this.stopTimer(row.id);
    const w = this.watches.get(row.id);
    if (w) this.watches.set(row.id, { ...w, generation: -1 });
  }

  removed(id: string): void {
    this.stopTimer(id);
    this.watches.delete(id);
    this.saved.delete(id);
  }

  close(): void {
    this.closed = true;
    for (const id of this.watches.keys()) this.stopTimer(id);
  }
}
