/** Bearer tokens for the TCP API. The secret is never stored: a row keeps its SHA-256. */
import type { Db } from "./db.js";

export interface TokenRow {
  readonly id: string;
  readonly name: string;
  readonly hash: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
}

interface Raw {
  id: string;
  name: string;
  hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

const fromRaw = (r: Raw): TokenRow => ({
  id: r.id,
  name: r.name,
  hash: r.hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
});

export class TokenRepo {
  private readonly insertStmt;
  private readonly byHashStmt;
  private readonly listStmt;
  private readonly deleteStmt;
  private readonly usedStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      "INSERT INTO tokens (id, name, hash, created_at, expires_at) VALUES (@id, @name, @hash, @createdAt, @expiresAt)",
    );
    this.byHashStmt = db.prepare("SELECT * FROM tokens WHERE hash = ?");
    this.listStmt = db.prepare("SELECT * FROM tokens ORDER BY created_at, id");
    this.deleteStmt = db.prepare("DELETE FROM tokens WHERE id = ? OR name = ?");
    this.usedStmt = db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?");
  }

  insert(row: Omit<TokenRow, "lastUsedAt">): void {
    this.insertStmt.run(row);
  }

  byHash(hash: string): TokenRow | undefined {
    const r = this.byHashStmt.get(hash) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  list(): TokenRow[] {
    return (this.listStmt.all() as Raw[]).map(fromRaw);
  }

  /** Removes by id or name; returns how many went. */
  delete(ref: string): number {
    return this.deleteStmt.run(ref, ref).changes;
  }

  touch(id: string, at: string): void {
    this.usedStmt.run(at, id);
  }
}
