// How many EC2 API calls run at once per account and region. EC2 throttles per account and region, whichever
// process part calls (the executor's drivers, the overseer's checks), so they share one limiter: ask for it here.
// Calls that move a machine along (launches, the waits on it) go before calls that prepare others.
import type { Semaphore } from '../shared/retry.ts';

export interface RegionKey {
  region: string;
  /** The endpoint when not the public one: a moto server or a sovereign cloud is another throttling domain. */
  endpoint?: string;
  accessKeyId: string;
}

export interface RegionLimiter extends Semaphore {
  /** A slot; `urgent` callers are served before the others waiting. */
  acquire(signal?: AbortSignal, urgent?: boolean): Promise<() => void>;
  readonly slots: number;
}

const limiters = new Map<string, RegionLimiter>();

/**
 * The one limiter of an account and region in this process. The first caller sets its size; a later caller asking
 * for a different size gets the existing limiter (its size is in `slots`).
 */
export function regionLimiter(key: RegionKey, slots: number): RegionLimiter {
  const id = `${key.endpoint ?? 'aws'}|${key.region}|${key.accessKeyId}`;
  let l = limiters.get(id);
  if (!l) limiters.set(id, (l = createRegionLimiter(slots)));
  return l;
}

export function createRegionLimiter(slots: number): RegionLimiter {
  let used = 0;
  const queues: [Array<() => void>, Array<() => void>] = [[], []];
  const release = (): void => {
    const next = queues[0].shift() ?? queues[1].shift();
    if (next) next();
    else used--;
  };
  return {
    slots,
    acquire(signal, urgent = false) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (used < slots) {
        used++;
        return Promise.resolve(once(release));
      }
      const queue = queues[urgent ? 0 : 1];
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
