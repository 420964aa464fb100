// Waiting and retrying for the Proxmox driver: abortable sleeps, bounded retries of transient errors (lock
// timeouts, 595/596) with exponential backoff and full jitter, and a counting semaphore for clone slots.
import { setTimeout as sleepFor } from 'node:timers/promises';
import { AppError } from '../../errors.ts';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleepFor(Math.max(0, ms), undefined, signal ? { signal } : {});
}

/** Only transient errors are retried here: a lock that timed out or a proxy that gave up (595/596). */
export function isTransient(e: unknown): e is AppError {
  return e instanceof AppError && (e.code === 'transient' || e.code === 'rate_limited');
}

export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, opts: { signal?: AbortSignal; onRetry?: (e: AppError, attempt: number) => void } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isTransient(e) || attempt >= policy.attempts || opts.signal?.aborted) throw e;
      opts.onRetry?.(e, attempt);
      const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
      await sleep(cap / 2 + Math.random() * (cap / 2), opts.signal);
    }
  }
}

/** Polls `probe` until it returns a value, with growing intervals, until `deadline` (epoch ms). */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, o: { deadline: number; minMs: number; maxMs: number; signal?: AbortSignal }): Promise<T | undefined> {
  let wait = o.minMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    const left = o.deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(wait, left), o.signal);
    wait = Math.min(o.maxMs, Math.ceil(wait * 1.5));
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
