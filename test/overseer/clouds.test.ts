// The overseer's health and drift jobs on the clouds' batched inventories: web-dmz deployed through the executor to
// Azure (the ARM test server) and to AWS (moto behind the recording proxy, guests' consoles played by it), swept with
// no finding while all is well (a cloud's named size above the plan is not drift), then a machine stopped, a machine
// deleted and an orphan made behind the appliance's back, each found by the next drift sweep.
import * as E from '@aws-sdk/client-ec2';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import type { Services } from '../../server/services.ts';
import { startAwsTarget, region } from '../platforms/aws/helpers.ts';
import { opensslMissingReason, startArmServer } from '../platforms/azure-server/index.ts';
import { simulatedGuests } from '../platforms/ec2-proxy.ts';
import { overseerServices, testClock } from './helpers.ts';

const webDmz = readFileSync(new URL('../../server/scenarios/web-dmz.yaml', import.meta.url), 'utf8');
const armMissing = opensslMissingReason();
if (armMissing) console.warn(`[skip] the overseer on Azure: ${armMissing}`);

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

/** web-dmz with one instance on the platform, run to ready. */
async function deployed(s: Services, platform: string): Promise<string> {
  const { id } = createDeployment(s, { yaml: webDmz, file: 'web-dmz.yaml', platform, instances: 1 });
  const state = await s.runner.run(id);
  if (state !== 'ready') throw new Error(`deployment ${id} ended ${state}: ${s.deployments.get(id).error}`);
  return id;
}

/** The sweeps of a healthy range: every machine read by inventory, running, its agent answering, nothing found. */
async function healthy(s: Services, id: string, router: Array<[string, string, string, string[]]> = []) {
  const health = await ran(s, 'health');
  const n = 4 + router.length;
  expect(health.summary).toMatch(
    new RegExp(`^${n} machine\\(s\\) of 1 deployment\\(s\\) on 1 platform\\(s\\) \\(1 by inventory\\): ${n} running`),
  );
  expect(
    s.overseer
      .health(id)
      .map((h) => [h.key, h.power, h.agent, h.addresses])
      .sort(),
  ).toEqual([
    ['i1.attacker', 'running', 'ok', ['10.30.66.10']],
    ['i1.db', 'running', 'ok', ['10.30.2.10']],
    ...router,
    ['i1.web-1', 'running', 'ok', ['10.30.1.20']],
    ['i1.web-2', 'running', 'ok', ['10.30.1.21']],
  ]);
  const drift = await ran(s, 'drift');
  expect(drift.summary).toContain('0 missing, 0 orphan(s), 0 drifted, 0 power change(s)');
  expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
}

const openFindings = (s: Services) =>
  s.overseer.findings
    .list({ state: 'open' })
    .map((f) => [f.kind, f.machineKey ?? f.resourceName])
    .sort();

describe.skipIf(armMissing !== undefined)('the overseer on Azure (ARM test server)', () => {
  it('sweeps a healthy range with no finding, then finds a VM deallocated, one deleted and an orphan', async () => {
    const arm = await startArmServer({ speed: 1000 });
    const clock = testClock();
    const { services: s } = overseerServices({ clock });
    cleanups.push(
      () => arm.close(),
      () => s.close(),
    );
    const rec = s.platforms.add(systemActor, {
      name: 'azure-lab',
      kind: 'azure',
      config: {
        tenantId: arm.tenantId,
        clientId: arm.clientId,
        subscriptionId: arm.subscriptionId,
        location: 'westeurope',
        armEndpoint: arm.url,
        authorityHost: arm.url,
        caFile: arm.caFile,
        pollIntervalMs: 20,
        vmPollIntervalMs: 20,
        pollMaxMs: 200,
      },
      secret: arm.clientSecret,
    });
    const id = await deployed(s, rec.id);
    await healthy(s, id);

    const group = `/subscriptions/${arm.subscriptionId}/resourceGroups/gd-${id}-i1/providers`;
    const vm = (name: string) => arm.store.get(`${group}/Microsoft.Compute/virtualMachines/gd-${id}-i1-${name}`)!;
    // A VM Agent that stops answering is found; under the fix policy nothing is run over SSH (the clouds' guest signal
    // is their own), and the fix says so instead of claiming success and reopening the finding every sweep.
    const web1 = vm('web-1');
    web1.sim.agentAt = undefined;
    s.overseer.setPolicy(systemActor, rec.id, { mode: 'fix', orphanGraceMinutes: 60 });
    clock.advance(180_000); // past the agent's grace (2 min here)
    await ran(s, 'health');
    await s.overseer.settled();
    const agent = s.overseer.findings.list({ state: 'open' }).find((f) => f.kind === 'guest-agent-missing');
    expect(agent?.machineKey).toBe('i1.web-1');
    expect(agent!.fix).toMatchObject({
      state: 'failed',
      detail: expect.stringMatching(/not fixable by the appliance on azure/),
    });
    s.overseer.setPolicy(systemActor, rec.id, { mode: 'report', orphanGraceMinutes: 60 });
    web1.sim.agentAt = 0;
    clock.advance(60_000);
    await ran(s, 'health');
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);

    // Deallocated in the portal; deleted with its NIC; someone's copy tagged by a deployment this appliance never had.
    const db = vm('db');
    db.sim.power = 'deallocated';
    arm.guests.halt(db);
    const gone = vm('web-2');
    arm.store.remove(gone.id);
    arm.store.remove(`${group}/Microsoft.Network/networkInterfaces/gd-${id}-i1-web-2-nic0`);
    const orphan = structuredClone(vm('attacker'));
    Object.assign(orphan, { id: `${group}/Microsoft.Compute/virtualMachines/gd-lost1-i1-x`, name: 'gd-lost1-i1-x' });
    orphan.tags = { ...orphan.tags, 'glassdome:deployment': 'lost1' };
    arm.store.put(orphan);

    clock.advance(60_000);
    await ran(s, 'drift');
    expect(openFindings(s)).toEqual([
      ['machine-missing', 'i1.web-2'],
      ['orphan', 'gd-lost1-i1-x'],
      ['power-off', 'i1.db'],
    ]);
  });
});

describe('the overseer on AWS (moto)', () => {
  it('sweeps a healthy range with no finding, then finds an instance stopped, one gone and an orphan', async (ctx) => {
    const t = await startAwsTarget();
    if ('skip' in t) {
      console.warn(`[skip] the overseer on AWS: ${t.skip}`);
      return ctx.skip();
    }
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
    const clock = testClock();
    const { services: s } = overseerServices({ clock });
    cleanups.push(
      () => t.stop(),
      () => s.close(),
    );
    const rec = s.platforms.add(systemActor, {
      name: 'aws-moto',
      kind: 'aws',
      config: {
        region,
        accessKeyId: 'AKIATESTTESTTEST0000',
        endpoint: t.proxy.endpoint,
        poll: { minMs: 100, maxMs: 300 },
      },
      secret: 'test-secret',
    });
    const id = await deployed(s, rec.id);
    // web-1 and web-2 are planned with 1 vCPU and run as t3.small (2 vCPUs): the smallest type that holds them.
    // The DMZ's egress goes through the range router, swept like every machine; its firewall is not read (no channel).
    await healthy(s, id, [['i1.router', 'running', 'ok', ['10.30.0.4']]]);
    expect(s.overseer.health(id).find((h) => h.key === 'i1.router')!.router).toBe('unchecked');

    const instance = async (name: string) =>
      (
        await t.ec2.send(
          new E.DescribeInstancesCommand({
            Filters: [
              { Name: 'tag:glassdome:machine', Values: [`gd-${id}-i1-${name}`] },
              { Name: 'instance-state-name', Values: ['running'] },
            ],
          }),
        )
      ).Reservations![0]!.Instances![0]!;
    const db = await instance('db');
    await t.ec2.send(new E.StopInstancesCommand({ InstanceIds: [db.InstanceId!] }));
    // Terminated with its launch template gone too: nothing of the machine is left.
    await t.ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [(await instance('web-2')).InstanceId!] }));
    await t.ec2.send(new E.DeleteLaunchTemplateCommand({ LaunchTemplateName: `gd-${id}-i1-web-2` }));
    await t.ec2.send(
      new E.RunInstancesCommand({
        ImageId: db.ImageId!,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: db.SubnetId!,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'Name', Value: 'gd-lost1-i1-x' },
              { Key: 'glassdome:deployment', Value: 'lost1' },
            ],
          },
        ],
      }),
    );

    clock.advance(60_000);
    await ran(s, 'drift');
    expect(openFindings(s)).toEqual([
      ['machine-missing', 'i1.web-2'],
      ['orphan', 'gd-lost1-i1-x'],
      ['power-off', 'i1.db'],
    ]);
  });
});
