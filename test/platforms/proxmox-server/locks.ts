// The node-local flocks PVE takes: per-VM config file locks (shared or exclusive) and per-storage locks,
// each waited on with a timeout. A storage lock admits `slots` holders, so N clones on one storage run at once.

export type LockMode = 'shared' | 'exclusive';

interface Waiter {
  mode: LockMode;
  grant: () => void;
}

interface LockEntry {
  shared: number;
  exclusive: number;
  slots: number;
  queue: Waiter[];
}

export interface LockTable {
  /**
   * Resolves with a release function once held; rejects with `onTimeout()` after `timeoutMs`.
   * `slots` > 1 lets that many exclusive holders in at once (a storage's concurrency limit).
   */
  acquire(key: string, mode: LockMode, timeoutMs: number, onTimeout: () => Error, slots?: number): Promise<() => void>;
  /** What is held now, for tests and the request log. */
  held(key: string): { shared: number; exclusive: number };
}

export function createLockTable(): LockTable {
  const entries = new Map<string, LockEntry>();
  const entry = (key: string, slots: number): LockEntry => {
    let e = entries.get(key);
    if (!e) entries.set(key, (e = { shared: 0, exclusive: 0, slots, queue: [] }));
    e.slots = slots;
    return e;
  };
  const fits = (e: LockEntry, mode: LockMode): boolean =>
    mode === 'shared' ? e.exclusive === 0 : e.shared === 0 && e.exclusive < e.slots;

  const pump = (e: LockEntry): void => {
    // flock(2) is not fair: any waiter that fits now gets the lock, so shared holders can starve an exclusive one.
    for (const w of [...e.queue]) {
      if (!fits(e, w.mode)) continue;
      e.queue.splice(e.queue.indexOf(w), 1);
      w.grant();
    }
  };

  return {
    acquire(key, mode, timeoutMs, onTimeout, slots = 1) {
      const e = entry(key, slots);
      return new Promise((resolve, reject) => {
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          if (mode === 'shared') e.shared--;
          else e.exclusive--;
          pump(e);
        };
        const take = (): void => {
          if (mode === 'shared') e.shared++;
          else e.exclusive++;
          resolve(release);
        };
        if (fits(e, mode)) return take();
        const waiter: Waiter = {
          mode,
          grant: () => {
            clearTimeout(timer);
            take();
          },
        };
        const timer = setTimeout(() => {
          const i = e.queue.indexOf(waiter);
          if (i >= 0) e.queue.splice(i, 1);
          reject(onTimeout());
          pump(e);
        }, timeoutMs);
        e.queue.push(waiter);
      });
    },
    held(key) {
      const e = entries.get(key);
      return { shared: e?.shared ?? 0, exclusive: e?.exclusive ?? 0 };
    },
  };
}
