// One VPC per lab instance ("range"): created with the first network of the instance, in one availability zone
// (instances are spread over the zones), with an internet gateway once a network needs it and the deployment's key
// pair; moved whole to another zone while nothing runs in it; torn down in dependency order and checked empty.
import type { IpPermission, Tag, Vpc } from '@aws-sdk/client-ec2';
import { AppError } from '../../errors.ts';
import type { CallOptions } from '../platform.ts';
import { pollUntil } from '../shared/wait.ts';
import { cidrInterval, containsInterval } from './addressing.ts';
import { describeAll, findOrCreate, longWait, type Ec2, type KeyedLock } from './client.ts';
import type { AwsConfig } from './config.ts';
import { egressLeftovers, removeNatGateways } from './egress.ts';
import { hasCode, isNotFound } from './errors.ts';
import { byDeployment, byTag, liveInstanceStates, tagKeys, tagSpec, tagsOf, tagValue, type RangeName } from './tags.ts';

export interface AwsContext {
  ec2: Ec2;
  config: AwsConfig;
  /** Serializes the work on one range's VPC that must not interleave: creation, a zone move, launches, teardown. */
  lock: KeyedLock;
}

export interface Range {
  name: RangeName;
  vpcId: string;
  zone: string;
  internetGatewayId?: string;
  /** The VPC's associated CIDR blocks, as far as this process has seen or made them. */
  blocks?: string[];
  /**
   * This process made the VPC, so nothing in it was made by anyone else, and a thing of the range not yet `asked`
   * about (a network's subnet, a machine's template, the internet gateway) cannot exist: it is created without a look.
   */
  made?: boolean;
  /** What has been asked about in this range since (see `firstAsk`): from then on it is looked for, as usual. */
  asked?: Set<string>;
}

/**
 * Whether `what` of the range cannot exist yet, because this process made the range's VPC and nothing has asked
 * about `what` before; it counts as asked from now on, so a retry after a failed or lost create looks for it.
 */
export function firstAsk(r: Range | undefined, what: string): boolean {
  if (!r?.made) return false;
  r.asked ??= new Set();
  if (r.asked.has(what)) return false;
  r.asked.add(what);
  return true;
}

export function createRanges(ctx: AwsContext) {
  const { ec2, config } = ctx;
  const known = new Map<string, Range>();
  let zoneList: Promise<string[]> | undefined;
  /** Zones a range has had to leave for want of capacity, so a move never goes back. */
  const left = new Map<string, Set<string>>();

  function zones(o?: CallOptions): Promise<string[]> {
    if (config.availabilityZones?.length) return Promise.resolve(config.availabilityZones);
    return (zoneList ??= ec2
      .call(
        'DescribeAvailabilityZones',
        {
          Filters: [
            { Name: 'state', Values: ['available'] },
            { Name: 'zone-type', Values: ['availability-zone'] },
          ],
        },
        o,
      )
      .then((r) => (r.AvailabilityZones ?? []).map((z) => z.ZoneName!).sort())
      .catch((e: unknown) => {
        zoneList = undefined;
        throw e;
      }));
  }

  /**
   * Per deployment (the latest 50): its VPCs, listed once for the first look of all its ranges (one call instead of
   * one a range), and the ranges that have had their first look (later looks ask for the range alone).
   */
  const listings = new Map<string, { vpcs: Promise<Vpc[]>; looked: Set<string> }>();

  /**
   * The range's VPC. Its first look in this process is answered from the listing of its deployment's VPCs: a range's
   * VPC is made only after its own first look, so the listing, whenever it was asked, cannot have missed it.
   */
  async function firstLook(rn: RangeName, o?: CallOptions): Promise<Vpc | undefined> {
    let l = listings.get(rn.deploymentId);
    if (l?.looked.has(rn.name)) return findVpc(rn, o);
    if (!l) {
      const vpcs = describeAll(ec2, 'DescribeVpcs', { Filters: [byDeployment(rn.deploymentId)] }, (r) => r.Vpcs, o);
      const mine = (l = { vpcs, looked: new Set<string>() });
      vpcs.catch(() => listings.get(rn.deploymentId) === mine && listings.delete(rn.deploymentId));
      listings.set(rn.deploymentId, l);
      if (listings.size > 50) listings.delete(listings.keys().next().value!);
    }
    l.looked.add(rn.name);
    return (await l.vpcs).find((v) => tagValue(v.Tags, 'Name') === rn.name);
  }

  async function findVpc(rn: RangeName, o?: CallOptions): Promise<Vpc | undefined> {
    const vpcs = await describeAll(
      ec2,
      'DescribeVpcs',
      { Filters: [byTag('Name', rn.name), byDeployment(rn.deploymentId)] },
      (r) => r.Vpcs,
      o,
    );
    return vpcs[0];
  }

  async function waitUntil(what: string, probe: () => Promise<boolean>, o?: CallOptions): Promise<void> {
    const ok = await pollUntil(async () => ((await probe()) ? true : undefined), {
      deadline: Date.now() + 5 * 60_000,
      minMs: 500,
      maxMs: 5000,
      ...(o?.signal ? { signal: o.signal } : {}),
    });
    if (!ok) throw new AppError('timeout', `[aws] ${what} did not happen within 5 minutes`);
  }

  async function vpcBlocksOf(
    vpcId: string,
    o?: CallOptions,
  ): Promise<Array<{ cidr: string; id: string; state: string }>> {
    const r = await ec2.call('DescribeVpcs', { VpcIds: [vpcId] }, o);
    return (r.Vpcs?.[0]?.CidrBlockAssociationSet ?? []).map((a) => ({
      cidr: a.CidrBlock!,
      id: a.AssociationId!,
      state: a.CidrBlockState?.State ?? 'associated',
    }));
  }

  /** Associates a block with the VPC (idempotent) and waits until subnets may use it. */
  async function addBlock(vpcId: string, cidr: string, o?: CallOptions): Promise<void> {
    const has = (await vpcBlocksOf(vpcId, o)).find(
      (b) => b.cidr === cidr && b.state !== 'disassociated' && b.state !== 'failed',
    );
    if (!has) await ec2.call('AssociateVpcCidrBlock', { VpcId: vpcId, CidrBlock: cidr }, o);
    if (has?.state !== 'associated')
      await waitUntil(
        `Association of ${cidr} with ${vpcId}`,
        async () => (await vpcBlocksOf(vpcId, o)).some((b) => b.cidr === cidr && b.state === 'associated'),
        o,
      );
  }

  async function ensureInternetGateway(r: Range, o?: CallOptions): Promise<string> {
    if (r.internetGatewayId) return r.internetGatewayId;
    let skipLook = firstAsk(r, 'internet-gateway');
    const igw = await findOrCreate(
      config,
      async () =>
        skipLook
          ? ((skipLook = false), undefined)
          : (
              await describeAll(
                ec2,
                'DescribeInternetGateways',
                { Filters: [byTag('Name', r.name.name), byDeployment(r.name.deploymentId)] },
                (x) => x.InternetGateways,
                o,
              )
            )[0],
      async () =>
        (
          await ec2.call(
            'CreateInternetGateway',
            { TagSpecifications: [tagSpec('internet-gateway', tagsOf(r.name, r.name.name))] },
            { ...o, retry: false },
          )
        ).InternetGateway!,
      o?.signal,
    );
    if (!igw.Attachments?.some((a) => a.VpcId === r.vpcId)) {
      try {
        await ec2.call('AttachInternetGateway', { InternetGatewayId: igw.InternetGatewayId!, VpcId: r.vpcId }, o);
      } catch (e) {
        if (!hasCode(e, 'Resource.AlreadyAssociated')) throw e;
      }
    }
    r.internetGatewayId = igw.InternetGatewayId!;
    return r.internetGatewayId;
  }

  async function findRange(rn: RangeName, o?: CallOptions): Promise<Range | undefined> {
    const k = known.get(rn.name);
    if (k) return k;
    const vpc = await findVpc(rn, o);
    return vpc ? { name: rn, vpcId: vpc.VpcId!, zone: tagValue(vpc.Tags, tagKeys.zone) ?? '' } : undefined;
  }

  return {
    zones,

    /** The range's VPC, created when missing, covering `blocks` and `cidr`, with an internet gateway if asked. */
    async ensure(
      rn: RangeName,
      want: { blocks: string[]; cidr: string; internet: boolean },
      o?: CallOptions,
    ): Promise<Range> {
      // A VPC to create needs the zones: asked while it is looked for (once; a failure is met again there).
      if (!known.has(rn.name)) zones(o).catch(() => undefined);
      const range = await ctx.lock(
        rn.name,
        async () => {
          let r = known.get(rn.name);
          if (!r) {
            let made = false;
            const vpc = await findOrCreate(
              config,
              () => firstLook(rn, o),
              async () => {
                made = true;
                const all = await zones(o);
                if (all.length === 0)
                  throw new AppError('platform_error', `[aws] The region ${config.region} reports no available zone`);
                const zone = all[(Math.max(1, rn.instance) - 1) % all.length]!;
                return (
                  await ec2.call(
                    'CreateVpc',
                    {
                      CidrBlock: want.blocks[0]!,
                      TagSpecifications: [tagSpec('vpc', tagsOf(rn, rn.name, { [tagKeys.zone]: zone }))],
                    },
                    { ...o, retry: false },
                  )
                ).Vpc!;
              },
              o?.signal,
            );
            const vpcId = vpc.VpcId!;
            if (vpc.State !== 'available')
              await waitUntil(
                `VPC ${vpcId} becoming available`,
                async () => (await ec2.call('DescribeVpcs', { VpcIds: [vpcId] }, o)).Vpcs?.[0]?.State === 'available',
                o,
              );
            for (const b of want.blocks.slice(1)) await addBlock(vpcId, b, o);
            r = { name: rn, vpcId, zone: tagValue(vpc.Tags, tagKeys.zone) ?? (await zones(o))[0]! };
            // A VPC made here (or found after a create whose answer was lost) holds the blocks just given it; one
            // found holds those it was listed with (read again below if they do not cover the network).
            if (made) Object.assign(r, { made, blocks: [...want.blocks] });
            else
              r.blocks = (vpc.CidrBlockAssociationSet ?? [])
                .filter((a) => a.CidrBlockState?.State === 'associated')
                .map((a) => a.CidrBlock!);
            known.set(rn.name, r);
          }
          // A network outside every block (a network planned without its range) gets a block of its own.
          const net = cidrInterval(want.cidr);
          const covers = (list: string[]) => list.some((b) => containsInterval(cidrInterval(b), net));
          if (!r.blocks || !covers(r.blocks)) {
            r.blocks = (await vpcBlocksOf(r.vpcId, o)).filter((b) => b.state === 'associated').map((b) => b.cidr);
            if (!covers(r.blocks)) {
              await addBlock(r.vpcId, want.cidr, o);
              r.blocks.push(want.cidr);
            }
          }
          return r;
        },
        o?.signal,
      );
      // Under a lock of its own: the range's other networks, without internet, need not wait for the gateway.
      if (want.internet)
        await ctx.lock(`${rn.name}/internet-gateway`, () => ensureInternetGateway(range, o), o?.signal);
      return range;
    },

    /** The range's VPC if it exists (no creation). */
    find: findRange,

    /** What this process knows of the range, without asking EC2. */
    known(rangeName: string): Range | undefined {
      return known.get(rangeName);
    },

    forget(rangeName: string) {
      known.delete(rangeName);
    },

    /** Imports the deployment's public key as the range's key pair (idempotent); returns its name. */
    async ensureKeyPair(rn: RangeName, publicKey: string, o?: CallOptions): Promise<string> {
      try {
        const r = await ec2.call('DescribeKeyPairs', { KeyNames: [rn.name] }, o);
        if (r.KeyPairs?.length) return rn.name;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      try {
        await ec2.call(
          'ImportKeyPair',
          {
            KeyName: rn.name,
            PublicKeyMaterial: Buffer.from(publicKey.trim()),
            TagSpecifications: [tagSpec('key-pair', tagsOf(rn, rn.name))],
          },
          o,
        );
      } catch (e) {
        if (!hasCode(e, 'InvalidKeyPair.Duplicate')) throw e;
      }
      return rn.name;
    },

    /**
     * Moves a range out of `from`, where an instance type found no capacity, to the next zone that offers the type:
     * possible only while nothing runs in it (its subnets are recreated with the same addresses). Returns whether
     * the range is now elsewhere (moved now, or by another caller). Runs under the range's lock: call it from there.
     */
    async moveUnlocked(
      rn: RangeName,
      from: string,
      instanceType: string,
      o?: CallOptions,
    ): Promise<{ moved: boolean; why?: string; to?: string }> {
      const r = await findRange(rn, o);
      if (!r) return { moved: false, why: 'its VPC is gone' };
      if (r.zone && r.zone !== from) return { moved: true, to: r.zone };
      const enis = await describeAll(
        ec2,
        'DescribeNetworkInterfaces',
        { Filters: [{ Name: 'vpc-id', Values: [r.vpcId] }] },
        (x) => x.NetworkInterfaces,
        o,
      );
      if (enis.length > 0)
        return {
          moved: false,
          why: `other machines of the instance already run in ${from}, and its networks cannot span zones`,
        };
      const offering = await describeAll(
        ec2,
        'DescribeInstanceTypeOfferings',
        { LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: [instanceType] }] },
        (x) => x.InstanceTypeOfferings,
        o,
      );
      const offered = new Set(offering.map((x) => x.Location!));
      const gone = left.get(rn.name) ?? new Set<string>();
      gone.add(from);
      left.set(rn.name, gone);
      const to = (await zones(o)).find((z) => offered.has(z) && !gone.has(z));
      if (!to)
        return {
          moved: false,
          why: `no other zone of ${config.region} offers ${instanceType} (tried ${[...gone].join(', ')})`,
        };
      const subnets = await describeAll(
        ec2,
        'DescribeSubnets',
        { Filters: [{ Name: 'vpc-id', Values: [r.vpcId] }] },
        (x) => x.Subnets,
        o,
      );
      const tables = await describeAll(
        ec2,
        'DescribeRouteTables',
        { Filters: [{ Name: 'vpc-id', Values: [r.vpcId] }] },
        (x) => x.RouteTables,
        o,
      );
      for (const s of subnets) {
        const table = tables.find((t) => t.Associations?.some((a) => a.SubnetId === s.SubnetId));
        await ec2.call('DeleteSubnet', { SubnetId: s.SubnetId! }, o);
        const created = await ec2.call(
          'CreateSubnet',
          {
            VpcId: r.vpcId,
            CidrBlock: s.CidrBlock!,
            AvailabilityZone: to,
            TagSpecifications: [tagSpec('subnet', s.Tags ?? [])],
          },
          o,
        );
        const id = created.Subnet!.SubnetId!;
        if (s.MapPublicIpOnLaunch)
          await ec2.call('ModifySubnetAttribute', { SubnetId: id, MapPublicIpOnLaunch: { Value: true } }, o);
        if (table) await ec2.call('AssociateRouteTable', { RouteTableId: table.RouteTableId!, SubnetId: id }, o);
      }
      await ec2.call('CreateTags', { Resources: [r.vpcId], Tags: [{ Key: tagKeys.zone, Value: to }] }, o);
      r.zone = to;
      known.set(rn.name, r);
      return { moved: true, to };
    },

    /**
     * Deletes everything in the range's VPC and the VPC, in dependency order: instances (ours; another's stops the
     * teardown) and the machines' launch templates, network interfaces, security groups (cross-references revoked first), subnets, route tables, the
     * internet gateway, the key pair, the VPC. Then checks that nothing tagged for the range is left, naming any.
     * Runs under the range's lock: call it from there.
     */
    async teardownUnlocked(rn: RangeName, vpcId: string | undefined, o?: CallOptions): Promise<void> {
      known.delete(rn.name);
      // Should the deployment's ranges be made again in this process, they are listed again.
      listings.delete(rn.deploymentId);
      if (vpcId) await emptyVpc(ctx, rn, vpcId, o);
      const igws = await describeAll(
        ec2,
        'DescribeInternetGateways',
        { Filters: [byTag('Name', rn.name), byDeployment(rn.deploymentId)] },
        (x) => x.InternetGateways,
        o,
      );
      for (const g of igws)
        await deleteInternetGateway(
          ec2,
          g.InternetGatewayId!,
          (g.Attachments ?? []).map((a) => a.VpcId!),
          o,
        );
      await deleteKeyPair(ec2, rn, o);
      if (vpcId) {
        try {
          await ec2.call('DeleteVpc', { VpcId: vpcId }, o);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      const left = await leftovers(ec2, rn, o);
      if (left.length > 0)
        throw new AppError(
          'platform_error',
          `[aws] Instance ${rn.name} is not empty after teardown: ${left.join(', ')}`,
          { hint: 'Delete these in the EC2 console (or destroy again once whatever holds them is gone).' },
        );
    },
  };
}

export type Ranges = ReturnType<typeof createRanges>;

async function emptyVpc(ctx: AwsContext, rn: RangeName, vpcId: string, o?: CallOptions): Promise<void> {
  const { ec2 } = ctx;
  const inVpc = [{ Name: 'vpc-id', Values: [vpcId] }];
  const instances = (
    await describeAll(ec2, 'DescribeInstances', { Filters: [...inVpc, liveInstanceStates] }, (r) => r.Reservations, o)
  ).flatMap((r) => r.Instances ?? []);
  const foreign = instances.filter((i) => tagValue(i.Tags, tagKeys.deployment) !== rn.deploymentId);
  if (foreign.length > 0)
    throw new AppError(
      'conflict',
      `[aws] VPC ${vpcId} of ${rn.name} holds instances Glassdome did not create: ${foreign.map((i) => i.InstanceId).join(', ')}`,
      { hint: 'Terminate or move them, then destroy again.' },
    );
  const running = instances.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
  if (running.length) await ec2.call('TerminateInstances', { InstanceIds: running }, o);
  if (instances.length) await waitForNoInstances(ctx, inVpc, `the instances of ${rn.name}`, o);
  // A NAT gateway holds an interface in the edge subnet, and its Elastic IP stays billed, until deleted.
  await removeNatGateways(ctx, rn, undefined, o);
  // The instance's machines that never ran (or whose instances just went) are launch templates: they go too.
  if (rn.instance > 0)
    for (const t of await describeAll(
      ec2,
      'DescribeLaunchTemplates',
      { Filters: [byDeployment(rn.deploymentId), byTag(tagKeys.instance, String(rn.instance))] },
      (r) => r.LaunchTemplates,
      o,
    ))
      await ignoreNotFound(ec2.call('DeleteLaunchTemplate', { LaunchTemplateId: t.LaunchTemplateId! }, o));

  for (const eni of await describeAll(
    ec2,
    'DescribeNetworkInterfaces',
    { Filters: inVpc },
    (r) => r.NetworkInterfaces,
    o,
  )) {
    if (eni.Status !== 'available')
      throw new AppError(
        'conflict',
        `[aws] Network interface ${eni.NetworkInterfaceId} in VPC ${vpcId} of ${rn.name} is still in use (${eni.Description ?? eni.InterfaceType ?? 'unknown owner'})`,
        { hint: 'Remove what uses it, then destroy again.' },
      );
    await ignoreNotFound(ec2.call('DeleteNetworkInterface', { NetworkInterfaceId: eni.NetworkInterfaceId! }, o));
  }
  const groups = (
    await describeAll(ec2, 'DescribeSecurityGroups', { Filters: inVpc }, (r) => r.SecurityGroups, o)
  ).filter((g) => g.GroupName !== 'default');
  await deleteGroups(ec2, groups, o);
  for (const s of await describeAll(ec2, 'DescribeSubnets', { Filters: inVpc }, (r) => r.Subnets, o))
    await ignoreNotFound(ec2.call('DeleteSubnet', { SubnetId: s.SubnetId! }, o));
  for (const t of await describeAll(ec2, 'DescribeRouteTables', { Filters: inVpc }, (r) => r.RouteTables, o)) {
    if (t.Associations?.some((a) => a.Main)) continue;
    for (const a of t.Associations ?? [])
      if (a.RouteTableAssociationId)
        await ignoreNotFound(ec2.call('DisassociateRouteTable', { AssociationId: a.RouteTableAssociationId }, o));
    await ignoreNotFound(ec2.call('DeleteRouteTable', { RouteTableId: t.RouteTableId! }, o));
  }
}

/** Waits, bounded by timeouts.terminateMs, until no instance matching the filters is live. */
export async function waitForNoInstances(
  ctx: AwsContext,
  filters: Array<{ Name: string; Values: string[] }>,
  what: string,
  o?: CallOptions,
): Promise<void> {
  const { ec2, config } = ctx;
  const done = await pollUntil(
    async () => {
      const r = await describeAll(
        ec2,
        'DescribeInstances',
        { Filters: [...filters, liveInstanceStates] },
        (x) => x.Reservations,
        o,
      );
      return r.flatMap((x) => x.Instances ?? []).length === 0 ? true : undefined;
    },
    longWait(config, o?.signal),
  );
  if (!done)
    throw new AppError(
      'timeout',
      `[aws] ${what} did not terminate within ${Math.round(config.timeouts.terminateMs / 1000)} s`,
    );
}

/** Deletes security groups: first every permission that refers to another group (they hold each other), then them. */
export async function deleteGroups(
  ec2: Ec2,
  groups: Array<{ GroupId?: string; IpPermissions?: IpPermission[]; IpPermissionsEgress?: IpPermission[] }>,
  o?: CallOptions,
): Promise<void> {
  const referring = (perms: IpPermission[] | undefined) =>
    (perms ?? [])
      .filter((p) => p.UserIdGroupPairs?.length)
      .map((p) => ({
        IpProtocol: p.IpProtocol,
        FromPort: p.FromPort,
        ToPort: p.ToPort,
        UserIdGroupPairs: p.UserIdGroupPairs,
      }));
  await Promise.all(
    groups.map(async (g) => {
      const inRefs = referring(g.IpPermissions);
      const outRefs = referring(g.IpPermissionsEgress);
      if (inRefs.length)
        await ignoreNotFound(ec2.call('RevokeSecurityGroupIngress', { GroupId: g.GroupId!, IpPermissions: inRefs }, o));
      if (outRefs.length)
        await ignoreNotFound(ec2.call('RevokeSecurityGroupEgress', { GroupId: g.GroupId!, IpPermissions: outRefs }, o));
    }),
  );
  await Promise.all(groups.map((g) => ignoreNotFound(ec2.call('DeleteSecurityGroup', { GroupId: g.GroupId! }, o))));
}

async function deleteInternetGateway(ec2: Ec2, id: string, attachedTo: string[], o?: CallOptions): Promise<void> {
  for (const vpcId of attachedTo) {
    try {
      await ec2.call('DetachInternetGateway', { InternetGatewayId: id, VpcId: vpcId }, o);
    } catch (e) {
      if (!isNotFound(e) && !hasCode(e, 'Gateway.NotAttached')) throw e;
    }
  }
  await ignoreNotFound(ec2.call('DeleteInternetGateway', { InternetGatewayId: id }, o));
}

async function deleteKeyPair(ec2: Ec2, rn: RangeName, o?: CallOptions): Promise<void> {
  let pairs;
  try {
    pairs = (await ec2.call('DescribeKeyPairs', { KeyNames: [rn.name] }, o)).KeyPairs ?? [];
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  for (const k of pairs)
    if (tagValue(k.Tags, tagKeys.deployment) === rn.deploymentId)
      await ignoreNotFound(ec2.call('DeleteKeyPair', { KeyName: k.KeyName! }, o));
}

/** What is still tagged for the range, by kind and name. */
export async function leftovers(ec2: Ec2, rn: RangeName, o?: CallOptions): Promise<string[]> {
  const ours = [byDeployment(rn.deploymentId), byTag(tagKeys.instance, String(rn.instance))];
  const named = (kind: string, tags: Tag[] | undefined, id: string | undefined) =>
    `${kind} ${tagValue(tags, 'Name') ?? id} (${id})`;
  const [vpcs, subnets, groups, tables, igws, keys, templates, egress] = await Promise.all([
    describeAll(
      ec2,
      'DescribeVpcs',
      { Filters: [byTag('Name', rn.name), byDeployment(rn.deploymentId)] },
      (r) => r.Vpcs,
      o,
    ),
    describeAll(ec2, 'DescribeSubnets', { Filters: ours }, (r) => r.Subnets, o),
    describeAll(ec2, 'DescribeSecurityGroups', { Filters: ours }, (r) => r.SecurityGroups, o),
    describeAll(ec2, 'DescribeRouteTables', { Filters: ours }, (r) => r.RouteTables, o),
    describeAll(ec2, 'DescribeInternetGateways', { Filters: ours }, (r) => r.InternetGateways, o),
    describeAll(ec2, 'DescribeKeyPairs', { Filters: ours }, (r) => r.KeyPairs, o),
    rn.instance > 0
      ? describeAll(ec2, 'DescribeLaunchTemplates', { Filters: ours }, (r) => r.LaunchTemplates, o)
      : Promise.resolve([]),
    egressLeftovers(ec2, rn, o),
  ]);
  // Only resources of this range: a range-less network's "instance" is 0 and its name is the range name.
  const mine = <T extends { Tags?: Tag[] }>(list: T[]) =>
    list.filter(
      (x) => rn.instance !== 0 || (tagValue(x.Tags, tagKeys.network) ?? tagValue(x.Tags, 'Name')) === rn.name,
    );
  return [
    ...vpcs.map((v) => named('VPC', v.Tags, v.VpcId)),
    ...mine(subnets).map((s) => named('subnet', s.Tags, s.SubnetId)),
    ...mine(groups).map((g) => named('security group', g.Tags, g.GroupId)),
    ...mine(tables).map((t) => named('route table', t.Tags, t.RouteTableId)),
    ...mine(igws).map((g) => named('internet gateway', g.Tags, g.InternetGatewayId)),
    ...mine(keys).map((k) => named('key pair', k.Tags, k.KeyPairId)),
    ...templates.map((t) => `launch template ${t.LaunchTemplateName} (${t.LaunchTemplateId})`),
    ...egress,
  ];
}

export async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}
