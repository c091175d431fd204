/** The event log: every published event is kept (the newest 10,000), so /1.0/events?since= survives restarts. */
import type { BerthEvent } from "@berth/api";
import type { Db } from "./db.js";

const KEEP = 10_000;

export class EventRepo {
  private readonly insertStmt;
  private readonly recentStmt;
  private readonly pruneStmt;
  private inserted = 0;

  constructor(db: Db) {
    this.insertStmt = db.prepare("INSERT INTO events (at, type, data) VALUES (?, ?, ?)");
    this.recentStmt = db.prepare(
      "SELECT data FROM (SELECT seq, data FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq",
    );
    this.pruneStmt = db.prepare("DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?");
  }

  append(e: BerthEvent): void {
    this.insertStmt.run(e.at, e.type, JSON.stringify(e));
    if (++this.inserted % 1000 === 0) this.pruneStmt.run(KEEP);
  }

  recent(limit: number): BerthEvent[] {
    return (this.recentStmt.all(limit) as { data: string }[]).map((r) => JSON.parse(r.data) as BerthEvent);
  }
}
