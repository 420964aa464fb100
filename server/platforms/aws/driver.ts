// The AWS EC2 driver: one region of one account. Each lab instance is a VPC (ranges.ts), each scenario network a
// subnet with its route table and security groups (networks.ts, firewall.ts), each machine a launch template and,
// once started, an instance (machines.ts). Everything carries glassdome:* tags, which is how it is found again.
import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { AppError, errorMessage } from '../../errors.ts';
import type { CallOptions, DriverDeps, NetworkRef, OwnedResource, Platform } from '../platform.ts';
import type { ConnectionReport } from '../../model/connection-report.ts';
import { unable } from '../shared/unable.ts';
import { createEc2, createKeyedLock, describeAll } from './client.ts';
import { awsConfigSchema, defaultImages, type AwsConfig, type AwsConfigInput } from './config.ts';
import { hasCode } from './errors.ts';
import { createImages } from './images.ts';
import { createInventory } from './inventory.ts';
import { regionLimiter, type CallOrder, type RegionLimiter } from './limits.ts';
import { createMachines, maxUserDataBytes } from './machines.ts';
import { createNetworks } from './networks.ts';
import { createRanges } from './ranges.ts';
import { byDeployment, liveInstanceStates, tagKeys, tagValue } from './tags.ts';
import { createWatcher } from './watch.ts';

export { awsConfigSchema };

export interface AwsDeps extends Pick<DriverDeps, 'secret'> {
  /** The account and region's call limiter; default: the one this process shares per account and region. */
  limiter?: RegionLimiter;
  /** Sees the SDK client once it is made (tests add middleware to watch or disturb calls). */
  onClient?: (client: Ec2Sdk.EC2Client) => void;
}

/** `[aws] Unable to <action> <kind> "<name>": <cause>`, for every failure that is not an abort or a bug. */
async function attempt<T>(action: string, kind: string, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof AppError) || e.message.startsWith('[aws] Unable to')) throw e;
    throw unable('aws', action, kind, name, e);
  }
}

/**
 * The options an operation hands down to its EC2 calls, stamped with its kind and when it began: a busy region serves
 * machine operations before network ones, and earlier operations first (limits.ts).
 */
function begun<O extends CallOptions>(o: O | undefined, kind: 'machine' | 'network'): O & { order: CallOrder } {
  return { ...o, order: { rank: kind === 'machine' ? 1 : 2, began: performance.now() } } as O & { order: CallOrder };
}

export function createAwsPlatform(input: AwsConfigInput, deps: AwsDeps): Platform {
  const config: AwsConfig = awsConfigSchema.parse(input);
  if (!deps.secret)
    throw new AppError('invalid_input', '[aws] The platform has no secret access key; edit it and enter one');
  const limiter =
    deps.limiter ??
    regionLimiter(
      {
        region: config.region,
        accessKeyId: config.accessKeyId,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      },
      config.maxConcurrentCalls,
    );
  const ec2 = createEc2({
    config,
    secret: deps.secret,
    limiter,
    ...(deps.onClient ? { onClient: deps.onClient } : {}),
  });
  const ctx = { ec2, config, lock: createKeyedLock() };
  const ranges = createRanges(ctx);
  const networks = createNetworks(ctx, ranges);
  const images = createImages(ec2, config);
  const watcher = createWatcher(ec2, config.poll.minMs);
  const machines = createMachines(ctx, ranges, networks, images, watcher);
  const inventory = createInventory({ ec2, images });
  const deploymentOf = new Map<string, string>();

  /** The deployment a network name belongs to, as far as this process knows (its tags are what counts). */
  function deploymentFor(ref: NetworkRef): string {
    return deploymentOf.get(ref.name) ?? /^gd-([^-]+)-/.exec(ref.name)?.[1] ?? '';
  }

  /** Whether the credentials may do `action`, asked with DryRun (nothing is created): allowed, denied, or what EC2 said. */
  async function probe(
    action: 'CreateVpc' | 'CreateInternetGateway' | 'CreateLaunchTemplate' | 'RunInstances' | 'AllocateAddress',
    input: Record<string, unknown>,
    o?: CallOptions,
  ): Promise<string> {
    try {
      const out = (await ec2.call(action, { ...input, DryRun: true } as never, { ...o, retry: false })) as {
        Vpc?: { VpcId?: string };
        AllocationId?: string;
      };
      // An endpoint that ignores DryRun (an emulator) really created it: take it away again.
      if (out.Vpc?.VpcId) await ec2.call('DeleteVpc', { VpcId: out.Vpc.VpcId }, o);
      if (out.AllocationId) await ec2.call('ReleaseAddress', { AllocationId: out.AllocationId }, o);
      return 'allowed (the endpoint ignored DryRun)';
    } catch (e) {
      if (hasCode(e, 'DryRunOperation')) return 'allowed';
      if (e instanceof AppError && e.code === 'forbidden') return 'denied';
      return errorMessage(e);
    }
  }

  return {
    kind: 'aws',
    supports: { snapshots: false, guestExec: false },

    async firstBootDelivery() {
      return {
        method: 'EC2 user data',
        complete: true,
        detail: `the whole cloud-config as each instance's user data (at most ${maxUserDataBytes} bytes, checked per machine before launch)`,
      };
    },

    async testConnection(o) {
      const details: string[] = [
        `Region ${config.region}${config.endpoint ? ` at ${config.endpoint}` : ''}, access key ${config.accessKeyId.slice(0, 4)}...${config.accessKeyId.slice(-4)}${config.assumeRole ? `, assuming ${config.assumeRole.roleArn}` : ''}`,
      ];
      try {
        const attrs = await ec2.call('DescribeAccountAttributes', {}, o);
        const attr = (name: string) =>
          attrs.AccountAttributes?.find((a) => a.AttributeName === name)
            ?.AttributeValues?.map((v) => v.AttributeValue)
            .join(', ');
        details.push(
          `Credentials accepted; account quotas: ${['max-instances', 'vpc-max-security-groups-per-interface', 'max-elastic-ips'].map((n) => `${n} ${attr(n) ?? '?'}`).join(', ')}`,
        );
        let ok = true;
        const vpcs = await describeAll(ec2, 'DescribeVpcs', {}, (r) => r.Vpcs, o);
        details.push(
          `${vpcs.length} VPC(s) in ${config.region}. Each lab instance takes one, and AWS allows 5 per region unless raised (Service Quotas > Amazon VPC > VPCs per Region).`,
        );
        const zones = await ranges.zones(o);
        const regionZones =
          (await ec2.call('DescribeAvailabilityZones', {}, o)).AvailabilityZones?.map((z) => z.ZoneName!) ?? [];
        const missingZones = zones.filter((z) => !regionZones.includes(z));
        if (missingZones.length) ok = false;
        details.push(
          missingZones.length
            ? `Zones not in ${config.region}: ${missingZones.join(', ')}`
            : `Zones for lab instances: ${zones.join(', ')}`,
        );
        const offered = await images.regionOffers(o);
        const types = config.instanceTypes.filter((t) => offered.has(t));
        const notOffered = config.instanceTypes.filter((t) => !offered.has(t));
        if (types.length === 0) ok = false;
        details.push(
          `Instance types offered: ${types.join(', ') || 'none of the configured ones'}${notOffered.length ? `; not offered here: ${notOffered.join(', ')}` : ''}`,
        );
        const [first] = await images.describeTypes(types.slice(0, 1), o);
        const arch = first?.architectures.filter((a) => a !== 'i386') ?? ['x86_64'];
        const found: Array<{ os: string; id: string; name: string }> = [];
        for (const os of Object.keys({ ...defaultImages, ...config.images })) {
          try {
            const img = await images.image(
              { deploymentId: '', name: `probe-${os}`, hostname: os, os, cpus: 1, memoryMb: 1, diskGb: 1, nics: [] },
              first ?? { type: '', vcpus: 0, memoryMb: 0, architectures: arch },
              o,
            );
            found.push({ os, id: img.id, name: img.name });
            details.push(`Image for ${os}: ${img.id} (${img.name})`);
          } catch (e) {
            if (o?.signal?.aborted) throw e;
            details.push(
              `No image for ${os}: ${errorMessage(e).replace(/^\[aws\] /, '')} (machines with this OS need platform.aws.ami)`,
            );
          }
        }
        const image = found[0];
        const checks = {
          CreateVpc: await probe('CreateVpc', { CidrBlock: '10.255.0.0/16' }, o),
          CreateInternetGateway: await probe('CreateInternetGateway', {}, o),
          CreateLaunchTemplate: await probe(
            'CreateLaunchTemplate',
            { LaunchTemplateName: 'glassdome-probe', LaunchTemplateData: { InstanceType: types[0] ?? 't3.micro' } },
            o,
          ),
          // An Elastic IP, when the platform's egress is a NAT gateway or its routers keep their address.
          ...(config.egress === 'nat-gateway' || config.routerAddress === 'elastic'
            ? { AllocateAddress: await probe('AllocateAddress', { Domain: 'vpc' }, o) }
            : {}),
          ...(image && types[0]
            ? {
                RunInstances: await probe(
                  'RunInstances',
                  { ImageId: image.id, InstanceType: types[0], MinCount: 1, MaxCount: 1 },
                  o,
                ),
              }
            : {}),
        };
        const denied = Object.entries(checks)
          .filter(([, v]) => v === 'denied')
          .map(([k]) => `ec2:${k}`);
        const unclear = Object.entries(checks).filter(([, v]) => v !== 'denied' && v !== 'allowed');
        if (denied.length) ok = false;
        details.push(
          denied.length
            ? `Missing permissions: ${denied.join(', ')} (see the IAM policy in the AWS platform's README)`
            : `Permissions checked with DryRun: ${Object.keys(checks)
                .map((k) => `ec2:${k}`)
                .join(', ')}`,
        );
        for (const [k, v] of unclear) details.push(`DryRun of ec2:${k} answered: ${v}`);
        // The overseer's health sweep reads instance status checks; a policy without this read blinds it.
        try {
          await ec2.call('DescribeInstanceStatus', { MaxResults: 5 }, { ...o, retry: false });
        } catch (e) {
          if (!(e instanceof AppError && e.code === 'forbidden')) throw e;
          ok = false;
          details.push(
            "Missing permission: ec2:DescribeInstanceStatus (the overseer's health sweep reads the instances' status checks with it)",
          );
        }
        return {
          ok,
          product: 'AWS EC2',
          version: config.region,
          details,
          choices: { templates: found.map((f) => ({ id: f.id, name: f.name, os: f.os })) },
        } satisfies ConnectionReport;
      } catch (e) {
        if (o?.signal?.aborted) throw o.signal.reason;
        details.push(errorMessage(e), ...(e instanceof AppError && e.hint ? [e.hint] : []));
        return { ok: false, product: 'AWS EC2', version: config.region, details };
      }
    },

    async ensureNetwork(spec, o) {
      deploymentOf.set(spec.name, spec.deploymentId);
      // Machines come after their networks: the instance types they will be given are asked for meanwhile.
      images.warm(begun(o, 'machine'));
      return attempt('create', 'network', spec.name, () => networks.ensure(spec, begun(o, 'network')));
    },

    async deleteNetwork(ref, o) {
      await attempt('delete', 'network', ref.name, async () =>
        networks.remove(ref, deploymentFor(ref), begun(o, 'network')),
      );
    },

    async createMachine(spec, o) {
      return attempt('create', 'VM', spec.name, () => machines.create(spec, begun(o, 'machine')));
    },

    async startMachine(ref, o) {
      await attempt('start', 'VM', ref.name, () => machines.start(ref, begun(o, 'machine')));
    },

    async stopMachine(ref, o) {
      await attempt('stop', 'VM', ref.name, () => machines.stop(ref, o?.force ?? false, begun(o, 'machine')));
    },

    async getMachineState(ref, o) {
      return attempt('read', 'VM', ref.name, () => machines.state(ref, begun(o, 'machine')));
    },

    waitForAddress(ref, o) {
      return attempt('wait for the address of', 'VM', ref.name, () =>
        machines.waitForAddress(ref, begun(o, 'machine')),
      );
    },

    async waitForReady(ref, o) {
      await attempt('wait for', 'VM', ref.name, () => machines.waitForReady(ref, begun(o, 'machine')));
    },

    async createSnapshot() {
      throw new AppError('invalid_input', '[aws] Snapshots are not supported on AWS EC2 by Glassdome yet');
    },
    async listSnapshots() {
      throw new AppError('invalid_input', '[aws] Snapshots are not supported on AWS EC2 by Glassdome yet');
    },
    async revertSnapshot() {
      throw new AppError('invalid_input', '[aws] Snapshots are not supported on AWS EC2 by Glassdome yet');
    },
    async deleteSnapshot() {
      throw new AppError('invalid_input', '[aws] Snapshots are not supported on AWS EC2 by Glassdome yet');
    },

    async destroyMachine(ref, o) {
      await attempt('destroy', 'VM', ref.name, () => machines.destroy(ref, begun(o, 'machine')));
    },

    async listOwned(deploymentId, o) {
      const f = { Filters: [byDeployment(deploymentId)] };
      const [reservations, templates, subnets, vpcs, keys, gateways] = await Promise.all([
        describeAll(
          ec2,
          'DescribeInstances',
          { Filters: [byDeployment(deploymentId), liveInstanceStates] },
          (r) => r.Reservations,
          o,
        ),
        describeAll(ec2, 'DescribeLaunchTemplates', f, (r) => r.LaunchTemplates, o),
        describeAll(ec2, 'DescribeSubnets', f, (r) => r.Subnets, o),
        describeAll(ec2, 'DescribeVpcs', f, (r) => r.Vpcs, o),
        describeAll(ec2, 'DescribeKeyPairs', f, (r) => r.KeyPairs, o),
        describeAll(ec2, 'DescribeInternetGateways', f, (r) => r.InternetGateways, o),
      ]);
      const out: OwnedResource[] = [];
      const machineIds = new Map<string, string>();
      for (const t of templates) machineIds.set(t.LaunchTemplateName!, t.LaunchTemplateId!);
      for (const i of reservations.flatMap((r) => r.Instances ?? [])) {
        const name = tagValue(i.Tags, tagKeys.machine) ?? tagValue(i.Tags, 'Name') ?? i.InstanceId!;
        if (!machineIds.has(name)) machineIds.set(name, i.InstanceId!);
      }
      for (const [name, id] of machineIds) out.push({ kind: 'machine', id, name });
      // A network is its subnet; the VPC and its gateway, groups and route tables go with the instance's last one.
      const vpcWithSubnets = new Set(subnets.map((s) => s.VpcId));
      for (const s of subnets) {
        const name = tagValue(s.Tags, tagKeys.network) ?? tagValue(s.Tags, 'Name') ?? s.SubnetId!;
        out.push({ kind: 'network', id: name, name });
      }
      // A VPC whose networks are gone (an interrupted teardown): listed itself, so teardown can finish it.
      const vpcNames = new Set<string>();
      for (const v of vpcs) {
        const name = tagValue(v.Tags, 'Name') ?? v.VpcId!;
        vpcNames.add(name);
        if (!vpcWithSubnets.has(v.VpcId)) out.push({ kind: 'network', id: v.VpcId!, name });
      }
      for (const k of keys)
        if (!vpcNames.has(k.KeyName!)) out.push({ kind: 'other', id: k.KeyPairId!, name: k.KeyName! });
      for (const g of gateways) {
        const name = tagValue(g.Tags, 'Name') ?? g.InternetGatewayId!;
        if (!vpcNames.has(name)) out.push({ kind: 'other', id: g.InternetGatewayId!, name });
      }
      return out;
    },

    inventory(o) {
      return attempt('read the inventory of', 'region', config.region, () => inventory(o));
    },

    async close() {
      watcher.close();
      ec2.close();
    },
  };
}
