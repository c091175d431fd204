/** Bounded parallelism and bounded retries with backoff, shared by pull and push. */
import { setTimeout as sleep } from "node:timers/promises";
import { LibctError } from "../../errors.js";

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure after all settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.err;
  return results;
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Worth another attempt: the network or the registry failed, not the data or the credentials. */
export function isTransient(err: unknown): boolean {
  if (err instanceof LibctError) return err.kind === "unavailable";
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined && TRANSIENT_CODES.has(code)) || (err as Error | undefined)?.message === "aborted";
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  readonly attempts?: number;
  /** First backoff in ms, doubled per attempt up to 2 s. Default 100. */
  readonly backoffMs?: number;
  readonly signal?: AbortSignal;
  readonly onRetry?: (attempt: number, err: unknown) => void;
}

/** Calls `fn(attempt)` until it resolves, retrying transient failures with exponential backoff. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  let delay = opts.backoffMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !isTransient(err) || opts.signal?.aborted) throw err;
      opts.onRetry?.(attempt + 1, err);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {});
      delay = Math.min(delay * 2, 2000);
    }
  }
}
