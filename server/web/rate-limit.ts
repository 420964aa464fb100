// Sign-in attempts limited per client address and per username: a sliding window of failures, in memory
// (one process serves the appliance; a restart forgets, which only ever helps the legitimate user).

export interface RateLimiter {
  /** Milliseconds until another attempt is allowed for any of the keys; 0 when allowed now. */
  retryAfter(keys: string[]): number;
  fail(keys: string[]): void;
  reset(keys: string[]): void;
}

export function createRateLimiter(
  opts: { max: number; windowMs: number } = { max: 5, windowMs: 15 * 60_000 },
): RateLimiter {
  const failures = new Map<string, number[]>();
  const recent = (key: string, t: number) => {
    const list = (failures.get(key) ?? []).filter((at) => at > t - opts.windowMs);
    if (list.length === 0) failures.delete(key);
    else failures.set(key, list);
    return list;
  };
  return {
    retryAfter(keys) {
      const t = Date.now();
      let wait = 0;
      for (const key of keys) {
        const list = recent(key, t);
        if (list.length >= opts.max) wait = Math.max(wait, list[list.length - opts.max]! + opts.windowMs - t);
      }
      return wait;
    },
    fail(keys) {
      const t = Date.now();
      for (const key of keys) failures.set(key, [...recent(key, t), t]);
      // Bounded memory under a flood of distinct names.
      if (failures.size > 10_000) for (const k of [...failures.keys()].slice(0, 5_000)) failures.delete(k);
    },
    reset(keys) {
      for (const key of keys) failures.delete(key);
    },
  };
}
