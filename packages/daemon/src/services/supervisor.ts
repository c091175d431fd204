/**
 * Restart policies (Docker's semantics): `no`, `on-failure[:N]`, `always`, `unless-stopped`.
 *
 * ContainerService records every exit once (libct.followExit of each running container, or reconcile for exits that
 * happened while berthd was down) and tells the supervisor; the supervisor decides, marks the row
 * `restarting` with restartCount+1 and starts it again after Docker's back-off: 100 ms, doubling per
 * restart, capped at 1 minute, back to 100 ms when the container had run for 10 s or more.
 *
 * A user's stop (or kill) is remembered in `<root>/containers/<id>/user-stopped`, so it survives berthd:
 * neither `always` nor `unless-stopped` restart such a container on exit; when berthd starts, `always`
 * brings every exited container back and `unless-stopped` those the user did not stop. A user's start
 * forgets the stop and resets restartCount.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerDescription } from "@berth/libct";
import type { Logger } from "../log.js";
import type { ContainerRepo, ContainerRow } from "../store/containers.js";
import type { ContainerHooks } from "./containers.js";

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** A container that ran this long before exiting restarts after the initial delay again. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

export interface SupervisorDeps {
  readonly repo: ContainerRepo;
  readonly root: string;
  readonly log: Logger;
  /** ContainerService.start with `{ restart: true }`: does not count as a user start. */
  readonly start: (id: string) => Promise<void>;
}

/** Whether a policy restarts a container that exited with `exitCode` after `restartCount` restarts. */
export function shouldRestart(
  row: Pick<ContainerRow, "restartPolicy" | "exitCode" | "restartCount" | "config">,
  userStopped: boolean,
): boolean {
  if (row.config.autoRemove) return false;
  const p = row.restartPolicy;
  switch (p.name) {
    case "always":
    case "unless-stopped":
      return !userStopped;
    case "on-failure": {
      if (userStopped || (row.exitCode ?? 0) === 0) return false;
      const max = p.maximumRetryCount ?? 0;
      return max === 0 || row.restartCount < max;
    }
    default:
      return false;
  }
}

/** Docker's restart manager: the next delay after `previous` (0 = none yet) for a run of `ranMs`. */
export function nextBackoff(previous: number, ranMs: number): number {
  let t = ranMs >= BACKOFF_RESET_AFTER_MS ? 0 : previous;
  t = t === 0 ? BACKOFF_START_MS : t * 2;
  return Math.min(t, BACKOFF_MAX_MS);
}

export class Supervisor implements ContainerHooks {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly delays = new Map<string, number>();
  private closed = false;

  constructor(private readonly d: SupervisorDeps) {}

  private flag(id: string): string {
    return join(this.d.root, "containers", id, "user-stopped");
  }

  userStopped(id: string): boolean {
    return existsSync(this.flag(id));
  }

  private cancel(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  userAction(id: string, action: "start" | "stop"): void {
    this.cancel(id);
    this.delays.delete(id);
    try {
      if (action === "stop") writeFileSync(this.flag(id), `${new Date().toISOString()}\n`);
      else rmSync(this.flag(id), { force: true });
    } catch (err) {
      this.d.log.warn("cannot record a user stop", { id, err });
    }
  }

  removed(id: string): void {
    this.cancel(id);
    this.delays.delete(id);
  }

  exited(row: ContainerRow): void {
    if (this.closed || this.timers.has(row.id)) return;
    if (!shouldRestart(row, this.userStopped(row.id))) {
      this.delays.delete(row.id);
      return;
    }
    const ran = row.startedAt && row.finishedAt ? Date.parse(row.finishedAt) - Date.parse(row.startedAt) : 0;
    const delay = nextBackoff(this.delays.get(row.id) ?? 0, Number.isFinite(ran) ? ran : 0);
    this.delays.set(row.id, delay);
    const count = row.restartCount + 1;
    if (!this.d.repo.setState(row.id, { status: "restarting", restartCount: count }, ["exited"])) return;
    this.d.log.info("restarting container", {
      id: row.id,
      name: row.name,
      policy: row.restartPolicy.name,
      exitCode: row.exitCode,
      restartCount: count,
      delayMs: delay,
    });
    this.schedule(row.id, delay);
  }

  private schedule(id: string, delay: number): void {
    const t = setTimeout(() => {
      this.timers.delete(id);
      if (this.closed) return;
      const row = this.d.repo.get(id);
      if (row?.status !== "restarting") return;
      this.d.start(id).catch((err) => {
        this.d.log.warn("restart failed", { id, err, detail: (err as Error).message });
        if (this.d.repo.setState(id, { status: "exited", finishedAt: new Date().toISOString() }, ["restarting"])) {
          const again = this.d.repo.get(id);
          if (again) this.exited(again);
        }
      });
    }, delay);
    this.timers.set(id, t);
  }

  /**
   * After reconcile, when berthd starts: `always` brings back every exited container, `unless-stopped`
   * those the user did not stop. (Containers that died while berthd was down went through `exited` already.)
   */
  async boot(): Promise<number> {
    let started = 0;
    for (const row of this.d.repo.list()) {
      if (row.status !== "exited" || row.config.autoRemove) continue;
      const p = row.restartPolicy.name;
      const stopped = this.userStopped(row.id);
      if (p !== "always" && !(p === "unless-stopped" && !stopped)) continue;
      try {
        if (stopped) rmSync(this.flag(row.id), { force: true });
        await this.d.start(row.id);
        started++;
      } catch (err) {
        this.d.log.warn("cannot start a container on boot", { id: row.id, err, detail: (err as Error).message });
      }
    }
    return started;
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.cancel(id);
  }
}

// ---- --init ----

/** Where the init is mounted in the container (Docker's place). */
export const INIT_TARGET = "/dev/init";

/**
 * A statically linked init from Debian: catatonit (podman's), else tini-static. Mounted read-only into
 * the container, so it must not need the image's libraries.
 */
export const INIT_CANDIDATES = ["/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/tini-static"];

export function initBinary(candidates: readonly string[] = INIT_CANDIDATES): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** The description with the init bind-mounted read-only at /dev/init as PID 1: `/dev/init -- args...`. */
export function withInit(desc: ContainerDescription, initPath: string): ContainerDescription {
  return {
    ...desc,
    process: { ...desc.process, args: [INIT_TARGET, "--", ...desc.process.args] },
    mounts: [...(desc.mounts ?? []), { type: "bind", source: initPath, destination: INIT_TARGET, readonly: true }],
  };
}
