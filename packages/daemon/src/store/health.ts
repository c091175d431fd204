/**
 * Health check state per container, as Docker keeps it in a container's state: the status, the failing streak
 * and the last results of the run that started at `startedAt`. A restarted berthd carries on from it (a healthy
 * container does not turn "starting" again) and shows it for a container that has stopped since.
 */
import type { ContainerState } from "@berth/api";
import type { Db } from "./db.js";

export type Health = NonNullable<ContainerState["health"]>;

export interface SavedHealth {
  readonly startedAt: string;
  readonly health: Health;
}

export class HealthRepo {
  private readonly upsert;
  private readonly all;

  constructor(db: Db) {
    this.upsert = db.prepare(
      `INSERT INTO container_health (id, started_at, health) VALUES (?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET started_at = excluded.started_at, health = excluded.health`,
    );
    this.all = db.prepare("SELECT id, started_at, health FROM container_health");
  }

  /** Records the state; a row removed meanwhile (its container is gone) is not an error. */
  save(id: string, saved: SavedHealth): void {
    try {
      this.upsert.run(id, saved.startedAt, JSON.stringify(saved.health));
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_CONSTRAINT_FOREIGNKEY") throw err;
    }
  }

  /** Every container's saved state (removing a container removes its own, by the foreign key). */
  load(): Map<string, SavedHealth> {
    const rows = this.all.all() as { id: string; started_at: string; health: string }[];
    return new Map(rows.map((r) => [r.id, { startedAt: r.started_at, health: JSON.parse(r.health) as Health }]));
  }
}
