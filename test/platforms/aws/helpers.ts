// What the AWS driver tests share: moto behind the recording proxy, a driver pointed at it with fast polling, the
// web DMZ lab as network and machine specs, and moto's state read straight (not through the proxy).
import * as E from '@aws-sdk/client-ec2';
import { createAwsPlatform, type AwsDeps } from '../../../server/platforms/aws/driver.ts';
import type { AwsConfigInput } from '../../../server/platforms/aws/config.ts';
import type { MachineSpec, NetworkRef, NetworkSpec, Platform, RangeSpec } from '../../../server/platforms/platform.ts';
import { startEc2Proxy, type Ec2Proxy } from '../ec2-proxy.ts';
import { locateMoto, startMoto, type Moto } from '../moto.ts';

export interface AwsTarget {
  moto: Moto;
  proxy: Ec2Proxy;
  ec2: E.EC2Client;
  platform(config?: Partial<AwsConfigInput>, deps?: Partial<AwsDeps>): Platform;
  stop(): Promise<void>;
}

export const region = 'eu-west-1';

export async function startAwsTarget(env: Record<string, string> = {}): Promise<AwsTarget | { skip: string }> {
  const located = await locateMoto();
  if ('skip' in located) return located;
  const moto = await startMoto(located.python, env);
  const proxy = await startEc2Proxy(moto.endpoint);
  const ec2 = moto.client(region);
  const platforms: Platform[] = [];
  return {
    moto,
    proxy,
    ec2,
    platform(config = {}, deps = {}) {
      const p = createAwsPlatform(
        {
          region,
          accessKeyId: 'AKIATESTTESTTEST0000',
          endpoint: proxy.endpoint,
          poll: { minMs: 50, maxMs: 200 },
          retry: { attempts: 8, baseMs: 20, maxMs: 200 },
          ...config,
        },
        { secret: 'test-secret', ...deps },
      );
      platforms.push(p);
      return p;
    },
    async stop() {
      await Promise.allSettled(platforms.map((p) => p.close()));
      await proxy.stop();
      await moto.stop();
    },
  };
}

/** web-dmz.yaml as the executor would hand it to a cloud driver: three networks and the two rules, resolved. */
export function webDmzRange(deploymentId: string, instance: number): RangeSpec {
  const n = (name: string) => `gd-${deploymentId}-i${instance}-${name}`;
  return {
    networks: [
      { name: n('dmz'), cidr: '10.30.1.0/24', internet: true },
      { name: n('internal'), cidr: '10.30.2.0/24', internet: false },
      { name: n('attack'), cidr: '10.30.66.0/24', internet: false },
    ],
    firewall: {
      default: 'deny',
      rules: [
        {
          from: ['10.30.66.0/24'],
          to: ['10.30.1.0/24'],
          protocol: 'tcp',
          ports: [
            [80, 80],
            [443, 443],
          ],
          action: 'allow',
        },
        {
          from: ['10.30.1.20/32', '10.30.1.21/32'],
          to: ['10.30.2.10/32'],
          protocol: 'tcp',
          ports: [[5432, 5432]],
          action: 'allow',
        },
      ],
    },
  };
}

export function webDmzNetworks(deploymentId: string, instance: number): NetworkSpec[] {
  const range = webDmzRange(deploymentId, instance);
  return range.networks.map((n) => ({
    deploymentId,
    name: n.name,
    kind: 'isolated',
    cidr: n.cidr,
    gateway: n.cidr.replace(/0\/24$/, '1'),
    internet: n.internet,
    range,
  }));
}

export function machineSpec(
  deploymentId: string,
  instance: number,
  host: string,
  nics: Array<{ network: NetworkRef; ip: string }>,
  extra: Partial<MachineSpec> = {},
): MachineSpec {
  const name = `gd-${deploymentId}-i${instance}-${host}`;
  return {
    deploymentId,
    name,
    hostname: host,
    os: 'ubuntu-22.04',
    cpus: 1,
    memoryMb: 2048,
    diskGb: 20,
    nics: nics.map((n, i) => ({ network: n.network, ip: n.ip, mac: `02:00:00:00:0${instance}:${i}${host.length}` })),
    cloudInit: {
      userData: `#cloud-config\nhostname: ${host}\nfinal_message: GLASSDOME-READY ${name}\n`,
      networkConfig: 'version: 2\n',
      metaData: `instance-id: ${host}\n`,
    },
    ...extra,
  };
}

/** Everything in moto that is not the default VPC's, for comparing before and after. */
export async function motoState(ec2: E.EC2Client) {
  const vpcs = (await ec2.send(new E.DescribeVpcsCommand({}))).Vpcs ?? [];
  const defaults = new Set(vpcs.filter((v) => v.IsDefault).map((v) => v.VpcId));
  const notDefault = <T extends { VpcId?: string }>(xs: T[] | undefined) =>
    (xs ?? []).filter((x) => !defaults.has(x.VpcId));
  const instances = ((await ec2.send(new E.DescribeInstancesCommand({}))).Reservations ?? []).flatMap(
    (r) => r.Instances ?? [],
  );
  return {
    vpcs: notDefault(vpcs).map((v) => v.VpcId),
    subnets: notDefault((await ec2.send(new E.DescribeSubnetsCommand({}))).Subnets).map((s) => s.SubnetId),
    securityGroups: notDefault((await ec2.send(new E.DescribeSecurityGroupsCommand({}))).SecurityGroups).map(
      (g) => g.GroupId,
    ),
    routeTables: notDefault((await ec2.send(new E.DescribeRouteTablesCommand({}))).RouteTables).map(
      (t) => t.RouteTableId,
    ),
    internetGateways: ((await ec2.send(new E.DescribeInternetGatewaysCommand({}))).InternetGateways ?? [])
      .filter((g) => !(g.Attachments ?? []).some((a) => defaults.has(a.VpcId)))
      .map((g) => g.InternetGatewayId),
    networkInterfaces: notDefault((await ec2.send(new E.DescribeNetworkInterfacesCommand({}))).NetworkInterfaces).map(
      (n) => n.NetworkInterfaceId,
    ),
    instances: instances.filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId),
    keyPairs: ((await ec2.send(new E.DescribeKeyPairsCommand({}))).KeyPairs ?? []).map((k) => k.KeyName),
    launchTemplates: ((await ec2.send(new E.DescribeLaunchTemplatesCommand({}))).LaunchTemplates ?? []).map(
      (t) => t.LaunchTemplateName,
    ),
    natGateways: ((await ec2.send(new E.DescribeNatGatewaysCommand({}))).NatGateways ?? [])
      .filter((g) => g.State !== 'deleted')
      .map((g) => g.NatGatewayId),
    elasticIps: ((await ec2.send(new E.DescribeAddressesCommand({}))).Addresses ?? []).map((a) => a.AllocationId),
  };
}

export const sshKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl glassdome-test';
