/**
 * Serializes work per key (a container's id): an operation runs once every earlier one on its key has
 * settled, whether it succeeded or failed; different keys run in parallel. Not re-entrant: code that
 * holds a key calls the held variants of other operations (berthd's ContainerService `stopHeld`, `startHeld`).
 * Libct and berthd each hold one.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with work queued or running (for tests and leak checks). */
  get size(): number {
    return this.tails.size;
  }
}
