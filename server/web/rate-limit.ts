// Attempts limited by key, in memory (one process serves the appliance; a restart forgets, which only ever helps the
// legitimate user). Each key's prefix names its policy:
//   ip:ADDRESS           failures of any name from one address: a window (password spraying, wrong setup codes)
//   pair:NAME@ADDRESS    failures for one name from one address: growing delays (guessing one password)
//   setup:ADDRESS        wrong setup codes from one address: a window
// No key holds a name alone: nobody can lock an account (the admin's) by failing for it from elsewhere.

export interface RateLimiter {
  /** Milliseconds until another attempt is allowed for every one of the keys; 0 when allowed now. */
  retryAfter(keys: string[]): number;
  fail(keys: string[]): void;
  reset(keys: string[]): void;
}

interface Policy {
  windowMs: number;
  /** Window: this many failures in the window, then wait until the oldest leaves it. */
  max?: number;
  /** Backoff: this many failures free, then 2^(n - free) x baseMs after the last one, at most maxMs. */
  free?: number;
  baseMs?: number;
  maxMs?: number;
}

export const signInPolicies: Record<string, Policy> = {
  ip: { windowMs: 15 * 60_000, max: 20 },
  pair: { windowMs: 15 * 60_000, free: 3, baseMs: 2_000, maxMs: 5 * 60_000 },
  setup: { windowMs: 15 * 60_000, max: 5 },
};

export function createRateLimiter(policies: Record<string, Policy> = signInPolicies): RateLimiter {
  const failures = new Map<string, number[]>();
  const policyOf = (key: string) => policies[key.slice(0, key.indexOf(':'))] ?? { windowMs: 15 * 60_000, max: 5 };
  const recent = (key: string, t: number) => {
    const list = (failures.get(key) ?? []).filter((at) => at > t - policyOf(key).windowMs);
    if (list.length === 0) failures.delete(key);
    else failures.set(key, list);
    return list;
  };
  return {
    retryAfter(keys) {
      const t = Date.now();
      let wait = 0;
      for (const key of keys) {
        const p = policyOf(key);
        const list = recent(key, t);
        if (p.max !== undefined && list.length >= p.max)
          wait = Math.max(wait, list[list.length - p.max]! + p.windowMs - t);
        if (p.free !== undefined && list.length >= p.free) {
          const delay = Math.min(p.maxMs!, p.baseMs! * 2 ** (list.length - p.free));
          wait = Math.max(wait, list[list.length - 1]! + delay - t);
        }
      }
      return Math.max(0, wait);
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
