// Expiry and idle shutdown at a fixed, injected clock (nobody sleeps), quotas per instructor checked before a
// deployment is stored and again by the executor, and the confirmation a destroy needs while trainees are assigned.
import { afterEach, describe, expect, it } from 'vitest';
import { systemActor, type Actor } from '../../server/model/audit.ts';
import type { Services } from '../../server/services.ts';
import { deployReady, labScenario, overseerServices, refOf, testClock } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ran(s: Services, job: string) {
  const r = await s.overseer.run(systemActor, job);
  if (r.state !== 'ran') throw new Error(`${job} skipped: ${r.reason}`);
  expect(r.run.result, r.run.summary).toBe('ok');
  return r.run;
}

async function powers(s: Services, id: string) {
  const sim = await s.platforms.instance('simulator');
  const out: Record<string, string> = {};
  for (const key of ['i1.db', 'i1.web', 'i1.router']) out[key] = (await sim.getMachineState(refOf(s, id, key))).power;
  return out;
}

describe('range expiry', () => {
  it('warns before the end date, stops the range at it, destroys it after the grace period, each once', async () => {
    const clock = testClock('2030-05-01T08:00:00.000Z');
    const { services: s } = overseerServices({ clock });
    cleanups.push(() => s.close());
    const id = await deployReady(s, labScenario);
    s.lifecycle.update(systemActor, id, { endsAt: '2030-05-10T17:00:00.000Z', warnHours: 24, destroyGraceHours: 48 });

    clock.set('2030-05-09T16:59:00.000Z');
    expect((await ran(s, 'expiry')).summary).toBe('1 deployment(s) with an end date; 0 acted on');

    clock.set('2030-05-09T17:00:00.000Z');
    expect((await ran(s, 'expiry')).summary).toContain(`${id}: warn`);
    const warn = s.audit.list().find((a) => a.action === 'deployment.expiry-warn')!;
    expect(warn).toMatchObject({ username: 'overseer', target: `deployment:${id}` });
    expect(warn.detail).toBe(
      'ends at 2030-05-10T17:00:00.000Z: its machines stop then, and it is destroyed at 2030-05-12T17:00:00.000Z',
    );
    clock.set('2030-05-10T09:00:00.000Z');
    expect((await ran(s, 'expiry')).summary).toContain('0 acted on');
    expect(await powers(s, id)).toEqual({ 'i1.db': 'running', 'i1.web': 'running', 'i1.router': 'running' });

    clock.set('2030-05-10T17:00:00.000Z');
    expect((await ran(s, 'expiry')).summary).toContain(`${id}: stop`);
    expect(await powers(s, id)).toEqual({ 'i1.db': 'stopped', 'i1.web': 'stopped', 'i1.router': 'stopped' });
    expect(s.audit.list().find((a) => a.action === 'deployment.stop')).toMatchObject({
      username: 'overseer',
      detail: 'expiry: the deployment ended at 2030-05-10T17:00:00.000Z; 3/3 machine(s)',
    });
    // Stopped on purpose: the health job under a fix policy does not start them again.
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    await ran(s, 'health');
    await s.overseer.settled();
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    expect((await powers(s, id))['i1.web']).toBe('stopped');

    clock.set('2030-05-12T16:59:00.000Z');
    expect((await ran(s, 'expiry')).summary).toContain('0 acted on');
    clock.set('2030-05-12T17:00:00.000Z');
    expect((await ran(s, 'expiry')).summary).toContain(`${id}: destroy`);
    for (let i = 0; i < 400 && s.deployments.get(id).state !== 'destroyed'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.deployments.get(id).state).toBe('destroyed');
    expect(
      s.audit
        .list()
        .filter((a) => a.username === 'overseer')
        .map((a) => a.action)
        .reverse(),
    ).toEqual(['deployment.expiry-warn', 'deployment.stop', 'deployment.expired', 'deployment.destroy']);
    expect((await ran(s, 'expiry')).summary).toBe('0 deployment(s) with an end date; 0 acted on');
  });

  it('destroys at once a deployment found past its end and grace, with trainees assigned (the end date confirms)', async () => {
    const clock = testClock('2030-06-01T00:00:00.000Z');
    const { services: s } = overseerServices({ clock });
    cleanups.push(() => s.close());
    const trainee = await s.users.create(systemActor, {
      username: 'ana',
      password: 'correct horse battery',
      role: 'trainee',
    });
    const id = await deployReady(s, labScenario);
    s.assignments.assign(id, { 1: trainee.id });
    s.lifecycle.update(systemActor, id, { endsAt: '2030-05-01T00:00:00.000Z', destroyGraceHours: 1 });
    expect((await ran(s, 'expiry')).summary).toContain(`${id}: destroy`);
    for (let i = 0; i < 400 && s.deployments.get(id).state !== 'destroyed'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.deployments.get(id).state).toBe('destroyed');
  });
});

describe('idle shutdown', () => {
  it('stops a deployment after its limit without page/API activity or CPU load, and not before', async () => {
    const clock = testClock('2030-07-01T08:00:00.000Z');
    const { services: s } = overseerServices({ clock });
    cleanups.push(() => s.close());
    const id = await deployReady(s, labScenario);
    s.lifecycle.update(systemActor, id, { idleShutdownMinutes: 30 });
    s.lifecycle.touch(id, clock.now());

    clock.set('2030-07-01T08:20:00.000Z');
    // A trainee compiles something: CPU load seen by the health sweep counts as use.
    s.db.$client.prepare('UPDATE sim_machines SET cpu_load = 0.8 WHERE name = ?').run(`gd-${id}-i1-web`);
    await ran(s, 'health');
    s.db.$client.prepare('UPDATE sim_machines SET cpu_load = 0 WHERE name = ?').run(`gd-${id}-i1-web`);
    expect(s.lifecycle.get(id).lastBusyAt).toBe('2030-07-01T08:20:00.000Z');

    clock.set('2030-07-01T08:49:00.000Z');
    expect((await ran(s, 'idle')).summary).toBe('1 deployment(s) with an idle shutdown; 0 stopped');
    expect((await powers(s, id))['i1.db']).toBe('running');

    clock.set('2030-07-01T08:50:00.000Z');
    expect((await ran(s, 'idle')).summary).toBe(`1 deployment(s) with an idle shutdown; 1 stopped: ${id} (3 machines)`);
    expect(await powers(s, id)).toEqual({ 'i1.db': 'stopped', 'i1.web': 'stopped', 'i1.router': 'stopped' });
    expect(s.audit.list().find((a) => a.action === 'deployment.stop')!.detail).toBe(
      'idle shutdown: no page or API activity and no CPU load for 30 min (limit 30 min); 3/3 machine(s)',
    );
    expect(s.lifecycle.get(id).idleStoppedAt).toBe('2030-07-01T08:50:00.000Z');
    // Once stopped it stays so: no second stop, and starting it again (someone comes back) rearms the limit.
    clock.set('2030-07-01T10:00:00.000Z');
    expect((await ran(s, 'idle')).summary).toContain('0 stopped');
    await s.lifecycle.powerAll(
      { userId: null, username: 'ana', ip: '10.0.0.9' },
      id,
      'start',
      'back to work',
      clock.now(),
    );
    expect(s.lifecycle.get(id).idleStoppedAt).toBeNull();
    clock.set('2030-07-01T10:29:00.000Z');
    expect((await ran(s, 'idle')).summary).toContain('0 stopped');
    clock.set('2030-07-01T10:31:00.000Z');
    expect((await ran(s, 'idle')).summary).toContain('1 stopped');
  });
});

describe('quotas and destructive confirmations', () => {
  it('refuses a deployment that would pass the owner quota before storing anything, naming the rule', async () => {
    const { services: s } = overseerServices();
    cleanups.push(() => s.close());
    const teacher = await s.users.create(systemActor, {
      username: 'teach',
      password: 'correct horse battery',
      role: 'instructor',
    });
    const actor: Actor = { userId: teacher.id, username: 'teach', ip: '10.0.0.5' };
    s.quotas.set(systemActor, teacher.id, { machines: 5, vcpus: null, memoryMb: null, deployments: 2 });
    await deployReady(s, labScenario, actor);
    const before = s.deployments.list().length;
    expect(() => s.deployments.create(actor, { yaml: labScenario, file: 'x.yaml', platform: 'simulator' })).toThrow(
      /^Unable to deploy "overseer-lab": it would pass the quota of teach: 5 machines at most \(3 in use \+ 3 asked\)$/,
    );
    expect(s.deployments.list()).toHaveLength(before);
    expect(s.quotas.usage(teacher.id)).toEqual({ machines: 3, vcpus: 3, memoryMb: 5120, deployments: 1 });
    // Someone else's deployments do not count against this quota; an owner without a quota is not limited.
    await deployReady(s, labScenario);
    s.quotas.set(systemActor, teacher.id, { machines: 6, vcpus: null, memoryMb: null, deployments: 2 });
    await deployReady(s, labScenario, actor);
    expect(() => s.deployments.create(actor, { yaml: labScenario, file: 'x.yaml', platform: 'simulator' })).toThrow(
      /6 machines at most \(6 in use \+ 3 asked\); 2 deployments at most \(2 in use \+ 1 asked\)/,
    );
    expect(s.audit.list().filter((a) => a.action === 'quota.set')).toHaveLength(2);
  });

  it('lets the executor refuse, before creating anything, a deployment whose quota was lowered since', async () => {
    const { services: s } = overseerServices();
    cleanups.push(() => s.close());
    const teacher = await s.users.create(systemActor, {
      username: 'teach',
      password: 'correct horse battery',
      role: 'instructor',
    });
    const actor: Actor = { userId: teacher.id, username: 'teach', ip: '10.0.0.5' };
    const { id } = s.deployments.create(actor, { yaml: labScenario, file: 'x.yaml', platform: 'simulator' });
    s.quotas.set(systemActor, teacher.id, { machines: null, vcpus: 2, memoryMb: null, deployments: null });
    expect(await s.runner.run(id)).toBe('failed');
    const d = s.deployments.get(id);
    expect(d.error).toBe(
      'Unable to deploy "overseer-lab": it would pass the quota of teach: 2 vCPUs at most (0 in use + 3 asked)',
    );
    expect(d.resources).toEqual([]);
  });

  it('refuses to destroy a deployment with trainees assigned unless confirmed, naming them', async () => {
    const { services: s } = overseerServices();
    cleanups.push(() => s.close());
    const ana = await s.users.create(systemActor, {
      username: 'ana',
      password: 'correct horse battery',
      role: 'trainee',
    });
    const id = await deployReady(s, labScenario);
    s.assignments.assign(id, { 1: ana.id });
    expect(() => s.deployments.destroy(systemActor, id)).toThrow(
      `Deployment ${id} has trainees assigned (instance 1: ana); destroying it ends their ranges`,
    );
    expect(s.deployments.get(id).state).toBe('ready');
    expect(await s.deployments.destroy(systemActor, id, { confirm: true })).toBe('destroyed');
    expect(s.audit.list().find((a) => a.action === 'deployment.destroy')!.detail).toBe(
      'confirmed with 1 trainee(s) assigned',
    );
  });
});
