// The Azure driver's batched inventory against the ARM test server: which VMs count as Glassdome's (by tag or only by
// name, in the platform's region), machines whose VM is not created yet, the deployment filter, listing pages, the VM
// Agent's answer, a VM deleted between the listing and its instance view, and the requests a sweep costs.
import { afterEach, describe, expect, it } from 'vitest';
import { azureConfigSchema, type AzureConfigInput } from '../../server/platforms/azure/config.ts';
import { createAzurePlatform } from '../../server/platforms/azure/driver.ts';
import type {
  InventoryMachine,
  MachineRef,
  MachineSpec,
  NetworkRef,
  Platform,
} from '../../server/platforms/platform.ts';
import { opensslMissingReason, startArmServer, type ArmServer, type ArmServerOptions } from './azure-server/index.ts';

const missing = opensslMissingReason();
if (missing) console.warn(`skipping the Azure inventory tests: ${missing}`);

const servers: ArmServer[] = [];
const platforms: Platform[] = [];
afterEach(async () => {
  await Promise.all(platforms.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(o: ArmServerOptions = {}): Promise<ArmServer> {
  const s = await startArmServer({ speed: 1000, ...o });
  servers.push(s);
  return s;
}

async function driver(s: ArmServer, extra: Partial<AzureConfigInput> = {}): Promise<Platform> {
  const config = azureConfigSchema.parse({
    tenantId: s.tenantId,
    clientId: s.clientId,
    subscriptionId: s.subscriptionId,
    location: 'westeurope',
    armEndpoint: s.url,
    authorityHost: s.url,
    caFile: s.caFile,
    pollIntervalMs: 10,
    vmPollIntervalMs: 20,
    pollMaxMs: 100,
    ...extra,
  });
  const p = await createAzurePlatform(config, {
    credential: { getToken: async () => ({ token: s.staticToken, expiresOnTimestamp: Date.now() + 3_600_000 }) },
  });
  platforms.push(p);
  return p;
}

const network = (p: Platform, dep: string, name: string, cidr: string) =>
  p.ensureNetwork({
    deploymentId: dep,
    name: `gd-${dep}-i1-${name}`,
    kind: 'isolated',
    cidr,
    gateway: cidr.replace(/0\/\d+$/, '1'),
  });

function spec(dep: string, name: string, nics: Array<{ network: NetworkRef; ip: string }>, memoryMb = 2048) {
  return {
    deploymentId: dep,
    name: `gd-${dep}-i1-${name}`,
    hostname: name,
    os: 'ubuntu-22.04',
    cpus: 1,
    memoryMb,
    diskGb: 30,
    nics: nics.map((n) => ({ mac: '02:00:00:00:00:01', ...n })),
    cloudInit: { userData: `#cloud-config\nhostname: ${name}\n`, networkConfig: '', metaData: '' },
  } satisfies MachineSpec;
}

/** Creates and starts a machine, waiting until its VM runs with its address. */
async function running(p: Platform, m: MachineSpec): Promise<MachineRef> {
  const ref = await p.createMachine(m);
  await p.startMachine(ref, { spec: m });
  await p.waitForAddress(ref, { timeoutMs: 15_000 });
  return ref;
}

const byName = (list: InventoryMachine[]) => new Map(list.map((m) => [m.name, m]));
const vmId = (s: ArmServer, rg: string, name: string) =>
  `/subscriptions/${s.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
const requestsSince = (s: ArmServer, from: number) => {
  const out: Record<string, number> = {};
  for (const r of s.requests.slice(from)) out[r.route] = (out[r.route] ?? 0) + 1;
  return out;
};
const listVms = 'GET /providers/Microsoft.Compute/virtualMachines';
const listNics = 'GET /providers/Microsoft.Network/networkInterfaces';
const instanceView =
  'GET /resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{name}/instanceView';

describe.skipIf(missing !== undefined)('azure inventory', () => {
  it("reports tagged VMs as owner 'tag', VMs only named gd-<deployment>- as 'name', and nothing else", async () => {
    const s = await server();
    const p = await driver(s);
    const lan = await network(p, 'own1', 'lan', '10.1.0.0/24');
    const dmz = await network(p, 'own1', 'dmz', '10.2.0.0/24');
    const web = await running(
      p,
      spec('own1', 'web', [
        { network: dmz, ip: '10.2.0.10' },
        { network: lan, ip: '10.1.0.10' },
      ]),
    );
    const db = await running(p, spec('own1', 'db', [{ network: lan, ip: '10.1.0.20' }], 4096));
    // Created, never started: its NIC exists and its VM does not.
    const cache = await p.createMachine(spec('own1', 'cache', [{ network: lan, ip: '10.1.0.30' }]));
    // Someone removed db's tags in the portal; someone's own VM, and one of ours in another region (another
    // platform record's), share the subscription.
    s.store.get(vmId(s, 'gd-own1-i1', 'gd-own1-i1-db'))!.tags = {};
    const copy = (name: string, rg: string, location: string) => {
      const vm = structuredClone(s.store.get(vmId(s, 'gd-own1-i1', 'gd-own1-i1-web'))!);
      Object.assign(vm, { id: vmId(s, rg, name), name, resourceGroup: rg, location });
      vm.tags = name.startsWith('gd-') ? { ...vm.tags } : {};
      vm.properties.networkProfile = { networkInterfaces: [] };
      s.store.put(vm);
    };
    copy('mail-server', 'prod', 'westeurope');
    copy('gd-own1-i1-web', 'gd-own1-i1-east', 'eastus');

    const all = byName(await p.inventory!({ guest: true, config: true }));
    expect([...all.keys()].sort()).toEqual(['gd-own1-i1-cache', 'gd-own1-i1-db', 'gd-own1-i1-web']);
    expect(all.get(web.name)).toEqual({
      id: web.id,
      name: web.name,
      deploymentId: 'own1',
      owner: 'tag',
      power: 'running',
      // 1 vCPU and 2 GiB planned: Standard_B1ms holds exactly that.
      cpus: 1,
      memoryMb: 2048,
      size: 'Standard_B1ms',
      addresses: ['10.2.0.10', '10.1.0.10'],
      agent: true,
      nics: [
        { network: dmz.id, mac: expect.stringMatching(/^00:0d:3a(:[0-9a-f]{2}){3}$/) },
        { network: lan.id, mac: expect.stringMatching(/^00:0d:3a(:[0-9a-f]{2}){3}$/) },
      ],
    });
    expect(all.get(db.name)).toMatchObject({
      id: db.id,
      deploymentId: 'own1',
      owner: 'name',
      power: 'running',
      cpus: 2,
      memoryMb: 4096,
      size: 'Standard_B2s',
      addresses: ['10.1.0.20'],
      agent: true,
      nics: [{ network: lan.id }],
    });
    expect(all.get(cache.name)).toEqual({
      id: cache.id,
      name: cache.name,
      deploymentId: 'own1',
      owner: 'tag',
      power: 'stopped',
      addresses: [],
      agent: false,
      nics: [{ network: lan.id, mac: expect.any(String) }],
    });
    // What getMachineState says of each, the inventory says too.
    for (const ref of [web, db, cache]) expect((await p.getMachineState(ref)).power).toBe(all.get(ref.name)!.power);

    // Stopped (deallocated): no addresses, no agent; without `config` no NICs, without `guest` no agent.
    await p.stopMachine(web, { force: true });
    const after = byName(await p.inventory!({ deploymentIds: ['own1'] }));
    expect(after.get(web.name)).toMatchObject({ power: 'stopped', addresses: [] });
    expect(after.get(web.name)!.agent).toBeUndefined();
    expect(after.get(web.name)!.nics).toBeUndefined();
  });

  it('lists only the deployments asked for, and asks ARM nothing for an empty list', async () => {
    const s = await server();
    const p = await driver(s);
    for (const dep of ['fla', 'flb']) {
      const lan = await network(p, dep, 'lan', '10.1.0.0/24');
      await running(p, spec(dep, 'web', [{ network: lan, ip: '10.1.0.10' }]));
    }
    const names = async (ids?: string[]) =>
      (await p.inventory!(ids ? { deploymentIds: ids } : {})).map((m) => m.name).sort();
    expect(await names(['fla'])).toEqual(['gd-fla-i1-web']);
    expect(await names(['flb', 'fla'])).toEqual(['gd-fla-i1-web', 'gd-flb-i1-web']);
    expect(await names(['fl'])).toEqual([]);
    expect(await names()).toEqual(['gd-fla-i1-web', 'gd-flb-i1-web']);
    const before = s.requests.length;
    expect(await p.inventory!({ deploymentIds: [] })).toEqual([]);
    expect(s.requests.length).toBe(before);
  });

  it('follows the listings page by page to their end', async () => {
    const s = await server({ pageSize: 2 });
    const p = await driver(s);
    const lan = await network(p, 'pag1', 'lan', '10.1.0.0/24');
    const refs = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => running(p, spec('pag1', `m${i}`, [{ network: lan, ip: `10.1.0.${10 + i}` }]))),
    );
    const from = s.requests.length;
    const list = await p.inventory!({ deploymentIds: ['pag1'], config: true });
    expect(list.map((m) => m.id).sort()).toEqual(refs.map((r) => r.id).sort());
    expect(list.every((m) => m.power === 'running' && m.nics?.[0]?.network === lan.id)).toBe(true);
    // 5 VMs in pages of 2, twice (models and statuses); 5 NICs in pages of 2.
    const seen = requestsSince(s, from);
    expect(seen[listVms]).toBe(6);
    expect(seen[listNics]).toBe(3);
  });

  it('a VM deleted between the listing and its instance view is not reported, and nothing fails', async () => {
    const s = await server();
    const p = await driver(s);
    const lan = await network(p, 'gone1', 'lan', '10.1.0.0/24');
    const [a, b] = await Promise.all(
      ['a', 'b'].map((h, i) => running(p, spec('gone1', h, [{ network: lan, ip: `10.1.0.${10 + i}` }]))),
    );
    s.faults.add({
      method: 'GET',
      path: new RegExp(`/virtualMachines/${a!.name}/instanceView$`),
      times: 1,
      effect: {
        kind: 'meanwhile',
        // Deleted by someone else with its NIC (deleteOption Delete), as ARM does it.
        change: () => {
          s.store.remove(a!.id);
          const nic = `${a!.name}-nic0`;
          s.store.remove(
            a!.id.replace(/Microsoft\.Compute\/virtualMachines\/.*$/, `Microsoft.Network/networkInterfaces/${nic}`),
          );
        },
      },
    });
    const list = byName(await p.inventory!({ deploymentIds: ['gone1'], guest: true, config: true }));
    expect([...list.keys()]).toEqual([b!.name]);
    expect(list.get(b!.name)).toMatchObject({ power: 'running', agent: true });
    expect(s.faults.fired).toBe(1);
  });

  it("reports the VM Agent's answer: not ready while the guest has no agent running", async () => {
    const s = await server();
    const p = await driver(s);
    const lan = await network(p, 'agt1', 'lan', '10.1.0.0/24');
    s.guests.script('gd-agt1-i1-broken', { kind: 'ready', vmAgent: 'unresponsive' });
    const [ok, broken] = await Promise.all(
      ['fine', 'broken'].map((h, i) => running(p, spec('agt1', h, [{ network: lan, ip: `10.1.0.${10 + i}` }]))),
    );
    await p.waitForReady(ok!, { timeoutMs: 15_000 });
    const list = byName(await p.inventory!({ deploymentIds: ['agt1'], guest: true }));
    expect(list.get(ok!.name)).toMatchObject({ power: 'running', agent: true });
    expect(list.get(broken!.name)).toMatchObject({ power: 'running', agent: false, addresses: ['10.1.0.11'] });
  });

  it('a sweep costs three listings, plus one instance view per running VM when the guest is asked for', async () => {
    const s = await server();
    const builder = await driver(s);
    const lan = await network(builder, 'cnt1', 'lan', '10.1.0.0/24');
    const dmz = await network(builder, 'cnt1', 'dmz', '10.2.0.0/24');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        running(
          builder,
          spec('cnt1', `m${i}`, [{ network: i % 2 ? lan : dmz, ip: `10.${i % 2 ? 1 : 2}.0.${10 + i}` }]),
        ),
      ),
    );
    // A fresh driver, as after a restart: the region's sizes are not known yet.
    const p = await driver(s);
    const sweeps: Array<Record<string, number>> = [];
    for (const o of [{ guest: true, config: true }, { guest: true, config: true }, { config: true }]) {
      const from = s.requests.length;
      const list = await p.inventory!({ deploymentIds: ['cnt1'], ...o });
      expect(list).toHaveLength(20);
      expect(list.every((m) => m.power === 'running' && m.nics?.length === 1)).toBe(true);
      sweeps.push(requestsSince(s, from));
    }
    console.log(`[azure inventory] ARM requests per sweep of 20 running VMs: ${JSON.stringify(sweeps)}`);
    expect(sweeps[0]).toEqual({
      [listVms]: 2,
      [listNics]: 1,
      'GET /providers/Microsoft.Compute/skus': 1,
      [instanceView]: 20,
    });
    expect(sweeps[1]).toEqual({ [listVms]: 2, [listNics]: 1, [instanceView]: 20 });
    expect(sweeps[2]).toEqual({ [listVms]: 2, [listNics]: 1 });
  });

  it("an aborted sweep stops with the signal's reason", async () => {
    const s = await server({ timing: { latencyMs: 200_000 } });
    const p = await driver(s);
    const ac = new AbortController();
    const sweep = p.inventory!({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('sweep cancelled')), 30);
    await expect(sweep).rejects.toThrow('sweep cancelled');
  });
});
