import { afterEach, describe, expect, it } from 'vitest';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import type { Services } from '../../server/services.ts';
import { testServices, twoTierScenario } from './helpers.ts';
import { systemActor } from '../../server/model/audit.ts';

let s: Services;
afterEach(async () => s?.close());

const deploy = (yaml = twoTierScenario, instances = 1) =>
  createDeployment(s, { yaml, file: 'two-tier.yaml', platform: 'simulator', instances });
const stepOf = (id: string, key: string) => s.deployments.get(id).steps.find((x) => x.key === key)!;

describe('executor', () => {
  it('deploys every machine of every instance and records platform ids and addresses', async () => {
    s = testServices();
    const { id } = deploy(twoTierScenario, 2);
    expect(await s.runner.run(id)).toBe('ready');
    const machines = machineStatus(s.deployments.get(id));
    expect(machines).toHaveLength(2 * 5);
    for (const m of machines) {
      expect(m.state).toBe('ready');
      expect(m.platformId).toMatch(/^\d+$/);
      expect(m.addresses.length).toBeGreaterThan(0);
    }
    const web = machines.find((m) => m.key === 'i2.web-1')!;
    expect(web.addresses).toEqual(expect.arrayContaining(web.plannedAddresses));
    expect(await s.platforms.instance('simulator').then((p) => p.listOwned(id))).toHaveLength(10 + 4);
  });

  it('starts a machine only after everything it depends on is ready, and no later than needed', async () => {
    s = testServices();
    const { id } = deploy();
    await s.runner.run(id);
    const dbReady = stepOf(id, 'i1.db:ready').endedAt!;
    const routerReady = stepOf(id, 'i1.router:ready').endedAt!;
    const webStart = stepOf(id, 'i1.web-1:start').startedAt!;
    expect(webStart >= dbReady && webStart >= routerReady).toBe(true);
    // The web disk was cloned while db was still booting: creation does not wait on dependencies.
    expect(stepOf(id, 'i1.web-1:create').startedAt! < dbReady).toBe(true);
  });

  it('fails the dependants of a failing machine, finishes the independent ones, and says what failed and why', async () => {
    s = testServices({ faults: { failMachines: ['db'] } });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('failed');
    const view = s.deployments.get(id);
    expect(view.error).toMatch(/1 step\(s\) failed \(i1\.db:create\); 9 skipped/);
    const byKey = Object.fromEntries(machineStatus(view).map((m) => [m.key, m]));
    expect(byKey['i1.db']!.state).toBe('failed');
    expect(byKey['i1.db']!.steps[0]!.error).toMatch(/Unable to clone VM "gd-.*-i1-db": template disk is unreadable/);
    expect(byKey['i1.web-1']!.state).toBe('skipped');
    expect(byKey['i1.kali']!.state).toBe('ready');
    expect(byKey['i1.router']!.state).toBe('ready');
  });

  it('completes a deployment with 10% injected transient faults by retrying them', async () => {
    s = testServices({ seed: 11, faults: { transient: 0.1 } });
    const { id } = deploy(twoTierScenario, 4);
    expect(await s.runner.run(id)).toBe('ready');
    const retries = s.events.history(id).filter((e) => e.type === 'step.retry');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]!.message).toMatch(/596 Connection timed out; retrying/);
    // Each retry is stored after the start of the attempt that failed, although that start may be written lazily.
    const stored = s.events.history(id);
    for (const r of retries)
      expect(stored.findIndex((e) => e.type === 'step.started' && e.stepKey === r.stepKey)).toBeLessThan(
        stored.indexOf(stored.find((e) => e.id === r.id)!),
      );
    const owned = await (await s.platforms.instance('simulator')).listOwned(id);
    expect(owned.filter((o) => o.kind === 'machine')).toHaveLength(4 * 5);
  });

  it('retries the failed machines once the cause is gone', async () => {
    s = testServices({ faults: { failMachines: ['db'] } });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('failed');
    s.platforms.update(systemActor, 'simulator', { config: { speed: 2000 } });
    expect(await s.runner.retryFailed(id)).toBe('ready');
  });

  it('destroys everything after a partial failure, releases its pools, and leaves nothing behind', async () => {
    s = testServices({ faults: { failMachines: ['web-2'] } });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('failed');
    expect(s.ipam.forDeployment(id).vlans).not.toEqual({});
    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await (await s.platforms.instance('simulator')).listOwned(id)).toEqual([]);
    expect(s.ipam.forDeployment(id)).toEqual({ subnets: {}, vlans: {} });
    expect(await s.runner.destroy(id)).toBe('destroyed');
  });

  it('cancels a deployment in progress: nothing new starts and it ends cancelled', async () => {
    s = testServices({ speed: 200 });
    const { id } = deploy(twoTierScenario, 2);
    const run = s.runner.run(id);
    await new Promise((r) => setTimeout(r, 150));
    expect(await s.runner.cancel(id)).toBe('cancelled');
    expect(await run).toBe('cancelled');
    const view = s.deployments.get(id);
    expect(view.steps.some((x) => x.state === 'cancelled')).toBe(true);
    expect(view.steps.some((x) => x.state === 'running' || x.state === 'pending')).toBe(false);
    expect(await s.runner.destroy(id)).toBe('destroyed');
  });

  it('stores and emits events for every step', async () => {
    s = testServices();
    const { id, plan } = deploy();
    const live: string[] = [];
    const off = s.events.subscribe(id, (e) => live.push(`${e.type}:${e.stepKey ?? ''}`));
    await s.runner.run(id);
    off();
    const stored = s.events.history(id).map((e) => `${e.type}:${e.stepKey ?? ''}`);
    expect(live).toEqual(stored);
    for (const step of plan.steps) expect(stored).toContain(`step.finished:${step.key}`);
  });

  it('has a create step and its machine record committed before it asks the platform for the machine', async () => {
    s = testServices();
    const { id, plan } = deploy(twoTierScenario, 2);
    const platform = await s.platforms.instance('simulator');
    const create = platform.createMachine.bind(platform);
    const seen: string[] = [];
    platform.createMachine = async (spec, opts) => {
      const m = plan.machines.find((x) => x.resourceName === spec.name)!;
      const step = s.db.$client
        .prepare('SELECT state FROM steps WHERE deployment_id = ? AND key = ?')
        .pluck()
        .get(id, `${m.key}:create`);
      const record = s.db.$client
        .prepare('SELECT state FROM resources WHERE deployment_id = ? AND key = ?')
        .pluck()
        .get(id, m.key);
      // Outside any open transaction, what it reads is committed.
      expect(s.db.$client.inTransaction).toBe(false);
      seen.push(`${m.key} ${String(step)} ${String(record)}`);
      return create(spec, opts);
    };
    expect(await s.runner.run(id)).toBe('ready');
    expect(seen.sort()).toEqual(plan.machines.map((m) => `${m.key} running creating`).sort());
  });

  it('commits the transitions of steps that create nothing within lazyMs, even when nothing else commits', async () => {
    // One machine: its address comes 0.4 s in, its first boot ends 4 s later, and nothing else happens in between.
    s = testServices(
      { speed: 10, durations: { cloneSec: [1, 1], powerSec: [1, 1], bootSec: [2, 2], cloudInitSec: [40, 40] } },
      { lazyMs: 100 },
    );
    const { id } = createDeployment(s, {
      yaml: 'glassdome: 1\nname: one\ntitle: One\nnetworks:\n  - name: lan\n    cidr: 10.9.0.0/24\nmachines:\n  - name: solo\n    networks: [lan]\n',
      file: 'one.yaml',
      platform: 'simulator',
      instances: 1,
    });
    const committed = new Promise<number>((resolve) =>
      s.events.subscribe(
        id,
        (e) => e.type === 'step.finished' && e.stepKey === 'i1.solo:address' && resolve(Date.now()),
      ),
    );
    const run = s.runner.run(id);
    const at = await committed;
    const address = stepOf(id, 'i1.solo:address');
    expect(address.state).toBe('done');
    expect(at - Date.parse(address.endedAt!)).toBeLessThan(100 + 400);
    expect(stepOf(id, 'i1.solo:ready').state).toBe('running');
    expect(await s.runner.cancel(id)).toBe('cancelled');
    await run;
  });

  it('refuses to run a deployment another live process holds', async () => {
    s = testServices();
    const { id } = deploy();
    s.db.$client
      .prepare('UPDATE deployments SET lease_owner = ?, lease_until = ? WHERE id = ?')
      .run('other', Date.now() + 60_000, id);
    expect(() => s.runner.run(id)).toThrow(/being worked on by another Glassdome process/);
    expect(s.runner.resumeInterrupted()).toEqual([]);
  });
});

describe('executor, when the platform cannot be reached at all', () => {
  it('ends the deployment failed, saying why, instead of leaving it pending', async () => {
    s = testServices();
    // An ESXi record without its password: the driver refuses to start.
    s.platforms.add(systemActor, {
      name: 'esx',
      kind: 'esxi',
      config: { host: '127.0.0.1', username: 'root', tls: { insecure: true } },
    });
    const { id } = createDeployment(s, { yaml: twoTierScenario, file: 'two-tier.yaml', platform: 'esx' });
    expect(await s.runner.run(id)).toBe('failed');
    expect(s.deployments.get(id).error).toMatch(/driver could not be started: \[esxi\] The platform has no password/);
    expect(s.runner.resumeInterrupted()).toEqual([]);
    expect(await s.runner.destroy(id)).toBe('destroy_failed');
  });
});

describe('executor, across processes sharing one database', () => {
  it('stops a run when another process asks to cancel it, and lets that process destroy it afterwards', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadConfig } = await import('../../server/config.ts');
    const { createServices } = await import('../../server/services.ts');
    const dir = mkdtempSync(join(tmpdir(), 'glassdome-two-'));
    const config = loadConfig({ GLASSDOME_DATA_DIR: dir, GLASSDOME_SIM_SPEED: '100', GLASSDOME_LEASE_SEC: '1' });
    const a = createServices({ config });
    const b = createServices({ config });
    try {
      const { id } = createDeployment(a, {
        yaml: twoTierScenario,
        file: 'two-tier.yaml',
        platform: 'simulator',
        instances: 2,
      });
      const run = a.runner.run(id);
      await new Promise((r) => setTimeout(r, 300));
      expect(() => b.runner.run(id)).toThrow(/another Glassdome process/);
      // The cancel is asked of the process that runs it, and b follows it to the end.
      const asked = b.runner.cancel(id);
      expect(await run).toBe('cancelled');
      expect(await asked).toBe('cancelled');
      expect(await b.runner.destroy(id)).toBe('destroyed');
      expect(await (await b.platforms.instance('simulator')).listOwned(id)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('destroys a deployment another process is running: that process stops and tears down, nothing is stranded', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadConfig } = await import('../../server/config.ts');
    const { createServices } = await import('../../server/services.ts');
    const dir = mkdtempSync(join(tmpdir(), 'glassdome-destroy-'));
    const config = loadConfig({ GLASSDOME_DATA_DIR: dir, GLASSDOME_SIM_SPEED: '100', GLASSDOME_LEASE_SEC: '1' });
    const a = createServices({ config });
    const b = createServices({ config });
    try {
      const { id } = createDeployment(a, {
        yaml: twoTierScenario,
        file: 'two-tier.yaml',
        platform: 'simulator',
        instances: 2,
      });
      const run = a.runner.run(id);
      await new Promise((r) => setTimeout(r, 300));
      // b cannot claim it: the state is left alone (it used to be set to destroying, and a's run then stranded it).
      const destroyed = b.runner.destroy(id);
      await new Promise((r) => setTimeout(r, 50));
      expect(b.deployments.get(id).state).toBe('deploying');
      expect(await destroyed).toBe('destroyed');
      await run;
      expect(b.deployments.get(id).state).toBe('destroyed');
      expect(await (await b.platforms.instance('simulator')).listOwned(id)).toEqual([]);
      expect(b.deployments.get(id).steps.filter((x) => x.state === 'pending' || x.state === 'running')).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes over a destroy once the claim of a process that died has expired', async () => {
    s = testServices();
    const { id } = deploy(twoTierScenario, 1);
    expect(await s.runner.run(id)).toBe('ready');
    // A process that died mid-way: its claim stays in the row until it expires.
    s.db.$client
      .prepare("UPDATE deployments SET state = 'deploying', lease_owner = 'dead-1', lease_until = ? WHERE id = ?")
      .run(Date.now() + 600, id);
    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await (await s.platforms.instance('simulator')).listOwned(id)).toEqual([]);
  });
});
