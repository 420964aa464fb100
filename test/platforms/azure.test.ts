// The Azure driver against the ARM protocol test server: the shared conformance suite, then what only a cloud has:
// the real client-secret sign-in, throttling storms, long-running operations that fail or are cancelled, capacity
// errors, a crash in the middle with nothing created twice, readiness from the serial console, and bad input
// (credentials, permissions, provider registration, sizes, images, quota) reported with what to do.
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import { azureConfigSchema, type AzureConfigInput } from '../../server/platforms/azure/config.ts';
import { createAzurePlatform } from '../../server/platforms/azure/driver.ts';
import type { MachineSpec, NetworkRef, NetworkSpec, Platform } from '../../server/platforms/platform.ts';
import { testPlatform } from './conformance.ts';
import { opensslMissingReason, startArmServer, type ArmServer, type ArmServerOptions } from './azure-server/index.ts';

const missing = opensslMissingReason();
if (missing) console.warn(`skipping Azure driver tests: ${missing}`);

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

function config(s: ArmServer, extra: Partial<AzureConfigInput> = {}) {
  return azureConfigSchema.parse({
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
}

const staticCredential = (s: ArmServer) => ({
  getToken: async () => ({ token: s.staticToken, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

async function driver(
  s: ArmServer,
  extra: Partial<AzureConfigInput> = {},
  deps?: { secret?: string },
): Promise<Platform> {
  const p = await createAzurePlatform(config(s, extra), deps ?? { credential: staticCredential(s) });
  platforms.push(p);
  return p;
}

const net = (dep: string, name: string, cidr: string, extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  deploymentId: dep,
  name: `gd-${dep}-i1-${name}`,
  kind: 'isolated',
  cidr,
  gateway: cidr.replace(/0\/\d+$/, '1'),
  ...extra,
});

function machine(
  dep: string,
  name: string,
  nics: Array<{ network: NetworkRef; ip?: string; publicIp?: boolean }>,
  extra: Partial<MachineSpec> = {},
): MachineSpec {
  return {
    deploymentId: dep,
    name: `gd-${dep}-i1-${name}`,
    hostname: name,
    os: 'ubuntu-22.04',
    cpus: 1,
    memoryMb: 2048,
    diskGb: 20,
    nics: nics.map((n) => ({ mac: '02:00:00:00:00:01', ...n })),
    cloudInit: { userData: `#cloud-config\nhostname: ${name}\n`, networkConfig: '', metaData: '' },
    ...extra,
  };
}

const rejection = async (p: Promise<unknown>): Promise<AppError> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
};

testPlatform(
  'azure (ARM test server)',
  async () => {
    if (missing) return { skip: missing };
    const s = await startArmServer({ speed: 1000 });
    return {
      platform: await createAzurePlatform(config(s), { credential: staticCredential(s) }),
      deploymentId: 'conf1',
      machine: { os: 'ubuntu-22.04' },
      waitMs: 15_000,
      cleanup: () => s.close(),
    };
  },
  {
    'reports what it can still hold':
      'not read yet: Azure quotas (compute usages per region) are checked when each VM is created, and a quota failure names the quota',
    'runs a program in the guest: exit code and output, a non-zero exit being a result':
      'Azure has no channel into the guest here (Run Command is not used); readiness comes from the boot-diagnostics serial log',
  },
);

describe.skipIf(missing !== undefined)('azure driver against the ARM test server', () => {
  it('signs in with the client secret through the token endpoint and reports what it checked', async () => {
    const s = await server();
    const p = await driver(s, {}, { secret: s.clientSecret });
    const report = await p.testConnection();
    expect(report.ok, report.details.join('\n')).toBe(true);
    expect(report.details.join('\n')).toMatch(/Signed in to tenant .* as app/);
    expect(report.details.join('\n')).toMatch(/Microsoft.Compute is registered/);
    expect(report.details.join('\n')).toMatch(/vCPUs in westeurope: 0 of 1000 in use/);
    expect(report.choices?.templates?.map((t) => t.os)).toContain('kali-rolling');
    await p.ensureNetwork(net('tok1', 'lan', '10.5.0.0/24'));
    expect(s.tokens.issued).toBe(1);
    expect(s.requests.filter((r) => r.route === 'token')).toHaveLength(1);
  });

  it('reports a wrong client secret, an unknown client and an unknown tenant with what to fix, creating nothing', async () => {
    const s = await server();
    const wrong = await driver(s, {}, { secret: 'not-the-secret' });
    const report = await wrong.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details[0]).toMatch(/AADSTS7000215.*Invalid client secret/);
    expect(report.details[0]).toMatch(/Value \(not its Secret ID\)/);
    const e = await rejection(wrong.ensureNetwork(net('bad1', 'lan', '10.5.0.0/24')));
    expect(e.message).toMatch(/^\[azure\] Unable to create resource group "gd-bad1-i1": AADSTS7000215/);
    expect(e.code).toBe('platform_error');
    const stranger = await driver(s, { clientId: '11111111-2222-3333-4444-555555555555' }, { secret: s.clientSecret });
    expect((await stranger.testConnection()).details[0]).toMatch(
      /AADSTS700016.*No app registration with client id 11111111-/,
    );
    const elsewhere = await driver(s, { tenantId: '99999999-2222-3333-4444-555555555555' }, { secret: s.clientSecret });
    // MSAL cannot read an unknown tenant's metadata (Entra answers AADSTS90002) and says only that.
    expect((await elsewhere.testConnection()).details[0]).toMatch(/endpoints_resolution_error.*tenant was not found/);
    expect(s.inventory()).toEqual([]);
  });

  it('names the missing role when the app may only read', async () => {
    const s = await server({ role: 'Reader' });
    const p = await driver(s);
    expect((await p.testConnection()).ok).toBe(true);
    const e = await rejection(p.ensureNetwork(net('ro1', 'lan', '10.5.0.0/24')));
    expect(e.message).toMatch(
      /Unable to create resource group "gd-ro1-i1": AuthorizationFailed: The client '.*' .* does not have authorization to perform action 'Microsoft.Resources\/subscriptions\/resourceGroups\/write'/,
    );
    expect(e.hint).toMatch(/Contributor role on subscription/);
  });

  it('reports a provider that is not registered, in the probe and when creating', async () => {
    const s = await server({ unregistered: ['Microsoft.Network'] });
    const p = await driver(s);
    const report = await p.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details.join('\n')).toMatch(
      /Microsoft.Network is NotRegistered on subscription .*az provider register --namespace Microsoft.Network/,
    );
    const e = await rejection(p.ensureNetwork(net('reg1', 'lan', '10.5.0.0/24')));
    expect(e.message).toMatch(
      /Unable to create network security group "gd-reg1-i1-lan-nsg": MissingSubscriptionRegistration/,
    );
    expect(e.hint).toMatch(/az provider register --namespace Microsoft.Network/);
  });

  it('builds a per-instance resource group, one VNet with a subnet and NSG per network, and NICs with their fixed addresses', async () => {
    const s = await server();
    const p = await driver(s);
    const firewall = {
      default: 'deny' as const,
      rules: [
        {
          from: ['10.6.2.0/24'],
          to: ['10.6.1.0/24'],
          protocol: 'tcp' as const,
          ports: [[80, 80]] as Array<[number, number]>,
          action: 'allow' as const,
        },
      ],
    };
    const [dmz, lan] = await Promise.all([
      p.ensureNetwork(net('topo', 'dmz', '10.6.1.0/24', { internet: true, range: { networks: [], firewall } })),
      p.ensureNetwork(net('topo', 'lan', '10.6.2.0/24', { range: { networks: [], firewall } })),
    ]);
    const uplink = await p.ensureNetwork({
      deploymentId: 'topo',
      name: 'gd-topo-uplink',
      kind: 'uplink',
      cidr: '0.0.0.0/0',
      gateway: '0.0.0.0',
    });
    const ref = await p.createMachine(
      machine(
        'topo',
        'gw',
        [
          { network: dmz, ip: '10.6.1.10', publicIp: true },
          { network: lan, ip: '10.6.2.10' },
        ],
        { cpus: 2, memoryMb: 4096 },
      ),
    );
    await p.startMachine(ref);
    expect(await p.waitForAddress(ref, { timeoutMs: 10_000 })).toEqual(['10.6.1.10', '10.6.2.10']);

    const g = s.store.group('gd-topo-i1')!;
    expect(g.tags).toEqual({ 'glassdome:deployment': 'topo', 'glassdome:instance': '1' });
    const vnet = s.store.get(`${g.id}/providers/Microsoft.Network/virtualNetworks/gd-topo-i1`)!;
    expect(vnet.properties.addressSpace.addressPrefixes.sort()).toEqual(['10.6.1.0/24', '10.6.2.0/24']);
    const subnet = s.store.get(dmz.id)!;
    expect(subnet.properties).toMatchObject({
      addressPrefix: '10.6.1.0/24',
      defaultOutboundAccess: true,
      networkSecurityGroup: { id: expect.stringMatching(/networkSecurityGroups\/gd-topo-i1-dmz-nsg$/) },
    });
    expect(s.store.get(lan.id)!.properties.defaultOutboundAccess).toBe(false);
    const nsg = s.store.get(subnet.properties.networkSecurityGroup.id)!;
    expect(nsg.properties.securityRules.map((r: { name: string }) => r.name)).toEqual([
      'gd-within-network',
      'gd-rule-1-in',
      'gd-deny-other-networks',
    ]);
    const vm = s.store.get(ref.id)!;
    expect(vm.properties.hardwareProfile.vmSize).toBe('Standard_B2s');
    expect(vm.tags).toEqual({
      'glassdome:deployment': 'topo',
      'glassdome:instance': '1',
      'glassdome:machine': 'gd-topo-i1-gw',
    });
    expect(vm.sim.customData).toBe('#cloud-config\nhostname: gw\n');
    expect(vm.properties.osProfile.linuxConfiguration.ssh.publicKeys[0].keyData).toMatch(/^ssh-rsa AAAAB3NzaC1yc2E/);
    expect(vm.properties.storageProfile.osDisk).toMatchObject({ diskSizeGB: 30, deleteOption: 'Delete' });
    expect(vm.properties.diagnosticsProfile).toEqual({ bootDiagnostics: { enabled: true } });
    const nic0 = s.store.get(vm.properties.networkProfile.networkInterfaces[0].id)!;
    expect(nic0.properties.ipConfigurations[0].properties.publicIPAddress.id).toMatch(
      /publicIPAddresses\/gd-topo-i1-gw-pip0$/,
    );
    expect(uplink.id).toBe('internet');
    expect(s.inventory().some((id) => /uplink/.test(id))).toBe(false);
  });

  it('creates the VM only when the machine first starts, from the marketplace plan where the image has one', async () => {
    const s = await server();
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('kali', 'lan', '10.7.0.0/24'));
    const ref = await p.createMachine(machine('kali', 'attacker', [{ network: lan }], { os: 'kali-rolling' }));
    expect(s.store.get(ref.id)).toBeUndefined();
    expect((await p.getMachineState(ref)).power).toBe('stopped');
    await p.startMachine(ref);
    expect(s.store.get(ref.id)!.plan).toEqual({ name: 'kali-2025-4', publisher: 'kali-linux', product: 'kali' });
    await p.waitForReady(ref, { timeoutMs: 10_000 });
  });

  it('completes a deployment through a throttling storm, waiting out each Retry-After', async () => {
    const s = await server({
      faults: [
        {
          path: /networkInterfaces|virtualMachines\/[^/]+$/i,
          effect: { kind: 'throttle', retryAfterSec: 1 },
          times: 6,
        },
      ],
    });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('storm', 'lan', '10.8.0.0/24'));
    const refs = await Promise.all(
      ['a', 'b', 'c'].map((n, i) => p.createMachine(machine('storm', n, [{ network: lan, ip: `10.8.0.${10 + i}` }]))),
    );
    await Promise.all(refs.map((r) => p.startMachine(r)));
    await Promise.all(refs.map((r) => p.waitForReady(r, { timeoutMs: 15_000 })));
    const throttled = s.requests.filter((r) => r.status === 429);
    expect(throttled).toHaveLength(6);
    // Each throttled request was sent again no sooner than Retry-After said.
    for (const t of throttled) {
      const again = s.requests.find((r) => r.at > t.at && r.method === t.method && r.path === t.path);
      expect(again, `${t.method} ${t.path} was not retried`).toBeDefined();
      expect(again!.at - t.at).toBeGreaterThanOrEqual(990);
    }
    expect(s.createdTwice()).toEqual([]);
  });

  it('gives up on a storm longer than its retries with a retryable rate-limit error naming the resource', async () => {
    const s = await server({
      faults: [
        { method: 'PUT', path: /networkSecurityGroups/i, effect: { kind: 'throttle', retryAfterSec: 0 }, times: 10 },
      ],
    });
    const p = await driver(s, { maxRetries: 2 });
    const e = await rejection(p.ensureNetwork(net('storm2', 'lan', '10.8.0.0/24')));
    expect(e.code).toBe('rate_limited');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/Unable to create network security group "gd-storm2-i1-lan-nsg": TooManyRequests/);
  });

  it('honours Retry-After on long-running operations instead of its own interval', async () => {
    const s = await server({ lroRetryAfterSec: 1, timing: { networkOpMs: [1_500_000, 1_500_000] } });
    const p = await driver(s, { pollIntervalMs: 5 });
    await p.ensureNetwork(net('ra', 'lan', '10.9.0.0/24'));
    const polls = s.requests.filter((r) => r.route.includes('/operations/{operationId}'));
    const byOperation = new Map<string, typeof polls>();
    for (const r of polls) byOperation.set(r.path, [...(byOperation.get(r.path) ?? []), r]);
    expect(byOperation.size).toBe(2); // the NSG and the VNet
    for (const list of byOperation.values()) {
      expect(list.length).toBeGreaterThanOrEqual(2);
      // After the first look, at most one poll per Retry-After (with 5 ms between polls it would be hundreds).
      for (let i = 2; i < list.length; i++) expect(list[i]!.at - list[i - 1]!.at).toBeGreaterThanOrEqual(990);
      expect(list.length).toBeLessThanOrEqual(4);
    }
  });

  it("shows a failed creation's code and message as the machine's failure", async () => {
    const s = await server({
      faults: [
        {
          method: 'PUT',
          path: /virtualMachines\/gd-lrof-i1-web$/,
          effect: {
            kind: 'lroFail',
            error: {
              code: 'OSProvisioningClientError',
              message: "OS Provisioning failed for VM 'gd-lrof-i1-web' due to an error during guest provisioning.",
            },
          },
        },
      ],
    });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('lrof', 'lan', '10.10.0.0/24'));
    const ref = await p.createMachine(machine('lrof', 'web', [{ network: lan }]));
    await p.startMachine(ref);
    const e = await rejection(p.waitForAddress(ref, { timeoutMs: 10_000 }));
    expect(e.code).toBe('platform_error');
    expect(e.message).toBe(
      '[azure] Unable to create VM "gd-lrof-i1-web": OSProvisioningClientError: OS Provisioning failed for VM \'gd-lrof-i1-web\' due to an error during guest provisioning.',
    );
    // Another process that never saw the operation reads the same failure from the VM's instance view.
    const other = await driver(s);
    const again = await rejection(other.waitForAddress(ref, { timeoutMs: 10_000 }));
    expect(again.message).toMatch(
      /Unable to create VM "gd-lrof-i1-web": OSProvisioningClientError: OS Provisioning failed/,
    );
  });

  it('creates a VM again after a capacity failure, and reports capacity with a hint when it persists', async () => {
    const allocation = {
      code: 'AllocationFailed',
      message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.',
    };
    const s = await server({
      faults: [
        {
          method: 'PUT',
          path: /virtualMachines\/gd-cap-i1-once$/,
          effect: { kind: 'lroFail', error: allocation },
          times: 1,
        },
        { method: 'PUT', path: /virtualMachines\/gd-cap-i1-never$/, effect: { kind: 'lroFail', error: allocation } },
      ],
    });
    const p = await driver(s, { capacityRetries: 2 });
    const lan = await p.ensureNetwork(net('cap', 'lan', '10.11.0.0/24'));
    const once = await p.createMachine(machine('cap', 'once', [{ network: lan }]));
    const never = await p.createMachine(machine('cap', 'never', [{ network: lan }]));
    await p.startMachine(once);
    await p.startMachine(never);
    expect(await p.waitForAddress(once, { timeoutMs: 10_000 })).toHaveLength(1);
    const e = await rejection(p.waitForAddress(never, { timeoutMs: 10_000 }));
    expect(e.message).toMatch(/Unable to create VM "gd-cap-i1-never": AllocationFailed: Allocation failed/);
    expect(e.hint).toMatch(/no capacity for this size in westeurope/);
    const puts = (name: string) =>
      s.requests.filter((r) => r.method === 'PUT' && r.path.endsWith(`/virtualMachines/${name}`)).length;
    expect(puts('gd-cap-i1-once')).toBe(2);
    expect(puts('gd-cap-i1-never')).toBe(3);
  });

  it('stops waiting in the middle of a long-running operation when the call is aborted', async () => {
    const s = await server({ timing: { networkOpMs: [6_000_000, 6_000_000] } });
    const p = await driver(s);
    const controller = new AbortController();
    const reason = new AppError('conflict', 'cancelled');
    const pending = p.ensureNetwork(net('cxl', 'lan', '10.12.0.0/24'), { signal: controller.signal });
    pending.catch(() => undefined);
    // Aborted once the NSG's operation is being polled (it would take 6000 s simulated, 6 s here).
    for (let i = 0; i < 500 && !s.requests.some((r) => r.route.includes('/operations/')); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.requests.some((r) => r.route.includes('/operations/'))).toBe(true);
    const t0 = Date.now();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(300);
  });

  it('stops waiting for a VM being created when the wait is aborted', async () => {
    const s = await server({ timing: { vmCreateMs: [6_000_000, 6_000_000] } });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('cxl2', 'lan', '10.12.0.0/24'));
    const ref = await p.createMachine(machine('cxl2', 'web', [{ network: lan }]));
    await p.startMachine(ref);
    const controller = new AbortController();
    const waiting = p.waitForAddress(ref, { timeoutMs: 30_000, signal: controller.signal });
    waiting.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    controller.abort(new AppError('conflict', 'cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(Date.now() - t0).toBeLessThan(300);
  });

  it('resumes after a crash in the middle, from tags and the specs, creating nothing twice', async () => {
    const s = await server({ timing: { vmCreateMs: [400_000, 400_000] } });
    const dep = 'crash';
    const first = await driver(s);
    const lanSpec = net(dep, 'lan', '10.13.0.0/24');
    const dmzSpec = net(dep, 'dmz', '10.14.0.0/24', { internet: true });
    const [lan, dmz] = await Promise.all([first.ensureNetwork(lanSpec), first.ensureNetwork(dmzSpec)]);
    const specs = [
      machine(dep, 'db', [{ network: lan, ip: '10.13.0.10' }]),
      machine(dep, 'web', [
        { network: dmz, ip: '10.14.0.10' },
        { network: lan, ip: '10.13.0.11' },
      ]),
      machine(dep, 'kali', [{ network: dmz }]),
    ];
    const refs = await Promise.all(specs.map((m) => first.createMachine(m)));
    await first.startMachine(refs[0]!); // db is being created when the process dies; web and kali were never started
    await first.close();

    const second = await driver(s);
    const owned = await second.listOwned(dep);
    expect(owned.map((o) => `${o.kind} ${o.name}`).sort()).toEqual([
      'machine gd-crash-i1-db',
      'machine gd-crash-i1-kali',
      'machine gd-crash-i1-web',
      'network gd-crash-i1-dmz',
      'network gd-crash-i1-lan',
    ]);
    // The resumed run repeats every step that was not recorded as done.
    const nets = await Promise.all([second.ensureNetwork(lanSpec), second.ensureNetwork(dmzSpec)]);
    expect(nets.map((n) => n.id)).toEqual([lan.id, dmz.id]);
    const resumed = await Promise.all(
      specs.map((m) =>
        second.createMachine({
          ...m,
          nics: m.nics.map((n) => ({ ...n, network: n.network.name.endsWith('lan') ? nets[0]! : nets[1]! })),
        }),
      ),
    );
    expect(resumed.map((r) => r.id)).toEqual(refs.map((r) => r.id));
    const third = await driver(s); // a process that was not even given the create step: start gets the spec
    await Promise.all(resumed.map((r, i) => third.startMachine(r, { spec: specs[i]! })));
    await Promise.all(resumed.map((r) => third.waitForReady(r, { timeoutMs: 15_000 })));
    expect(s.createdTwice()).toEqual([]);
    expect(
      s.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/virtualMachines/gd-crash-i1-db')),
    ).toHaveLength(1);
  });

  it("reads readiness from the serial console: ready, failed with the guest's reason, and never without customData", async () => {
    const s = await server();
    s.guests.script('gd-con-i1-bad', { kind: 'failed', reason: 'packages missing: nginx' });
    s.guests.script('gd-con-i1-hung', { kind: 'silent' });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('con', 'lan', '10.15.0.0/24'));
    const [ok, bad, hung, bare] = await Promise.all(
      ['ok', 'bad', 'hung', 'bare'].map((n) =>
        p.createMachine(machine('con', n, [{ network: lan }], n === 'bare' ? { cloudInit: undefined } : {})),
      ),
    );
    for (const r of [ok!, bad!, hung!, bare!]) await p.startMachine(r);
    await p.waitForReady(ok!, { timeoutMs: 10_000 });
    const failed = await rejection(p.waitForReady(bad!, { timeoutMs: 10_000 }));
    expect(failed.code).toBe('platform_error');
    expect(failed.message).toBe('[azure] First boot of VM "gd-con-i1-bad" failed: packages missing: nginx');
    const slow = await rejection(p.waitForReady(hung!, { timeoutMs: 400 }));
    expect(slow.code).toBe('timeout');
    expect(slow.message).toMatch(
      /did not report the end of its first boot within 0 s; its console last said: .*cloud-init.*running 'init'/,
    );
    expect((await rejection(p.waitForReady(bare!, { timeoutMs: 400 }))).code).toBe('timeout');
    // The console is read from where the last read stopped.
    expect(s.guests.reads).toBeGreaterThan(0);
  });

  it('reads the console through a few storage failures, and gives up after five in a row', async () => {
    const s = await server({
      faults: [
        {
          path: /^\/_blob\/.*gd-blob-i1-web\./,
          effect: { kind: 'error', status: 503, code: 'ServerBusy', message: 'busy' },
          times: 3,
        },
        {
          path: /^\/_blob\/.*gd-blob-i1-db\./,
          effect: { kind: 'error', status: 503, code: 'ServerBusy', message: 'busy' },
        },
      ],
    });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('blob', 'lan', '10.21.0.0/24'));
    const [web, db] = await Promise.all(
      ['web', 'db'].map((n) => p.createMachine(machine('blob', n, [{ network: lan }]))),
    );
    for (const r of [web!, db!]) await p.startMachine(r);
    await p.waitForReady(web!, { timeoutMs: 10_000 });
    const e = await rejection(p.waitForReady(db!, { timeoutMs: 10_000 }));
    expect(e.code).toBe('transient');
    expect(e.message).toBe('[azure] Unable to read the serial log of VM "gd-blob-i1-db": storage answered HTTP 503');
    expect(e.message).not.toMatch(/sig=|_blob/);
  });

  it('does not carry an abandoned wait into the next one: after a cancelled run the VM is asked for again', async () => {
    const s = await server({ timing: { vmCreateMs: [300_000, 300_000] } });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('again', 'lan', '10.22.0.0/24'));
    const ref = await p.createMachine(machine('again', 'web', [{ network: lan }]));
    const run = new AbortController();
    await p.startMachine(ref, { signal: run.signal });
    run.abort(new AppError('conflict', 'cancelled'));
    // The retried run: the VM's creation went on in Azure and is seen to its end.
    expect(await p.waitForAddress(ref, { timeoutMs: 10_000 })).toHaveLength(1);
    await p.waitForReady(ref, { timeoutMs: 10_000 });
  });

  it('refuses up front a size the region does not offer, an image it lacks, and says which machine', async () => {
    const s = await server({
      restrictedSkus: { westeurope: ['Standard_B2s'] },
      images: [
        {
          publisher: 'Canonical',
          offer: '0001-com-ubuntu-server-jammy',
          sku: '22_04-lts-gen2',
          versions: ['22.04.1'],
          os: 'Linux',
          sizeGb: 30,
          locations: ['eastus'],
        },
      ],
    });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('bad', 'lan', '10.16.0.0/24'));
    const before = s.inventory().length;
    const size = await rejection(
      p.createMachine(
        machine('bad', 'big', [{ network: lan }], {
          options: { vmSize: 'Standard_B2s', image: 'Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2' },
        }),
      ),
    );
    expect(size.code).toBe('invalid_input');
    expect(size.message).toMatch(
      /Unable to create VM "gd-bad-i1-big": image Canonical:.* is not offered in westeurope|size Standard_B2s is not available to this subscription in westeurope/,
    );
    const image = await rejection(p.createMachine(machine('bad', 'web', [{ network: lan }])));
    expect(image.message).toBe(
      '[azure] Unable to create VM "gd-bad-i1-web": image Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest is not offered in westeurope',
    );
    expect(image.hint).toMatch(/platform\.azure\.image/);
    const s2 = await server({ restrictedSkus: { westeurope: ['Standard_B2s'] } });
    const p2 = await driver(s2);
    const lan2 = await p2.ensureNetwork(net('bad', 'lan', '10.16.0.0/24'));
    const sized = await rejection(
      p2.createMachine(machine('bad', 'big', [{ network: lan2 }], { options: { vmSize: 'Standard_B2s' } })),
    );
    expect(sized.message).toBe(
      '[azure] Unable to create VM "gd-bad-i1-big": size Standard_B2s is not available to this subscription in westeurope',
    );
    expect(sized.hint).toMatch(/another size \(platform.azure.vmSize\) or region/);
    expect(s.inventory().length).toBe(before);
  });

  it('reports an exhausted vCPU quota with the numbers Azure gives and what to do', async () => {
    const s = await server({ quota: { cores: 100, families: { standardBSFamily: 2 } } });
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('quota', 'lan', '10.17.0.0/24'));
    const a = await p.createMachine(machine('quota', 'a', [{ network: lan }], { cpus: 2, memoryMb: 4096 }));
    const b = await p.createMachine(machine('quota', 'b', [{ network: lan }], { cpus: 2, memoryMb: 4096 }));
    await p.startMachine(a);
    const e = await rejection(p.startMachine(b));
    expect(e.message).toMatch(
      /Unable to create VM "gd-quota-i1-b": OperationNotAllowed: Operation could not be completed as it results in exceeding approved standardBSFamily Cores quota.*Current Limit: 2, Current Usage: 2, Additional Required: 2/,
    );
    expect(e.hint).toMatch(/Quotas > Compute/);
  });

  it('refuses a subnet smaller than Azure allows and an address Azure keeps for itself', async () => {
    const s = await server();
    const p = await driver(s);
    expect((await rejection(p.ensureNetwork(net('small', 'lan', '10.18.0.0/30')))).message).toMatch(
      /10.18.0.0\/30 is smaller than the \/29/,
    );
    const lan = await p.ensureNetwork(net('small', 'lan', '10.18.0.0/24'));
    const e = await rejection(p.createMachine(machine('small', 'gw', [{ network: lan, ip: '10.18.0.1' }])));
    expect(e.message).toMatch(
      /Unable to create network interface "gd-small-i1-gw-nic0": PrivateIPAddressInReservedRange/,
    );
    expect(e.hint).toMatch(/first four and the last address/);
  });

  it('destroys a machine never started (its NICs and public IPs), and deleting a network deletes its whole instance', async () => {
    const s = await server();
    const p = await driver(s);
    const lan = await p.ensureNetwork(net('td', 'lan', '10.19.0.0/24'));
    const dmz = await p.ensureNetwork(net('td', 'dmz', '10.20.0.0/24'));
    const ref = await p.createMachine(machine('td', 'gw', [{ network: dmz, publicIp: true }, { network: lan }]));
    await p.destroyMachine(ref);
    expect(s.inventory().filter((id) => /networkInterfaces|publicIPAddresses/.test(id))).toEqual([]);
    expect((await p.getMachineState(ref)).power).toBe('missing');
    await Promise.all([p.deleteNetwork(lan), p.deleteNetwork(dmz)]);
    expect(s.requests.filter((r) => r.method === 'DELETE' && /resourcegroups\/gd-td-i1$/i.test(r.path))).toHaveLength(
      1,
    );
    expect(s.inventory()).toEqual([]);
    expect(await p.listOwned('td')).toEqual([]);
  });

  it("never deletes a resource group that does not carry the deployment's tag", async () => {
    const s = await server();
    const p = await driver(s);
    s.store.groups.set('gd-foreign-i1', {
      id: `/subscriptions/${s.subscriptionId}/resourceGroups/gd-foreign-i1`,
      name: 'gd-foreign-i1',
      location: 'westeurope',
      tags: { owner: 'someone' },
      state: 'Succeeded',
    });
    const e = await rejection(
      p.deleteNetwork({
        id: `/subscriptions/${s.subscriptionId}/resourceGroups/gd-foreign-i1`,
        name: 'gd-foreign-i1-lan',
      }),
    );
    expect(e.message).toMatch(
      /Unable to delete resource group "gd-foreign-i1": it does not carry the tag glassdome:deployment=foreign/,
    );
    expect(s.store.group('gd-foreign-i1')).toBeDefined();
  });
});
