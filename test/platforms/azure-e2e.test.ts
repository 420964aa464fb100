// The bundled web DMZ scenario deployed to Azure through the domain (platform record with its sealed client secret,
// deployment, plan, executor) against the ARM test server: 2 instances to ready, then destroyed, with nothing left
// in the server's resource list and nothing created twice; a VM whose creation fails names its cause in its step.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { createServices, type Services } from '../../server/services.ts';
import { opensslMissingReason, startArmServer, type ArmServer, type ArmServerOptions } from './azure-server/index.ts';
import { systemActor } from '../../server/model/audit.ts';

const missing = opensslMissingReason();
if (missing) console.warn(`skipping the Azure end-to-end test: ${missing}`);

const webDmz = readFileSync(new URL('../../server/scenarios/web-dmz.yaml', import.meta.url), 'utf8');
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(o: ArmServerOptions = {}): Promise<{ s: ArmServer; services: Services; platformId: string }> {
  const s = await startArmServer({ speed: 1000, ...o });
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 4, baseMs: 100, maxMs: 1000 }, leaseMs: 2000 },
  });
  cleanup.push(
    () => s.close(),
    () => services.close(),
  );
  const record = services.platforms.add(systemActor, {
    name: 'azure-lab',
    kind: 'azure',
    config: {
      tenantId: s.tenantId,
      clientId: s.clientId,
      subscriptionId: s.subscriptionId,
      location: 'westeurope',
      armEndpoint: s.url,
      authorityHost: s.url,
      caFile: s.caFile,
      pollIntervalMs: 20,
      vmPollIntervalMs: 20,
      pollMaxMs: 200,
    },
    secret: s.clientSecret,
  });
  return { s, services, platformId: record.id };
}

describe.skipIf(missing !== undefined)('azure end to end', () => {
  it('deploys web-dmz with 2 instances to ready through the executor, then destroys it leaving nothing', async () => {
    const { s, services, platformId } = await setup();
    const { id, plan } = createDeployment(services, {
      yaml: webDmz,
      file: 'web-dmz.yaml',
      platform: platformId,
      instances: 2,
    });
    expect(plan.machines.map((m) => m.role)).not.toContain('router');
    expect(await services.runner.run(id)).toBe('ready');

    const view = services.deployments.get(id);
    const machines = machineStatus(view);
    expect(machines.map((m) => `${m.key} ${m.state}`).sort()).toEqual(
      ['i1.attacker', 'i1.db', 'i1.web-1', 'i1.web-2', 'i2.attacker', 'i2.db', 'i2.web-1', 'i2.web-2'].map(
        (k) => `${k} ready`,
      ),
    );
    const vms = s.inventory().filter((x) => /virtualMachines\//.test(x));
    expect(vms).toHaveLength(8);
    expect(
      s
        .inventory()
        .filter((x) => /\/resourceGroups\/[^/]+$/.test(x))
        .sort(),
    ).toEqual([`gd-${id}-i1`, `gd-${id}-i2`].map((g) => `/subscriptions/${s.subscriptionId}/resourceGroups/${g}`));
    // The scenario's fixed addresses are the NICs' (db 10.30.2.10, web-1/web-2 from 10.30.1.20).
    const db = s.store.get(
      `/subscriptions/${s.subscriptionId}/resourceGroups/gd-${id}-i2/providers/Microsoft.Network/networkInterfaces/gd-${id}-i2-db-nic0`,
    )!;
    expect(db.properties.ipConfigurations[0].properties.privateIPAddress).toBe('10.30.2.10');
    // web waits for db: its VM was created only after db's first boot ended.
    const put = (name: string) =>
      s.requests.find((r) => r.method === 'PUT' && r.path.endsWith(`/virtualMachines/${name}`))!.at;
    expect(put(`gd-${id}-i1-web-1`)).toBeGreaterThan(put(`gd-${id}-i1-db`));

    expect(await services.runner.destroy(id)).toBe('destroyed');
    expect(s.inventory()).toEqual([]);
    expect(s.createdTwice()).toEqual([]);
  });

  it('gives public addresses to the NICs a rule opens to the internet, and to no other', async () => {
    const { s, services, platformId } = await setup();
    const open = webDmz.replace(
      'firewall:\n  default: deny\n  rules:\n',
      'firewall:\n  default: deny\n  rules:\n    - { from: "*", to: web, protocol: tcp, ports: [80, 443] }\n',
    );
    expect(open).not.toBe(webDmz);
    const { id } = createDeployment(services, { yaml: open, file: 'web-dmz-open.yaml', platform: platformId });
    expect(await services.runner.run(id)).toBe('ready');
    const pips = s
      .inventory()
      .filter((x) => /publicIPAddresses\//.test(x))
      .map((x) => x.split('/').pop())
      .sort();
    expect(pips).toEqual([`gd-${id}-i1-web-1-pip0`, `gd-${id}-i1-web-2-pip0`]);
    const nic = s.store.get(
      `/subscriptions/${s.subscriptionId}/resourceGroups/gd-${id}-i1/providers/Microsoft.Network/networkInterfaces/gd-${id}-i1-web-1-nic0`,
    )!;
    expect(nic.properties.ipConfigurations[0].properties.publicIPAddress.id).toMatch(/web-1-pip0$/);
    expect(await services.runner.destroy(id)).toBe('destroyed');
    expect(s.inventory()).toEqual([]);
  });

  it("fails the machine whose VM creation fails, with Azure's code and message as its reason", async () => {
    const { services, platformId } = await setup({
      faults: [
        {
          method: 'PUT',
          path: /virtualMachines\/gd-[a-z0-9]+-i1-db$/,
          effect: {
            kind: 'lroFail',
            error: {
              code: 'OSProvisioningTimedOut',
              message: 'OS Provisioning for VM did not finish in the allotted time.',
            },
          },
        },
      ],
    });
    const { id } = createDeployment(services, {
      yaml: webDmz,
      file: 'web-dmz.yaml',
      platform: platformId,
      instances: 1,
    });
    expect(await services.runner.run(id)).toBe('failed');
    const view = services.deployments.get(id);
    const address = view.steps.find((st) => st.key === 'i1.db:address')!;
    expect(address.state).toBe('failed');
    expect(address.error).toBe(
      `[azure] Unable to create VM "gd-${id}-i1-db": OSProvisioningTimedOut: OS Provisioning for VM did not finish in the allotted time.`,
    );
    expect(
      view.steps
        .filter((st) => st.key.startsWith('i1.web-'))
        .every((st) => st.state === 'skipped' || st.state === 'done'),
    ).toBe(true);
    expect(await services.runner.destroy(id)).toBe('destroyed');
  });
});
