// Testing mode on the simulator, end to end: entering snapshots the instance and limits its router's egress (applied
// through the guest channel and read back), the health job holds the router to it and reloads it after a reboot
// (fix policy), leaving removes it and can revert to the snapshot; every switch is audited with who and the list.
import { afterEach, describe, expect, it } from 'vitest';
import { checkTestingRuleset, rulesetReadback } from '../../server/agents/lab-router.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { Services } from '../../server/services.ts';
import { deployReady, labScenario, overseerServices, refOf, type TestClock } from '../overseer/helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const teacher = { userId: null, username: 'teacher', ip: '10.0.0.2' };
const allow = { addresses: ['192.0.2.10', '198.51.100.0/24'], domains: ['deb.debian.org'] };

async function ready(): Promise<{ s: Services; id: string; clock: TestClock }> {
  const { services: s, clock } = overseerServices();
  cleanups.push(() => s.close());
  return { s, id: await deployReady(s, labScenario, systemActor, 2), clock };
}

async function ruleset(s: Services, id: string, key: string): Promise<string> {
  const out = await s.channel.run(id, key, rulesetReadback, { timeoutMs: 5000 });
  expect(out.exitCode).toBe(0);
  return out.stdout;
}

describe('testing mode', () => {
  it('snapshots the instance, limits its router to the allow-list, verifies it, and audits who switched it', async () => {
    const { s, id } = await ready();
    const state = await s.testing.enter(teacher, id, 1, allow);
    expect(state).toMatchObject({
      state: 'on',
      allow: { addresses: ['192.0.2.10/32', '198.51.100.0/24'], domains: ['deb.debian.org'] },
      switchedBy: 'teacher',
      snapshot: expect.stringMatching(/^testing-\d{14}$/),
    });
    expect(state.verified).toBe(
      'egress through nic2 limited to 2 address(es) and 1 name(s); firewall read back through the guest agent and matches',
    );
    expect(s.snapshots.list(id, 1)).toMatchObject([{ name: state.snapshot, purpose: 'testing', createdBy: 'teacher' }]);
    const router = s.deployments.get(id).plan.machines.find((m) => m.key === 'i1.router')!;
    expect(checkTestingRuleset(router, allow, await ruleset(s, id, 'i1.router'))).toEqual([]);
    // Instance 2 is untouched.
    const other = s.deployments.get(id).plan.machines.find((m) => m.key === 'i2.router')!;
    expect(checkTestingRuleset(other, null, await ruleset(s, id, 'i2.router'))).toEqual([]);
    expect(s.testing.list(id).map((t) => t.state)).toEqual(['on', 'off']);
    const audit = s.audit.list().find((a) => a.action === 'instance.testing.on')!;
    expect(audit).toMatchObject({ username: 'teacher', ip: '10.0.0.2', target: `instance:${id}/1` });
    expect(audit.detail).toBe(`allow 192.0.2.10/32, 198.51.100.0/24; names deb.debian.org; snapshot ${state.snapshot}`);

    // A new allow-list while in testing mode: applied again, no new snapshot.
    const changed = await s.testing.enter(teacher, id, 1, { addresses: ['203.0.113.7'], domains: [] });
    expect(changed.snapshot).toBe(state.snapshot);
    expect(checkTestingRuleset(router, changed.allow, await ruleset(s, id, 'i1.router'))).toEqual([]);
    expect(s.audit.list()[0]!.action).toBe('instance.testing.allow');
  });

  it('is held on the router by the health job, which reloads it after the router rebooted (fix policy)', async () => {
    const { s, id, clock } = await ready();
    s.overseer.setPolicy(systemActor, 'simulator', { mode: 'fix', orphanGraceMinutes: 60 });
    await s.testing.enter(teacher, id, 1, allow);
    const ran = async () => {
      const r = await s.overseer.run(systemActor, 'health');
      expect(r.state).toBe('ran');
      await s.overseer.settled();
    };
    await ran();
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    // The router rebooted: the egress block is loaded at runtime, so it is gone; the scenario's firewall is back.
    const sim = await s.platforms.instance('simulator');
    await sim.stopMachine(refOf(s, id, 'i1.router'), { force: true });
    await sim.startMachine(refOf(s, id, 'i1.router'));
    await sim.waitForReady(refOf(s, id, 'i1.router'), { timeoutMs: 5000 });
    clock.advance(3 * 60_000);
    await ran(); // the router came back: it is running again, within the grace period
    clock.advance(3 * 60_000);
    await ran();
    const fix = s.audit.list().find((a) => a.action === 'overseer.fix.testing-mode-missing')!;
    expect(fix.detail).toMatch(
      /table inet glassdome_testing \(testing mode's egress block\) is not loaded -> fixed: egress through nic2 limited to 2 address\(es\) and 1 name\(s\); firewall read back through the guest agent and matches$/,
    );
    const router = s.deployments.get(id).plan.machines.find((m) => m.key === 'i1.router')!;
    expect(checkTestingRuleset(router, allow, await ruleset(s, id, 'i1.router'))).toEqual([]);
    clock.advance(60_000);
    await ran();
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
  });

  it('leaves by removing the block, reverting to the snapshot when asked, and dropping the snapshot', async () => {
    const { s, id } = await ready();
    const on = await s.testing.enter(teacher, id, 1, allow);
    const sim = await s.platforms.instance('simulator');
    await sim.stopMachine(refOf(s, id, 'i1.web'), { force: true });
    const off = await s.testing.leave(teacher, id, 1, { revert: true });
    expect(off).toMatchObject({ state: 'off', snapshot: null, switchedBy: 'teacher' });
    expect(off.verified).toBe(
      "egress back to the scenario's rules; firewall read back through the guest agent and matches",
    );
    expect((await sim.getMachineState(refOf(s, id, 'i1.web'))).power).toBe('running');
    expect(s.snapshots.list(id)).toEqual([]);
    expect(await sim.listSnapshots(refOf(s, id, 'i1.db'))).toEqual([]);
    const router = s.deployments.get(id).plan.machines.find((m) => m.key === 'i1.router')!;
    await sim.waitForReady(refOf(s, id, 'i1.router'), { timeoutMs: 5000 });
    expect(checkTestingRuleset(router, null, await ruleset(s, id, 'i1.router'))).toEqual([]);
    expect(
      s.audit
        .list()
        .filter((a) => a.action.startsWith('instance.'))
        .map((a) => `${a.action} ${a.detail}`),
    ).toEqual([
      `instance.testing.off reverted to ${on.snapshot}`,
      `instance.snapshot-delete ${on.snapshot}`,
      `instance.reset ${on.snapshot}: 3 machine(s)`,
      `instance.testing.on allow 192.0.2.10/32, 198.51.100.0/24; names deb.debian.org; snapshot ${on.snapshot}`,
      `instance.snapshot ${on.snapshot}: 3 machine(s)`,
    ]);
    await expect(s.testing.leave(teacher, id, 1, { revert: false })).rejects.toThrow(
      `Instance 1 of deployment ${id} is not in testing mode`,
    );
  });

  it('refuses a bad allow-list before anything, and undoes a switch whose router cannot be changed', async () => {
    const { s, id } = await ready();
    await expect(s.testing.enter(teacher, id, 1, { addresses: ['not-an-ip'], domains: [] })).rejects.toThrow(
      'Unable to use the testing-mode allow-list: "not-an-ip" is not an IPv4 address or CIDR',
    );
    expect(s.snapshots.list(id)).toEqual([]);
    const sim = await s.platforms.instance('simulator');
    await sim.stopMachine(refOf(s, id, 'i1.router'), { force: true });
    await expect(s.testing.enter(teacher, id, 1, allow)).rejects.toThrow(
      /Unable to run a command in VM "gd-\w+-i1-router": it is not running/,
    );
    expect(s.testing.state(id, 1).state).toBe('off');
    expect(s.snapshots.list(id)).toEqual([]);
    expect(s.audit.list()[0]).toMatchObject({ action: 'instance.testing.failed', username: 'teacher' });
  });
});
