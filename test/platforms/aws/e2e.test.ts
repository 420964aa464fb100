// web-dmz.yaml with two instances, deployed and destroyed through the domain (services, the executor) on an AWS
// platform pointed at moto. moto never shows a first-boot line on a console, so the first run stops at what moto can
// show (networks, machines, launches, addresses) and its readiness steps time out; the second lets the proxy play
// the guests' consoles and runs to ready. Both must leave moto as they found it.
import * as E from '@aws-sdk/client-ec2';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { openDb } from '../../../server/db/client.ts';
import { createDeployment } from '../../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../../server/orchestrator/deployment-reads.ts';
import { createServices, type Services } from '../../../server/services.ts';
import { simulatedGuests } from '../ec2-proxy.ts';
import { motoState, region, startAwsTarget, type AwsTarget } from './helpers.ts';
import { systemActor } from '../../../server/model/audit.ts';

const yaml = readFileSync(
  path.resolve(new URL('../../..', import.meta.url).pathname, 'server/scenarios/web-dmz.yaml'),
  'utf8',
);
let t: AwsTarget | undefined;
let s: Services | undefined;
let baseline: Awaited<ReturnType<typeof motoState>>;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws e2e] skipped: ${r.skip}`);
    return;
  }
  t = r;
  baseline = await motoState(t.ec2);
});
afterEach(async () => {
  await s?.close();
  s = undefined;
  if (t) t.proxy.options.console = undefined;
});
afterAll(async () => t?.stop());

function services(readyMs: number, extra: Record<string, unknown> = {}): Services {
  const svc = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 2, baseMs: 50, maxMs: 200 }, timeouts: { addressMs: 30_000, readyMs }, leaseMs: 5000 },
  });
  svc.platforms.add(systemActor, {
    name: 'aws-moto',
    kind: 'aws',
    config: {
      region,
      accessKeyId: 'AKIATESTTESTTEST0000',
      endpoint: t!.proxy.endpoint,
      poll: { minMs: 100, maxMs: 300 },
      ...extra,
    },
    secret: 'test-secret',
  });
  return svc;
}

const stepsOf = (svc: Services, id: string) => svc.deployments.get(id).steps;

describe('web-dmz on AWS (moto), two instances, through the executor', () => {
  it('deploys networks, machines and launches, stops at readiness moto cannot show, and destroys everything', async (ctx) => {
    if (!t) return ctx.skip();
    s = services(1500);
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2 });
    expect(await s.runner.run(id)).toBe('failed');
    const steps = stepsOf(s, id);
    const state = (key: string) => steps.find((x) => x.key === key)?.state;
    for (const i of [1, 2]) {
      for (const n of ['dmz', 'internal', 'attack']) expect(state(`net:i${i}.${n}`)).toBe('done');
      for (const m of ['web-1', 'web-2', 'db', 'attacker']) expect(state(`i${i}.${m}:create`)).toBe('done');
      for (const m of ['db', 'attacker']) {
        expect(state(`i${i}.${m}:start`)).toBe('done');
        expect(state(`i${i}.${m}:address`)).toBe('done');
        expect(state(`i${i}.${m}:ready`)).toBe('failed');
        expect(steps.find((x) => x.key === `i${i}.${m}:ready`)!.error).toMatch(
          /did not report the end of its first boot .* its console output has no "GLASSDOME-READY gd-.*" line/,
        );
      }
      // web-1 and web-2 depend on db being ready: never started.
      for (const m of ['web-1', 'web-2']) expect(state(`i${i}.${m}:start`)).toBe('skipped');
    }
    const machines = Object.fromEntries(machineStatus(s.deployments.get(id)).map((m) => [m.key, m]));
    expect(machines['i2.db']!.addresses).toEqual(['10.30.2.10']);
    expect(machines['i1.attacker']!.addresses).toEqual(machines['i1.attacker']!.plannedAddresses);
    expect((await motoState(t.ec2)).vpcs).toHaveLength(baseline.vpcs.length + 2);

    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });

  it('runs to ready when the guests print their first-boot line (played by the proxy), and destroys everything', async (ctx) => {
    if (!t) return ctx.skip();
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
    s = services(20_000);
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2 });
    expect(await s.runner.run(id)).toBe('ready');
    const steps = stepsOf(s, id);
    const at = (key: string, end: 'startedAt' | 'endedAt') => steps.find((x) => x.key === key)![end]!;
    for (const i of [1, 2]) {
      expect(at(`i${i}.web-1:start`, 'startedAt') >= at(`i${i}.db:ready`, 'endedAt')).toBe(true);
      // The DMZ's egress goes through the range router: its machines start once it is ready; db's does not.
      expect(at(`i${i}.web-1:start`, 'startedAt') >= at(`i${i}.router:ready`, 'endedAt')).toBe(true);
      expect(
        stepsOf(s, id).find((x) => x.key === `i${i}.db:start`)!.startedAt! < at(`i${i}.router:ready`, 'endedAt'),
      ).toBe(true);
    }
    const owned = await (await s.platforms.instance('aws-moto')).listOwned(id);
    expect(owned.filter((o) => o.kind === 'machine')).toHaveLength(10);
    expect(owned.filter((o) => o.kind === 'network')).toHaveLength(8);
    for (const i of [1, 2]) {
      const r = await routing(t.ec2, id, i);
      // The router: one NIC on the edge subnet (a /28 outside the scenario's networks), public address, no
      // source/destination check; the DMZ's default route goes to that NIC; the edge subnet's to the internet gateway.
      expect(r.subnet('uplink').CidrBlock).toBe('10.30.0.0/28');
      expect(r.instance('router').PrivateIpAddress).toBe('10.30.0.4');
      expect(r.instance('router').PublicIpAddress).toBeTruthy();
      const eni = r.instance('router').NetworkInterfaces![0]!.NetworkInterfaceId!;
      expect(await sourceDestCheck(t.ec2, eni)).toBe(false);
      expect(r.defaultRoute('dmz')).toEqual({ NetworkInterfaceId: eni });
      expect(r.defaultRoute('uplink')).toEqual({ GatewayId: expect.stringMatching(/^igw-/) });
      expect(r.defaultRoute('internal')).toBeUndefined();
      expect(r.defaultRoute('attack')).toBeUndefined();
      // No lab machine has a public address: the DMZ is not open to the internet, its egress is the router's.
      for (const m of ['web-1', 'web-2', 'db', 'attacker']) expect(r.instance(m).PublicIpAddress).toBeUndefined();
      // The router's group takes in what the DMZ sends, and nothing else.
      expect(r.group('uplink').IpPermissions).toEqual([
        expect.objectContaining({ IpProtocol: '-1', IpRanges: [expect.objectContaining({ CidrIp: '10.30.1.0/24' })] }),
      ]);
    }

    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });

  it('with the VPN: the router listens on its public address, every network answers the tunnel through it', async (ctx) => {
    if (!t) return ctx.skip();
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
    s = services(20_000);
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2, vpn: true });
    expect(await s.runner.run(id)).toBe('ready');
    // Each instance's networks answer the tunnel through their own router (the same tunnel network in both).
    const other = await routing(t.ec2, id, 2);
    const otherEni = other.instance('router').NetworkInterfaces![0]!.NetworkInterfaceId!;
    for (const n of ['dmz', 'internal', 'attack'])
      expect(other.route(n, '100.64.0.0/24')).toEqual({ NetworkInterfaceId: otherEni });
    const r = await routing(t.ec2, id, 1);
    const router = r.instance('router');
    const eni = router.NetworkInterfaces![0]!.NetworkInterfaceId!;
    expect(eni).not.toBe(otherEni);
    for (const n of ['dmz', 'internal', 'attack']) {
      expect(r.route(n, '100.64.0.0/24')).toEqual({ NetworkInterfaceId: eni });
      // The peers reach every network's machines, and they may answer and call back.
      const all = r.group(n).IpPermissions!.find((p) => p.IpProtocol === '-1');
      expect(all?.IpRanges?.map((x) => x.CidrIp)).toContain('100.64.0.0/24');
    }
    expect(r.route('uplink', '100.64.0.0/24')).toBeUndefined();
    // Only the DMZ's internet goes through the router; the other networks keep no default route.
    expect(r.defaultRoute('internal')).toBeUndefined();
    const edgeIn = r.group('uplink').IpPermissions!;
    expect(edgeIn).toContainEqual(
      expect.objectContaining({
        IpProtocol: 'udp',
        FromPort: 51820,
        ToPort: 51820,
        IpRanges: [expect.objectContaining({ CidrIp: '0.0.0.0/0' })],
      }),
    );
    expect(
      edgeIn
        .find((p) => p.IpProtocol === '-1')!
        .IpRanges!.map((x) => x.CidrIp)
        .sort(),
    ).toEqual(['10.30.1.0/24', '10.30.2.0/24', '10.30.66.0/24']);
    // The trainee's configuration ends on the router's public address, and reaches the scenario's networks.
    const conf = await s.access.vpnConfig(systemActor, 'trainee', id, 1);
    expect(conf.config).toContain(`Endpoint = ${router.PublicIpAddress}:51820`);
    expect(conf.config).toMatch(/AllowedIPs = 10\.30\.1\.0\/24, 10\.30\.2\.0\/24, 10\.30\.66\.0\/24/);
    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });

  it('with egress nat-gateway: a NAT gateway per instance instead of a router, released with its address at the end', async (ctx) => {
    if (!t) return ctx.skip();
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
    s = services(20_000, { egress: 'nat-gateway' });
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2 });
    const plan = s.deployments.get(id).plan;
    expect(plan.machines.some((m) => m.role === 'router')).toBe(false);
    expect(await s.runner.run(id)).toBe('ready');
    const during = await motoState(t.ec2);
    expect(during.natGateways).toHaveLength(baseline.natGateways.length + 2);
    expect(during.elasticIps).toHaveLength(baseline.elasticIps.length + 2);
    for (const i of [1, 2]) {
      const r = await routing(t.ec2, id, i);
      const nat = (
        await t.ec2.send(
          new E.DescribeNatGatewaysCommand({ Filter: [{ Name: 'subnet-id', Values: [r.subnet('uplink').SubnetId!] }] }),
        )
      ).NatGateways!.filter((g) => g.State === 'available');
      expect(nat).toHaveLength(1);
      expect(r.defaultRoute('dmz')).toEqual({ NatGatewayId: nat[0]!.NatGatewayId });
      expect(r.defaultRoute('uplink')).toEqual({ GatewayId: expect.stringMatching(/^igw-/) });
      for (const m of ['web-1', 'web-2']) expect(r.instance(m).PublicIpAddress).toBeUndefined();
    }
    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });
});

/** One instance's subnets, route tables, groups and instances in moto, by the scenario's names. */
async function routing(ec2: E.EC2Client, id: string, instance: number) {
  const name = (n: string) => `gd-${id}-i${instance}-${n}`;
  const byNetwork = { Filters: [{ Name: 'tag:glassdome:deployment', Values: [id] }] };
  const [subnets, tables, groups, reservations] = await Promise.all([
    ec2.send(new E.DescribeSubnetsCommand(byNetwork)),
    ec2.send(new E.DescribeRouteTablesCommand(byNetwork)),
    ec2.send(new E.DescribeSecurityGroupsCommand(byNetwork)),
    ec2.send(
      new E.DescribeInstancesCommand({
        Filters: [...byNetwork.Filters, { Name: 'instance-state-name', Values: ['pending', 'running'] }],
      }),
    ),
  ]);
  const tagged = <T extends { Tags?: E.Tag[] }>(xs: T[] | undefined, key: string, n: string) => {
    const found = (xs ?? []).find((x) => x.Tags?.some((tg) => tg.Key === key && tg.Value === name(n)));
    if (!found) throw new Error(`no ${key} ${name(n)} in moto`);
    return found;
  };
  return {
    subnet: (n: string) => tagged(subnets.Subnets, 'glassdome:network', n),
    group: (n: string) =>
      tagged(
        groups.SecurityGroups?.filter((g) => !g.Tags?.some((tg) => tg.Key === 'glassdome:address')),
        'glassdome:network',
        n,
      ),
    instance: (m: string) =>
      tagged(
        reservations.Reservations?.flatMap((x) => x.Instances ?? []),
        'glassdome:machine',
        m,
      ),
    defaultRoute(n: string) {
      return this.route(n, '0.0.0.0/0');
    },
    route(n: string, destination: string) {
      const route = tagged(tables.RouteTables, 'glassdome:network', n).Routes?.find(
        (x) => x.DestinationCidrBlock === destination,
      );
      if (!route) return undefined;
      return Object.fromEntries(
        (['GatewayId', 'NatGatewayId', 'NetworkInterfaceId'] as const).flatMap((k) =>
          route[k] ? [[k, route[k]]] : [],
        ),
      );
    },
  };
}

async function sourceDestCheck(ec2: E.EC2Client, eni: string): Promise<boolean | undefined> {
  const r = await ec2.send(
    new E.DescribeNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Attribute: 'sourceDestCheck' }),
  );
  return r.SourceDestCheck?.Value;
}
