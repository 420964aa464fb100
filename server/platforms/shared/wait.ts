// Waiting, for every driver and the executor: an abortable sleep and a bounded poll with growing intervals.
import { setTimeout as sleepFor } from 'node:timers/promises';

// Every wait of a deployment run listens on the run's one signal: one abort listener per signal, not one per wait
// added and removed again (EventTarget removal is linear in the listeners, and hundreds of machines wait at once).
const waitsBySignal = new WeakMap<AbortSignal, Set<{ timer: NodeJS.Timeout; reject: (reason: unknown) => void }>>();

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return sleepFor(Math.max(0, ms));
  if (signal.aborted) return Promise.reject(signal.reason);
  let waits = waitsBySignal.get(signal);
  if (!waits) {
    const all = (waits = new Set());
    waitsBySignal.set(signal, all);
    signal.addEventListener(
      'abort',
      () => {
        for (const w of all) {
          clearTimeout(w.timer);
          w.reject(signal.reason);
        }
        all.clear();
      },
      { once: true },
    );
  }
  const set = waits;
  return new Promise((resolve, reject) => {
    const wait = {
      timer: setTimeout(
        () => {
          set.delete(wait);
          resolve();
        },
        Math.max(0, ms),
      ),
      reject,
    };
    set.add(wait);
  });
}

export interface PollOptions {
  /** Epoch ms after which the poll gives up and returns undefined. */
  deadline: number;
  /** First interval; each next one is 1.5 times longer, up to `maxMs`. */
  minMs: number;
  maxMs: number;
  /** Up to this many ms of random delay added to each interval, so many pollers do not move in step. */
  jitterMs?: number;
  signal?: AbortSignal;
}

/** Calls `probe` until it returns a value, with growing intervals, until the deadline; then returns undefined. */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, o: PollOptions): Promise<T | undefined> {
  let wait = o.minMs;
  for (;;) {
    o.signal?.throwIfAborted();
    const v = await probe();
    if (v !== undefined) return v;
    const left = o.deadline - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(wait, left) + (o.jitterMs ? Math.random() * o.jitterMs : 0), o.signal);
    wait = Math.min(o.maxMs, Math.ceil(wait * 1.5));
  }
}
