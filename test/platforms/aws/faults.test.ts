// The AWS driver under faults the proxy in front of moto injects: throttling storms, zones without capacity, lost
// answers, and a process that dies mid-deployment and is replaced. Each checks that what exists in moto afterwards
// was created exactly once.
import * as E from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../server/errors.ts';
import type { NetworkRef, Platform } from '../../../server/platforms/platform.ts';
import { machineSpec, region, startAwsTarget, webDmzNetworks, type AwsTarget } from './helpers.ts';

let t: AwsTarget | undefined;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws faults] skipped: ${r.skip}`);
    return;
  }
  t = r;
});
afterAll(async () => t?.stop());

const test = (name: string, fn: (t: AwsTarget) => Promise<void>) =>
  it(name, async (ctx) => {
    if (!t) return ctx.skip();
    try {
      await fn(t);
    } finally {
      t.proxy.options.fault = undefined;
    }
  });

/** A reproducible coin: the same storm every run. */
function coin(seed: number, p: number): () => boolean {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 < p;
  };
}

const vpcsOf = async (t: AwsTarget, dep: string) =>
  (await t.ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] })))
    .Vpcs ?? [];
const subnetsOf = async (t: AwsTarget, dep: string) =>
  (await t.ec2.send(new E.DescribeSubnetsCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] })))
    .Subnets ?? [];
const instancesOf = async (t: AwsTarget, dep: string) =>
  (
    (
      await t.ec2.send(
        new E.DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:glassdome:deployment', Values: [dep] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopped'] },
          ],
        }),
      )
    ).Reservations ?? []
  ).flatMap((r) => r.Instances ?? []);

async function deployDmz(p: Platform, dep: string, instances: number[]): Promise<void> {
  await Promise.all(
    instances.map(async (i) => {
      const refs = await Promise.all(webDmzNetworks(dep, i).map((s) => p.ensureNetwork(s)));
      const net = (n: string) => refs.find((r) => r.name.endsWith(`-${n}`))!;
      const machines = [
        machineSpec(dep, i, 'db', [{ network: net('internal'), ip: '10.30.2.10' }]),
        machineSpec(dep, i, 'web-1', [{ network: net('dmz'), ip: '10.30.1.20' }]),
        machineSpec(dep, i, 'attacker', [{ network: net('attack'), ip: '10.30.66.10' }]),
      ];
      await Promise.all(machines.map(async (m) => p.startMachine(await p.createMachine(m))));
    }),
  );
}

describe('AWS under throttling', () => {
  test('rides out a throttling storm, backing off, and creates everything exactly once', async (t) => {
    const throttled = coin(7, 0.4);
    t.proxy.options.fault = ({ action }) =>
      action !== 'GetConsoleOutput' && throttled()
        ? { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' }
        : undefined;
    const from = t.proxy.calls.length;
    await deployDmz(t.platform({ retry: { attempts: 20, baseMs: 10, maxMs: 100 } }), 'storm', [1, 2]);
    const calls = t.proxy.calls.slice(from);
    expect(calls.filter((c) => c.fault === 'RequestLimitExceeded').length).toBeGreaterThan(20);
    expect(await vpcsOf(t, 'storm')).toHaveLength(2);
    expect(await subnetsOf(t, 'storm')).toHaveLength(6);
    expect(
      (await instancesOf(t, 'storm')).map((i) => i.Tags?.find((x) => x.Key === 'glassdome:machine')?.Value).sort(),
    ).toEqual([
      'gd-storm-i1-attacker',
      'gd-storm-i1-db',
      'gd-storm-i1-web-1',
      'gd-storm-i2-attacker',
      'gd-storm-i2-db',
      'gd-storm-i2-web-1',
    ]);
    // A throttled create is sent again only after a backoff (half the base delay at the least), never at once.
    const bodies = new Map<string, number>();
    for (const c of calls.filter((x) => x.action.startsWith('Create'))) {
      const key = c.params.toString();
      const prev = bodies.get(key);
      if (prev !== undefined) expect(c.at - prev).toBeGreaterThanOrEqual(5);
      bodies.set(key, c.at);
    }
  });

  test('gives up after its retries with a rate-limit error that says what is happening', async (t) => {
    t.proxy.options.fault = ({ action }) =>
      action === 'CreateVpc'
        ? { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' }
        : undefined;
    const before = t.proxy.count('CreateVpc');
    const [net] = webDmzNetworks('slow', 1);
    const err = await t
      .platform({ retry: { attempts: 4, baseMs: 5, maxMs: 20 } })
      .ensureNetwork(net!)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('rate_limited');
    expect((err as AppError).message).toBe(
      `[aws] Unable to create network "gd-slow-i1-dmz": CreateVpc failed in ${region}: RequestLimitExceeded: Request limit exceeded.`,
    );
    expect((err as AppError).hint).toMatch(/throttling this account/);
    expect(t.proxy.count('CreateVpc') - before).toBe(4);
    expect(await vpcsOf(t, 'slow')).toEqual([]);
  });
});

describe('AWS without capacity', () => {
  let p: Platform;
  let refs: NetworkRef[];
  const zoneOfSubnet = async (t: AwsTarget, id: string | null) =>
    id
      ? (await t.ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: [id] }))).Subnets?.[0]?.AvailabilityZone
      : undefined;

  test('launches in another zone when the first has no capacity, moving the whole instance while nothing of it runs', async (t) => {
    p = t.platform();
    refs = await Promise.all(webDmzNetworks('cap', 1).map((s) => p.ensureNetwork(s)));
    const before = await subnetsOf(t, 'cap');
    expect(new Set(before.map((s) => s.AvailabilityZone))).toEqual(new Set([`${region}a`]));
    t.proxy.options.fault = async ({ action, params }) =>
      action === 'RunInstances' && (await zoneOfSubnet(t, params.get('NetworkInterface.1.SubnetId'))) === `${region}a`
        ? {
            status: 500,
            code: 'InsufficientInstanceCapacity',
            message: `We currently do not have sufficient t3.small capacity in the Availability Zone you requested (${region}a).`,
          }
        : undefined;
    const web = machineSpec('cap', 1, 'web-1', [
      { network: refs.find((r) => r.name.endsWith('-dmz'))!, ip: '10.30.1.20' },
    ]);
    await p.startMachine(await p.createMachine(web));

    const [inst, ...more] = await instancesOf(t, 'cap');
    expect(more).toEqual([]);
    expect(inst!.Placement?.AvailabilityZone).toBe(`${region}b`);
    const after = await subnetsOf(t, 'cap');
    expect(after.map((s) => [s.CidrBlock, s.AvailabilityZone]).sort()).toEqual([
      ['10.30.1.0/24', `${region}b`],
      ['10.30.2.0/24', `${region}b`],
      ['10.30.66.0/24', `${region}b`],
    ]);
    expect(after.some((s) => before.some((b) => b.SubnetId === s.SubnetId))).toBe(false);
    // The DMZ's new subnet still routes to the internet through its own table.
    const dmz = after.find((s) => s.CidrBlock === '10.30.1.0/24')!;
    const table = (
      await t.ec2.send(
        new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [dmz.SubnetId!] }] }),
      )
    ).RouteTables![0]!;
    expect(table.Routes!.some((r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.GatewayId?.startsWith('igw-'))).toBe(
      true,
    );
    expect((await vpcsOf(t, 'cap'))[0]!.Tags!.find((x) => x.Key === 'glassdome:zone')?.Value).toBe(`${region}b`);
  });

  test('does not move an instance that already runs machines, and says why', async (t) => {
    t.proxy.options.fault = async ({ action, params }) =>
      action === 'RunInstances' && (await zoneOfSubnet(t, params.get('NetworkInterface.1.SubnetId'))) === `${region}b`
        ? { status: 500, code: 'InsufficientInstanceCapacity', message: 'Insufficient capacity.' }
        : undefined;
    const subnetsBefore = (await subnetsOf(t, 'cap')).map((s) => s.SubnetId).sort();
    const db = machineSpec('cap', 1, 'db', [
      { network: refs.find((r) => r.name.endsWith('-internal'))!, ip: '10.30.2.10' },
    ]);
    const err = await p.startMachine(await p.createMachine(db)).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('transient');
    expect((err as AppError).message).toBe(
      `[aws] Unable to start VM "gd-cap-i1-db": InsufficientInstanceCapacity for t3.small in ${region}b, and the instance cannot move to another zone: other machines of the instance already run in ${region}b, and its networks cannot span zones`,
    );
    expect((await subnetsOf(t, 'cap')).map((s) => s.SubnetId).sort()).toEqual(subnetsBefore);
    expect(await instancesOf(t, 'cap')).toHaveLength(1);
  });
});

describe('AWS after a crash', () => {
  test('a resumed deployment finds what the dead process created by its tags and creates nothing twice', async (t) => {
    // The first process gets as far as the networks and two machines, then dies (its driver is simply dropped).
    const first = t.platform();
    const refs = await Promise.all(webDmzNetworks('res', 1).map((s) => first.ensureNetwork(s)));
    const net = (n: string) => refs.find((r) => r.name.endsWith(`-${n}`))!;
    await first.startMachine(
      await first.createMachine(machineSpec('res', 1, 'db', [{ network: net('internal'), ip: '10.30.2.10' }])),
    );
    await first.createMachine(machineSpec('res', 1, 'web-1', [{ network: net('dmz'), ip: '10.30.1.20' }]));

    const from = t.proxy.calls.length;
    await deployDmz(t.platform(), 'res', [1]);
    const created = t.proxy.calls
      .slice(from)
      .filter((c) => /^(Create|Run|Import|Associate|Attach|Authorize|Modify)/.test(c.action))
      .map((c) => c.action);
    // Only what the dead process never got to: the attacker's template and the launches of web-1 and the attacker.
    expect(created.sort()).toEqual(['CreateLaunchTemplate', 'RunInstances', 'RunInstances']);
    expect(await vpcsOf(t, 'res')).toHaveLength(1);
    expect(await subnetsOf(t, 'res')).toHaveLength(3);
    expect(await instancesOf(t, 'res')).toHaveLength(3);
  });

  test('a create or launch whose answer was lost is found by its tags, not made again', async (t) => {
    const lost = new Set<string>();
    t.proxy.options.fault = ({ action }) => {
      if (!['CreateVpc', 'CreateSubnet', 'RunInstances'].includes(action) || lost.has(action)) return undefined;
      lost.add(action);
      return { status: 500, code: 'InternalError', message: 'An internal error has occurred', afterForward: true };
    };
    const p = t.platform();
    const [dmz] = webDmzNetworks('lost', 1);
    const ref = await p.ensureNetwork(dmz!);
    await p.startMachine(await p.createMachine(machineSpec('lost', 1, 'web-1', [{ network: ref, ip: '10.30.1.20' }])));
    expect([...lost].sort()).toEqual(['CreateSubnet', 'CreateVpc', 'RunInstances']);
    expect(await vpcsOf(t, 'lost')).toHaveLength(1);
    expect(await subnetsOf(t, 'lost')).toHaveLength(1);
    expect(await instancesOf(t, 'lost')).toHaveLength(1);
  });
});

describe('AWS in an instance this process made, where nothing is looked for before it is created', () => {
  const tablesOf = async (t: AwsTarget, dep: string) =>
    (
      await t.ec2.send(
        new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
      )
    ).RouteTables ?? [];
  const groupsOf = async (t: AwsTarget, dep: string) =>
    (
      await t.ec2.send(
        new E.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
      )
    ).SecurityGroups ?? [];

  test("looks for all of a deployment's VPCs with one call, and for nothing in the VPCs it then makes", async (t) => {
    const p = t.platform();
    const from = t.proxy.calls.length;
    await Promise.all([1, 2, 3].map((i) => Promise.all(webDmzNetworks('many', i).map((s) => p.ensureNetwork(s)))));
    const calls = t.proxy.calls.slice(from).map((c) => c.action);
    expect(calls.filter((a) => a === 'DescribeVpcs')).toEqual(['DescribeVpcs']);
    expect(calls.filter((a) => a === 'CreateVpc')).toHaveLength(3);
    expect(calls.filter((a) => /^Describe(Subnets|RouteTables|SecurityGroups|InternetGateways)$/.test(a))).toEqual([]);
    expect(await vpcsOf(t, 'many')).toHaveLength(3);
    // Another process (a resumed run) finds them all from its own single listing, and makes none again.
    const q = t.platform();
    const again = t.proxy.calls.length;
    await Promise.all([1, 2, 3].map((i) => Promise.all(webDmzNetworks('many', i).map((s) => q.ensureNetwork(s)))));
    expect(t.proxy.calls.slice(again).filter((c) => c.action === 'DescribeVpcs')).toHaveLength(1);
    expect(t.proxy.calls.slice(again).filter((c) => /^Create/.test(c.action))).toEqual([]);
    expect(await vpcsOf(t, 'many')).toHaveLength(3);
  });

  test('a route table, group, gateway or template whose answer was lost is found, not made again', async (t) => {
    const lost = new Set<string>();
    const actions = ['CreateRouteTable', 'CreateSecurityGroup', 'CreateInternetGateway', 'CreateLaunchTemplate'];
    t.proxy.options.fault = ({ action }) => {
      if (!actions.includes(action) || lost.has(action)) return undefined;
      lost.add(action);
      return { status: 500, code: 'InternalError', message: 'An internal error has occurred', afterForward: true };
    };
    const p = t.platform();
    const [dmz] = webDmzNetworks('lost2', 1);
    const ref = await p.ensureNetwork(dmz!);
    await p.startMachine(await p.createMachine(machineSpec('lost2', 1, 'web-1', [{ network: ref, ip: '10.30.1.20' }])));
    expect([...lost].sort()).toEqual([...actions].sort());
    expect(await tablesOf(t, 'lost2')).toHaveLength(1);
    expect(await groupsOf(t, 'lost2')).toHaveLength(1);
    const igws = await t.ec2.send(
      new E.DescribeInternetGatewaysCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: ['lost2'] }] }),
    );
    expect(igws.InternetGateways).toHaveLength(1);
    const templates = await t.ec2.send(
      new E.DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: ['lost2'] }] }),
    );
    expect(templates.LaunchTemplates).toHaveLength(1);
    expect(await instancesOf(t, 'lost2')).toHaveLength(1);
  });

  test('a network whose first attempt failed halfway is finished by the next, which makes nothing twice', async (t) => {
    // The subnet is refused once: its route table and group, made at the same time, are there already.
    let refused = false;
    t.proxy.options.fault = ({ action }) => {
      if (action !== 'CreateSubnet' || refused) return undefined;
      refused = true;
      return { status: 400, code: 'InvalidParameterValue', message: 'Refused once by the test.' };
    };
    const p = t.platform();
    const [dmz] = webDmzNetworks('half', 1);
    const err = await p.ensureNetwork(dmz!).catch((e: unknown) => e);
    expect((err as AppError).message).toMatch(/Unable to create network "gd-half-i1-dmz": .*Refused once by the test/);
    expect(await subnetsOf(t, 'half')).toHaveLength(0);
    expect(await tablesOf(t, 'half')).toHaveLength(1);
    expect(await groupsOf(t, 'half')).toHaveLength(1);

    await p.ensureNetwork(dmz!);
    const [subnet, ...moreSubnets] = await subnetsOf(t, 'half');
    expect(moreSubnets).toEqual([]);
    const [table, ...moreTables] = await tablesOf(t, 'half');
    expect(moreTables).toEqual([]);
    expect(table!.Associations?.map((a) => a.SubnetId)).toEqual([subnet!.SubnetId]);
    expect(table!.Routes!.some((r) => r.DestinationCidrBlock === '0.0.0.0/0' && r.GatewayId?.startsWith('igw-'))).toBe(
      true,
    );
    const [group, ...moreGroups] = await groupsOf(t, 'half');
    expect(moreGroups).toEqual([]);
    // Its firewall is written whole: the web ports from the attack network, and no egress to anywhere but the internet.
    expect(group!.IpPermissions!.flatMap((x) => (x.IpRanges ?? []).map((r) => `${x.FromPort} ${r.CidrIp}`))).toEqual(
      expect.arrayContaining(['80 10.30.66.0/24', '443 10.30.66.0/24']),
    );
  });
  test("a network whose subnet was refused leaves nothing behind once its deployment's resources are deleted", async (t) => {
    t.proxy.options.fault = ({ action }) =>
      action === 'CreateSubnet'
        ? { status: 400, code: 'InvalidParameterValue', message: 'Refused by the test.' }
        : undefined;
    const p = t.platform();
    const [dmz] = webDmzNetworks('orphan', 1);
    await expect(p.ensureNetwork(dmz!)).rejects.toThrow(/Refused by the test/);
    expect(await tablesOf(t, 'orphan')).toHaveLength(1);
    expect(await groupsOf(t, 'orphan')).toHaveLength(1);
    // Teardown deletes what the platform lists: here the VPC, with no network left in it, which takes the rest along.
    const owned = await p.listOwned('orphan');
    expect(owned.map((o) => [o.kind, o.name])).toEqual([['network', 'gd-orphan-i1']]);
    for (const o of owned) await p.deleteNetwork({ id: o.id, name: o.name });
    expect(await p.listOwned('orphan')).toEqual([]);
    expect(await vpcsOf(t, 'orphan')).toEqual([]);
    expect(await tablesOf(t, 'orphan')).toEqual([]);
    expect(await groupsOf(t, 'orphan')).toEqual([]);
  });
});
