// The runner's gates: a counting semaphore per platform lane whose waiters are served highest priority first.

/**
 * A counting semaphore whose waiters are served highest priority first, then in arrival order. Grants are made by
 * `drain`, once per event-loop turn, so work that becomes ready in one turn (a deployment's first creates, the
 * dependants of several finished steps) is ordered by priority, not by arrival.
 */
export class PriorityGate {
  private free: number;
  private waiting: Array<{
    priority: number;
    seq: number;
    start: (release: () => void) => void;
    signal: AbortSignal | undefined;
    onAbort: () => void;
  }> = [];
  private seq = 0;

  /** `wake` asks for a drain at the end of the current turn. */
  constructor(
    size: number,
    private readonly wake: () => void,
  ) {
    this.free = size;
  }

  /** Queues `start`, called with the slot's release function when granted; `aborted` if the signal fires first. */
  submit(
    priority: number,
    start: (release: () => void) => void,
    signal: AbortSignal | undefined,
    aborted: (reason: unknown) => void,
  ): void {
    if (signal?.aborted) return aborted(signal.reason);
    const entry = {
      priority,
      seq: this.seq++,
      start,
      signal,
      onAbort: () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        aborted(signal!.reason);
      },
    };
    this.waiting.push(entry);
    signal?.addEventListener('abort', entry.onAbort, { once: true });
    this.wake();
  }

  /** A slot as a promise, for callers that simply wait their turn. */
  acquire(priority: number, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => this.submit(priority, resolve, signal, reject));
  }

  canGrant(): boolean {
    return this.free > 0 && this.waiting.length > 0;
  }

  drain(): void {
    if (!this.canGrant()) return;
    this.waiting.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    while (this.free > 0 && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      this.free--;
      let released = false;
      w.start(() => {
        if (released) return;
        released = true;
        this.free++;
        if (this.waiting.length > 0) this.wake();
      });
    }
  }
}
