// How many EC2 API calls run at once per account and region. EC2 throttles per account and region, whichever
// process part calls (the executor's drivers, the overseer's checks), so they share one limiter: ask for it here.
import { createSemaphore, type Semaphore } from '../shared/retry.ts';

export interface RegionKey {
  region: string;
  /** The endpoint when not the public one: a moto server or a sovereign cloud is another throttling domain. */
  endpoint?: string;
  accessKeyId: string;
}

const limiters = new Map<string, { slots: number; semaphore: Semaphore }>();

/**
 * The one limiter of an account and region in this process. The first caller sets its size; a later caller asking
 * for a different size gets the existing limiter (its size is reported in `slots`).
 */
export function regionLimiter(key: RegionKey, slots: number): { slots: number; semaphore: Semaphore } {
  const id = `${key.endpoint ?? 'aws'}|${key.region}|${key.accessKeyId}`;
  let l = limiters.get(id);
  if (!l) limiters.set(id, (l = { slots, semaphore: createSemaphore(slots) }));
  return l;
}
