// "Ready" means the range is what the scenario says: nothing is created on a platform that would get only part of
// first boot or cannot hold the plan, and a router whose firewall reads back wrong is not ready.
import { afterEach, describe, expect, it } from 'vitest';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { createSimulatorPlatform } from '../../server/platforms/simulator.ts';
import { openDb } from '../../server/db/client.ts';
import type { Platform } from '../../server/platforms/platform.ts';
import type { Services } from '../../server/services.ts';
import { testServices, twoTierScenario } from './helpers.ts';

let s: Services;
afterEach(async () => s?.close());

const deploy = (instances = 1) =>
  createDeployment(s, { yaml: twoTierScenario, file: 'two-tier.yaml', platform: 'simulator', instances });
const simMachines = () => (s.db.$client.prepare('SELECT count(*) AS n FROM sim_machines').get() as { n: number }).n;

/** The simulator driver of `s`, with some of its methods replaced for one test. */
async function patchSimulator(patch: Partial<Platform>) {
  const p = await s.platforms.instance('simulator');
  Object.assign(p, patch);
  return p;
}

describe('before anything is created', () => {
  it('refuses a deployment the platform cannot hold, with the numbers, creating nothing', async () => {
    s = testServices({ capacity: { cpus: 8, memoryMb: 64 * 1024 } });
    const { id } = deploy(4); // 4 instances x (router + 4 machines), 1 vCPU each: 20 vCPUs
    expect(await s.runner.run(id)).toBe('failed');
    expect(s.deployments.get(id).error).toBe(
      '[simulator] Unable to deploy 20 machine(s): the platform cannot hold them (20 vCPUs needed, 8 free)',
    );
    expect(simMachines()).toBe(0);
    expect(machineStatus(s.deployments.get(id)).every((m) => m.state !== 'ready')).toBe(true);
  });

  it('refuses a platform that would deliver only part of first boot, naming why, creating nothing', async () => {
    s = testServices();
    await patchSimulator({
      firstBootDelivery: async () => ({
        method: 'cloud-init fields',
        complete: false,
        detail: 'snippets.storage "nfs" has no Snippets content type',
      }),
    });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('failed');
    expect(s.deployments.get(id).error).toMatch(
      /only part of the first-boot data would reach the machines \(cloud-init fields\): snippets.storage "nfs" has no Snippets content type/,
    );
    expect(simMachines()).toBe(0);
  });

  it('says in the log how first boot reaches the machines and what capacity it saw', async () => {
    s = testServices();
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('ready');
    const log = s.events.history(id).map((e) => e.message);
    expect(log).toContain(
      'first-boot data reaches the machines by simulated NoCloud drive: the whole user data reaches the modelled guest',
    );
    expect(log.some((m) => m.startsWith('capacity: 5 vCPUs, '))).toBe(true);
  });
});

describe('a router is ready when its firewall reads back as planned', () => {
  it('reads the firewall back through the guest channel and says so', async () => {
    s = testServices();
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('ready');
    const note = s.events.history(id).find((e) => e.stepKey === 'i1.router:ready' && e.type === 'log');
    expect(note?.message).toBe('firewall read back through the guest channel and matches the plan');
  });

  it('is not ready, saying what is missing, when the loaded firewall lacks a rule', async () => {
    s = testServices();
    const sim = await s.platforms.instance('simulator');
    const real = sim.guestExec!.bind(sim);
    await patchSimulator({
      async guestExec(ref, argv, o) {
        const out = await real(ref, argv, o);
        const json = JSON.parse(out.stdout) as { nftables: Array<{ rule?: { comment?: string } }> };
        return {
          ...out,
          stdout: JSON.stringify({ nftables: json.nftables.filter((x) => x.rule?.comment !== 'gd:egress') }),
        };
      },
    });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('failed');
    const router = machineStatus(s.deployments.get(id)).find((m) => m.key === 'i1.router')!;
    expect(router.state).toBe('failed');
    expect(router.steps.find((x) => x.kind === 'ready')!.error).toBe(
      'Router "i1.router" is not ready: its firewall is not the scenario\'s: forward rules missing: gd:egress',
    );
    // Nothing behind the router starts: the range is not what the scenario says.
    expect(machineStatus(s.deployments.get(id)).filter((m) => m.state === 'ready')).toEqual([]);
  });

  it("falls back to the router's own check, saying why, when the guest channel cannot run the command", async () => {
    s = testServices();
    await patchSimulator({
      async guestExec() {
        throw new Error('[simulator] QEMU guest agent: guest-exec is disabled by the agent configuration');
      },
    });
    const { id } = deploy();
    expect(await s.runner.run(id)).toBe('ready');
    const note = s.events.history(id).find((e) => e.stepKey === 'i1.router:ready' && e.type === 'log');
    expect(note?.message).toBe(
      "firewall verified by the router's own first-boot check; reading it back failed: [simulator] QEMU guest agent: guest-exec is disabled by the agent configuration",
    );
  });
});

describe("the simulator's modelled guest", () => {
  it('holds the firewall it was given at first boot, and nothing when it was given none', async () => {
    const db = openDb(':memory:');
    const p = createSimulatorPlatform({ speed: 5000 }, { db, platformId: 'p' });
    const net = await p.ensureNetwork({
      deploymentId: 'd',
      name: 'gd-d-i1-lan',
      kind: 'isolated',
      cidr: '10.1.0.0/24',
      gateway: '10.1.0.1',
      vlan: 5,
    });
    const nft =
      'table inet glassdome {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tip saddr 10.1.0.0/24 accept comment "gd:rule:1"\n\t}\n}\n';
    const userData = `#cloud-config\nwrite_files:\n  - path: /etc/nftables.conf\n    content: ${JSON.stringify(nft)}\n`;
    const spec = (name: string, cloudInit?: { userData: string }) => ({
      deploymentId: 'd',
      name,
      hostname: name,
      os: 'debian-12',
      cpus: 1,
      memoryMb: 1024,
      diskGb: 10,
      nics: [{ network: net, mac: '02:00:00:00:00:01', ip: '10.1.0.1' }],
      ...(cloudInit ? { cloudInit: { ...cloudInit, networkConfig: '', metaData: '' } } : {}),
    });
    for (const [name, ud] of [
      ['with', { userData }],
      ['without', undefined],
    ] as const) {
      const ref = await p.createMachine(spec(name, ud));
      await p.startMachine(ref);
      await p.waitForAddress(ref, { timeoutMs: 10_000, expect: ['10.1.0.1'] });
      const out = await p.guestExec!(ref, ['nft', '-j', 'list', 'ruleset'], { timeoutMs: 10_000 });
      const objects = (JSON.parse(out.stdout) as { nftables: unknown[] }).nftables;
      if (name === 'with')
        expect(objects).toContainEqual({
          rule: { family: 'inet', table: 'glassdome', chain: 'forward', comment: 'gd:rule:1' },
        });
      else expect(objects).toHaveLength(1);
    }
    const other = await p.guestExec!(
      (await p.listOwned('d')).find((o) => o.kind === 'machine')!,
      ['cat', '/etc/shadow'],
      { timeoutMs: 10_000 },
    );
    expect(other.exitCode).toBe(127);
    await expect(
      p.waitForAddress({ id: '100', name: 'with' }, { timeoutMs: 1000, expect: ['10.9.9.9'] }),
    ).rejects.toThrow('[simulator] VM "with" did not report 10.9.9.9 (it reports 10.1.0.1)');
    await p.close();
  });

  it('draws injected faults anew on every attempt, also in a new process, and the same way from a fresh start', async () => {
    const outcomes = async (db: ReturnType<typeof openDb>) => {
      const seq: string[] = [];
      for (let attempt = 0; attempt < 16; attempt++) {
        // A new driver each time: what a new process would have.
        const p = createSimulatorPlatform(
          { speed: 5000, seed: 7, faults: { transient: 0.5 } },
          { db, platformId: 'p' },
        );
        try {
          await p.startMachine({ id: 'x', name: 'gd-d-i1-web' });
          seq.push('ok');
        } catch (e) {
          seq.push((e as Error).message.includes('596') ? 'fault' : 'missing');
        } finally {
          await p.close();
        }
      }
      return seq;
    };
    // A stopped machine to start: each start attempt draws; once one succeeds the machine runs and later starts succeed.
    const prepare = async () => {
      const db = openDb(':memory:');
      const p = createSimulatorPlatform({ speed: 5000, seed: 3 }, { db, platformId: 'p' });
      const net = await p.ensureNetwork({
        deploymentId: 'd',
        name: 'gd-d-i1-lan',
        kind: 'isolated',
        cidr: '10.1.0.0/24',
        gateway: '10.1.0.1',
        vlan: 5,
      });
      await p.createMachine({
        deploymentId: 'd',
        name: 'gd-d-i1-web',
        hostname: 'web',
        os: 'debian-12',
        cpus: 1,
        memoryMb: 512,
        diskGb: 8,
        nics: [{ network: net, mac: '02:00:00:00:00:02' }],
      });
      await p.close();
      return db;
    };
    const first = await outcomes(await prepare());
    expect(new Set(first)).toEqual(new Set(['ok', 'fault']));
    expect(await outcomes(await prepare())).toEqual(first);
  });
});

describe('vulnerability modules in a deployment', () => {
  const scenario = (vulnerableOnInternet: boolean) => `
glassdome: 1
name: vuln
networks:
  - { name: lan, cidr: 10.9.1.0/24 }
  - { name: out, cidr: 10.9.2.0/24, internet: true }
machines:
  - name: target
    os: debian-12
    networks: [lan]
    vulnerabilities: [weak-ssh-password, { select: { category: [web], count: 1 } }]
  - name: edge
    os: debian-12
    networks: [out]
    vulnerableOnInternet: ${vulnerableOnInternet}
    vulnerabilities: [suid-binary]
`;

  it('plans concrete modules per instance from the recorded seed and boots them to ready', async () => {
    s = testServices();
    const { id, plan } = createDeployment(s, {
      yaml: scenario(true),
      file: 'vuln.yaml',
      platform: 'simulator',
      instances: 2,
    });
    const target = plan.machines.filter((m) => m.source === 'target');
    expect(target.map((m) => m.vulnerabilities.map((v) => v.module)[0])).toEqual([
      'weak-ssh-password',
      'weak-ssh-password',
    ]);
    expect(target.every((m) => m.vulnerabilities.length === 2)).toBe(true);
    expect(plan.seed).toMatch(/\S/);
    expect(await s.runner.run(id)).toBe('ready');
  });

  it('refuses a vulnerable machine on a network with internet egress unless the scenario says so, naming it', () => {
    s = testServices();
    expect(() => createDeployment(s, { yaml: scenario(false), file: 'vuln.yaml', platform: 'simulator' })).toThrow(
      /machine "edge" has vulnerabilities and a NIC on network "out", which has internet egress/,
    );
    expect((s.db.$client.prepare('SELECT count(*) AS n FROM deployments').get() as { n: number }).n).toBe(0);
  });
});
