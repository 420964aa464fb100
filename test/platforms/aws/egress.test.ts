// The range router's wiring on EC2, against moto: the default route of the networks it serves points at its
// interface, with source/destination checking off, whatever happened before its start (a process that died between
// the launch and the routes, a hand edit, the router terminated and launched again with a new interface).
import * as E from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NetworkSpec, RangeSpec } from '../../../server/platforms/platform.ts';
import { machineSpec, startAwsTarget, type AwsTarget } from './helpers.ts';

let t: AwsTarget | undefined;
beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws egress] skipped: ${r.skip}`);
    return;
  }
  t = r;
});
afterAll(async () => t?.stop());

function rangeOf(dep: string): { range: RangeSpec; networks: NetworkSpec[] } {
  const n = (x: string) => `gd-${dep}-i1-${x}`;
  const range: RangeSpec = {
    networks: [
      { name: n('uplink'), cidr: '10.40.0.0/28', internet: true, egress: 'gateway' },
      { name: n('dmz'), cidr: '10.40.1.0/24', internet: true, egress: 'router' },
      { name: n('lan'), cidr: '10.40.2.0/24', internet: false },
    ],
    firewall: { default: 'deny', rules: [] },
    edge: n('uplink'),
  };
  const networks = range.networks.map((x): NetworkSpec => ({
    deploymentId: dep,
    name: x.name,
    kind: 'isolated',
    cidr: x.cidr,
    gateway: x.cidr.replace(/0\/\d+$/, '1'),
    internet: x.internet,
    ...(x.egress ? { egress: x.egress } : {}),
    range,
  }));
  return { range, networks };
}

async function defaultRoute(ec2: E.EC2Client, network: string) {
  const t = (
    await ec2.send(
      new E.DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:glassdome:network', Values: [network] }] }),
    )
  ).RouteTables![0]!;
  return { table: t.RouteTableId!, route: t.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0') };
}

async function routerEni(ec2: E.EC2Client, name: string) {
  const r = await ec2.send(
    new E.DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:glassdome:machine', Values: [name] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    }),
  );
  const inst = r.Reservations!.flatMap((x) => x.Instances ?? [])[0]!;
  const eni = inst.NetworkInterfaces![0]!.NetworkInterfaceId!;
  const check = await ec2.send(
    new E.DescribeNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Attribute: 'sourceDestCheck' }),
  );
  return { instance: inst, eni, sourceDestCheck: check.SourceDestCheck?.Value };
}

it('points the served networks at the router once it starts, and again after a crash, an edit or a relaunch', async (ctx) => {
  if (!t) return ctx.skip();
  const dep = 'egress1';
  const p = t.platform();
  const { networks } = rangeOf(dep);
  const refs = [];
  for (const n of networks) refs.push(await p.ensureNetwork(n));
  const [uplink, dmz, lan] = networks.map((n) => n.name);
  // The dmz's table has no default route until the router starts; the edge's goes to the internet gateway.
  expect((await defaultRoute(t.ec2, dmz!)).route).toBeUndefined();
  expect((await defaultRoute(t.ec2, uplink!)).route?.GatewayId).toMatch(/^igw-/);

  const spec = machineSpec(dep, 1, 'router', [{ network: refs[0]!, ip: '10.40.0.4' }], { routesFor: [dmz!] });
  const ref = await p.createMachine(spec);
  await p.startMachine(ref, { spec });
  const first = await routerEni(t.ec2, spec.name);
  expect(first.sourceDestCheck).toBe(false);
  expect(first.instance.PublicIpAddress).toBeTruthy();
  expect((await defaultRoute(t.ec2, dmz!)).route?.NetworkInterfaceId).toBe(first.eni);
  expect((await defaultRoute(t.ec2, lan!)).route).toBeUndefined();

  // The network step again (a retry, a resumed run) leaves the router's route alone.
  await p.ensureNetwork(networks[1]!);
  expect((await defaultRoute(t.ec2, dmz!)).route?.NetworkInterfaceId).toBe(first.eni);

  // A process that died between the launch and the routes, and a check turned back on by hand: the resumed start
  // (the executor passes the spec) puts both right.
  const { table } = await defaultRoute(t.ec2, dmz!);
  await t.ec2.send(new E.DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0' }));
  await t.ec2.send(
    new E.ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: first.eni, SourceDestCheck: { Value: true } }),
  );
  const again = t.platform();
  await again.startMachine(ref, { spec });
  expect((await routerEni(t.ec2, spec.name)).sourceDestCheck).toBe(false);
  expect((await defaultRoute(t.ec2, dmz!)).route?.NetworkInterfaceId).toBe(first.eni);

  // Terminated and launched again from its template (no spec: the template's tag names the networks).
  await t.ec2.send(new E.TerminateInstancesCommand({ InstanceIds: [first.instance.InstanceId!] }));
  await again.startMachine(ref);
  const second = await routerEni(t.ec2, spec.name);
  expect(second.eni).not.toBe(first.eni);
  expect(second.sourceDestCheck).toBe(false);
  expect((await defaultRoute(t.ec2, dmz!)).route?.NetworkInterfaceId).toBe(second.eni);

  await again.destroyMachine(ref);
  for (const r of refs.reverse()) await again.deleteNetwork(r);
  const left = await t.ec2.send(
    new E.DescribeVpcsCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
  );
  expect(left.Vpcs).toEqual([]);
});

it('refuses a router with more than one network interface before creating anything', async (ctx) => {
  if (!t) return ctx.skip();
  const dep = 'egress2';
  const p = t.platform();
  const { networks } = rangeOf(dep);
  const refs = [];
  for (const n of networks) refs.push(await p.ensureNetwork(n));
  const spec = machineSpec(
    dep,
    1,
    'router',
    [
      { network: refs[0]!, ip: '10.40.0.4' },
      { network: refs[1]!, ip: '10.40.1.4' },
    ],
    { routesFor: [networks[1]!.name] },
  );
  await expect(p.createMachine(spec)).rejects.toThrow(/a range router has exactly one network interface/);
  const templates = await t.ec2.send(
    new E.DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
  );
  expect(templates.LaunchTemplates).toEqual([]);
  for (const r of refs.reverse()) await p.deleteNetwork(r);
});

it("checks with DryRun that a NAT gateway's Elastic IP may be allocated, when the platform's egress is one", async (ctx) => {
  if (!t) return ctx.skip();
  const before = (await t.ec2.send(new E.DescribeAddressesCommand({}))).Addresses ?? [];
  const report = await t.platform({ egress: 'nat-gateway' }).testConnection();
  expect(report.ok, report.details.join('\n')).toBe(true);
  expect(report.details.join('\n')).toMatch(/Permissions checked with DryRun: .*ec2:AllocateAddress/);
  const plain = await t.platform().testConnection();
  expect(plain.details.join('\n')).not.toContain('AllocateAddress');
  // Nothing is left allocated, whether the endpoint honoured DryRun or not.
  expect((await t.ec2.send(new E.DescribeAddressesCommand({}))).Addresses ?? []).toHaveLength(before.length);
});

it("deletes a network routed to the NAT gateway without touching the gateway; the edge's deletion takes both", async (ctx) => {
  if (!t) return ctx.skip();
  const dep = 'egress3';
  const p = t.platform();
  const { networks } = rangeOf(dep);
  const nat = networks.map((n): NetworkSpec =>
    n.name.endsWith('-uplink')
      ? { ...n, natGateway: true }
      : n.egress === 'router'
        ? { ...n, egress: 'nat-gateway' as const }
        : n,
  );
  const refs = [];
  for (const n of nat) refs.push(await p.ensureNetwork(n));
  const gateways = async () =>
    (
      (
        await t!.ec2.send(
          new E.DescribeNatGatewaysCommand({ Filter: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
        )
      ).NatGateways ?? []
    ).filter((g) => g.State !== 'deleted');
  const addresses = async () =>
    (
      await t!.ec2.send(
        new E.DescribeAddressesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
      )
    ).Addresses ?? [];
  const [gw] = await gateways();
  expect(gw?.State).toBe('available');
  expect((await defaultRoute(t.ec2, nat[1]!.name)).route?.NatGatewayId).toBe(gw!.NatGatewayId);
  expect(await addresses()).toHaveLength(1);

  await p.deleteNetwork(refs[1]!);
  expect((await gateways()).map((g) => [g.NatGatewayId, g.State])).toEqual([[gw!.NatGatewayId, 'available']]);
  expect((await addresses()).map((a) => a.AllocationId)).toEqual([gw!.NatGatewayAddresses![0]!.AllocationId]);

  await p.deleteNetwork(refs[2]!);
  await p.deleteNetwork(refs[0]!);
  expect(await gateways()).toEqual([]);
  expect(await addresses()).toEqual([]);
});

it('gives the router an Elastic IP that stays when it is stopped and started, with routerAddress: elastic', async (ctx) => {
  if (!t) return ctx.skip();
  const dep = 'egress4';
  const p = t.platform({ routerAddress: 'elastic' });
  const { networks } = rangeOf(dep);
  const refs = [];
  for (const n of networks) refs.push(await p.ensureNetwork(n));
  const spec = machineSpec(dep, 1, 'router', [{ network: refs[0]!, ip: '10.40.0.4' }], {
    routesFor: [networks[1]!.name],
  });
  const ref = await p.createMachine(spec);
  await p.startMachine(ref, { spec });
  const eips = async () =>
    (
      await t!.ec2.send(
        new E.DescribeAddressesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
      )
    ).Addresses ?? [];
  const [eip] = await eips();
  const first = await routerEni(t.ec2, spec.name);
  expect(eip?.NetworkInterfaceId).toBe(first.eni);
  expect(first.instance.PublicIpAddress).toBe(eip!.PublicIp);
  expect((await p.getMachineState(ref)).addresses).toContain(eip!.PublicIp);

  await p.stopMachine(ref, { force: true });
  await p.startMachine(ref, { spec });
  expect((await routerEni(t.ec2, spec.name)).instance.PublicIpAddress).toBe(eip!.PublicIp);
  expect(await eips()).toHaveLength(1);

  await p.destroyMachine(ref);
  for (const r of refs.reverse()) await p.deleteNetwork(r);
  expect(await eips()).toEqual([]);
});

it("never hands a router's Elastic IP to the NAT gateway, even while the router's address is free", async (ctx) => {
  if (!t) return ctx.skip();
  const dep = 'egress5';
  const p = t.platform();
  const { networks } = rangeOf(dep);
  const tags = [
    { Key: 'glassdome:deployment', Value: dep },
    { Key: 'glassdome:instance', Value: '1' },
    { Key: 'glassdome:machine', Value: `gd-${dep}-i1-router` },
  ];
  const routerIp = await t.ec2.send(
    new E.AllocateAddressCommand({ Domain: 'vpc', TagSpecifications: [{ ResourceType: 'elastic-ip', Tags: tags }] }),
  );
  const edge = await p.ensureNetwork({ ...networks[0]!, natGateway: true });
  const gw = (
    await t.ec2.send(
      new E.DescribeNatGatewaysCommand({ Filter: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
    )
  ).NatGateways!.find((g) => g.State === 'available')!;
  expect(gw.NatGatewayAddresses![0]!.AllocationId).not.toBe(routerIp.AllocationId);
  await p.deleteNetwork(edge);
  const left = await t.ec2.send(
    new E.DescribeAddressesCommand({ Filters: [{ Name: 'tag:glassdome:deployment', Values: [dep] }] }),
  );
  expect((left.Addresses ?? []).map((a) => a.AllocationId)).toEqual([]);
});
