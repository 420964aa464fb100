// The AWS driver against moto: what it builds for a lab instance (VPC, subnets, routes, security groups), how it
// creates and launches machines, and the order it tears down in (moto would let a wrong order pass, so the order is
// read from the calls the proxy recorded).
import * as E from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkRef, Platform } from '../../../server/platforms/platform.ts';
import { machineSpec, motoState, region, sshKey, startAwsTarget, webDmzNetworks, type AwsTarget } from './helpers.ts';

let t: AwsTarget | undefined;
let skip: string | undefined;
let baseline: Awaited<ReturnType<typeof motoState>>;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    skip = r.skip;
    console.warn(`[aws driver] skipped: ${skip}`);
    return;
  }
  t = r;
  baseline = await motoState(t.ec2);
});
afterAll(async () => t?.stop());

const test = (name: string, fn: (t: AwsTarget) => Promise<void>) =>
  it(name, async (ctx) => {
    if (!t) return ctx.skip();
    await fn(t);
  });

const vpcNamed = async (t: AwsTarget, name: string) =>
  (await t.ec2.send(new E.DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [name] }] }))).Vpcs ?? [];
const inVpc = (vpcId: string) => [{ Name: 'vpc-id', Values: [vpcId] }];
const mutating = (t: AwsTarget) => t.proxy.calls.filter((c) => !/^(Describe|Get)/.test(c.action)).length;
const tag = (tags: E.Tag[] | undefined, key: string) => tags?.find((x) => x.Key === key)?.Value;

async function ensureDmz(p: Platform, dep: string, instance: number): Promise<Record<string, NetworkRef>> {
  const specs = webDmzNetworks(dep, instance);
  const refs = await Promise.all(specs.map((s) => p.ensureNetwork(s)));
  return Object.fromEntries(refs.map((r) => [r.name.split('-').pop()!, r]));
}

describe('AWS networks', () => {
  test("builds an instance's VPC from its networks: one block, subnets in one zone, internet only where asked", async (t) => {
    const p = t.platform();
    await ensureDmz(p, 'net1', 1);
    const [vpc, ...more] = await vpcNamed(t, 'gd-net1-i1');
    expect(more).toEqual([]);
    expect(vpc!.CidrBlock).toBe('10.30.0.0/17');
    expect(tag(vpc!.Tags, 'glassdome:deployment')).toBe('net1');
    expect(tag(vpc!.Tags, 'glassdome:instance')).toBe('1');
    const subnets = (await t.ec2.send(new E.DescribeSubnetsCommand({ Filters: inVpc(vpc!.VpcId!) }))).Subnets!;
    expect(subnets.map((s) => s.CidrBlock).sort()).toEqual(['10.30.1.0/24', '10.30.2.0/24', '10.30.66.0/24']);
    expect(new Set(subnets.map((s) => s.AvailabilityZone)).size).toBe(1);
    expect(subnets.filter((s) => s.MapPublicIpOnLaunch).map((s) => s.CidrBlock)).toEqual(['10.30.1.0/24']);

    const igws = (
      await t.ec2.send(
        new E.DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc!.VpcId!] }] }),
      )
    ).InternetGateways!;
    expect(igws).toHaveLength(1);
    const tables = (await t.ec2.send(new E.DescribeRouteTablesCommand({ Filters: inVpc(vpc!.VpcId!) }))).RouteTables!;
    const routeOf = (cidr: string) => {
      const s = subnets.find((x) => x.CidrBlock === cidr)!;
      const table = tables.find((x) => x.Associations?.some((a) => a.SubnetId === s.SubnetId))!;
      return table.Routes!.filter((r) => r.DestinationCidrBlock === '0.0.0.0/0').map((r) => r.GatewayId);
    };
    expect(routeOf('10.30.1.0/24')).toEqual([igws[0]!.InternetGatewayId]);
    expect(routeOf('10.30.2.0/24')).toEqual([]);
    expect(routeOf('10.30.66.0/24')).toEqual([]);
  });

  test('writes the firewall as security groups, and opens nothing to the internet but egress where asked', async (t) => {
    const [vpc] = await vpcNamed(t, 'gd-net1-i1');
    const groups = (
      await t.ec2.send(new E.DescribeSecurityGroupsCommand({ Filters: inVpc(vpc!.VpcId!) }))
    ).SecurityGroups!.filter((g) => g.GroupName !== 'default');
    expect(groups.map((g) => g.GroupName).sort()).toEqual([
      'gd-net1-i1-attack',
      'gd-net1-i1-dmz',
      'gd-net1-i1-internal',
      'gd-net1-i1-internal-10.30.2.10',
    ]);
    const byName = (n: string) => groups.find((g) => g.GroupName === n)!;
    const entries = (perms: E.IpPermission[] | undefined) =>
      (perms ?? [])
        .flatMap((p) =>
          (p.IpRanges ?? []).map((r) => `${p.IpProtocol} ${p.FromPort ?? ''}-${p.ToPort ?? ''} ${r.CidrIp}`),
        )
        .sort();
    expect(entries(byName('gd-net1-i1-internal-10.30.2.10').IpPermissions)).toEqual([
      '-1 - 10.30.2.0/24',
      'tcp 5432-5432 10.30.1.20/31',
    ]);
    expect(entries(byName('gd-net1-i1-internal').IpPermissions)).toEqual(['-1 - 10.30.2.0/24']);
    expect(entries(byName('gd-net1-i1-dmz').IpPermissions)).toEqual([
      '-1 - 10.30.1.0/24',
      'tcp 443-443 10.30.66.0/24',
      'tcp 80-80 10.30.66.0/24',
    ]);
    for (const g of groups) {
      expect(entries(g.IpPermissions).filter((e) => e.endsWith(' 0.0.0.0/0'))).toEqual([]);
      const outward = entries(g.IpPermissionsEgress).filter((e) => e.endsWith(' 0.0.0.0/0'));
      expect(outward).toEqual(g.GroupName === 'gd-net1-i1-dmz' ? ['-1 - 0.0.0.0/0'] : []);
    }
  });

  test('ensuring the networks again creates and changes nothing, in this process or a fresh one', async (t) => {
    const before = mutating(t);
    await ensureDmz(t.platform(), 'net1', 1);
    await ensureDmz(t.platform(), 'net1', 1);
    expect(mutating(t)).toBe(before);
    expect(await vpcNamed(t, 'gd-net1-i1')).toHaveLength(1);
  });

  test("spreads a deployment's instances over the region's zones", async (t) => {
    await ensureDmz(t.platform(), 'net1', 2);
    const zoneOf = async (n: number) => tag((await vpcNamed(t, `gd-net1-i${n}`))[0]!.Tags, 'glassdome:zone');
    expect(await zoneOf(1)).toBe(`${region}a`);
    expect(await zoneOf(2)).toBe(`${region}b`);
  });
});

describe('AWS machines', () => {
  let p: Platform;
  let nets: Record<string, NetworkRef>;
  beforeAll(async () => {
    if (!t) return;
    p = t.platform();
    nets = await ensureDmz(p, 'vm1', 1);
  });

  test('creates a machine stopped, its settings checked and recorded, and launches it only when started', async (t) => {
    const spec = machineSpec('vm1', 1, 'db', [{ network: nets.internal!, ip: '10.30.2.10' }], {
      cpus: 2,
      memoryMb: 4096,
      sshPublicKey: sshKey,
    });
    const runsBefore = t.proxy.count('RunInstances');
    const ref = await p.createMachine(spec);
    expect(await p.getMachineState(ref)).toEqual({ power: 'stopped', addresses: [] });
    expect(t.proxy.count('RunInstances')).toBe(runsBefore);
    const template = (
      await t.ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: ref.id, Versions: ['$Latest'] }))
    ).LaunchTemplateVersions![0]!.LaunchTemplateData!;
    // medium (2 vCPUs, 4 GiB) is a t3.medium; the newest Ubuntu 22.04 x86_64 build of the fixture.
    expect(template.InstanceType).toBe('t3.medium');
    expect(template.ImageId).toBe('ami-0a1b2c3d4e5f60002');
    expect(template.KeyName).toBe('gd-vm1-i1');
    expect(template.MetadataOptions?.HttpTokens).toBe('required');
    expect((await t.ec2.send(new E.DescribeKeyPairsCommand({ KeyNames: ['gd-vm1-i1'] }))).KeyPairs).toHaveLength(1);

    await p.startMachine(ref);
    expect(await p.waitForAddress(ref, { timeoutMs: 10_000 })).toEqual(['10.30.2.10']);
    const inst = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [spec.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!;
    expect(inst.InstanceType).toBe('t3.medium');
    expect(inst.PublicIpAddress).toBeUndefined();
    const host = (
      await t.ec2.send(
        new E.DescribeSecurityGroupsCommand({
          Filters: [{ Name: 'group-name', Values: ['gd-vm1-i1-internal-10.30.2.10'] }],
        }),
      )
    ).SecurityGroups![0]!;
    expect(inst.NetworkInterfaces![0]!.Groups!.map((g) => g.GroupId)).toEqual([host.GroupId]);
    expect(tag(inst.Tags, 'glassdome:deployment')).toBe('vm1');
    const userData = (
      await t.ec2.send(new E.DescribeInstanceAttributeCommand({ InstanceId: inst.InstanceId!, Attribute: 'userData' }))
    ).UserData?.Value;
    expect(Buffer.from(userData!, 'base64').toString()).toBe(spec.cloudInit!.userData);
    expect(await p.getMachineState(ref)).toEqual({ power: 'running', addresses: ['10.30.2.10'] });
  });

  test('gives a single-NIC machine on an internet network a public address and its network group', async (t) => {
    const ref = await p.createMachine(machineSpec('vm1', 1, 'web-1', [{ network: nets.dmz!, ip: '10.30.1.20' }]));
    await p.startMachine(ref);
    await p.waitForAddress(ref, { timeoutMs: 10_000 });
    const inst = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [ref.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!;
    expect(inst.PublicIpAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(inst.NetworkInterfaces![0]!.Groups!.map((g) => g.GroupName)).toEqual(['gd-vm1-i1-dmz']);
    expect(inst.InstanceType).toBe('t3.small');
  });

  test('puts a machine with two NICs on both networks, in NIC order', async (t) => {
    const ref = await p.createMachine(
      machineSpec('vm1', 1, 'jump', [
        { network: nets.dmz!, ip: '10.30.1.30' },
        { network: nets.internal!, ip: '10.30.2.30' },
      ]),
    );
    await p.startMachine(ref);
    expect(await p.waitForAddress(ref, { timeoutMs: 10_000 })).toEqual(['10.30.1.30', '10.30.2.30']);
    const inst = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: [ref.name] }] }),
      )
    ).Reservations![0]!.Instances![0]!;
    const subnets = (
      await t.ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: inst.NetworkInterfaces!.map((n) => n.SubnetId!) }))
    ).Subnets!;
    expect(subnets.map((s) => tag(s.Tags, 'glassdome:network')).sort()).toEqual([
      'gd-vm1-i1-dmz',
      'gd-vm1-i1-internal',
    ]);
  });

  test("picks the image of the instance type's architecture, and the Windows image for Windows", async () => {
    const arm = await p.createMachine(
      machineSpec('vm1', 1, 'arm', [{ network: nets.attack!, ip: '10.30.66.20' }], {
        options: { instanceType: 't4g.small' },
      }),
    );
    const win = await p.createMachine(
      machineSpec('vm1', 1, 'win', [{ network: nets.attack!, ip: '10.30.66.21' }], {
        os: 'windows-server-2022',
        cpus: 2,
        memoryMb: 4096,
        diskGb: 40,
      }),
    );
    const data = async (id: string) =>
      (await t!.ec2.send(new E.DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ['$Latest'] })))
        .LaunchTemplateVersions![0]!.LaunchTemplateData!;
    expect((await data(arm.id)).ImageId).toBe('ami-0a1b2c3d4e5f60003');
    expect((await data(win.id)).ImageId).toBe('ami-0a1b2c3d4e5f60009');
    expect((await data(win.id)).BlockDeviceMappings![0]!.Ebs!.VolumeSize).toBe(40);
  });

  test('starting again, from this process or a fresh one, launches nothing new; a stopped machine is started, not relaunched', async (t) => {
    const ref = { id: 'unused', name: 'gd-vm1-i1-db' };
    const runs = t.proxy.count('RunInstances');
    await p.startMachine(ref);
    await t.platform().startMachine(ref);
    expect(t.proxy.count('RunInstances')).toBe(runs);
    await p.stopMachine(ref);
    expect((await p.getMachineState(ref)).power).toBe('stopped');
    await p.startMachine(ref);
    expect(t.proxy.count('StartInstances')).toBe(1);
    expect(t.proxy.count('RunInstances')).toBe(runs);
    expect((await p.getMachineState(ref)).power).toBe('running');
  });

  test('tears down in dependency order and leaves nothing behind', async (t) => {
    const dbId = (
      await t.ec2.send(
        new E.DescribeInstancesCommand({ Filters: [{ Name: 'tag:glassdome:machine', Values: ['gd-vm1-i1-db'] }] }),
      )
    ).Reservations![0]!.Instances![0]!.InstanceId;
    const internalSubnet = (
      await t.ec2.send(
        new E.DescribeSubnetsCommand({ Filters: [{ Name: 'tag:glassdome:network', Values: ['gd-vm1-i1-internal'] }] }),
      )
    ).Subnets![0]!.SubnetId;
    const internalGroups = (
      await t.ec2.send(
        new E.DescribeSecurityGroupsCommand({
          Filters: [{ Name: 'tag:glassdome:network', Values: ['gd-vm1-i1-internal'] }],
        }),
      )
    ).SecurityGroups!.map((g) => g.GroupId!);
    const from = t.proxy.calls.length;
    const owned = await p.listOwned('vm1');
    expect(
      owned
        .filter((o) => o.kind === 'machine')
        .map((o) => o.name)
        .sort(),
    ).toEqual(['gd-vm1-i1-arm', 'gd-vm1-i1-db', 'gd-vm1-i1-jump', 'gd-vm1-i1-web-1', 'gd-vm1-i1-win']);
    expect(
      owned
        .filter((o) => o.kind === 'network')
        .map((o) => o.id)
        .sort(),
    ).toEqual(['gd-vm1-i1-attack', 'gd-vm1-i1-dmz', 'gd-vm1-i1-internal']);
    // As the executor does: every machine but one, then every network at once (the one left is on "internal").
    await Promise.all(
      owned.filter((o) => o.kind === 'machine' && o.name !== 'gd-vm1-i1-db').map((o) => p.destroyMachine(o)),
    );
    await Promise.all(owned.filter((o) => o.kind === 'network').map((o) => p.deleteNetwork(o)));
    expect(await p.listOwned('vm1')).toEqual([]);
    const calls = t.proxy.calls.slice(from).map((c) => c.action);
    const first = (a: string) => calls.indexOf(a);
    const last = (a: string) => calls.lastIndexOf(a);
    expect(calls.filter((a) => a === 'DeleteVpc')).toHaveLength(1);
    expect(last('DeleteSecurityGroup')).toBeLessThan(first('DeleteVpc'));
    expect(calls.filter((a) => a === 'DeleteSubnet')).toHaveLength(3);
    expect(last('DeleteSubnet')).toBeLessThan(first('DeleteVpc'));
    expect(last('DeleteRouteTable')).toBeLessThan(first('DeleteVpc'));
    expect(first('DetachInternetGateway')).toBeLessThan(first('DeleteInternetGateway'));
    expect(first('DeleteInternetGateway')).toBeLessThan(first('DeleteVpc'));
    expect(first('DeleteKeyPair')).toBeLessThan(first('DeleteVpc'));
    // db was still running on "internal": its network terminated it, and waited, before deleting its subnet.
    const recorded = t.proxy.calls.slice(from);
    const dbTerminated = recorded.findIndex(
      (c) => c.action === 'TerminateInstances' && c.params.get('InstanceId.1') === dbId,
    );
    const internalGone = recorded.findIndex(
      (c) => c.action === 'DeleteSubnet' && c.params.get('SubnetId') === internalSubnet,
    );
    expect(dbTerminated).toBeGreaterThanOrEqual(0);
    expect(recorded.slice(dbTerminated, internalGone).some((c) => c.action === 'DescribeInstances')).toBe(true);
    const internalGroupsGone = recorded
      .map((c, i) => (c.action === 'DeleteSecurityGroup' && internalGroups.includes(c.params.get('GroupId')!) ? i : -1))
      .filter((i) => i >= 0);
    expect(internalGroupsGone).toHaveLength(2);
    for (const i of internalGroupsGone) expect(i).toBeGreaterThan(dbTerminated);
    expect(await vpcNamed(t, 'gd-vm1-i1')).toEqual([]);
    expect((await t.ec2.send(new E.DescribeKeyPairsCommand({}))).KeyPairs!.map((k) => k.KeyName)).not.toContain(
      'gd-vm1-i1',
    );
  });

  test("lists an instance's VPC whose networks are gone, and deleting it finishes the teardown", async (t) => {
    const q = t.platform();
    const [net] = webDmzNetworks('orph', 1);
    await q.ensureNetwork(net!);
    // An interrupted teardown: the subnet and its parts went, the VPC and gateway stayed.
    const [vpc] = await vpcNamed(t, 'gd-orph-i1');
    for (const g of (await t.ec2.send(new E.DescribeSecurityGroupsCommand({ Filters: inVpc(vpc!.VpcId!) })))
      .SecurityGroups!)
      if (g.GroupName !== 'default') await t.ec2.send(new E.DeleteSecurityGroupCommand({ GroupId: g.GroupId! }));
    for (const s of (await t.ec2.send(new E.DescribeSubnetsCommand({ Filters: inVpc(vpc!.VpcId!) }))).Subnets!)
      await t.ec2.send(new E.DeleteSubnetCommand({ SubnetId: s.SubnetId! }));
    const owned = await q.listOwned('orph');
    expect(owned).toEqual([{ kind: 'network', id: vpc!.VpcId, name: 'gd-orph-i1' }]);
    await t.platform().deleteNetwork(owned[0]!);
    expect(await q.listOwned('orph')).toEqual([]);
    expect(await vpcNamed(t, 'gd-orph-i1')).toEqual([]);
  });

  test('refuses to tear down a network holding an instance it did not create, and says which', async (t) => {
    const q = t.platform();
    const [net] = webDmzNetworks('frgn', 1);
    await q.ensureNetwork(net!);
    const subnet = (
      await t.ec2.send(
        new E.DescribeSubnetsCommand({ Filters: [{ Name: 'tag:glassdome:network', Values: [net!.name] }] }),
      )
    ).Subnets![0]!;
    const run = await t.ec2.send(
      new E.RunInstancesCommand({
        ImageId: 'ami-0a1b2c3d4e5f60002',
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet.SubnetId!, DeleteOnTermination: true }],
      }),
    );
    const id = run.Instances![0]!.InstanceId!;
    await expect(q.deleteNetwork({ id: net!.name, name: net!.name })).rejects.toThrow(
      new RegExp(
        `Unable to delete network "gd-frgn-i1-dmz": Network "gd-frgn-i1-dmz" holds instances Glassdome did not create: ${id}`,
      ),
    );
    expect((await t.ec2.send(new E.DescribeSubnetsCommand({ SubnetIds: [subnet.SubnetId!] }))).Subnets).toHaveLength(1);
    await t.ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [id] }));
    await q.deleteNetwork({ id: net!.name, name: net!.name });
    expect(await q.listOwned('frgn')).toEqual([]);
  });

  test("leaves moto as it found it once every deployment's resources are gone", async (t) => {
    for (const dep of ['net1']) {
      const q = t.platform();
      for (const o of await q.listOwned(dep)) if (o.kind === 'network') await q.deleteNetwork(o);
    }
    expect(await motoState(t.ec2)).toEqual(baseline);
  });
});
