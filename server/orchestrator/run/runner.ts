// The executor's public face: runs, resumes, retries, cancels and destroys deployments in this process, each claimed
// with a lease so that several processes (the server, CLI runs) never work on the same deployment at once.
import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { and, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { deployments, resources, steps } from '../../db/schema.ts';
import { AppError, errorMessage, isAppError } from '../../errors.ts';
import type { Ipam } from '../../ipam/pools.ts';
import {
  activeDeploymentStates,
  assertDeploymentTransition,
  restingDeploymentStates,
  type DeploymentState,
} from '../../model/states.ts';
import type { RetryPolicy } from '../../platforms/shared/retry.ts';
import { sleep } from '../../platforms/shared/wait.ts';
import type { Platform } from '../../platforms/platform.ts';
import type { PlatformStore } from '../../platforms/store.ts';
import type { SecretBox } from '../../secret-box.ts';
import type { EventBus } from '../event-bus.ts';
import { createCommitter } from './commit.ts';
import { prepareStatements, type RunContext } from './run-context.ts';
import { createDeployer } from './deploy.ts';
import { PriorityGate } from './gate.ts';
import { createLease } from './lease.ts';
import { createTeardown } from './teardown.ts';

export interface RunnerOptions {
  db: Db;
  events: EventBus;
  platforms: PlatformStore;
  ipam: Ipam;
  box: SecretBox;
  /** Platform calls (networks, create, start) running at once per platform; waits are not limited. */
  concurrency?: number;
  retry?: RetryPolicy;
  /** Real-time limits; a simulated platform scales them by its timeScale. */
  timeouts?: { addressMs: number; readyMs: number };
  leaseMs?: number;
  /** How long the transitions of steps that create nothing may wait for a commit (ms). */
  lazyMs?: number;
}

export function createRunner(opts: RunnerOptions) {
  const { db, events, platforms } = opts;
  const concurrency = opts.concurrency ?? 16;
  const lease = createLease(db, `${process.pid}-${crypto.randomBytes(4).toString('hex')}`, opts.leaseMs ?? 15_000);
  const owner = lease.owner;
  const runs = new Map<string, { controller: AbortController; done: Promise<DeploymentState> }>();
  const gates = new Map<string, PriorityGate>();
  const commit = createCommitter(
    db,
    {
      drain: () => {
        for (const g of gates.values()) g.drain();
      },
      canGrant: () => [...gates.values()].some((g) => g.canGrant()),
    },
    opts.lazyMs ?? 200,
  );
  const sql = prepareStatements(db);
  const now = () => new Date().toISOString();

  function stateOf(id: string): DeploymentState {
    const state = sql.deploymentState.get(id);
    if (state === undefined) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return state as DeploymentState;
  }

  function setState(id: string, to: DeploymentState, error: string | null = null) {
    const d = db.select({ state: deployments.state }).from(deployments).where(eq(deployments.id, id)).get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    if (d.state === to) return;
    assertDeploymentTransition(id, d.state as DeploymentState, to);
    const final = restingDeploymentStates.includes(to);
    db.update(deployments)
      .set({ state: to, error, updatedAt: now(), ...(final ? { finishedAt: now() } : {}) })
      .where(eq(deployments.id, id))
      .run();
    events.publish(id, 'deployment', error ? `${to}: ${error}` : to);
  }

  async function connect(
    id: string,
    platformId: string,
    orElse: 'failed' | 'destroy_failed',
  ): Promise<Platform | undefined> {
    try {
      return await platforms.instance(platformId);
    } catch (e) {
      setState(id, orElse, `the platform's driver could not be started: ${errorMessage(e)}`);
      return undefined;
    }
  }

  // Clones are slow and queue on the platform; power and network calls are quick. Separate gates keep a start
  // from waiting behind clones that are themselves only waiting for a storage slot.
  // The create lane submits at most twice the clones a platform runs at once: enough to keep its slots busy, few
  // enough that the runner's priority order, not the platform's arrival order, decides which clone runs next.
  function gateFor(platformId: string, lane: 'create' | 'control', cloneSlots?: number): PriorityGate {
    let g = gates.get(`${platformId}/${lane}`);
    if (!g)
      gates.set(
        `${platformId}/${lane}`,
        (g = new PriorityGate(
          lane === 'create' && cloneSlots ? Math.min(concurrency, 2 * cloneSlots) : concurrency,
          commit.scheduleTurn,
        )),
      );
    return g;
  }

  const rc: RunContext = {
    db,
    events,
    platforms,
    ipam: opts.ipam,
    box: opts.box,
    retry: opts.retry ?? { attempts: 8, baseMs: 1000, maxMs: 30_000 },
    timeouts: opts.timeouts ?? { addressMs: 15 * 60_000, readyMs: 45 * 60_000 },
    commit,
    sql,
    owner,
    counters: { firstBoots: 0, firstBootCpuUs: 0 },
    now,
    setState,
    stateOf,
    connect,
    gateFor,
  };
  const { deploy } = createDeployer(rc);
  const { teardown } = createTeardown(rc);
  const counters = rc.counters;

  let destroyLater: (id: string) => Promise<DeploymentState> = async () => 'destroying';

  /**
   * Follows a deployment another live process works on until it rests (after a cancel or destroy asked of it). If
   * that process dies, its claim expires and this one carries the request out itself. Bounded by the lease: a holder
   * that neither finishes nor renews lets go within one lease time.
   */
  async function waitForRest(id: string, asked: 'cancel' | 'destroy'): Promise<DeploymentState> {
    for (;;) {
      await sleep(250);
      const s = stateOf(id);
      const done =
        asked === 'destroy'
          ? s === 'destroyed' || s === 'destroy_failed'
          : !activeDeploymentStates.includes(s) || s === 'destroying';
      if (done) return s;
      const row = db
        .select({ owner: deployments.leaseOwner, until: deployments.leaseUntil })
        .from(deployments)
        .where(eq(deployments.id, id))
        .get();
      if (!row?.owner || (row.until ?? 0) < Date.now())
        return asked === 'destroy' ? api.destroy(id) : api.cancel(id).catch(() => stateOf(id));
    }
  }

  function launch(
    id: string,
    work: (controller: AbortController) => Promise<DeploymentState>,
  ): Promise<DeploymentState> {
    const existing = runs.get(id);
    if (existing) return existing.done;
    if (!lease.claim(id))
      throw new AppError('conflict', `Deployment ${id} is being worked on by another Glassdome process`, {
        hint: 'Wait for it, or stop that process; its claim expires on its own if it died.',
      });
    lease.keepAlive(() => [...runs.keys()]);
    const controller = new AbortController();
    // Every in-flight step listens on the one signal.
    setMaxListeners(0, controller.signal);
    const done = work(controller)
      .finally(() => {
        runs.delete(id);
        lease.release(id);
      })
      // A destroy another process asked for while this one ran it: this process is alive, so it tears down now.
      .then((state) => (sql.requested.get(id) === 'destroy' && state !== 'destroyed' ? destroyLater(id) : state));
    runs.set(id, { controller, done });
    return done;
  }

  const api = {
    owner,
    /** Runs (or resumes) a deployment to its end in this process, after waiting out a dead process's claim. */
    async resume(id: string): Promise<DeploymentState> {
      for (let tries = 0; ; tries++) {
        const s = stateOf(id);
        // Already at rest (another process finished it): nothing to resume.
        if (!activeDeploymentStates.includes(s)) return s;
        try {
          return await this.run(id);
        } catch (e) {
          if (!(isAppError(e) && e.code === 'conflict' && e.message.includes('another Glassdome process')) || tries > 3)
            throw e;
          const until =
            db.select({ until: deployments.leaseUntil }).from(deployments).where(eq(deployments.id, id)).get()?.until ??
            0;
          await sleep(Math.max(50, until - Date.now() + 50));
        }
      }
    },
    /** Runs (or resumes) a deployment to its end in this process, carrying out a cancel or destroy asked meanwhile. */
    run(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      const asked = sql.requested.get(id);
      if (asked === 'destroy' && s !== 'destroyed') return this.destroy(id);
      if (s === 'destroying') return launch(id, (c) => teardown(id, c));
      if (s === 'cancelling' || (asked === 'cancel' && (s === 'pending' || s === 'deploying'))) {
        sql.setRequested.run(null, id);
        if (s !== 'cancelling') setState(id, 'cancelling');
        setState(id, 'cancelled');
        return Promise.resolve('cancelled');
      }
      if (s !== 'pending' && s !== 'deploying')
        throw new AppError('conflict', `Deployment ${id} is ${s}; nothing to run`, {
          hint: s === 'failed' ? 'Retry its failed machines, or destroy it.' : undefined,
        });
      return launch(id, (c) => deploy(id, c));
    },
    /** Puts failed, skipped and cancelled steps back to pending and runs the deployment again. */
    retryFailed(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'failed' && s !== 'cancelled')
        throw new AppError('conflict', `Deployment ${id} is ${s}; only failed or cancelled deployments can be retried`);
      db.update(steps)
        .set({ state: 'pending', error: null })
        .where(and(eq(steps.deploymentId, id), inArray(steps.state, ['failed', 'skipped', 'cancelled'])))
        .run();
      setState(id, 'deploying');
      return launch(id, (c) => deploy(id, c));
    },
    /** Whether a process other than this one holds the deployment now (its lease has not expired). */
    heldElsewhere(id: string): boolean {
      const row = db
        .select({ owner: deployments.leaseOwner, until: deployments.leaseUntil })
        .from(deployments)
        .where(eq(deployments.id, id))
        .get();
      return !!row?.owner && row.owner !== owner && (row.until ?? 0) > Date.now();
    },
    /**
     * Builds machines of a built deployment again from its plan (the overseer found them gone from the platform):
     * their steps run again and create finds nothing of their name, so it makes them anew. Deploying until ready.
     */
    rebuild(id: string, machineKeys: string[]): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'ready' && s !== 'failed')
        throw new AppError('conflict', `Deployment ${id} is ${s}; only a built deployment can have machines rebuilt`);
      if (machineKeys.length === 0) return Promise.resolve(s);
      db.$client.transaction(() => {
        db.update(steps)
          .set({ state: 'pending', error: null, startedAt: null, endedAt: null })
          .where(and(eq(steps.deploymentId, id), inArray(steps.target, machineKeys)))
          .run();
        db.update(resources)
          .set({ state: 'deleted', updatedAt: now() })
          .where(and(eq(resources.deploymentId, id), inArray(resources.key, machineKeys)))
          .run();
        setState(id, 'deploying');
      })();
      return launch(id, (c) => deploy(id, c));
    },
    /**
     * Stops a deployment in progress: in-flight calls are aborted, nothing new starts; what exists stays until
     * destroy. Run by another live process, the cancel is asked of that process, and this waits for it.
     */
    async cancel(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'pending' && s !== 'deploying')
        throw new AppError('conflict', `Deployment ${id} is ${s}; only a deployment in progress can be cancelled`);
      const r = runs.get(id);
      if (r) {
        setState(id, 'cancelling');
        r.controller.abort(new AppError('conflict', 'cancelled'));
        return r.done;
      }
      // Claim first, then change state, in one transaction: a refused claim changes nothing but the request.
      const claimed = db.$client
        .transaction(() => {
          if (!lease.claim(id)) {
            sql.setRequested.run('cancel', id);
            return false;
          }
          setState(id, 'cancelling');
          setState(id, 'cancelled');
          lease.release(id);
          return true;
        })
        .immediate();
      return claimed ? 'cancelled' : waitForRest(id, 'cancel');
    },
    /**
     * Destroys everything the deployment owns, stopping its run first. Run by another live process, the destroy is
     * asked of that process (it stops and tears down), and this follows it to the end; should that process die, this
     * one takes over once its claim expires.
     */
    async destroy(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s === 'destroyed') return s;
      const r = runs.get(id);
      if (r) {
        r.controller.abort(new AppError('conflict', 'destroy requested'));
        await r.done.catch(() => undefined);
      }
      // Claim first, then change state, in one transaction: a refused claim changes nothing but the request.
      const claimed = db.$client
        .transaction(() => {
          if (!lease.claim(id)) {
            sql.setRequested.run('destroy', id);
            return false;
          }
          sql.setRequested.run(null, id);
          if (stateOf(id) !== 'destroying') setState(id, 'destroying');
          return true;
        })
        .immediate();
      if (!claimed) return waitForRest(id, 'destroy');
      return launch(id, (c) => teardown(id, c));
    },
    /** Deployments in progress whose process died (their claim expired or was never taken), not run here. */
    interrupted(): string[] {
      const t = Date.now();
      return db
        .select({ id: deployments.id })
        .from(deployments)
        .where(
          and(
            inArray(deployments.state, [...activeDeploymentStates]),
            or(isNull(deployments.leaseUntil), lt(deployments.leaseUntil, t)),
          ),
        )
        .all()
        .map((r) => r.id)
        .filter((id) => !runs.has(id));
    },
    /** Resumes every deployment whose process died mid-way (its lease expired); returns their ids. */
    resumeInterrupted(): string[] {
      const stale = api.interrupted();
      for (const id of stale) {
        events.publish(id, 'log', `resuming after an interruption (process ${owner})`);
        api.run(id).catch((e) => events.publish(id, 'log', `resume failed: ${errorMessage(e)}`));
      }
      return stale;
    },
    /** Work counters of this process since it started. */
    stats() {
      return { ...counters };
    },
    isRunning(id: string): boolean {
      return runs.has(id);
    },
    /** Aborts this process's runs and gives up their leases, for a clean shutdown (they resume on next start). */
    async shutdown(): Promise<void> {
      lease.stop();
      for (const r of runs.values()) r.controller.abort(new AppError('conflict', 'shutting down'));
      await Promise.allSettled([...runs.values()].map((r) => r.done));
    },
  };
  destroyLater = (id) => api.destroy(id);
  return api;
}

export type Runner = ReturnType<typeof createRunner>;
