/**
 * Serializes work per key (a container's id): an operation runs once every earlier one on its key has
 * settled, whether it succeeded or failed; different keys run in parallel. Not re-entrant: code that
 * holds a key calls the held variants of other operations (berthd's ContainerService `stopHeld`, `startHeld`).
 * Libct and berthd each hold one.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `fn` once the key's earlier work has settled. On an idle key `fn` starts at once, within this call
   * (its code up to its first await runs before `run` returns), not a microtask later: a start can open the
   * exec fifo before its caller goes on to other synchronous work.
   */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    let next: Promise<T>;
    let tail: Promise<unknown>;
    if (prev) {
      next = prev.then(fn, fn);
      tail = next.catch(() => {});
      this.tails.set(key, tail);
    } else {
      // The key is taken before fn begins, so that work fn's own synchronous part queues on it waits for fn.
      let begin!: (work: Promise<T>) => void;
      next = new Promise<T>((resolve) => {
        begin = resolve;
      });
      tail = next.catch(() => {});
      this.tails.set(key, tail);
      begin(startNow(fn));
    }
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

function startNow<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
