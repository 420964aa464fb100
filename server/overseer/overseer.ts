// The overseer: the appliance's cron-driven caretaker, in the same process. It runs the jobs of jobs.ts on their
// schedules, keeps findings, applies each platform's auto-fix policy (report only, or fix) with bounded retries,
// audits every action it takes with its reason, and tells the pages, API and CLI how each job last went.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, machineHealth, overseerPolicies } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import { overseerActor, type Actor } from '../model/audit.ts';
import {
  defaultOverseerPolicy,
  fixableFindingKinds,
  overseerJobNames,
  type Finding,
  type FixableFindingKind,
  type MachineHealth,
  type OverseerJobName,
  type OverseerPolicy,
} from '../model/overseer.ts';
import { defaultOverseerOptions, type OverseerContext, type OverseerDeps } from './context.ts';
import { createFindings } from './findings.ts';
import { fixes } from './fixes/index.ts';
import { jobs } from './jobs.ts';
import { createScheduler, type TickResult } from './scheduler.ts';
import { createWatch } from './watch.ts';
import { watchRepeatedFailures } from './seen-before.ts';

/** How long after a failed fix the next attempt may come: 1, 2, 4... minutes, at most an hour. */
function fixBackoffMs(attempts: number): number {
  return Math.min(60, 2 ** Math.max(0, attempts - 1)) * 60_000;
}

function policies(db: Db) {
  return {
    get(platformId: string): OverseerPolicy {
      const r = db.select().from(overseerPolicies).where(eq(overseerPolicies.platformId, platformId)).get();
      return r
        ? {
            platformId,
            mode: r.mode as OverseerPolicy['mode'],
            orphanGraceMinutes: r.orphanGraceMinutes,
            updatedAt: r.updatedAt,
            updatedBy: r.updatedBy,
          }
        : { platformId, ...defaultOverseerPolicy, updatedAt: null, updatedBy: null };
    },
  };
}

export function createOverseer(deps: OverseerDeps) {
  const { db, audit, events, platforms } = deps;
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? ((line: string) => console.error(`glassdome: ${line}`));
  const options = { ...defaultOverseerOptions, ...deps.options };
  const findings = createFindings(db);
  const watch = createWatch(db);
  const policy = policies(db);
  const known = db.$client.prepare<[string], number>('SELECT 1 FROM deployments WHERE id = ?').pluck();
  const inFlight = new Map<number, Promise<void>>();
  const waiting: Array<() => void> = [];
  let slots = options.fixConcurrency;

  const ctx: OverseerContext = {
    deps,
    options,
    findings,
    watch,
    policy: (id) => policy.get(id),
    now,
    log,
    publish(deploymentId, message, stepKey = null) {
      if (deploymentId && known.get(deploymentId)) events.publish(deploymentId, 'overseer', message, stepKey ?? null);
    },
    fix(open) {
      let started = 0;
      for (const f of open) {
        if (!(fixableFindingKinds as readonly string[]).includes(f.kind) || inFlight.has(f.id)) continue;
        const p = policy.get(f.platformId);
        if (p.mode !== 'fix') continue;
        if (f.fix.attempts >= options.maxFixAttempts) continue;
        if (
          f.fix.state === 'failed' &&
          f.fix.at &&
          now().getTime() < Date.parse(f.fix.at) + fixBackoffMs(f.fix.attempts)
        )
          continue;
        started++;
        const run = runFix(f, p).finally(() => inFlight.delete(f.id));
        inFlight.set(f.id, run);
      }
      return started;
    },
  };

  async function slot(): Promise<() => void> {
    if (slots > 0) {
      slots--;
      return () => release();
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
    return () => release();
  }
  function release() {
    const next = waiting.shift();
    if (next) next();
    else slots++;
  }

  /** Runs one fix: audited with the finding as its reason, recorded on the finding, published on the deployment. */
  async function runFix(f: Finding, p: OverseerPolicy): Promise<void> {
    const free = await slot();
    const target = f.machineKey
      ? `machine:${f.deploymentId}/${f.machineKey}`
      : `platform:${f.platformId}/${f.resourceName}`;
    try {
      const platform = await platforms.instance(f.platformId);
      const signal = AbortSignal.timeout(30 * 60_000);
      const outcome = await fixes[f.kind as FixableFindingKind]({ finding: f, platform, policy: p, ctx, signal }).catch(
        (e: unknown) => ({ state: 'failed' as const, detail: errorMessage(e) }),
      );
      const at = now().toISOString();
      const attempted = outcome.state !== 'waiting';
      const attempts = f.fix.attempts + (attempted ? 1 : 0);
      const gaveUp = outcome.state === 'failed' && attempts >= options.maxFixAttempts;
      const detail = gaveUp ? `${outcome.detail}; gave up after ${attempts} attempts: fix it by hand` : outcome.detail;
      findings.setFix(f.id, outcome.state, detail, at, attempted);
      if (!attempted) return;
      audit.record(overseerActor, `overseer.fix.${f.kind}`, target, `${f.message} -> ${outcome.state}: ${detail}`);
      ctx.publish(
        f.deploymentId,
        `fix (${f.kind}): ${outcome.state}: ${detail}`,
        f.machineKey && `${f.machineKey}:health`,
      );
    } catch (e) {
      log(`overseer: fixing finding ${f.id} (${f.kind}) failed: ${errorMessage(e)}`);
    } finally {
      free();
    }
  }

  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
  }

  const scheduler = createScheduler({
    db,
    now,
    log,
    jobs: jobs.map((j) => ({
      name: j.name,
      schedule: j.schedule,
      description: j.description,
      timeoutMs: j.timeoutMs,
      run: (signal: AbortSignal) => j.run(ctx, signal),
    })),
  });

  let seenBefore: ReturnType<typeof watchRepeatedFailures> | undefined;
  /** Starts saying "seen before" on failing deployments' streams (with a knowledge base); idempotent. */
  function watchFailures() {
    if (deps.knowledge && !seenBefore)
      seenBefore = watchRepeatedFailures({
        subscribe: (listener) => deps.events.subscribe('*', listener),
        publish: (id, message, stepKey) => deps.events.publish(id, 'overseer', message, stepKey),
        knowledge: deps.knowledge,
        log,
      });
    return seenBefore;
  }

  return {
    scheduler,
    /** Starts the schedules and the failure watch (main.ts, after interrupted runs are resumed). */
    start(): void {
      scheduler.start();
      watchFailures();
    },
    watchFailures,
    /** Stops the schedules, aborts running jobs and waits for fixes in flight (shutdown). */
    async stop(): Promise<void> {
      await scheduler.stop();
      await seenBefore?.stop();
      seenBefore = undefined;
      await settled();
    },
    status() {
      return scheduler.status();
    },
    runs(name: OverseerJobName, limit?: number) {
      return scheduler.runs(name, limit);
    },
    /** Runs a job now, on someone's request (audited); skipped, and said so, while a run of it is going. */
    async run(actor: Actor, name: string): Promise<TickResult> {
      if (!(overseerJobNames as readonly string[]).includes(name))
        throw new AppError(
          'invalid_input',
          `There is no overseer job "${name}"; the jobs are ${overseerJobNames.join(', ')}`,
        );
      audit.record(actor, 'overseer.run', `job:${name}`);
      return scheduler.tick(name as OverseerJobName, 'manual', actor.username);
    },
    /** Resolves once every fix started so far has ended (tests, shutdown). */
    settled,
    findings,
    policy: (platformId: string) => policy.get(platformId),
    policies(): OverseerPolicy[] {
      return platforms.list().map((p) => policy.get(p.id));
    },
    /** An admin's choice for a platform: report only, or fix; and the grace before an orphan is destroyed. */
    setPolicy(actor: Actor, platformId: string, input: { mode: OverseerPolicy['mode']; orphanGraceMinutes: number }) {
      const rec = platforms.get(platformId);
      if (input.mode !== 'report' && input.mode !== 'fix')
        throw new AppError('invalid_input', `The auto-fix mode is "report" or "fix", not "${String(input.mode)}"`);
      if (!Number.isInteger(input.orphanGraceMinutes) || input.orphanGraceMinutes < 0)
        throw new AppError('invalid_input', 'The orphan grace period is a whole number of minutes (0 or more)');
      const values = { ...input, updatedAt: now().toISOString(), updatedBy: actor.username };
      db.insert(overseerPolicies)
        .values({ platformId: rec.id, ...values })
        .onConflictDoUpdate({ target: overseerPolicies.platformId, set: values })
        .run();
      audit.record(
        actor,
        'overseer.policy',
        `platform:${rec.name}`,
        `${input.mode}, orphans destroyed after ${input.orphanGraceMinutes} min`,
      );
      return policy.get(rec.id);
    },
    /** What the last health sweep saw of each machine of a deployment. */
    health(deploymentId: string): MachineHealth[] {
      return db
        .select()
        .from(machineHealth)
        .where(eq(machineHealth.deploymentId, deploymentId))
        .all()
        .map((r) => ({
          deploymentId: r.deploymentId,
          key: r.key,
          power: r.power,
          agent: r.agent as MachineHealth['agent'],
          addresses: r.addresses,
          router: r.router as MachineHealth['router'],
          cpuLoad: r.cpuLoad,
          checkedAt: r.checkedAt,
          changedAt: r.changedAt,
        }));
    },
    /** Whether a deployment exists (for the pages' and API's 404s before asking about its findings). */
    exists(deploymentId: string): boolean {
      return (
        db.select({ id: deployments.id }).from(deployments).where(eq(deployments.id, deploymentId)).get() !== undefined
      );
    },
  };
}

export type Overseer = ReturnType<typeof createOverseer>;
