// How a lab instance's networks with internet reach it on EC2, besides a plain route to the internet gateway: through
// the instance's range router (a default route to its network interface, source/destination check off) or through
// a NAT gateway with an Elastic IP of its own, made in the instance's edge subnet and deleted before it.
import type { Address, NatGateway, RouteTable } from '@aws-sdk/client-ec2';
import crypto from 'node:crypto';
import { AppError } from '../../errors.ts';
import type { CallOptions } from '../platform.ts';
import { pollUntil } from '../shared/wait.ts';
import { describeAll, longWait, type Ec2 } from './client.ts';
import type { AwsConfig } from './config.ts';
import { hasCode, isNotFound } from './errors.ts';
import { byDeployment, byTag, tagKeys, tagSpec, tagsOf, tagValue, type RangeName } from './tags.ts';

/** What egress needs of the driver (ranges.ts's AwsContext is one). */
interface AwsContext {
  ec2: Ec2;
  config: AwsConfig;
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/** Where a network's default route (0.0.0.0/0) goes. */
export type DefaultRoute = { GatewayId: string } | { NatGatewayId: string } | { NetworkInterfaceId: string };

const anywhere = '0.0.0.0/0';

/**
 * Points the table's route to `destination` (the default route unless said) at `to`: created, or replaced when it
 * goes elsewhere or nowhere (a deleted target); idempotent.
 */
export async function setRoute(
  ec2: Ec2,
  table: RouteTable,
  to: DefaultRoute,
  o?: CallOptions,
  destination = anywhere,
): Promise<void> {
  const current = table.Routes?.find((r) => r.DestinationCidrBlock === destination);
  if (current && current.State !== 'blackhole' && sameTarget(current, to)) return;
  const input = { RouteTableId: table.RouteTableId!, DestinationCidrBlock: destination, ...to };
  if (current) {
    await ec2.call('ReplaceRoute', input, o);
    return;
  }
  try {
    await ec2.call('CreateRoute', input, o);
  } catch (e) {
    // Made meanwhile (a retry after a lost answer, another step): make sure it goes where it should.
    if (!hasCode(e, 'RouteAlreadyExists')) throw e;
    await ec2.call('ReplaceRoute', input, o);
  }
}

function sameTarget(r: { GatewayId?: string; NatGatewayId?: string; NetworkInterfaceId?: string }, to: DefaultRoute) {
  if ('GatewayId' in to) return r.GatewayId === to.GatewayId;
  if ('NatGatewayId' in to) return r.NatGatewayId === to.NatGatewayId;
  return r.NetworkInterfaceId === to.NetworkInterfaceId;
}

/** The range's NAT gateways that are not deleted, newest first. */
async function natGateways(ec2: Ec2, rn: RangeName, o?: CallOptions): Promise<NatGateway[]> {
  const all = await describeAll(
    ec2,
    'DescribeNatGateways',
    {
      Filter: [
        byDeployment(rn.deploymentId),
        byTag(tagKeys.instance, String(rn.instance)),
        { Name: 'state', Values: ['pending', 'available', 'failed', 'deleting'] },
      ],
    },
    (r) => r.NatGateways,
    o,
  );
  // The tags again here: an emulator (moto) may ignore tag filters on this call.
  return all
    .filter(
      (g) =>
        tagValue(g.Tags, tagKeys.deployment) === rn.deploymentId &&
        tagValue(g.Tags, tagKeys.instance) === String(rn.instance),
    )
    .sort((a, b) => (b.CreateTime?.getTime() ?? 0) - (a.CreateTime?.getTime() ?? 0));
}

/** The range's Elastic IPs (those of its NAT gateway). */
async function addresses(ec2: Ec2, rn: RangeName, o?: CallOptions): Promise<Address[]> {
  const r = await ec2.call(
    'DescribeAddresses',
    { Filters: [byDeployment(rn.deploymentId), byTag(tagKeys.instance, String(rn.instance))] },
    o,
  );
  return (r.Addresses ?? []).filter(
    (a) =>
      tagValue(a.Tags, tagKeys.deployment) === rn.deploymentId &&
      tagValue(a.Tags, tagKeys.instance) === String(rn.instance),
  );
}

/** Waits until the NAT gateway is available; a failed one is an error with EC2's reason. */
async function waitAvailable(ctx: AwsContext, id: string, o?: CallOptions): Promise<string> {
  const { ec2, config } = ctx;
  let last: NatGateway | undefined;
  const ok = await pollUntil(
    async () => {
      last = (await ec2.call('DescribeNatGateways', { NatGatewayIds: [id] }, o)).NatGateways?.[0];
      if (last?.State === 'failed' || last?.State === 'deleted')
        throw new AppError(
          'platform_error',
          `[aws] NAT gateway ${id} failed: ${last.FailureCode ?? last.State} ${last.FailureMessage ?? ''}`.trim(),
          { hint: "Check the account's Elastic IP quota (5 per region unless raised), then retry the deployment." },
        );
      return last?.State === 'available' ? true : undefined;
    },
    longWait(config, o?.signal),
  );
  if (!ok)
    throw new AppError(
      'timeout',
      `[aws] NAT gateway ${id} is still ${last?.State ?? 'unknown'} after ${Math.round(config.timeouts.terminateMs / 1000)} s`,
    );
  return id;
}

/**
 * The range's NAT gateway in `subnetId`, made when missing (an Elastic IP allocated for it, both tagged), and waited
 * for until it is available. Found by its tags after a crash; the ClientToken makes a lost answer harmless too.
 */
export async function ensureNatGateway(
  ctx: AwsContext,
  rn: RangeName,
  network: string,
  subnetId: string,
  o?: CallOptions,
): Promise<string> {
  const { ec2 } = ctx;
  const existing = (await natGateways(ec2, rn, o)).find(
    (g) => g.SubnetId === subnetId && (g.State === 'pending' || g.State === 'available'),
  );
  if (existing) return waitAvailable(ctx, existing.NatGatewayId!, o);
  const tags = tagsOf(rn, `${rn.name}-nat`, { [tagKeys.network]: network });
  // An address left free by a gateway that failed or went; never a router's (tagged with its machine).
  const free = (await addresses(ec2, rn, o)).find(
    (a) => !a.AssociationId && !a.NetworkInterfaceId && !tagValue(a.Tags, tagKeys.machine),
  );
  const allocationId =
    free?.AllocationId ??
    (
      await ec2.call(
        'AllocateAddress',
        { Domain: 'vpc', TagSpecifications: [tagSpec('elastic-ip', tags)] },
        { ...o, retry: false },
      )
    ).AllocationId!;
  const created = await ec2.call(
    'CreateNatGateway',
    {
      SubnetId: subnetId,
      AllocationId: allocationId,
      ConnectivityType: 'public',
      ClientToken: crypto.createHash('sha256').update(`${rn.name}/${subnetId}`).digest('hex').slice(0, 64),
      TagSpecifications: [tagSpec('natgateway', tags)],
    },
    o,
  );
  return waitAvailable(ctx, created.NatGateway!.NatGatewayId!, o);
}

/** The range's available NAT gateway, for the networks routed to it (their step runs after the edge network's). */
export async function findNatGateway(ctx: AwsContext, rn: RangeName, o?: CallOptions): Promise<string> {
  const g = (await natGateways(ctx.ec2, rn, o)).find((x) => x.State === 'pending' || x.State === 'available');
  if (!g)
    throw new AppError('not_found', `[aws] Instance ${rn.name} has no NAT gateway`, {
      hint: 'Its edge network makes it and has to run first; retry the deployment.',
    });
  return waitAvailable(ctx, g.NatGatewayId!, o);
}

/**
 * Deletes the range's NAT gateways (those in `subnetId` only, when given), waits until EC2 has deleted them, then
 * releases their Elastic IPs (with no `subnetId`, every one of the range's): a gateway's address stays allocated,
 * and billed, until released.
 */
export async function removeNatGateways(
  ctx: AwsContext,
  rn: RangeName,
  subnetId: string | undefined,
  o?: CallOptions,
): Promise<void> {
  const { ec2, config } = ctx;
  const gws = (await natGateways(ec2, rn, o)).filter((g) => !subnetId || g.SubnetId === subnetId);
  for (const g of gws)
    if (g.State !== 'deleting')
      await ignoreNotFound(ec2.call('DeleteNatGateway', { NatGatewayId: g.NatGatewayId! }, o));
  if (gws.length > 0) {
    const ids = gws.map((g) => g.NatGatewayId!);
    const gone = await pollUntil(
      async () => {
        const left = (
          await describeAll(ec2, 'DescribeNatGateways', { NatGatewayIds: ids }, (r) => r.NatGateways, o)
        ).filter((g) => g.State !== 'deleted');
        return left.length === 0 ? true : undefined;
      },
      longWait(config, o?.signal),
    );
    if (!gone)
      throw new AppError(
        'timeout',
        `[aws] NAT gateway ${ids.join(', ')} of ${rn.name} was not deleted within ${Math.round(config.timeouts.terminateMs / 1000)} s`,
        { hint: 'Destroy again later; EC2 may take several minutes to delete a NAT gateway.' },
      );
  }
  // A network's own teardown releases its gateways' addresses only; the range's releases every one it has.
  const theirs = new Set(gws.flatMap((g) => (g.NatGatewayAddresses ?? []).map((x) => x.AllocationId)));
  const release = (await addresses(ec2, rn, o)).filter((a) => !subnetId || theirs.has(a.AllocationId));
  for (const a of release) {
    if (a.AssociationId) await ignoreNotFound(ec2.call('DisassociateAddress', { AssociationId: a.AssociationId }, o));
    try {
      await ec2.call('ReleaseAddress', { AllocationId: a.AllocationId! }, o);
    } catch (e) {
      if (!hasCode(e, 'InvalidAllocationID.NotFound')) throw e;
    }
  }
}

/**
 * The range router's Elastic IP, allocated (tagged with the machine) when it has none and associated with its
 * network interface when it is not already; idempotent, so a relaunched router takes its address back.
 */
export async function ensureRouterAddress(
  ctx: AwsContext,
  rn: RangeName,
  machine: string,
  networkInterfaceId: string,
  o?: CallOptions,
): Promise<string> {
  const { ec2 } = ctx;
  // What the interface shows now, not what the address says it is bound to (an emulator may give a new one at start).
  const shown = (await ec2.call('DescribeNetworkInterfaces', { NetworkInterfaceIds: [networkInterfaceId] }, o))
    .NetworkInterfaces?.[0]?.Association?.PublicIp;
  const mine = (await addresses(ec2, rn, o)).find((a) => tagValue(a.Tags, tagKeys.machine) === machine);
  const allocationId =
    mine?.AllocationId ??
    (
      await ec2.call(
        'AllocateAddress',
        {
          Domain: 'vpc',
          TagSpecifications: [tagSpec('elastic-ip', tagsOf(rn, machine, { [tagKeys.machine]: machine }))],
        },
        { ...o, retry: false },
      )
    ).AllocationId!;
  if (mine?.NetworkInterfaceId !== networkInterfaceId || shown !== mine.PublicIp)
    await ec2.call(
      'AssociateAddress',
      { AllocationId: allocationId, NetworkInterfaceId: networkInterfaceId, AllowReassociation: true },
      o,
    );
  return allocationId;
}

/** What of the range's egress is left after a teardown, for its report. */
export async function egressLeftovers(ec2: Ec2, rn: RangeName, o?: CallOptions): Promise<string[]> {
  const [gws, eips] = await Promise.all([natGateways(ec2, rn, o), addresses(ec2, rn, o)]);
  return [
    ...gws.map((g) => `NAT gateway ${g.NatGatewayId} (${g.State})`),
    ...eips.map((a) => `Elastic IP ${a.PublicIp} (${a.AllocationId})`),
  ];
}
