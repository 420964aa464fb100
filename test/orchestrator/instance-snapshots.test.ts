// Instance snapshots and reset: every machine of one instance under one name, all or nothing, listed, reset to (what
// should run is started again) and deleted, on the simulator; on the Proxmox test server with ZFS storage, a reset
// past a newer snapshot is refused the way Proxmox refuses it, naming the snapshot to delete first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import type { Services } from '../../server/services.ts';
import { driverConfig, mirrorSnippets, server } from '../platforms/proxmox-harness.ts';
import { schemaMissingReason } from '../platforms/proxmox-server/index.ts';
import { deployReady, labScenario, overseerServices, refOf } from '../overseer/helpers.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const teacher = { userId: null, username: 'teacher', ip: '10.0.0.2' };

describe('instance snapshots on the simulator', () => {
  async function ready(instances = 1): Promise<{ s: Services; id: string }> {
    const { services: s } = overseerServices();
    cleanups.push(() => s.close());
    return { s, id: await deployReady(s, labScenario, systemActor, instances) };
  }

  it('snapshots every machine of one instance, lists it, and resets the range to it', async () => {
    const { s, id } = await ready(2);
    const snap = await s.snapshots.take(teacher, id, 2, 'before-exercise');
    expect(snap).toMatchObject({ instance: 2, name: 'before-exercise', createdBy: 'teacher', purpose: 'manual' });
    expect(snap.machines).toEqual(['i2.db', 'i2.router', 'i2.web']);
    const sim = await s.platforms.instance('simulator');
    for (const key of snap.machines)
      expect((await sim.listSnapshots(refOf(s, id, key))).map((x) => x.name)).toEqual(['before-exercise']);
    // Instance 1 is someone else's range: untouched.
    expect(await sim.listSnapshots(refOf(s, id, 'i1.db'))).toEqual([]);
    expect(s.snapshots.list(id).map((x) => `${x.instance}/${x.name}`)).toEqual(['2/before-exercise']);

    // The trainee broke things: a machine is off.
    await sim.stopMachine(refOf(s, id, 'i2.web'), { force: true });
    expect(await s.snapshots.reset(teacher, id, 2, 'before-exercise')).toEqual({ machines: 3 });
    expect((await sim.getMachineState(refOf(s, id, 'i2.web'))).power).toBe('running');
    const audit = s.audit.list().filter((a) => a.action.startsWith('instance.'));
    expect(audit.map((a) => [a.action, a.target, a.detail])).toEqual([
      ['instance.reset', `instance:${id}/2`, 'before-exercise: 3 machine(s)'],
      ['instance.snapshot', `instance:${id}/2`, 'before-exercise: 3 machine(s)'],
    ]);
    expect(s.events.history(id).map((e) => e.message)).toContain(
      'instance 2: reset to snapshot "before-exercise" by teacher',
    );

    await s.snapshots.remove(teacher, id, 2, 'before-exercise');
    expect(s.snapshots.list(id)).toEqual([]);
    expect(await sim.listSnapshots(refOf(s, id, 'i2.db'))).toEqual([]);
  });

  it('keeps a machine stopped on purpose stopped after a reset', async () => {
    const { s, id } = await ready();
    await s.snapshots.take(teacher, id, 1, 'clean');
    await s.machines.power(teacher, id, 'i1.db', 'stop');
    // The simulator's snapshot remembers the power the machine had (running): the reset stops it again.
    const sim = await s.platforms.instance('simulator');
    await s.snapshots.reset(teacher, id, 1, 'clean');
    expect((await sim.getMachineState(refOf(s, id, 'i1.db'))).power).toBe('stopped');
    expect((await sim.getMachineState(refOf(s, id, 'i1.web'))).power).toBe('running');
  });

  it('refuses a bad name, a name taken, an instance that does not exist, and a reset to nothing', async () => {
    const { s, id } = await ready();
    await expect(s.snapshots.take(teacher, id, 1, '1st')).rejects.toThrow('"1st" is not a snapshot name');
    await s.snapshots.take(teacher, id, 1, 'clean');
    await expect(s.snapshots.take(teacher, id, 1, 'clean')).rejects.toThrow(
      `Instance 1 of deployment ${id} already has a snapshot "clean"`,
    );
    await expect(s.snapshots.take(teacher, id, 3, 'other')).rejects.toThrow(
      `Deployment ${id} has no instance 3; it has 1`,
    );
    await expect(s.snapshots.reset(teacher, id, 1, 'nope')).rejects.toThrow(
      `Instance 1 of deployment ${id} has no snapshot "nope"`,
    );
  });

  it('takes nothing when one machine fails: the snapshots already taken are deleted again', async () => {
    const { s, id } = await ready();
    const sim = await s.platforms.instance('simulator');
    // A snapshot of that name already on one machine (taken by hand on the platform): that machine refuses.
    await sim.createSnapshot(refOf(s, id, 'i1.web'), 'clean');
    await expect(s.snapshots.take(teacher, id, 1, 'clean')).rejects.toThrow(
      /^Unable to snapshot instance 1 of deployment \w+ as "clean": i1\.web: \[simulator\] Unable to snapshot VM "gd-\w+-i1-web": snapshot "clean" already exists$/,
    );
    expect(s.snapshots.list(id)).toEqual([]);
    expect(await sim.listSnapshots(refOf(s, id, 'i1.db'))).toEqual([]);
  });
});

const pveMissing = schemaMissingReason('9.1');
if (pveMissing) console.warn(`[skip] instance snapshots on Proxmox: ${pveMissing}`);

describe.skipIf(pveMissing !== undefined)('instance snapshots on the Proxmox test server with ZFS storage', () => {
  it('refuses a reset past a newer snapshot, naming it, and resets once it is deleted', async () => {
    const pve = await server({
      storages: [{ id: 'local-zfs', type: 'zfspool', content: ['images', 'rootdir'], linkedClones: true }],
    });
    cleanups.push(() => pve.close());
    const dir = mkdtempSync(path.join(tmpdir(), 'gd-snippets-'));
    cleanups.push(mirrorSnippets(pve, dir), () => rmSync(dir, { recursive: true, force: true }));
    const { services: s } = overseerServices();
    cleanups.push(() => s.close());
    s.platforms.add(systemActor, {
      name: 'pve',
      kind: 'proxmox',
      config: driverConfig(pve, { snippets: { storage: 'local', path: dir }, storage: 'local-zfs', fullClone: true }),
      secret: pve.tokens[0]!.secret,
    });
    const { id } = s.deployments.create(systemActor, { yaml: labScenario, file: 'lab.yaml', platform: 'pve' });
    expect(await s.runner.run(id), JSON.stringify(s.deployments.get(id).steps.filter((x) => x.error))).toBe('ready');
    const disk = String(pve.state.vms.get(Number(refOf(s, id, 'i1.db').id))!.config.scsi0);
    expect(disk.startsWith('local-zfs:')).toBe(true);

    await s.snapshots.take(teacher, id, 1, 'first');
    await s.snapshots.take(teacher, id, 1, 'second');
    const refused = (await s.snapshots.reset(teacher, id, 1, 'first').catch((e: unknown) => e)) as Error;
    expect(refused).toBeInstanceOf(Error);
    expect(refused.message).toMatch(
      /^Unable to reset instance 1 of deployment \w+ to "first": i1\.\w+: Proxmox rolls back a ZFS disk only to its newest snapshot; delete "second" first \(.*can't rollback, 'first' is not most recent snapshot on 'local-zfs:vm-\d+-disk-0'.*\)/,
    );
    await s.snapshots.remove(teacher, id, 1, 'second');
    expect(await s.snapshots.reset(teacher, id, 1, 'first')).toEqual({ machines: 3 });
    const p = await s.platforms.instance('pve');
    expect((await p.getMachineState(refOf(s, id, 'i1.web'))).power).toBe('running');
    expect(pve.stats().invalid).toEqual([]);
  });
});
