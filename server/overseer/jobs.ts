// The overseer's jobs, in one place: name, cron schedule (node-cron syntax), what it does, how long a run may take,
// and the function that runs it. The scheduler (scheduler.ts) runs each on its schedule and never overlaps a job
// with itself; `glassdome overseer run JOB`, the Overseer page and the API run one now.
import type { OverseerJobName } from '../model/overseer.ts';
import type { OverseerContext } from './context.ts';
import { runDrift } from './jobs/drift.ts';
import { runExpiry } from './jobs/expiry.ts';
import { runHealth } from './jobs/health.ts';
import { runIdle } from './jobs/idle.ts';

export interface JobDefinition {
  name: OverseerJobName;
  schedule: string;
  description: string;
  /** A run is aborted after this long (its lease also lasts this long, so a dead process's run is taken over). */
  timeoutMs: number;
  /** Does the work and returns one line saying what it saw and did; throws when it could not do it. */
  run(ctx: OverseerContext, signal: AbortSignal): Promise<string>;
}

export const jobs: readonly JobDefinition[] = [
  {
    name: 'health',
    schedule: '* * * * *',
    description: 'power, guest agent, addresses and load of every machine, and each router read back',
    timeoutMs: 10 * 60_000,
    run: runHealth,
  },
  {
    name: 'drift',
    schedule: '*/5 * * * *',
    description: 'platform inventory against the database: missing machines, orphans, size, NIC and power drift',
    timeoutMs: 20 * 60_000,
    run: runDrift,
  },
  {
    name: 'idle',
    schedule: '30 * * * * *',
    description: 'stops deployments idle past their idle-shutdown limit',
    timeoutMs: 10 * 60_000,
    run: (ctx) => runIdle(ctx),
  },
  {
    name: 'expiry',
    schedule: '15 */5 * * * *',
    description: 'warns before, stops at and destroys after the end date of a deployment',
    timeoutMs: 10 * 60_000,
    run: (ctx) => runExpiry(ctx),
  },
];
