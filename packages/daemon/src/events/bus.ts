/** The in-process event bus: every state change is published here; /1.0/events streams it as SSE. */
import type { BerthEvent } from "@berth/api";

export type Listener = (e: BerthEvent) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly recent: BerthEvent[] = [];

  constructor(
    private readonly keep = 1000,
    private readonly persist?: (e: BerthEvent) => void,
    history: readonly BerthEvent[] = [],
  ) {
    this.recent.push(...history.slice(-keep));
  }

  publish(e: BerthEvent): void {
    this.recent.push(e);
    if (this.recent.length > this.keep) this.recent.splice(0, this.recent.length - this.keep);
    try {
      this.persist?.(e);
    } catch {
      // the log is best effort (e.g. during shutdown); live subscribers still get the event
    }
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a broken subscriber must not break the publisher
      }
    }
  }

  /** Subscribes; returns the unsubscribe function. */
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Events kept in memory that happened strictly after `since`. */
  since(since: string): BerthEvent[] {
    return this.recent.filter((e) => e.at > since);
  }
}
