// Retrying, for every driver and the executor: the one backoff formula (exponential, equal jitter), bounded
// retries of transient errors, and a counting semaphore for slots a platform limits (clones per storage).
import { AppError } from '../../errors.ts';
import { sleep } from './wait.ts';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** The wait before retry number `attempt` (1 = the first retry): half of min(max, base * 2^(attempt-1)) plus up to as much again at random. */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'>): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return cap / 2 + Math.random() * (cap / 2);
}

/**
 * Worth retrying inside a driver: a lock that timed out, a proxy that gave up, throttling. Not `timeout`: a driver's
 * own wait that ran out is final there (the executor decides whether the whole step runs again).
 */
export function isTransient(e: unknown): e is AppError {
  return e instanceof AppError && (e.code === 'transient' || e.code === 'rate_limited');
}

/** Runs `fn` until it succeeds, a non-transient error, the last attempt, or the signal. */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  opts: { signal?: AbortSignal; onRetry?: (e: AppError, attempt: number) => void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isTransient(e) || attempt >= policy.attempts || opts.signal?.aborted) throw e;
      opts.onRetry?.(e, attempt);
      await sleep(backoffDelay(attempt, policy), opts.signal);
    }
  }
}

export interface Semaphore {
  acquire(signal?: AbortSignal): Promise<() => void>;
}

export function createSemaphore(slots: number): Semaphore {
  let used = 0;
  const queue: Array<() => void> = [];
  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else used--;
  };
  return {
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (used < slots) {
        used++;
        return Promise.resolve(once(release));
      }
      return new Promise((resolve, reject) => {
        const grant = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(once(release));
        };
        const onAbort = (): void => {
          const i = queue.indexOf(grant);
          if (i >= 0) queue.splice(i, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(grant);
      });
    },
  };
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** Maps `items` through `fn` with at most `limit` calls in flight, keeping the order; the first failure rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}
