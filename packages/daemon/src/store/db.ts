/**
 * berthd's SQLite database (better-sqlite3: synchronous, WAL). Migrations are numbered and applied in
 * order inside one transaction each; `PRAGMA user_version` records the last one applied.
 */
import Database from "better-sqlite3";

export type Db = Database.Database;

/** Append only: never edit a migration that has shipped, add the next one. */
export const migrations: readonly string[] = [
  `CREATE TABLE containers (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     image TEXT NOT NULL,
     image_id TEXT,
     kind TEXT NOT NULL,
     config TEXT NOT NULL,
     description TEXT NOT NULL,
     labels TEXT NOT NULL,
     restart_policy TEXT NOT NULL,
     resources TEXT NOT NULL,
     autostart INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     status TEXT NOT NULL,
     pid INTEGER,
     exit_code INTEGER,
     oom_killed INTEGER NOT NULL DEFAULT 0,
     started_at TEXT,
     finished_at TEXT,
     restart_count INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     type TEXT NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX events_at ON events(at);`,
  // 2: bearer tokens for the TCP API; only the SHA-256 of a token's secret is kept.
  `CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     expires_at TEXT,
     last_used_at TEXT
   );`,
  // 3: the health check state of a container's current (or last) run, so a berthd restart keeps it.
  `CREATE TABLE container_health (
     id TEXT PRIMARY KEY REFERENCES containers(id) ON DELETE CASCADE,
     started_at TEXT NOT NULL,
     health TEXT NOT NULL
   );`,
  // 4: the container's network attachment (libct NetworkAttachment as JSON), handed back to its driver's detach.
  "ALTER TABLE containers ADD COLUMN network TEXT;",
];

export function openDb(path: string): Db {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(
      `database schema version ${current} is newer than this berthd knows (${migrations.length}); upgrade berthd`,
    );
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
