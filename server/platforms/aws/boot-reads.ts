// When the driver reads a machine's console output next while its first boot runs (GetConsoleOutput has no batch
// form, so every read is a call). By default after a tenth of the time the machine has been up; and once a copy of
// the same scenario machine in another lab instance of the deployment has been seen ready, more often around then.

/**
 * What makes machines copies of each other: the scenario machine (`gd-<deployment>-i<N>-<machine>` without its
 * instance number), the instance type and the image. Copies differ in names and addresses only, so they boot in
 * about the same time.
 */
export function copyKey(name: string, type: string, image: string): string {
  return `${name.replace(/^(gd-[^-]+-i)\d+-/, '$1*-')}|${type}|${image}`;
}

/**
 * Milliseconds from now to the next read of a machine up `up` ms whose console did not show the end of its first
 * boot in the read sent at `sent` ms of uptime. By default after a tenth of its uptime (within minMs..maxMs, jittered
 * by 10%): the end is seen at most about 10% after it came, in a number of reads that grows with the log of the
 * boot's length. When a copy was seen ready `copy` ms after its launch, reads from 90% to 110% of that time go every
 * 2% of it (minMs at the least, at most ten more reads), on times that include `copy` itself: a copy that boots like
 * the quickest one seen is seen ready at once, and one that varies by up to 10% within 2% of its boot.
 */
export function nextReadIn(
  up: number,
  sent: number,
  poll: { minMs: number; maxMs: number },
  copy?: number,
  random: () => number = Math.random,
): number {
  const tenth = Math.min(poll.maxMs, Math.max(poll.minMs, up / 10)) * (0.9 + random() * 0.2);
  if (copy === undefined || up + tenth < 0.9 * copy) return tenth;
  const step = Math.max(poll.minMs, copy / 50);
  // Reads start minMs apart at the least; a read sent a little after its time (timers fire late) keeps the next on
  // the grid instead of skipping a step.
  const earliest = Math.max(sent + poll.minMs - 0.05 * step, 0.9 * copy, up);
  const at = copy + Math.ceil((earliest - copy) / step) * step;
  return at > 1.1 * copy ? tenth : at - up;
}

/**
 * The quickest first boot seen per copyKey (ms from launch to the read that showed its end); the oldest keys go past
 * `limit`. Waiters on a key are woken when a quicker copy is seen, to time their next read on it.
 */
export function createCopyBoots(limit = 1000) {
  const quickest = new Map<string, number>();
  const wakers = new Map<string, Set<() => void>>();
  return {
    get(key: string): number | undefined {
      return quickest.get(key);
    },
    seen(key: string, up: number): void {
      const before = quickest.get(key);
      if (before !== undefined && before <= up) return;
      quickest.set(key, up);
      if (before === undefined && quickest.size > limit) quickest.delete(quickest.keys().next().value!);
      for (const wake of wakers.get(key) ?? []) wake();
    },
    /** Resolves after `ms` with false, or sooner with true when a quicker copy of `key` is seen; rejects on abort. */
    wait(key: string, ms: number, signal?: AbortSignal): Promise<boolean> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise((resolve, reject) => {
        const set = wakers.get(key) ?? new Set<() => void>();
        wakers.set(key, set);
        const end = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          set.delete(wake);
          if (set.size === 0 && wakers.get(key) === set) wakers.delete(key);
        };
        const wake = () => (end(), resolve(true));
        const onAbort = () => (end(), reject(signal!.reason));
        const timer = setTimeout(() => (end(), resolve(false)), Math.max(0, ms));
        set.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
