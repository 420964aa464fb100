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
    const done = work(controller).finally(() => {
      runs.delete(id);
      lease.release(id);
    });
    runs.set(id, { controller, done });
    return done;
  }

  return {
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
    /** Runs (or resumes) a deployment to its end in this process. */
    run(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s === 'destroying') return launch(id, (c) => teardown(id, c));
      if (s === 'cancelling') {
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
    /** Stops a running deployment: in-flight calls are aborted, nothing new starts. What exists stays until destroy. */
    async cancel(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s !== 'pending' && s !== 'deploying')
        throw new AppError('conflict', `Deployment ${id} is ${s}; only a deployment in progress can be cancelled`);
      setState(id, 'cancelling');
      const r = runs.get(id);
      if (r) {
        r.controller.abort(new AppError('conflict', 'cancelled'));
        return r.done;
      }
      // No process of ours runs it: the one that does sees `cancelling` at its next step; a dead one is resumed as cancelled.
      return 'cancelling';
    },
    /** Destroys everything the deployment owns, after stopping its run if one is in progress here. */
    async destroy(id: string): Promise<DeploymentState> {
      const s = stateOf(id);
      if (s === 'destroyed') return s;
      const r = runs.get(id);
      if (r) {
        r.controller.abort(new AppError('conflict', 'destroy requested'));
        await r.done.catch(() => undefined);
      }
      if (stateOf(id) !== 'destroying') setState(id, 'destroying');
      return launch(id, (c) => teardown(id, c));
    },
    /** Resumes every deployment whose process died mid-way (its lease expired); returns their ids. */
    resumeInterrupted(): string[] {
      const t = Date.now();
      const stale = db
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
      for (const id of stale) {
        events.publish(id, 'log', `resuming after an interruption (process ${owner})`);
        this.run(id).catch((e) => events.publish(id, 'log', `resume failed: ${errorMessage(e)}`));
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
}

export type Runner = ReturnType<typeof createRunner>;
