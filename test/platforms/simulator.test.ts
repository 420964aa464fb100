import { describe, expect, it } from 'vitest';
import { openDb } from '../../server/db/client.ts';
import { AppError } from '../../server/errors.ts';
import {
  createSimulatorPlatform,
  simulatedSeconds,
  simulatorConfigSchema,
  type SimulatorConfigInput,
} from '../../server/platforms/simulator.ts';
import type { MachineSpec } from '../../server/platforms/platform.ts';
import { testPlatform } from './conformance.ts';

testPlatform(
  'simulator',
  async () => ({
    platform: createSimulatorPlatform({ speed: 2000 }, { db: openDb(':memory:'), platformId: 'sim' }),
    deploymentId: 'conf1',
    machine: { os: 'ubuntu-22.04' },
    waitMs: 10_000,
  }),
  {
    'says how first-boot data reaches its guests, checked now':
      'absent by design: the simulator takes every first-boot document itself (it simulates cloud-init)',
    'runs a program in the guest: exit code and output, a non-zero exit being a result':
      'the simulator has no guest to run programs in (supports.guestExec is false)',
    'waits for the planned addresses it is given, and names those that never come':
      "the simulator's waitForAddress does not check expect yet; it reports the planned addresses it was created with",
  },
);

const spec = (name: string, extra: Partial<MachineSpec> = {}): MachineSpec => ({
  deploymentId: 'd1',
  name: `gd-d1-i1-${name}`,
  hostname: name,
  os: 'ubuntu-22.04',
  cpus: 1,
  memoryMb: 1024,
  diskGb: 10,
  nics: [{ network: { id: 'vmbr0.5', name: 'lan' }, mac: '02:00:00:00:00:01', ip: '10.0.0.10' }],
  ...extra,
});

const sim = (config: SimulatorConfigInput, db = openDb(':memory:')) =>
  createSimulatorPlatform(config, { db, platformId: 'sim' });

describe('simulator', () => {
  it('draws the same durations for the same seed and machine, whatever the order of calls', () => {
    const c = simulatorConfigSchema.parse({ seed: 7 });
    const a = simulatedSeconds(c, 'web', 'clone');
    expect(simulatedSeconds(c, 'db', 'clone')).not.toBe(a);
    expect(simulatedSeconds(c, 'web', 'clone')).toBe(a);
    expect(a).toBeGreaterThanOrEqual(20);
    expect(a).toBeLessThanOrEqual(40);
    expect(simulatedSeconds(simulatorConfigSchema.parse({ seed: 8 }), 'web', 'clone')).not.toBe(a);
  });

  it('queues clones beyond the slots of a storage instead of running them at once', async () => {
    const p = sim({ speed: 1000, cloneSlotsPerStorage: 2, durations: { cloneSec: [50, 50] } });
    const t0 = Date.now();
    await Promise.all([1, 2, 3, 4].map((i) => p.createMachine(spec(`m${i}`))));
    const elapsed = Date.now() - t0;
    // 4 clones of 50 ms on 2 slots take two rounds.
    expect(elapsed).toBeGreaterThanOrEqual(95);
  });

  it('fails excess clones with a Proxmox-style storage lock timeout when configured to', async () => {
    const p = sim({
      speed: 1000,
      cloneSlotsPerStorage: 1,
      onCloneBusy: 'fail',
      lockTimeoutSec: 10,
      durations: { cloneSec: [60, 60] },
    });
    const results = await Promise.allSettled([p.createMachine(spec('a')), p.createMachine(spec('b'))]);
    expect(results[0]!.status).toBe('fulfilled');
    const r = results[1] as PromiseRejectedResult;
    expect(r.status).toBe('rejected');
    expect(r.reason).toBeInstanceOf(AppError);
    expect((r.reason as AppError).retryable).toBe(true);
    expect((r.reason as AppError).message).toMatch(/can't lock file .* got timeout/);
  });

  it('refuses a placement beyond its memory capacity, naming what is free', async () => {
    const p = sim({ speed: 5000, capacity: { cpus: 64, memoryMb: 3000 } });
    await p.createMachine(spec('a', { memoryMb: 2048 }));
    await expect(p.createMachine(spec('b', { memoryMb: 2048 }))).rejects.toThrow(
      /not enough capacity \(63 vCPUs and 952 MiB free/,
    );
  });

  it('always fails a machine named in failMachines, as a permanent error', async () => {
    const p = sim({ speed: 5000, faults: { failMachines: ['db'] } });
    const e = await p.createMachine(spec('db')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).retryable).toBe(false);
    await expect(p.createMachine(spec('web'))).resolves.toMatchObject({ name: 'gd-d1-i1-web' });
  });

  it('injects transient faults at about the configured rate, reproducibly', async () => {
    const run = async () => {
      const p = sim({ speed: 100000, seed: 3, faults: { transient: 0.3 } });
      const outcomes = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => p.createMachine(spec(`m${i}`))));
      return outcomes.map((o) => o.status);
    };
    const a = await run();
    const failures = a.filter((s) => s === 'rejected').length;
    expect(failures).toBeGreaterThan(35);
    expect(failures).toBeLessThan(85);
    expect(await run()).toEqual(a);
  });

  it('keeps its inventory across a restart, and a clone in progress completes on time', async () => {
    const db = openDb(':memory:');
    const first = sim({ speed: 1000, durations: { cloneSec: [80, 80] } }, db);
    const pending = first.createMachine(spec('web'));
    await new Promise((r) => setTimeout(r, 20));
    // The first process is gone; a new one on the same database finds the machine and waits for the clone.
    const second = sim({ speed: 1000, durations: { cloneSec: [80, 80] } }, db);
    const ref = await second.createMachine(spec('web'));
    expect(ref).toEqual(await pending);
    expect(await second.listOwned('d1')).toEqual([{ kind: 'machine', id: ref.id, name: 'gd-d1-i1-web' }]);
  });

  it('refuses a second network on a VLAN that is already in use', async () => {
    const p = sim({});
    await p.ensureNetwork({
      deploymentId: 'd1',
      name: 'gd-d1-i1-a',
      kind: 'isolated',
      cidr: '10.0.0.0/24',
      gateway: '10.0.0.1',
      vlan: 100,
    });
    await expect(
      p.ensureNetwork({
        deploymentId: 'd2',
        name: 'gd-d2-i1-a',
        kind: 'isolated',
        cidr: '10.0.0.0/24',
        gateway: '10.0.0.1',
        vlan: 100,
      }),
    ).rejects.toThrow(/VLAN 100 already carries network "gd-d1-i1-a"/);
  });

  it('reports its configured capacity less what its machines take', async () => {
    const p = sim({ speed: 5000, capacity: { cpus: 64, memoryMb: 8192 } });
    expect(await p.capacity!()).toMatchObject({ cpus: 64, memoryMb: 8192 });
    await p.createMachine(spec('a', { cpus: 4, memoryMb: 2048 }));
    await p.createMachine(spec('b', { cpus: 2, memoryMb: 1024 }));
    const c = await p.capacity!();
    expect(c).toMatchObject({ cpus: 58, memoryMb: 5120 });
    expect(c.storageGb).toBeUndefined();
    expect(c.detail).toMatch(/64 vCPUs and 8192 MiB, less 6 vCPUs and 3072 MiB/);
  });

  it('times out waiting for an address that comes later than the bound', async () => {
    const p = sim({ speed: 1000, durations: { bootSec: [60, 60], powerSec: [0, 0] } });
    const ref = await p.createMachine(spec('web'));
    await p.startMachine(ref);
    await expect(p.waitForAddress(ref, { timeoutMs: 10 })).rejects.toMatchObject({ code: 'timeout' });
    await expect(p.waitForAddress(ref, { timeoutMs: 1000 })).resolves.toEqual(['10.0.0.10']);
  });
});
