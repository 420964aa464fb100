// Runs jobs on node-cron schedules, each never alongside itself: a tick that finds the previous run still going is
// skipped and says so (in this process by a flag, across processes, such as the server and `glassdome overseer run`,
// by a lease row). Every run is recorded with its start, duration and result; a job that throws is logged and
// recorded as failed, and the scheduler carries on. Tests call tick() directly with an injected clock.
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import cron, { type ScheduledTask } from 'node-cron';
import type { Db } from '../db/client.ts';
import { overseerJobs } from '../db/schema.ts';
import { errorMessage } from '../errors.ts';
import type { JobRun, JobStatus, OverseerJobName } from '../model/overseer.ts';

export interface SchedulableJob {
  name: OverseerJobName;
  schedule: string;
  description: string;
  timeoutMs: number;
  run(signal: AbortSignal): Promise<string>;
}

export type TickResult = { state: 'ran'; run: JobRun } | { state: 'skipped'; reason: string };

/** Runs kept per job; older ones are pruned as new ones are recorded. */
const keepRuns = 500;

export function createScheduler(opts: {
  db: Db;
  jobs: readonly SchedulableJob[];
  now: () => Date;
  log: (line: string) => void;
  /** This process's name in leases (default: pid and a random suffix). */
  owner?: string;
}) {
  const { db, now, log } = opts;
  const owner = opts.owner ?? `${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const byName = new Map(opts.jobs.map((j) => [j.name, j]));
  const running = new Map<OverseerJobName, { since: string; controller: AbortController; done: Promise<unknown> }>();
  let tasks: ScheduledTask[] = [];
  const c = db.$client;
  const st = {
    ensure: c.prepare('INSERT INTO overseer_jobs (name) VALUES (?) ON CONFLICT (name) DO NOTHING'),
    claim: c.prepare(
      'UPDATE overseer_jobs SET lease_owner = ?, lease_until = ?, running_since = ? WHERE name = ? AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)',
    ),
    holder: c.prepare<[string], { owner: string | null; since: string | null }>(
      'SELECT lease_owner AS owner, running_since AS since FROM overseer_jobs WHERE name = ?',
    ),
    release: c.prepare(
      'UPDATE overseer_jobs SET lease_owner = NULL, lease_until = NULL, running_since = NULL, runs = runs + 1, failures = failures + ? WHERE name = ? AND lease_owner = ?',
    ),
    skip: c.prepare(
      'UPDATE overseer_jobs SET skips = skips + 1, last_skip_at = ?, last_skip_reason = ? WHERE name = ?',
    ),
    insertRun: c.prepare(
      'INSERT INTO overseer_runs (job, started_at, ended_at, duration_ms, result, summary, trigger, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    prune: c.prepare(
      'DELETE FROM overseer_runs WHERE job = ? AND id <= (SELECT id FROM overseer_runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?)',
    ),
    runs: c.prepare<[string, number], JobRun>(
      'SELECT id, job, started_at AS startedAt, ended_at AS endedAt, duration_ms AS durationMs, result, summary, trigger, by FROM overseer_runs WHERE job = ? ORDER BY id DESC LIMIT ?',
    ),
  };
  for (const j of opts.jobs) st.ensure.run(j.name);

  function skip(name: OverseerJobName, reason: string): TickResult {
    st.skip.run(now().toISOString(), reason, name);
    log(`overseer: ${name} skipped: ${reason}`);
    return { state: 'skipped', reason };
  }

  /** Runs the job now unless a run of it is still going (here or in another process); resolves when it ends. */
  async function tick(name: OverseerJobName, trigger: JobRun['trigger'], by: string): Promise<TickResult> {
    const job = byName.get(name);
    if (!job) throw new Error(`no overseer job "${name}"`);
    const mine = running.get(name);
    if (mine) return skip(name, `the run started at ${mine.since} is still going`);
    const startedAt = now().toISOString();
    // A lease in real time: another process compares it with its own clock.
    const claimed = st.claim.run(owner, Date.now() + job.timeoutMs, startedAt, name, Date.now(), owner).changes === 1;
    if (!claimed) {
      const h = st.holder.get(name);
      return skip(name, `process ${h?.owner ?? 'unknown'} is running it since ${h?.since ?? 'unknown'}`);
    }
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new Error(
            `timed out after ${job.timeoutMs >= 1000 ? `${Math.round(job.timeoutMs / 1000)} s` : `${job.timeoutMs} ms`}`,
          ),
        ),
      job.timeoutMs,
    );
    timer.unref();
    const t0 = performance.now();
    let result: JobRun['result'] = 'ok';
    let summary: string;
    const done = job.run(controller.signal);
    running.set(name, { since: startedAt, controller, done: done.catch(() => undefined) });
    try {
      summary = await done;
    } catch (e) {
      result = 'failed';
      summary = controller.signal.aborted ? errorMessage(controller.signal.reason) : errorMessage(e);
      log(`overseer: ${name} failed: ${summary}`);
    } finally {
      clearTimeout(timer);
      running.delete(name);
    }
    const durationMs = Math.round(performance.now() - t0);
    const endedAt = now().toISOString();
    const id = Number(
      st.insertRun.run(name, startedAt, endedAt, durationMs, result, summary.slice(0, 2000), trigger, by)
        .lastInsertRowid,
    );
    st.prune.run(name, name, keepRuns);
    st.release.run(result === 'failed' ? 1 : 0, name, owner);
    return {
      state: 'ran',
      run: { id, job: name, startedAt, endedAt, durationMs, result, summary, trigger, by },
    };
  }

  return {
    owner,
    tick,
    /** Schedules every job on its cron expression. */
    start(): void {
      if (tasks.length > 0) return;
      tasks = opts.jobs.map((j) =>
        cron.schedule(
          j.schedule,
          () =>
            void tick(j.name, 'schedule', 'scheduler').catch((e: unknown) =>
              log(`overseer: ${j.name} could not run: ${errorMessage(e)}`),
            ),
          { name: `glassdome-overseer-${j.name}` },
        ),
      );
    },
    /** Stops the schedules and aborts the runs of this process, waiting for them to record their end. */
    async stop(): Promise<void> {
      for (const t of tasks) await t.destroy();
      tasks = [];
      for (const r of running.values()) r.controller.abort(new Error('the appliance is shutting down'));
      await Promise.allSettled([...running.values()].map((r) => r.done));
      // Let each tick record its end (its `finally` runs after the job's promise settles).
      while (running.size > 0) await new Promise((r) => setImmediate(r));
    },
    scheduled(): number {
      return tasks.length;
    },
    runs(name: OverseerJobName, limit = 20): JobRun[] {
      return st.runs.all(name, limit);
    },
    status(): JobStatus[] {
      const rows = new Map(
        db
          .select()
          .from(overseerJobs)
          .all()
          .map((r) => [r.name, r]),
      );
      return opts.jobs.map((j) => {
        const r = rows.get(j.name);
        const here = running.get(j.name);
        const leased = r?.leaseOwner && r.leaseUntil !== null && r.leaseUntil > Date.now();
        return {
          name: j.name,
          schedule: j.schedule,
          description: j.description,
          running: here
            ? { since: here.since, owner }
            : leased
              ? { since: r.runningSince ?? '', owner: r.leaseOwner! }
              : null,
          lastRun: st.runs.get(j.name, 1) ?? null,
          lastSkip: r?.lastSkipAt ? { at: r.lastSkipAt, reason: r.lastSkipReason ?? '' } : null,
          runs: r?.runs ?? 0,
          skips: r?.skips ?? 0,
          failures: r?.failures ?? 0,
        };
      });
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
