// How many EC2 API calls run at once per account and region. EC2 throttles per account and region, whichever
// process part calls (the executor's drivers, the overseer's checks), so they share one limiter: ask for it here.
// When calls wait, the region serves them as a pipeline is drained, the work nearest its end first: calls that move a
// launched machine along (launches, the waits on it), then those of machine operations, then network ones; and within
// each, the call of the operation that began first, so operations finish in the order they began instead of all
// advancing together and all finishing late.
import type { Semaphore } from '../shared/retry.ts';

export interface RegionKey {
  region: string;
  /** The endpoint when not the public one: a moto server or a sovereign cloud is another throttling domain. */
  endpoint?: string;
  accessKeyId: string;
}

/** Where a waiting call stands: the lower `rank` first, then the lower `began`, then the earlier arrival. */
export interface CallOrder {
  /** 0: moves a launched machine along; 1: a machine operation; 2: a network operation; 3: anything else. */
  rank: number;
  /** When the operation the call belongs to began, on performance.now()'s clock. */
  began: number;
}

export interface RegionLimiter extends Semaphore {
  /** A slot, granted at once if one is free, else in `order` (default: rank 3, begun now). */
  acquire(signal?: AbortSignal, order?: CallOrder): Promise<() => void>;
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
  // Sorted by (rank, began); equal ones in arrival order. It holds at most a few hundred calls.
  const queue: Array<CallOrder & { grant: () => void }> = [];
  const before = (a: CallOrder, b: CallOrder) => a.rank < b.rank || (a.rank === b.rank && a.began < b.began);
  const release = (): void => {
    const next = queue.shift();
    if (next) next.grant();
    else used--;
  };
  return {
    slots,
    acquire(signal, order = { rank: 3, began: performance.now() }) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (used < slots) {
        used++;
        return Promise.resolve(once(release));
      }
      return new Promise((resolve, reject) => {
        const w = {
          rank: order.rank,
          began: order.began,
          grant: (): void => {
            signal?.removeEventListener('abort', onAbort);
            resolve(once(release));
          },
        };
        const onAbort = (): void => {
          const i = queue.indexOf(w);
          if (i >= 0) queue.splice(i, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        // After every waiter not behind this one.
        let lo = 0;
        let hi = queue.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (before(w, queue[mid]!)) hi = mid;
          else lo = mid + 1;
        }
        queue.splice(lo, 0, w);
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
