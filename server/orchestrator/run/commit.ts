// How the executor writes: one transaction per event-loop turn, whatever moved in the turn.
//
// Steps that became ready in a turn are started first, in priority order within their platform's gates, inside that
// transaction, so their start is written with the end of the steps they waited for (and so are any writes their
// platforms make synchronously, like the simulator's power-on): one commit per turn, however many steps moved. A
// crash loses at most that turn's writes, and every step is idempotent, so the resumed run simply does them again.
// Transitions of steps that create nothing (start, address, ready) need no commit of their own: they are written
// with the next turn that commits anyway, or at the latest `lazyMs` later. A commit costs far more after the process
// has been idle (npm run bench:host), and this halves the commits of a deployment; a crash loses at most `lazyMs`
// of such transitions, whose steps are run again and find their machine already started, addressed or ready.
import type { Db } from '../../db/client.ts';

export interface Committer {
  /** A write that must be committed at the end of this turn (creates, failures, retries). */
  later(write: () => void): void;
  /** A write that may wait for the next commit, `lazyMs` at the latest. */
  lazily(write: () => void): void;
  /** Resolves once everything written so far is committed (at the end of this turn). */
  committed(): Promise<void>;
  /** Commits what is pending now, outside a turn (at the end of a run). */
  flush(): void;
  /** Asks for a turn's end to run: gates call it when they can grant a slot. */
  scheduleTurn(): void;
}

/** `drain` starts what the gates can grant, inside the turn's transaction; `canGrant` says whether any can. */
export function createCommitter(db: Db, gates: { drain(): void; canGrant(): boolean }, lazyMs: number): Committer {
  const pending: Array<() => void> = [];
  let commitWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  let turnScheduled = false;
  let inTurn = false;
  /** A write other than a lazy one, or a commit waiter, is pending: the turn must commit. */
  let urgent = false;
  let lazyTimer: NodeJS.Timeout | undefined;
  const turn = db.$client.transaction(() => {
    gates.drain();
    applyPending();
  });
  const commitPending = db.$client.transaction(applyPending);

  function applyPending() {
    // A write may queue another: the loop sees those too.
    for (let i = 0; i < pending.length; i++) pending[i]!();
    pending.length = 0;
    urgent = false;
    if (lazyTimer) clearTimeout(lazyTimer);
    lazyTimer = undefined;
  }
  function scheduleTurn() {
    if (turnScheduled || inTurn) return;
    turnScheduled = true;
    setImmediate(endTurn);
  }
  function endTurn() {
    turnScheduled = false;
    if (!urgent && commitWaiters.length === 0 && !gates.canGrant()) return;
    inTurn = true;
    try {
      // IMMEDIATE: the write lock is taken first, so a step's read then write in the turn never meets a snapshot
      // another process has made stale since (SQLITE_BUSY_SNAPSHOT); other processes are waited for instead.
      settleCommit(turn.immediate);
    } finally {
      inTurn = false;
    }
  }
  function settleCommit(commit: () => void) {
    let failure: unknown;
    try {
      commit();
    } catch (e) {
      failure = e;
    }
    // Waiters registered during the commit (a create started in this turn) are covered by it too.
    const waiters = commitWaiters;
    commitWaiters = [];
    for (const w of waiters)
      if (failure === undefined) w.resolve();
      else w.reject(failure);
    if (failure !== undefined) throw failure;
  }

  return {
    later(write) {
      pending.push(write);
      urgent = true;
      scheduleTurn();
    },
    lazily(write) {
      pending.push(write);
      lazyTimer ??= setTimeout(() => {
        lazyTimer = undefined;
        if (pending.length === 0) return;
        urgent = true;
        scheduleTurn();
      }, lazyMs);
    },
    committed() {
      return new Promise((resolve, reject) => {
        commitWaiters.push({ resolve, reject });
        scheduleTurn();
      });
    },
    flush() {
      settleCommit(commitPending.immediate);
    },
    scheduleTurn,
  };
}
