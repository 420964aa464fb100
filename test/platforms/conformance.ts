// The platform conformance suite: every driver runs these same cases against its most faithful stand-in.
// A driver that cannot do something lists it in `skip` with the reason, and the skip is printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineSpec, NetworkRef, Platform } from '../../server/platforms/platform.ts';

export interface ConformanceTarget {
  platform: Platform;
  /** Fresh per run, so repeated runs against a persistent stand-in do not collide. */
  deploymentId: string;
  /** The OS key (and template, where the stand-in needs one) a machine is created from. */
  machine: Pick<MachineSpec, 'os'> & Partial<Pick<MachineSpec, 'template' | 'options'>>;
  /** Bounded waits in ms for address and readiness on this stand-in. */
  waitMs: number;
  cleanup?: () => Promise<void>;
}

export function testPlatform(
  name: string,
  setup: () => Promise<ConformanceTarget | { skip: string }>,
  skip: Record<string, string> = {},
) {
  describe(`platform conformance: ${name}`, () => {
    let t: ConformanceTarget | undefined;
    let unavailable: string | undefined;
    let net: NetworkRef;

    beforeAll(async () => {
      const r = await setup();
      if ('skip' in r) {
        unavailable = r.skip;
        console.warn(`[conformance:${name}] skipped: ${r.skip}`);
        return;
      }
      t = r;
    });
    afterAll(async () => {
      await t?.platform.close();
      await t?.cleanup?.();
    });

    const spec = (suffix: string, nic?: NetworkRef): MachineSpec => ({
      deploymentId: t!.deploymentId,
      name: `gd-${t!.deploymentId}-i1-${suffix}`,
      hostname: suffix,
      ...t!.machine,
      cpus: 1,
      memoryMb: 1024,
      diskGb: 10,
      nics: [{ network: nic ?? net, mac: '00:50:56:01:02:03', ip: '10.77.0.10' }],
      cloudInit: {
        userData: '#cloud-config\nhostname: ' + suffix + '\n',
        networkConfig: 'version: 2\nethernets: {}\n',
        metaData: `instance-id: ${suffix}\nlocal-hostname: ${suffix}\n`,
      },
    });

    const when = (caseName: string, fn: () => Promise<void>) => {
      const reason = skip[caseName];
      if (reason) {
        it.skip(`${caseName} (skipped: ${reason})`, fn);
        return;
      }
      it(caseName, async (ctx) => {
        if (unavailable) {
          ctx.skip();
          return;
        }
        await fn();
      });
    };

    /** An optional capability the driver lacks must be listed in `skip` with its reason, not silently passed. */
    const lacks = (caseName: string, what: string) => {
      throw new Error(`${name} has no ${what}: list "${caseName}" in its skip map with the reason`);
    };

    when('reports a working connection', async () => {
      const report = await t!.platform.testConnection();
      expect(report.ok, report.details.join('\n')).toBe(true);
      expect(report.product.length).toBeGreaterThan(0);
    });

    when('says how first-boot data reaches its guests, checked now', async () => {
      const p = t!.platform;
      if (!p.firstBootDelivery)
        return lacks('says how first-boot data reaches its guests, checked now', 'firstBootDelivery');
      const d = await p.firstBootDelivery();
      expect(Object.keys(d).sort()).toEqual(['complete', 'detail', 'method']);
      expect(d.method.length).toBeGreaterThan(0);
      expect(d.detail.length).toBeGreaterThan(0);
      expect(d.complete, d.detail).toBe(true);
    });

    when('reports what it can still hold', async () => {
      const p = t!.platform;
      if (!p.capacity) return lacks('reports what it can still hold', 'capacity');
      const c = await p.capacity();
      const figures = [c.cpus, c.memoryMb, c.storageGb].filter((x) => x !== undefined);
      expect(figures.length).toBeGreaterThan(0);
      for (const x of figures) {
        expect(Number.isInteger(x)).toBe(true);
        expect(x).toBeGreaterThanOrEqual(0);
      }
      // The stand-ins have room for the one small machine these cases create.
      if (c.cpus !== undefined) expect(c.cpus).toBeGreaterThanOrEqual(1);
      if (c.memoryMb !== undefined) expect(c.memoryMb).toBeGreaterThanOrEqual(1024);
      expect(c.detail.length).toBeGreaterThan(0);
    });

    when('creates a network once, however often it is asked', async () => {
      const nspec = {
        deploymentId: t!.deploymentId,
        name: `gd-${t!.deploymentId}-i1-lan`,
        kind: 'isolated' as const,
        cidr: '10.77.0.0/24',
        gateway: '10.77.0.1',
        vlan: 3001,
      };
      net = await t!.platform.ensureNetwork(nspec);
      const again = await t!.platform.ensureNetwork(nspec);
      expect(again.id).toBe(net.id);
      const owned = await t!.platform.listOwned(t!.deploymentId);
      expect(owned.filter((o) => o.kind === 'network' && o.name === nspec.name)).toHaveLength(1);
    });

    when('creates a stopped machine, and a retried create returns the same machine', async () => {
      const ref = await t!.platform.createMachine(spec('web'));
      expect((await t!.platform.getMachineState(ref)).power).toBe('stopped');
      const again = await t!.platform.createMachine(spec('web'));
      expect(again.id).toBe(ref.id);
      const owned = await t!.platform.listOwned(t!.deploymentId);
      expect(owned.filter((o) => o.kind === 'machine' && o.name === spec('web').name)).toHaveLength(1);
    });

    when('starts a machine, reports its address and readiness', async () => {
      const ref = await t!.platform.createMachine(spec('web'));
      await t!.platform.startMachine(ref);
      await t!.platform.startMachine(ref); // already running: succeeds
      const addresses = await t!.platform.waitForAddress(ref, { timeoutMs: t!.waitMs });
      expect(addresses.length).toBeGreaterThan(0);
      for (const a of addresses) expect(a).not.toMatch(/^(127\.|169\.254\.|fe80:)/);
      await t!.platform.waitForReady(ref, { timeoutMs: t!.waitMs });
      const st = await t!.platform.getMachineState(ref);
      expect(st.power).toBe('running');
      expect(st.addresses.length).toBeGreaterThan(0);
    });

    when('lists its machines in one inventory batch, with power, size, guest agent, addresses and NICs', async () => {
      const p = t!.platform;
      if (!p.inventory)
        return lacks(
          'lists its machines in one inventory batch, with power, size, guest agent, addresses and NICs',
          'inventory',
        );
      // Started here too: the case that starts it may be skipped on this stand-in (starting is idempotent).
      const ref = await p.createMachine(spec('web'));
      await p.startMachine(ref);
      await p.waitForAddress(ref, { timeoutMs: t!.waitMs });
      const all = await p.inventory({ deploymentIds: [t!.deploymentId], guest: true, config: true });
      const web = all.find((m) => m.name === spec('web').name);
      expect(web, JSON.stringify(all)).toBeDefined();
      expect(all.every((m) => m.deploymentId === t!.deploymentId)).toBe(true);
      expect(web).toMatchObject({ deploymentId: t!.deploymentId, owner: 'tag', power: 'running', agent: true });
      // A cloud's named size holds the plan and may be larger; elsewhere the machine has exactly what it was given.
      const exact = web!.size === undefined;
      if (web!.cpus !== undefined) expect(exact ? web!.cpus : Math.min(web!.cpus, 1)).toBe(1);
      if (web!.memoryMb !== undefined) expect(exact ? web!.memoryMb : Math.min(web!.memoryMb, 1024)).toBe(1024);
      if (!exact) expect(web!.size!.length).toBeGreaterThan(0);
      expect(web!.addresses!.length).toBeGreaterThan(0);
      expect(web!.nics).toHaveLength(1);
      expect(web!.nics![0]!.network).toBe(net.id);
      if (web!.nics![0]!.vlan !== undefined) expect(web!.nics![0]!.vlan).toBe(3001);
      // Without the follow-ups the batch still has power; another deployment's filter finds nothing.
      const light = await p.inventory({ deploymentIds: [t!.deploymentId] });
      expect(light.find((m) => m.name === spec('web').name)?.power).toBe('running');
      expect(await p.inventory({ deploymentIds: [`${t!.deploymentId}x`] })).toEqual([]);
    });

    when('waits for the planned addresses it is given, and names those that never come', async () => {
      const ref = await t!.platform.createMachine(spec('web'));
      // Started here too: the case that starts it may be skipped on this stand-in (starting is idempotent).
      await t!.platform.startMachine(ref);
      const now = await t!.platform.waitForAddress(ref, { timeoutMs: t!.waitMs });
      const got = await t!.platform.waitForAddress(ref, { timeoutMs: t!.waitMs, expect: [now[0]!] });
      expect(got).toContain(now[0]);
      // 198.51.100.0/24 is TEST-NET-2: no stand-in hands it out.
      const e = await t!.platform
        .waitForAddress(ref, { timeoutMs: 600, expect: [now[0]!, '198.51.100.77'] })
        .catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'timeout' });
      const message = (e as Error).message;
      expect(message).toContain(ref.name);
      expect(message).toMatch(/198\.51\.100\.77.*reports/);
      expect(message).toContain(now[0]);
    });

    when('runs a program in the guest: exit code and output, a non-zero exit being a result', async () => {
      const p = t!.platform;
      if (!p.supports.guestExec || !p.guestExec)
        return lacks('runs a program in the guest: exit code and output, a non-zero exit being a result', 'guestExec');
      const ref = await p.createMachine(spec('web'));
      const ok = await p.guestExec(ref, ['hostname'], { timeoutMs: t!.waitMs });
      expect(Object.keys(ok).sort()).toEqual(['exitCode', 'stderr', 'stdout']);
      expect(ok.exitCode).toBe(0);
      expect(ok.stdout.trim().length).toBeGreaterThan(0);
      expect(typeof ok.stderr).toBe('string');
      const failed = await p.guestExec(ref, ['false'], { timeoutMs: t!.waitMs });
      expect(failed.exitCode).not.toBe(0);
      expect(typeof failed.stdout).toBe('string');
    });

    when('takes, lists, reverts to and deletes a snapshot', async () => {
      if (!t!.platform.supports.snapshots) return;
      const ref = await t!.platform.createMachine(spec('web'));
      await t!.platform.createSnapshot(ref, 'clean');
      expect((await t!.platform.listSnapshots(ref)).map((s) => s.name)).toContain('clean');
      await t!.platform.revertSnapshot(ref, 'clean');
      await t!.platform.deleteSnapshot(ref, 'clean');
      await t!.platform.deleteSnapshot(ref, 'clean'); // already gone: succeeds
      expect((await t!.platform.listSnapshots(ref)).map((s) => s.name)).not.toContain('clean');
    });

    when('stops a machine, and stopping it again succeeds', async () => {
      const ref = await t!.platform.createMachine(spec('web'));
      await t!.platform.stopMachine(ref, { force: true });
      await t!.platform.stopMachine(ref, { force: true });
      expect((await t!.platform.getMachineState(ref)).power).toBe('stopped');
    });

    when('lists only what belongs to the deployment', async () => {
      const owned = await t!.platform.listOwned(t!.deploymentId);
      expect(owned.map((o) => o.name).sort()).toEqual([spec('web').name, `gd-${t!.deploymentId}-i1-lan`].sort());
      expect(await t!.platform.listOwned(`${t!.deploymentId}x`)).toEqual([]);
    });

    when('destroys a machine, and destroying it again succeeds', async () => {
      const ref = await t!.platform.createMachine(spec('web'));
      await t!.platform.destroyMachine(ref);
      expect((await t!.platform.getMachineState(ref)).power).toBe('missing');
      await t!.platform.destroyMachine(ref);
    });

    when('treats a machine that never existed as missing, and destroying it succeeds', async () => {
      const ghost = { id: '987654', name: `gd-${t!.deploymentId}-i1-ghost` };
      expect((await t!.platform.getMachineState(ghost)).power).toBe('missing');
      await t!.platform.destroyMachine(ghost);
    });

    when('deletes its network, and deleting it again succeeds', async () => {
      await t!.platform.deleteNetwork(net);
      await t!.platform.deleteNetwork(net);
      expect(await t!.platform.listOwned(t!.deploymentId)).toEqual([]);
    });
  });
}
