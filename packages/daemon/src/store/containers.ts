/** Container rows: the daemon's record of every container (libct keeps the runtime side). */
import type { ContainerCreate, ContainerKind, ContainerStatus, Resources, RestartPolicy } from "@berth/api";
import type { ContainerDescription, NetworkAttachment } from "@berth/libct";
import type { Db } from "./db.js";

export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  imageId?: string;
  kind: ContainerKind;
  config: Omit<ContainerCreate, "labels" | "restartPolicy" | "resources" | "autostart" | "name" | "start">;
  description: ContainerDescription;
  labels: Record<string, string>;
  restartPolicy: RestartPolicy;
  resources: Resources;
  autostart: boolean;
  createdAt: string;
  status: ContainerStatus;
  pid?: number;
  exitCode?: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  restartCount: number;
  /** What the network driver attached (absent for rows of a berthd before schema version 4). */
  network?: NetworkAttachment;
}

interface Raw {
  id: string;
  name: string;
  image: string;
  image_id: string | null;
  kind: string;
  config: string;
  description: string;
  labels: string;
  restart_policy: string;
  resources: string;
  autostart: number;
  created_at: string;
  status: string;
  pid: number | null;
  exit_code: number | null;
  oom_killed: number;
  started_at: string | null;
  finished_at: string | null;
  restart_count: number;
  network: string | null;
}

const fromRaw = (r: Raw): ContainerRow => ({
  id: r.id,
  name: r.name,
  image: r.image,
  ...(r.image_id ? { imageId: r.image_id } : {}),
  kind: r.kind as ContainerKind,
  config: JSON.parse(r.config),
  description: JSON.parse(r.description),
  labels: JSON.parse(r.labels),
  restartPolicy: JSON.parse(r.restart_policy),
  resources: JSON.parse(r.resources),
  autostart: r.autostart === 1,
  createdAt: r.created_at,
  status: r.status as ContainerStatus,
  ...(r.pid !== null ? { pid: r.pid } : {}),
  ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}),
  oomKilled: r.oom_killed === 1,
  ...(r.started_at ? { startedAt: r.started_at } : {}),
  ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
  restartCount: r.restart_count,
  ...(r.network ? { network: JSON.parse(r.network) } : {}),
});

/** State fields a transition may change. */
export interface StatePatch {
  status: ContainerStatus;
  pid?: number | null;
  exitCode?: number | null;
  oomKilled?: boolean;
  startedAt?: string | null;
  finishedAt?: string | null;
  restartCount?: number;
}

export class ContainerRepo {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO containers (id, name, image, image_id, kind, config, description, labels,
        restart_policy, resources, autostart, created_at, status, pid, exit_code, oom_killed, started_at, finished_at, restart_count,
        network)
        VALUES (@id, @name, @image, @image_id, @kind, @config, @description, @labels, @restart_policy, @resources,
        @autostart, @created_at, @status, @pid, @exit_code, @oom_killed, @started_at, @finished_at, @restart_count,
        @network)`),
      get: db.prepare("SELECT * FROM containers WHERE id = ?"),
      byName: db.prepare("SELECT * FROM containers WHERE name = ?"),
      byPrefix: db.prepare("SELECT * FROM containers WHERE id LIKE ? || '%' LIMIT 2"),
      all: db.prepare("SELECT * FROM containers ORDER BY created_at DESC, id"),
      names: db.prepare("SELECT name FROM containers"),
      countByStatus: db.prepare("SELECT status, COUNT(*) AS n FROM containers GROUP BY status"),
      delete: db.prepare("DELETE FROM containers WHERE id = ?"),
      rename: db.prepare("UPDATE containers SET name = ? WHERE id = ?"),
      put: db.prepare(
        "UPDATE containers SET labels = @labels, restart_policy = @restart_policy, resources = @resources, autostart = @autostart, description = @description WHERE id = @id",
      ),
    };
  }

  insert(row: ContainerRow): void {
    this.stmts.insert.run({
      id: row.id,
      name: row.name,
      image: row.image,
      image_id: row.imageId ?? null,
      kind: row.kind,
      config: JSON.stringify(row.config),
      description: JSON.stringify(row.description),
      labels: JSON.stringify(row.labels),
      restart_policy: JSON.stringify(row.restartPolicy),
      resources: JSON.stringify(row.resources),
      autostart: row.autostart ? 1 : 0,
      created_at: row.createdAt,
      status: row.status,
      pid: row.pid ?? null,
      exit_code: row.exitCode ?? null,
      oom_killed: row.oomKilled ? 1 : 0,
      started_at: row.startedAt ?? null,
      finished_at: row.finishedAt ?? null,
      restart_count: row.restartCount,
      network: row.network ? JSON.stringify(row.network) : null,
    });
  }

  get(id: string): ContainerRow | undefined {
    const r = this.stmts.get.get(id) as Raw | undefined;
    return r && fromRaw(r);
  }
  byName(name: string): ContainerRow | undefined {
    const r = this.stmts.byName.get(name) as Raw | undefined;
    return r && fromRaw(r);
  }
  /** Rows whose id starts with `prefix` (at most 2: enough to tell unique from ambiguous). */
  byPrefix(prefix: string): ContainerRow[] {
    return (this.stmts.byPrefix.all(prefix) as Raw[]).map(fromRaw);
  }
  list(): ContainerRow[] {
    return (this.stmts.all.all() as Raw[]).map(fromRaw);
  }
  /** How many rows have each status (statuses with none are absent). */
  countByStatus(): Partial<Record<ContainerStatus, number>> {
    const out: Partial<Record<ContainerStatus, number>> = {};
    for (const r of this.stmts.countByStatus.all() as { status: ContainerStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }
  names(): string[] {
    return (this.stmts.names.all() as { name: string }[]).map((r) => r.name);
  }
  delete(id: string): void {
    this.stmts.delete.run(id);
  }
  rename(id: string, name: string): void {
    this.stmts.rename.run(name, id);
  }
  put(row: ContainerRow): void {
    this.stmts.put.run({
      id: row.id,
      labels: JSON.stringify(row.labels),
      restart_policy: JSON.stringify(row.restartPolicy),
      resources: JSON.stringify(row.resources),
      autostart: row.autostart ? 1 : 0,
      description: JSON.stringify(row.description),
    });
  }

  /**
   * Applies a state patch; with `from`, only when the row is in one of those states (a guarded transition:
   * two observers of the same exit record it once). Returns true when the row changed.
   */
  setState(id: string, patch: StatePatch, from?: readonly ContainerStatus[]): boolean {
    const sets = ["status = @status"];
    const params: Record<string, unknown> = { id, status: patch.status };
    const col = {
      pid: "pid",
      exitCode: "exit_code",
      startedAt: "started_at",
      finishedAt: "finished_at",
      restartCount: "restart_count",
    } as const;
    for (const [k, c] of Object.entries(col)) {
      const v = patch[k as keyof typeof col];
      if (v !== undefined) {
        sets.push(`${c} = @${k}`);
        params[k] = v;
      }
    }
    if (patch.oomKilled !== undefined) {
      sets.push("oom_killed = @oomKilled");
      params.oomKilled = patch.oomKilled ? 1 : 0;
    }
    let where = "id = @id";
    if (from) {
      where += ` AND status IN (${from.map((_, i) => `@from${i}`).join(", ")})`;
      from.forEach((s, i) => {
        params[`from${i}`] = s;
      });
    }
    const sql = `UPDATE containers SET ${sets.join(", ")} WHERE ${where}`;
    // A handful of shapes recur (start, exit, restart): each is prepared once, not on every change (~70 us).
    let stmt = this.stateStmts.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.stateStmts.set(sql, stmt);
    }
    return stmt.run(params).changes === 1;
  }

  private readonly stateStmts = new Map<string, ReturnType<Db["prepare"]>>();
}
