// The scheduler: a job never runs alongside itself (in one process or across two sharing the database), a slow run
// makes the next tick skip and say so, a job that throws is logged and recorded and the scheduler carries on, and
// node-cron schedules every job. Ticks are called directly with an injected clock: nothing sleeps.
import cron from 'node-cron';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb } from '../../server/db/client.ts';
import type { OverseerJobName } from '../../server/model/overseer.ts';
import { createScheduler, type SchedulableJob } from '../../server/overseer/scheduler.ts';
import { testClock } from './helpers.ts';

function gate() {
  let open!: (summary: string) => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<string>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

function job(name: OverseerJobName, run: SchedulableJob['run'], schedule = '* * * * *'): SchedulableJob {
  return { name, schedule, description: `${name} for the test`, timeoutMs: 60_000, run };
}

describe('the overseer scheduler', () => {
  let stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const s of stops) await s();
    stops = [];
  });

  it('skips a tick while the previous run is still going, says so, and runs again once it has ended', async () => {
    const db = openDb(':memory:');
    const clock = testClock('2030-03-01T10:00:00.000Z');
    const logs: string[] = [];
    let calls = 0;
    const slow = gate();
    const s = createScheduler({
      db,
      now: clock.now,
      log: (l) => logs.push(l),
      jobs: [job('health', async () => (++calls === 1 ? slow.promise : 'second run'))],
    });
    const first = s.tick('health', 'schedule', 'scheduler');
    clock.advance(60_000);
    const second = await s.tick('health', 'schedule', 'scheduler');
    expect(second).toEqual({
      state: 'skipped',
      reason: 'the run started at 2030-03-01T10:00:00.000Z is still going',
    });
    expect(calls).toBe(1);
    expect(logs).toEqual(['overseer: health skipped: the run started at 2030-03-01T10:00:00.000Z is still going']);
    const during = s.status()[0]!;
    expect(during.running).toEqual({ since: '2030-03-01T10:00:00.000Z', owner: s.owner });
    expect(during.skips).toBe(1);
    expect(during.lastSkip).toEqual({
      at: '2030-03-01T10:01:00.000Z',
      reason: 'the run started at 2030-03-01T10:00:00.000Z is still going',
    });

    slow.open('first run');
    const r1 = await first;
    expect(r1.state).toBe('ran');
    if (r1.state === 'ran')
      expect(r1.run).toMatchObject({
        job: 'health',
        startedAt: '2030-03-01T10:00:00.000Z',
        endedAt: '2030-03-01T10:01:00.000Z',
        result: 'ok',
        summary: 'first run',
        trigger: 'schedule',
      });
    const r3 = await s.tick('health', 'manual', 'teacher');
    expect(r3).toMatchObject({ state: 'ran', run: { summary: 'second run', trigger: 'manual', by: 'teacher' } });
    const after = s.status()[0]!;
    expect(after).toMatchObject({ running: null, runs: 2, skips: 1, failures: 0 });
    expect(after.lastRun).toMatchObject({ summary: 'second run', result: 'ok' });
    expect(s.runs('health').map((r) => r.summary)).toEqual(['second run', 'first run']);
  });

  it('records a job that throws as failed, logs it, and keeps running the others and itself', async () => {
    const db = openDb(':memory:');
    const logs: string[] = [];
    let fail = true;
    const s = createScheduler({
      db,
      now: testClock().now,
      log: (l) => logs.push(l),
      jobs: [
        job('drift', async () => {
          if (fail) throw new Error('[proxmox] Unable to read the inventory of node "pve": 596 Connection timed out');
          return 'recovered';
        }),
        job('idle', async () => 'idle ran'),
      ],
    });
    const r = await s.tick('drift', 'schedule', 'scheduler');
    expect(r).toMatchObject({
      state: 'ran',
      run: {
        result: 'failed',
        summary: '[proxmox] Unable to read the inventory of node "pve": 596 Connection timed out',
      },
    });
    expect(logs).toEqual([
      'overseer: drift failed: [proxmox] Unable to read the inventory of node "pve": 596 Connection timed out',
    ]);
    expect(await s.tick('idle', 'schedule', 'scheduler')).toMatchObject({ run: { result: 'ok', summary: 'idle ran' } });
    fail = false;
    expect(await s.tick('drift', 'schedule', 'scheduler')).toMatchObject({
      run: { result: 'ok', summary: 'recovered' },
    });
    expect(s.status().find((j) => j.name === 'drift')).toMatchObject({ runs: 2, failures: 1, running: null });
  });

  it('lets only one process run a job: another scheduler on the same database skips it and names the holder', async () => {
    const db = openDb(':memory:');
    const slow = gate();
    const a = createScheduler({
      db,
      now: testClock().now,
      log: () => {},
      owner: 'server-1',
      jobs: [job('health', () => slow.promise)],
    });
    const logs: string[] = [];
    const b = createScheduler({
      db,
      now: testClock().now,
      log: (l) => logs.push(l),
      owner: 'cli-2',
      jobs: [job('health', async () => 'should not run')],
    });
    const running = a.tick('health', 'schedule', 'scheduler');
    expect(await b.tick('health', 'manual', 'cli:root')).toEqual({
      state: 'skipped',
      reason: 'process server-1 is running it since 2030-01-01T08:00:00.000Z',
    });
    expect(b.status()[0]!.running).toEqual({ since: '2030-01-01T08:00:00.000Z', owner: 'server-1' });
    slow.open('done');
    await running;
    expect(await b.tick('health', 'manual', 'cli:root')).toMatchObject({
      state: 'ran',
      run: { summary: 'should not run' },
    });
  });

  it('aborts a run that passes its time limit and records why', async () => {
    const db = openDb(':memory:');
    const s = createScheduler({
      db,
      now: testClock().now,
      log: () => {},
      jobs: [
        {
          ...job(
            'expiry',
            (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
          ),
          timeoutMs: 30,
        },
      ],
    });
    expect(await s.tick('expiry', 'schedule', 'scheduler')).toMatchObject({
      state: 'ran',
      run: { result: 'failed', summary: 'timed out after 30 ms' },
    });
  });

  it('schedules every job with node-cron on start and removes the schedules on stop', async () => {
    const db = openDb(':memory:');
    const before = cron.getTasks().size;
    const s = createScheduler({
      db,
      now: testClock().now,
      log: () => {},
      jobs: [job('health', async () => 'x'), job('drift', async () => 'y', '*/5 * * * *')],
    });
    stops.push(() => s.stop());
    s.start();
    s.start(); // idempotent
    expect(s.scheduled()).toBe(2);
    const mine = [...cron.getTasks().values()].filter((t) => t.name?.startsWith('glassdome-overseer-'));
    expect(mine.map((t) => [t.name, t.getPattern()]).sort()).toEqual([
      ['glassdome-overseer-drift', '*/5 * * * *'],
      ['glassdome-overseer-health', '* * * * *'],
    ]);
    expect(mine.every((t) => t.getNextRun() !== null)).toBe(true);
    await s.stop();
    expect(s.scheduled()).toBe(0);
    expect(cron.getTasks().size).toBe(before);
  });
});
