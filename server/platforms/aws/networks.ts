// A scenario network on EC2: a subnet of its instance's VPC, a route table of its own (a route to the internet
// gateway only when the network has internet), and its security groups written from the firewall. A network is
// known by its name (the NetworkRef id), so its subnet may be recreated in another zone without anyone noticing.
import type { IpPermission, RouteTable, SecurityGroup, Subnet } from '@aws-sdk/client-ec2';
import { AppError, errorMessage } from '../../errors.ts';
import type { CallOptions, FirewallPolicy, NetworkRef, NetworkSpec } from '../platform.ts';
import { vpcBlocks } from './addressing.ts';
import { describeAll, findOrCreate } from './client.ts';
import { hasCode } from './errors.ts';
import { ensureNatGateway, findNatGateway, removeNatGateways, setRoute, type DefaultRoute } from './egress.ts';
import {
  edgeSecurity,
  networkSecurity,
  permissionKeys,
  withVpnPeers,
  type GroupRules,
  type Permission,
} from './firewall.ts';
import {
  deleteGroups,
  firstAsk,
  ignoreNotFound,
  waitForNoInstances,
  type AwsContext,
  type Range,
  type Ranges,
} from './ranges.ts';
import {
  byDeployment,
  byTag,
  liveInstanceStates,
  rangeNamed,
  rangeOf,
  tagKeys,
  tagSpec,
  tagsOf,
  tagValue,
  type RangeName,
} from './tags.ts';

/** What a machine needs of a network: where its NIC goes and which group guards it. */
export interface NetworkInfo {
  name: string;
  range: RangeName;
  subnetId: string;
  vpcId: string;
  zone: string;
  /** Machines with a single NIC here get a public address (the network has internet). */
  publicAddresses: boolean;
  baseGroupId: string;
  /** Address -> the group of its own, for addresses the firewall singles out. */
  hostGroupIds: Map<string, string>;
}

/** The NetworkRef id of an `uplink` network: on a cloud it is the internet itself and nothing is created. */
export const internetId = 'internet';

const noFirewall: FirewallPolicy = { default: 'deny', rules: [] };

export function createNetworks(ctx: AwsContext, ranges: Ranges) {
  const { ec2 } = ctx;
  const known = new Map<string, NetworkInfo>();

  async function findSubnet(name: string, deploymentId: string, o?: CallOptions): Promise<Subnet | undefined> {
    return (
      await describeAll(
        ec2,
        'DescribeSubnets',
        { Filters: [byTag(tagKeys.network, name), byDeployment(deploymentId)] },
        (r) => r.Subnets,
        o,
      )
    )[0];
  }

  async function groupsOf(name: string, vpcId: string, o?: CallOptions): Promise<SecurityGroup[]> {
    return describeAll(
      ec2,
      'DescribeSecurityGroups',
      { Filters: [byTag(tagKeys.network, name), { Name: 'vpc-id', Values: [vpcId] }] },
      (r) => r.SecurityGroups,
      o,
    );
  }

  /** The network's subnet (looked for first unless `fresh`), giving public addresses if the network has internet. */
  async function ensureSubnet(
    spec: NetworkSpec,
    rn: RangeName,
    range: Range,
    internet: boolean,
    fresh: boolean,
    o?: CallOptions,
  ): Promise<Subnet> {
    let skipLook = fresh;
    const subnet = await findOrCreate(
      ctx.config,
      async () => (skipLook ? ((skipLook = false), undefined) : findSubnet(spec.name, spec.deploymentId, o)),
      async () =>
        (
          await ec2.call(
            'CreateSubnet',
            {
              VpcId: range.vpcId,
              CidrBlock: spec.cidr,
              AvailabilityZone: range.zone,
              TagSpecifications: [tagSpec('subnet', tagsOf(rn, spec.name, { [tagKeys.network]: spec.name }))],
            },
            { ...o, retry: false },
          )
        ).Subnet!,
      o?.signal,
    );
    if (subnet.VpcId !== range.vpcId)
      throw new AppError(
        'conflict',
        `[aws] A subnet tagged for network "${spec.name}" exists outside its VPC ${range.vpcId}: ${subnet.SubnetId}`,
        { hint: 'Delete that subnet, then retry.' },
      );
    if (internet && !subnet.MapPublicIpOnLaunch) {
      await ec2.call('ModifySubnetAttribute', { SubnetId: subnet.SubnetId!, MapPublicIpOnLaunch: { Value: true } }, o);
      subnet.MapPublicIpOnLaunch = true;
    }
    return subnet;
  }

  /**
   * The network's route table, with its default route as `route` says: to a target (the internet gateway, a NAT
   * gateway), `router` (left to the range router, which points it at itself when it starts; any other goes), or none.
   */
  async function ensureRouteTable(
    spec: NetworkSpec,
    rn: RangeName,
    vpcId: string,
    route: DefaultRoute | 'router' | undefined,
    fresh: boolean,
    o?: CallOptions,
  ): Promise<RouteTable> {
    // A fresh network has no table yet: the first look is skipped, a look after a lost answer is not.
    let skipLook = fresh;
    const table = await findOrCreate(
      ctx.config,
      async () => (skipLook ? ((skipLook = false), undefined) : routeTableOf(spec.name, vpcId, o)),
      async () =>
        (
          await ec2.call(
            'CreateRouteTable',
            {
              VpcId: vpcId,
              TagSpecifications: [tagSpec('route-table', tagsOf(rn, spec.name, { [tagKeys.network]: spec.name }))],
            },
            { ...o, retry: false },
          )
        ).RouteTable!,
      o?.signal,
    );
    const id = table.RouteTableId!;
    const toInternet = table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    if (route && route !== 'router') await setRoute(ec2, table, route, o);
    else if (toInternet && !(route === 'router' && toInternet.NetworkInterfaceId))
      await ignoreNotFound(ec2.call('DeleteRoute', { RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0' }, o));
    return table;
  }

  async function routeTableOf(name: string, vpcId: string | undefined, o?: CallOptions) {
    return (
      await describeAll(
        ec2,
        'DescribeRouteTables',
        { Filters: [byTag(tagKeys.network, name), ...(vpcId ? [{ Name: 'vpc-id', Values: [vpcId] }] : [])] },
        (r) => r.RouteTables,
        o,
      )
    )[0];
  }

  /** Associates the subnet with the table (idempotent; a subnet associated with another table is moved to this one). */
  async function associate(table: RouteTable, subnetId: string, o?: CallOptions): Promise<void> {
    const id = table.RouteTableId!;
    if (table.Associations?.some((a) => a.SubnetId === subnetId)) return;
    try {
      await ec2.call('AssociateRouteTable', { RouteTableId: id, SubnetId: subnetId }, o);
    } catch (e) {
      if (!hasCode(e, 'Resource.AlreadyAssociated')) throw e;
      // Associated already: with this table (a retry after a lost answer), or with another (a hand edit): replace.
      const other = (
        await describeAll(
          ec2,
          'DescribeRouteTables',
          { Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] },
          (r) => r.RouteTables,
          o,
        )
      )
        .flatMap((t) => (t.Associations ?? []).map((a) => ({ ...a, table: t.RouteTableId })))
        .find((a) => a.SubnetId === subnetId);
      if (other?.RouteTableAssociationId && other.table !== id)
        await ec2.call(
          'ReplaceRouteTableAssociation',
          { AssociationId: other.RouteTableAssociationId, RouteTableId: id },
          o,
        );
    }
  }

  /** Creates missing groups and makes every group's permissions exactly what the firewall says. */
  async function ensureGroups(
    spec: NetworkSpec,
    rn: RangeName,
    vpcId: string,
    want: { base: GroupRules; hosts: Array<{ address: string; rules: GroupRules }> },
    fresh: boolean,
    o?: CallOptions,
  ) {
    const existing = fresh ? [] : await groupsOf(spec.name, vpcId, o);
    const wanted = [{ address: '', rules: want.base }, ...want.hosts];
    const ids = new Map<string, string>();
    await allOrFirstError(
      wanted.map(async (w) => {
        let g = existing.find((x) => (tagValue(x.Tags, tagKeys.address) ?? '') === w.address);
        if (!g) {
          const name = w.address ? `${spec.name}-${w.address}` : spec.name;
          const extra = { [tagKeys.network]: spec.name, ...(w.address ? { [tagKeys.address]: w.address } : {}) };
          try {
            const created = await ec2.call(
              'CreateSecurityGroup',
              {
                VpcId: vpcId,
                GroupName: name,
                Description: `Glassdome ${w.address ? `host ${w.address} on ` : ''}network ${spec.name}`,
                TagSpecifications: [tagSpec('security-group', tagsOf(rn, name, extra))],
              },
              o,
            );
            // A new group has no ingress and EC2's default egress (everything to anywhere).
            g = {
              GroupId: created.GroupId!,
              IpPermissions: [],
              IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
            };
          } catch (e) {
            if (!hasCode(e, 'InvalidGroup.Duplicate')) throw e;
            g = (await groupsOf(spec.name, vpcId, o)).find(
              (x) => (tagValue(x.Tags, tagKeys.address) ?? '') === w.address,
            );
            if (!g) throw e;
          }
        }
        await syncPermissions(g, w.rules, o);
        ids.set(w.address, g.GroupId!);
      }),
    );
    // Groups of addresses the firewall no longer singles out: their machines fall back to the network's group.
    const stale = existing.filter((x) => {
      const a = tagValue(x.Tags, tagKeys.address);
      return a !== undefined && !ids.has(a);
    });
    if (stale.length) await deleteGroups(ec2, stale, o).catch(() => undefined);
    return ids;
  }

  async function syncPermissions(g: SecurityGroup, want: GroupRules, o?: CallOptions): Promise<void> {
    // Ingress and egress are separate lists of the group: both are written at once.
    const sync = async (dir: 'ingress' | 'egress') => {
      const have = currentPermissions(dir === 'ingress' ? g.IpPermissions : g.IpPermissionsEgress);
      const haveKeys = new Set(permissionKeys(have.ours));
      const wantKeys = new Set(permissionKeys(want[dir]));
      const add = selectEntries(want[dir], (k) => !haveKeys.has(k));
      const remove = [...selectEntries(have.ours, (k) => !wantKeys.has(k)).map(toIpPermission), ...have.foreign];
      const [authorize, revoke] =
        dir === 'ingress'
          ? (['AuthorizeSecurityGroupIngress', 'RevokeSecurityGroupIngress'] as const)
          : (['AuthorizeSecurityGroupEgress', 'RevokeSecurityGroupEgress'] as const);
      // Revoke first: a group at its permission quota could otherwise not take the new ones.
      if (remove.length) await ignoreNotFound(ec2.call(revoke, { GroupId: g.GroupId!, IpPermissions: remove }, o));
      if (add.length) {
        try {
          await ec2.call(authorize, { GroupId: g.GroupId!, IpPermissions: add.map(toIpPermission) }, o);
        } catch (e) {
          if (!hasCode(e, 'InvalidPermission.Duplicate')) throw e;
        }
      }
    };
    await allOrFirstError([sync('ingress'), sync('egress')]);
  }

  /** The network as machines need it: from memory, else from EC2 by its tags. */
  async function lookup(name: string, deploymentId: string, o?: CallOptions): Promise<NetworkInfo> {
    const k = known.get(name);
    if (k) return k;
    const subnet = await findSubnet(name, deploymentId, o);
    if (!subnet)
      throw new AppError('not_found', `[aws] Network "${name}" does not exist (no subnet tagged with it)`, {
        hint: 'Its network step has to run first; retry the deployment.',
      });
    const groups = await groupsOf(name, subnet.VpcId!, o);
    const base = groups.find((g) => tagValue(g.Tags, tagKeys.address) === undefined);
    if (!base)
      throw new AppError('not_found', `[aws] Network "${name}" has no security group`, {
        hint: 'Run its network step again (retry the deployment): it recreates the group.',
      });
    const info: NetworkInfo = {
      name,
      range: rangeOf(deploymentId, name),
      subnetId: subnet.SubnetId!,
      vpcId: subnet.VpcId!,
      zone: subnet.AvailabilityZone!,
      publicAddresses: subnet.MapPublicIpOnLaunch === true,
      baseGroupId: base.GroupId!,
      hostGroupIds: new Map(
        groups.flatMap((g) => {
          const a = tagValue(g.Tags, tagKeys.address);
          return a ? [[a, g.GroupId!] as const] : [];
        }),
      ),
    };
    known.set(name, info);
    return info;
  }

  return {
    lookup,

    /** Forgets what is known of a range's networks (after its subnets moved or went). */
    forgetRange(rangeName: string) {
      for (const [name, info] of known) if (info.range.name === rangeName) known.delete(name);
    },

    /** Points the network's default route (or `destination`) at a range router's network interface. */
    async routeVia(
      name: string,
      networkInterfaceId: string,
      o?: CallOptions,
      destination = '0.0.0.0/0',
    ): Promise<void> {
      const table = await routeTableOf(name, undefined, o);
      if (!table)
        throw new AppError('not_found', `[aws] Network "${name}" has no route table to send through the range router`, {
          hint: 'Its network step has to run first; retry the deployment.',
        });
      await setRoute(ec2, table, { NetworkInterfaceId: networkInterfaceId }, o, destination);
    },

    /** The names of the instance's networks (by their route tables' tags), for routes every one of them needs. */
    async rangeNetworks(rn: RangeName, o?: CallOptions): Promise<string[]> {
      const tables = await describeAll(
        ec2,
        'DescribeRouteTables',
        { Filters: [byDeployment(rn.deploymentId), byTag(tagKeys.instance, String(rn.instance))] },
        (r) => r.RouteTables,
        o,
      );
      // The tags again here, should an endpoint ignore the filters: another instance's tables are not this one's.
      return tables.flatMap((t) => {
        const n = tagValue(t.Tags, tagKeys.network);
        const mine =
          tagValue(t.Tags, tagKeys.deployment) === rn.deploymentId &&
          tagValue(t.Tags, tagKeys.instance) === String(rn.instance);
        return n && mine ? [n] : [];
      });
    },

    async ensure(spec: NetworkSpec, o?: CallOptions): Promise<NetworkRef> {
      if (spec.kind === 'uplink') return { id: internetId, name: spec.name };
      const rn = rangeOf(spec.deploymentId, spec.name);
      const members = [...(spec.range?.networks ?? [])];
      if (!members.some((m) => m.name === spec.name))
        members.push({ name: spec.name, cidr: spec.cidr, internet: spec.internet ?? false });
      const self = members.find((m) => m.name === spec.name)!;
      const internet = spec.internet ?? self.internet;
      const egress = internet ? (spec.egress ?? self.egress ?? 'gateway') : undefined;
      const edge = spec.range?.edge;
      // Everything that can be refused is refused before anything is created.
      const blocks = vpcBlocks(members.map((m) => m.cidr));
      if ('error' in blocks)
        throw new AppError('invalid_input', `[aws] ${blocks.error}`, {
          hint: 'Give the scenario networks CIDRs EC2 can use (subnets /16 to /28, in at most five /16 blocks).',
        });
      let security: ReturnType<typeof networkSecurity>;
      try {
        // The edge network is not the scenario's: it takes in what its networks send to the range router.
        const vpn = spec.range?.vpn;
        const scenarioNets = members.filter((m) => m.name !== edge);
        security =
          spec.name === edge
            ? edgeSecurity(
                members.filter((m) => m.egress === 'router').map((m) => m.cidr),
                vpn ? { port: vpn.port, networks: scenarioNets.map((m) => m.cidr) } : undefined,
              )
            : networkSecurity(scenarioNets, spec.range?.firewall ?? noFirewall, spec.name);
        if (vpn && spec.name !== edge) security = withVpnPeers(security, vpn.cidr);
      } catch (e) {
        throw new AppError(
          'invalid_input',
          `[aws] The firewall cannot be written as security groups: ${errorMessage(e)}`,
          { cause: e, hint: 'Name whole networks or single machines in the rules, and fewer addresses per rule.' },
        );
      }

      const range = await ranges.ensure(rn, { blocks: blocks.blocks, cidr: spec.cidr, internet }, o);
      // In a VPC this process made, a network asked for the first time has nothing to look for: its subnet, route
      // table and groups are all created at once. Otherwise (a resumed run, a retry) each is looked for first, and
      // the subnet comes first, so that one found outside the VPC stops the rest.
      const fresh = firstAsk(range, `network:${spec.name}`);
      const publicAddresses = egress === 'gateway';
      const subnetting = ensureSubnet(spec, rn, range, publicAddresses, fresh, o);
      if (!fresh) await subnetting;
      const route: DefaultRoute | 'router' | undefined =
        egress === 'gateway'
          ? { GatewayId: range.internetGatewayId! }
          : egress === 'nat-gateway'
            ? { NatGatewayId: await findNatGateway(ctx, rn, o) }
            : egress;
      const [subnet, , groups] = await allOrFirstError([
        subnetting,
        allOrFirstError([subnetting, ensureRouteTable(spec, rn, range.vpcId, route, fresh, o)]).then(([sn, table]) =>
          associate(table, sn.SubnetId!, o),
        ),
        ensureGroups(spec, rn, range.vpcId, security, fresh, o),
      ]);
      const subnetId = subnet.SubnetId!;
      if (spec.natGateway) await ensureNatGateway(ctx, rn, spec.name, subnetId, o);
      known.set(spec.name, {
        name: spec.name,
        range: rn,
        subnetId,
        vpcId: range.vpcId,
        zone: subnet.AvailabilityZone ?? range.zone,
        publicAddresses,
        baseGroupId: groups.get('')!,
        hostGroupIds: new Map([...groups].filter(([a]) => a !== '')),
      });
      return { id: spec.name, name: spec.name };
    },

    /**
     * Deletes the network's subnet, route table and groups (after the deployment's instances on it are gone), and
     * with the instance's last network its whole VPC. A ref to a VPC (what listOwned reports for a VPC whose
     * networks are gone) tears that VPC down.
     */
    async remove(ref: NetworkRef, guessedDeploymentId: string, o?: CallOptions): Promise<void> {
      if (ref.id === internetId) return;
      // The tags say whose it is; the name's guess serves only when nothing of it is left to read them from.
      const tagged = ref.id.startsWith('vpc-')
        ? (
            await describeAll(
              ec2,
              'DescribeVpcs',
              { Filters: [{ Name: 'vpc-id', Values: [ref.id] }] },
              (r) => r.Vpcs,
              o,
            )
          )[0]
        : (
            await describeAll(
              ec2,
              'DescribeSubnets',
              { Filters: [byTag(tagKeys.network, ref.name)] },
              (r) => r.Subnets,
              o,
            )
          )[0];
      const deploymentId = tagValue(tagged?.Tags, tagKeys.deployment) ?? guessedDeploymentId;
      const rn = ref.id.startsWith('vpc-') ? rangeNamed(deploymentId, ref.name) : rangeOf(deploymentId, ref.name);
      await ctx.lock(
        rn.name,
        async () => {
          known.delete(ref.name);
          if (ref.id.startsWith('vpc-')) {
            await ranges.teardownUnlocked(rn, tagged ? ref.id : undefined, o);
            return;
          }
          const subnet = await findSubnet(ref.name, deploymentId, o);
          if (subnet) {
            const inSubnet = [{ Name: 'subnet-id', Values: [subnet.SubnetId!] }];
            const [reservations, groups, tables] = await Promise.all([
              describeAll(
                ec2,
                'DescribeInstances',
                { Filters: [...inSubnet, liveInstanceStates] },
                (r) => r.Reservations,
                o,
              ),
              groupsOf(ref.name, subnet.VpcId!, o),
              describeAll(
                ec2,
                'DescribeRouteTables',
                { Filters: [byTag(tagKeys.network, ref.name), { Name: 'vpc-id', Values: [subnet.VpcId!] }] },
                (r) => r.RouteTables,
                o,
              ),
            ]);
            const instances = reservations.flatMap((r) => r.Instances ?? []);
            const foreign = instances.filter((i) => tagValue(i.Tags, tagKeys.deployment) !== deploymentId);
            if (foreign.length)
              throw new AppError(
                'conflict',
                `[aws] Network "${ref.name}" holds instances Glassdome did not create: ${foreign.map((i) => i.InstanceId).join(', ')}`,
                { hint: 'Terminate or move them, then destroy again.' },
              );
            const live = instances.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
            if (live.length) await ec2.call('TerminateInstances', { InstanceIds: live }, o);
            if (instances.length) await waitForNoInstances(ctx, inSubnet, `the instances on network "${ref.name}"`, o);
            // A NAT gateway holds an interface in its subnet until EC2 has deleted it.
            await removeNatGateways(ctx, rn, subnet.SubnetId!, o);
            const enis = await describeAll(
              ec2,
              'DescribeNetworkInterfaces',
              { Filters: inSubnet },
              (r) => r.NetworkInterfaces,
              o,
            );
            await Promise.all(
              enis
                .filter((e) => e.Status === 'available')
                .map((e) =>
                  ignoreNotFound(ec2.call('DeleteNetworkInterface', { NetworkInterfaceId: e.NetworkInterfaceId! }, o)),
                ),
            );
            // Groups and route tables hold nothing of each other: both go at once, then the subnet.
            await Promise.all([
              deleteGroups(ec2, groups, o),
              ...tables.map(async (t) => {
                for (const a of t.Associations ?? [])
                  if (a.RouteTableAssociationId && !a.Main)
                    await ignoreNotFound(
                      ec2.call('DisassociateRouteTable', { AssociationId: a.RouteTableAssociationId }, o),
                    );
                await ignoreNotFound(ec2.call('DeleteRouteTable', { RouteTableId: t.RouteTableId! }, o));
              }),
            ]);
            await ignoreNotFound(ec2.call('DeleteSubnet', { SubnetId: subnet.SubnetId! }, o));
          }
          // The instance's last network takes its VPC with it.
          const range = await ranges.find(rn, o);
          if (!range) return;
          const rest = await describeAll(
            ec2,
            'DescribeSubnets',
            { Filters: [{ Name: 'vpc-id', Values: [range.vpcId] }] },
            (r) => r.Subnets,
            o,
          );
          if (rest.length === 0) await ranges.teardownUnlocked(rn, range.vpcId, o);
        },
        o?.signal,
      );
    },
  };
}

export type Networks = ReturnType<typeof createNetworks>;

/** A group's permissions as ours (plain CIDRs) and foreign ones (group references, prefix lists, IPv6) to revoke. */
function currentPermissions(perms: IpPermission[] | undefined): { ours: Permission[]; foreign: IpPermission[] } {
  const ours: Permission[] = [];
  const foreign: IpPermission[] = [];
  for (const p of perms ?? []) {
    const proto =
      p.IpProtocol === '-1' || p.IpProtocol === 'tcp' || p.IpProtocol === 'udp' || p.IpProtocol === 'icmp'
        ? p.IpProtocol
        : undefined;
    const cidrs = (p.IpRanges ?? []).map((r) => r.CidrIp!).filter(Boolean);
    if (proto && cidrs.length)
      ours.push({
        protocol: proto,
        ...(proto === 'tcp' || proto === 'udp'
          ? { ports: [p.FromPort ?? 0, p.ToPort ?? 65535] as [number, number] }
          : {}),
        cidrs,
      });
    const rest = {
      UserIdGroupPairs: p.UserIdGroupPairs ?? [],
      PrefixListIds: p.PrefixListIds ?? [],
      Ipv6Ranges: p.Ipv6Ranges ?? [],
    };
    if (rest.UserIdGroupPairs.length || rest.PrefixListIds.length || rest.Ipv6Ranges.length || (!proto && cidrs.length))
      foreign.push({
        IpProtocol: p.IpProtocol,
        FromPort: p.FromPort,
        ToPort: p.ToPort,
        ...(proto ? {} : { IpRanges: p.IpRanges }),
        ...rest,
      });
  }
  return { ours, foreign };
}

/**
 * Like Promise.all, but settles only once every promise has: a network step that fails has no create of its still
 * in flight, which its retry could otherwise miss when it looks and then make twice.
 */
async function allOrFirstError<T extends readonly unknown[] | []>(
  ps: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = (await Promise.allSettled(ps)) as PromiseSettledResult<unknown>[];
  const values: unknown[] = [];
  for (const r of results) {
    if (r.status === 'rejected') throw r.reason;
    values.push(r.value);
  }
  return values as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** The permissions narrowed to the entries (one CIDR each) whose key passes. */
function selectEntries(perms: Permission[], keep: (key: string) => boolean): Permission[] {
  return perms
    .map((p) => ({ ...p, cidrs: p.cidrs.filter((c) => keep(permissionKeys([{ ...p, cidrs: [c] }])[0]!)) }))
    .filter((p) => p.cidrs.length > 0);
}

function toIpPermission(p: Permission): IpPermission {
  const ports =
    p.protocol === 'icmp' ? { FromPort: -1, ToPort: -1 } : p.ports ? { FromPort: p.ports[0], ToPort: p.ports[1] } : {};
  return { IpProtocol: p.protocol, ...ports, IpRanges: p.cidrs.map((c) => ({ CidrIp: c })) };
}

/** The group a NIC with this address gets on the network. */
export function groupFor(info: NetworkInfo, ip: string | undefined): string {
  return (ip && info.hostGroupIds.get(ip)) || info.baseGroupId;
}
