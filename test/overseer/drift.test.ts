// The drift job with faults injected behind the appliance's back: an orphan VM on the Proxmox test server (tagged by
// a deployment this appliance does not have) is found, waited for through its grace period, then destroyed, while a
// VM that is not Glassdome's is never touched; on the simulator a machine deleted outside the appliance is rebuilt
// from the plan, and size and NIC drift are reported. The clock is injected; nothing sleeps through a grace period.
import { afterEach, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import type { Services } from '../../server/services.ts';
import { driver, driverConfig, server, spec } from '../platforms/proxmox-harness.ts';
import { callPve, schemaMissingReason, type ProxmoxServer } from '../platforms/proxmox-server/index.ts';
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

const pveMissing = schemaMissingReason('9.1');
if (pveMissing) console.warn(`[skip] drift on the Proxmox test server: ${pveMissing}`);

describe.skipIf(pveMissing !== undefined)('the drift job on the Proxmox test server', () => {
  async function setUp(mode: 'report' | 'fix') {
    const pve: ProxmoxServer = await server();
    const clock = testClock('2030-02-01T09:00:00.000Z');
    const { services: s } = overseerServices({ clock });
    cleanups.push(
      () => pve.close(),
      () => s.close(),
    );
    const rec = s.platforms.add(systemActor, {
      name: 'pve',
      kind: 'proxmox',
      config: driverConfig(pve),
      secret: pve.tokens[0]!.secret,
    });
    s.overseer.setPolicy(systemActor, 'pve', { mode, orphanGraceMinutes: 30 });
    // What a crashed appliance left: a VM tagged with a deployment nobody here knows.
    const raw = driver(pve);
    cleanups.push(() => raw.close());
    const orphan = await raw.createMachine(spec('lost1', 'web'));
    // Someone's own VM on the same node: no tag, no gd- name.
    const auth = { headers: { Authorization: pve.tokenHeader() } };
    const clone = await callPve(pve, 'POST', '/nodes/pve/qemu/9000/clone', {
      ...auth,
      params: { newid: 700, name: 'mail-server', full: 1 },
    });
    expect(clone.status).toBe(200);
    await pve.idle();
    return { pve, clock, s, rec, orphan };
  }

  it('finds the orphan, waits out its grace period, then destroys it and audits why; the foreign VM stays', async () => {
    const { pve, clock, s, rec, orphan } = await setUp('fix');
    const first = await ran(s, 'drift');
    expect(first.summary).toContain('1 orphan(s)');
    await s.overseer.settled();
    const [f] = s.overseer.findings.list({ state: 'open' });
    expect(f).toMatchObject({
      kind: 'orphan',
      platformId: rec.id,
      deploymentId: 'lost1',
      machineKey: null,
      resourceName: 'gd-lost1-i1-web',
      externalId: orphan.id,
      firstSeenAt: '2030-02-01T09:00:00.000Z',
      fix: { state: 'waiting', attempts: 0 },
    });
    expect(f!.message).toBe(
      `VM "gd-lost1-i1-web" (${orphan.id}) is marked by its tag as deployment lost1, which this appliance does not know; no deployment owns it`,
    );
    expect(f!.fix.detail).toBe('destroyed after the grace period, at 2030-02-01T09:30:00.000Z if it is still there');
    clock.advance(29 * 60_000);
    await ran(s, 'drift');
    await s.overseer.settled();
    expect(pve.state.vms.has(Number(orphan.id))).toBe(true);
    expect(s.audit.list().filter((a) => a.action.startsWith('overseer.fix'))).toEqual([]);

    clock.advance(2 * 60_000);
    const due = await ran(s, 'drift');
    expect(due.summary).toContain('1 fix(es) started');
    await s.overseer.settled();
    expect(pve.state.vms.has(Number(orphan.id))).toBe(false);
    expect([...pve.state.vms.values()].map((v) => v.config.name)).toContain('mail-server');
    const audit = s.audit.list().find((a) => a.action === 'overseer.fix.orphan')!;
    expect(audit).toMatchObject({ username: 'overseer', target: `platform:${rec.id}/gd-lost1-i1-web` });
    expect(audit.detail).toMatch(/no deployment owns it -> fixed: destroyed after 30 min of grace$/);

    clock.advance(60_000);
    const after = await ran(s, 'drift');
    expect(after.summary).toContain('1 resolved');
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    // Every request the overseer sent was valid per the PVE 9.1 schema.
    expect(pve.stats().invalid).toEqual([]);
  });

  it('only reports the orphan under the report policy, however long it stays', async () => {
    const { pve, clock, s, orphan } = await setUp('report');
    await ran(s, 'drift');
    clock.advance(24 * 3600_000);
    await ran(s, 'drift');
    await s.overseer.settled();
    expect(pve.state.vms.has(Number(orphan.id))).toBe(true);
    expect(s.overseer.findings.list({ state: 'open' })).toMatchObject([
      { kind: 'orphan', fix: { state: 'none' }, lastSeenAt: '2030-02-02T09:00:00.000Z' },
    ]);
  });
});

describe('the drift job on the simulator', () => {
  async function ready(mode: 'report' | 'fix') {
    const { services: s, clock } = overseerServices();
    cleanups.push(() => s.close());
    s.overseer.setPolicy(systemActor, 'simulator', { mode, orphanGraceMinutes: 60 });
    const id = await deployReady(s, labScenario);
    return { s, clock, id, sim: await s.platforms.instance('simulator') };
  }

  it('rebuilds from the plan a machine deleted behind the appliance, and the deployment is ready again', async () => {
    const { s, id, sim } = await ready('fix');
    const before = refOf(s, id, 'i1.web');
    await sim.destroyMachine(before);
    const r = await ran(s, 'drift');
    expect(r.summary).toContain('1 missing');
    await s.overseer.settled();
    expect(s.deployments.get(id).state).toBe('ready');
    const after = refOf(s, id, 'i1.web');
    expect(after.name).toBe(before.name);
    // Its steps ran a second time: created, started, addressed and ready again (a VMID may be reused).
    const creates = s.events.history(id).filter((e) => e.stepKey === 'i1.web:create' && e.type === 'step.finished');
    expect(creates).toHaveLength(2);
    expect((await sim.getMachineState(after)).power).toBe('running');
    const audit = s.audit.list().find((a) => a.action === 'overseer.fix.machine-missing')!;
    expect(audit.detail).toBe(
      `machine i1.web ("gd-${id}-i1-web", ${before.id}) is no longer on the platform -> fixed: built i1.web again from the plan`,
    );
    expect((await ran(s, 'drift')).summary).toContain('0 missing');
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
  });

  it('reports a machine resized and a NIC moved outside the appliance, and fixes neither', async () => {
    const { s, id } = await ready('fix');
    s.db.$client.prepare('UPDATE sim_machines SET memory_mb = 4096 WHERE name = ?').run(`gd-${id}-i1-db`);
    const web = s.db.$client
      .prepare('SELECT nics FROM sim_machines WHERE name = ?')
      .pluck()
      .get(`gd-${id}-i1-web`) as string;
    const nics = JSON.parse(web) as Array<{ network: string; mac: string }>;
    const planned = nics[1]!.network;
    nics[1]!.network = 'vmbr0.999';
    s.db.$client
      .prepare('UPDATE sim_machines SET nics = ? WHERE name = ?')
      .run(JSON.stringify(nics), `gd-${id}-i1-web`);
    await ran(s, 'drift');
    await s.overseer.settled();
    const drift = s.overseer.findings.list({ state: 'open' }).map((f) => [f.machineKey, f.message, f.fix.state]);
    expect(drift.sort()).toEqual([
      ['i1.db', `machine i1.db ("gd-${id}-i1-db") differs from its plan: memory 4096 MiB, planned 2048 MiB`, 'none'],
      [
        'i1.web',
        `machine i1.web ("gd-${id}-i1-web") differs from its plan: NIC 1 on network vmbr0.999, planned ${planned}`,
        'none',
      ],
    ]);
  });

  it("counts a machine left behind by a destroyed deployment as an orphan, naming that deployment's end", async () => {
    const { s, id, sim } = await ready('report');
    await s.deployments.destroy(systemActor, id);
    // A platform that lost a delete: the VM comes back under its old name.
    await sim.createMachine({
      deploymentId: id,
      name: `gd-${id}-i1-db`,
      hostname: 'db',
      os: 'debian-12',
      cpus: 1,
      memoryMb: 2048,
      diskGb: 20,
      nics: [],
    });
    await ran(s, 'drift');
    expect(s.overseer.findings.list({ state: 'open' }).map((f) => f.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^VM "gd-${id}-i1-db" \\(\\d+\\) is marked by its tag as deployment ${id}, which was destroyed; no deployment owns it$`,
        ),
      ),
    ]);
  });
});
