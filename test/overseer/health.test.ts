// The health job on the simulator with faults injected behind the appliance's back: a machine powered off on the
// platform is reported (report policy) or started again and audited with its reason (fix policy); a machine stopped
// on purpose is left alone; a router's firewall is read back; changes reach the deployment's event stream.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import type { Services } from '../../server/services.ts';
import { deployReady, labScenario, overseerServices, refOf, testClock, type TestClock } from './helpers.ts';

describe('the health job', () => {
  let s: Services;
  let clock: TestClock;
  let id: string;

  beforeEach(async () => {
    clock = testClock();
    ({ services: s } = overseerServices({ clock }));
    id = await deployReady(s, labScenario);
  });
  afterEach(async () => {
    await s.close();
  });

  const sim = () => s.platforms.instance('simulator');
  const simId = () => s.platforms.get('simulator').id;
  const run = async (job: string) => {
    const r = await s.overseer.run(systemActor, job);
    if (r.state !== 'ran') throw new Error(`${job} skipped: ${r.reason}`);
    expect(r.run.result, r.run.summary).toBe('ok');
    return r.run;
  };

  it('sees every machine running, the router read back, and opens no finding on a healthy range', async () => {
    const first = await run('health');
    expect(first.summary).toMatch(
      /^3 machine\(s\) of 1 deployment\(s\) on 1 platform\(s\) \(1 by inventory\): 3 running/,
    );
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    const health = s.overseer.health(id);
    expect(health.map((h) => [h.key, h.power, h.agent]).sort()).toEqual([
      ['i1.db', 'running', 'ok'],
      ['i1.router', 'running', 'ok'],
      ['i1.web', 'running', 'ok'],
    ]);
    expect(health.find((h) => h.key === 'i1.router')!.router).toBe('ok');
    expect(health.find((h) => h.key === 'i1.db')!.addresses).toContain('10.1.0.10');
  });

  it('reports a machine powered off behind its back under the report policy, and leaves it off', async () => {
    await run('health');
    await (await sim()).stopMachine(refOf(s, id, 'i1.db'), { force: true });
    clock.advance(60_000);
    const r = await run('health');
    expect(r.summary).toContain('1 new finding(s)');
    const open = s.overseer.findings.list({ state: 'open' });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({
      kind: 'power-off',
      deploymentId: id,
      machineKey: 'i1.db',
      platformId: simId(),
      firstSeenAt: '2030-01-01T08:01:00.000Z',
      fix: { state: 'none', attempts: 0 },
    });
    expect(open[0]!.message).toBe(
      `machine i1.db ("gd-${id}-i1-db") is stopped on the platform although it should be running`,
    );
    await s.overseer.settled();
    expect((await (await sim()).getMachineState(refOf(s, id, 'i1.db'))).power).toBe('stopped');
    expect(s.audit.list().map((a) => a.action)).not.toContain('overseer.fix.power-off');
    // The change and the finding are on the deployment's stream, scoped to the machine.
    const events = s.events.history(id).filter((e) => e.type === 'overseer');
    expect(events.map((e) => [e.stepKey, e.message])).toEqual([
      ['i1.db:health', 'i1.db: power running -> stopped, guest agent ok -> missing, addresses 10.1.0.10 -> none'],
      ['i1.db:health', `finding: ${open[0]!.message}`],
    ]);
    // Seen again: the same finding, not a second one.
    clock.advance(60_000);
    await run('health');
    expect(s.overseer.findings.list({ state: 'open' })).toMatchObject([
      { id: open[0]!.id, lastSeenAt: '2030-01-01T08:02:00.000Z' },
    ]);
  });

  it('starts it again under the fix policy, audits the action with its reason, and resolves the finding', async () => {
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    await run('health');
    await (await sim()).stopMachine(refOf(s, id, 'i1.web'), { force: true });
    clock.advance(60_000);
    const r = await run('health');
    expect(r.summary).toContain('1 fix(es) started');
    await s.overseer.settled();
    expect((await (await sim()).getMachineState(refOf(s, id, 'i1.web'))).power).toBe('running');
    const fix = s.audit.list().find((a) => a.action === 'overseer.fix.power-off')!;
    expect(fix).toMatchObject({ username: 'overseer', target: `machine:${id}/i1.web` });
    expect(fix.detail).toBe(
      `machine i1.web ("gd-${id}-i1-web") is stopped on the platform although it should be running -> fixed: started it again`,
    );
    expect(s.overseer.findings.list({ state: 'open' })[0]!.fix).toMatchObject({ state: 'fixed', attempts: 1 });
    clock.advance(60_000);
    const next = await run('health');
    expect(next.summary).toContain('1 resolved, 0 open');
    expect(s.overseer.findings.list({ state: 'resolved' })).toMatchObject([
      { kind: 'power-off', machineKey: 'i1.web', resolvedAt: '2030-01-01T08:02:00.000Z' },
    ]);
  });

  it('leaves a machine stopped on purpose alone, and reports one started outside the appliance', async () => {
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    await s.machines.power(systemActor, id, 'i1.db', 'stop');
    await run('health');
    await s.overseer.settled();
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    expect((await (await sim()).getMachineState(refOf(s, id, 'i1.db'))).power).toBe('stopped');
    await (await sim()).startMachine(refOf(s, id, 'i1.db'));
    await run('health');
    expect(s.overseer.findings.list({ state: 'open' }).map((f) => f.kind)).toEqual(['power-on']);
  });

  it('reports a router whose firewall was changed on it, read back through the guest channel', async () => {
    await run('health');
    // Someone flushed the router's ruleset by hand: the modelled guest loads an empty one.
    const out = await s.channel.run(
      id,
      'i1.router',
      [
        'sh',
        '-c',
        `printf '%s' '${Buffer.from('flush ruleset\n').toString('base64')}' | base64 -d > '/tmp/x.nft'\nnft -f '/tmp/x.nft'`,
      ],
      { timeoutMs: 5000 },
    );
    expect(out.exitCode).toBe(0);
    clock.advance(3 * 60_000);
    await run('health');
    const f = s.overseer.findings.list({ state: 'open' });
    expect(f.map((x) => x.kind)).toEqual(['router-firewall']);
    expect(f[0]!.message).toContain('table inet glassdome is not loaded');
    expect(s.overseer.health(id).find((h) => h.key === 'i1.router')!.router).toBe('firewall');
  });

  it('tries the guest-agent fix over SSH through the range router, as the plan and its passwords say, and gives up in bounds', async () => {
    await s.close();
    clock = testClock();
    ({ services: s } = overseerServices({
      clock,
      options: {
        agentGraceMs: 60_000,
        maxFixAttempts: 1,
        // Nothing answers SSH here: keep the attempts short.
        ssh: { connectTimeoutMs: 300, retry: { attempts: 1, baseMs: 10, maxMs: 10 } },
        guestAgentFix: { checkTimeoutMs: 200, verifyTimeoutMs: 200, retryDelay: { baseMs: 10, maxMs: 20 } },
      },
    }));
    id = await deployReady(s, labScenario);
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    await run('health');
    s.db.$client
      .prepare('UPDATE sim_machines SET address_at = ? WHERE name = ?')
      .run(Date.now() + 3600_000, `gd-${id}-i1-web`);
    clock.advance(2 * 60_000);
    await run('health');
    await s.overseer.settled();
    const [f] = s.overseer.findings.list({ state: 'open' });
    expect(f).toMatchObject({
      kind: 'guest-agent-missing',
      machineKey: 'i1.web',
      fix: { state: 'failed', attempts: 1 },
    });
    // The SSH target: the web machine's planned address, through the router's address on the appliance's side.
    const router = s.overseer.health(id).find((h) => h.key === 'i1.router')!;
    const uplink = router.addresses.find((a) => a.startsWith('203.0.113.'))!;
    expect(
      f!.fix.detail!.startsWith(
        `Unable to fix the guest agent of machine "gd-${id}-i1-web" after 3 attempts: [ssh] Unable to connect to machine "gd-${id}-i1-router" (${uplink}:22)`,
      ),
      f!.fix.detail!,
    ).toBe(true);
    expect(f!.fix.detail).toContain('gave up after 1 attempts: fix it by hand');
    const steps = s.events
      .history(id)
      .filter((e) => e.message.startsWith('guest-agent fix'))
      .map((e) => e.message.split(':').slice(0, 2).join(':'));
    expect(steps).toEqual([
      'guest-agent fix, attempt 0 check: failed',
      'guest-agent fix, attempt 1 install: failed',
      'guest-agent fix, attempt 2 install: failed',
      'guest-agent fix, attempt 3 install: failed',
    ]);
    expect(s.audit.list().find((a) => a.action === 'overseer.fix.guest-agent-missing')).toMatchObject({
      username: 'overseer',
      target: `machine:${id}/i1.web`,
    });
    // Given up: the next sweeps leave it alone.
    clock.advance(3 * 3600_000);
    await run('health');
    await s.overseer.settled();
    expect(s.overseer.findings.list({ state: 'open' })[0]!.fix.attempts).toBe(1);
  });

  it('holds a silent guest agent against a machine only after its grace period', async () => {
    await s.close();
    clock = testClock();
    ({ services: s } = overseerServices({ clock, options: { agentGraceMs: 5 * 60_000 } }));
    id = await deployReady(s, labScenario);
    await run('health');
    // The modelled guest's agent is silent until its address comes: a machine booting again looks like this.
    s.db.$client
      .prepare('UPDATE sim_machines SET address_at = ? WHERE name = ?')
      .run(Date.now() + 3600_000, `gd-${id}-i1-web`);
    clock.advance(60_000);
    await run('health');
    expect(s.overseer.health(id).find((h) => h.key === 'i1.web')!.agent).toBe('missing');
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    clock.advance(5 * 60_000);
    await run('health');
    expect(s.overseer.findings.list({ state: 'open' }).map((f) => [f.kind, f.machineKey])).toEqual([
      ['guest-agent-missing', 'i1.web'],
    ]);
  });
});
