// Microsoft.Network: virtual networks with their subnets, network security groups, public IP addresses and network
// interfaces (also listed for the whole subscription), validated as the network provider does (address ranges, rule
// priorities, addresses in use, references that must exist, resources still in use) and provisioned through
// long-running operations.
import { armErrors } from './arm-error.ts';
import { runningOn, startDelete, startPut } from './lro.ts';
import {
  cidrContains,
  cidrsOverlap,
  intToIp,
  ipToInt,
  page,
  parseCidr,
  view,
  type Ctx,
  type Route,
  type Sim,
} from './routes.ts';
import { resourceId, type ArmResource } from './store.ts';

const T = {
  vnet: 'Microsoft.Network/virtualNetworks',
  subnet: 'Microsoft.Network/virtualNetworks/subnets',
  nsg: 'Microsoft.Network/networkSecurityGroups',
  pip: 'Microsoft.Network/publicIPAddresses',
  nic: 'Microsoft.Network/networkInterfaces',
};

const defaultSecurityRules = [
  ['AllowVnetInBound', 'Inbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowAzureLoadBalancerInBound', 'Inbound', 65001, 'Allow', 'AzureLoadBalancer', '*'],
  ['DenyAllInBound', 'Inbound', 65500, 'Deny', '*', '*'],
  ['AllowVnetOutBound', 'Outbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowInternetOutBound', 'Outbound', 65001, 'Allow', '*', 'Internet'],
  ['DenyAllOutBound', 'Outbound', 65500, 'Deny', '*', '*'],
] as const;

function ids(ctx: Ctx, type: string, name: string): string {
  return resourceId(ctx.sim.store.subscriptionId, ctx.params.resourceGroupName!, type, name);
}

function group(ctx: Ctx) {
  const g = ctx.sim.store.group(ctx.params.resourceGroupName!);
  if (!g) throw armErrors.resourceGroupNotFound(ctx.params.resourceGroupName!);
  if (g.state === 'Deleting' && ctx.method !== 'GET')
    throw armErrors.conflict(
      'ResourceGroupBeingDeleted',
      `The resource group '${g.name}' is in deprovisioning state and cannot perform this operation.`,
    );
  return g;
}

function existing(ctx: Ctx, type: string, name: string): ArmResource {
  group(ctx);
  const r = ctx.sim.store.get(ids(ctx, type, name));
  if (!r) throw armErrors.resourceNotFound(type, name, ctx.params.resourceGroupName!);
  return r;
}

function location(ctx: Ctx): string {
  const loc = String(ctx.body?.location ?? '')
    .toLowerCase()
    .replaceAll(' ', '');
  if (!ctx.sim.locations.includes(loc))
    throw armErrors.badRequest(
      'LocationNotAvailableForResourceType',
      `The provided location '${ctx.body?.location}' is not available for resource type '${ctx.params.type ?? 'Microsoft.Network'}'. List of available regions for the resource type is '${ctx.sim.locations.join(',')}'.`,
    );
  return loc;
}

const ref = (x: unknown): string | undefined =>
  x && typeof x === 'object' && typeof (x as { id?: unknown }).id === 'string' ? (x as { id: string }).id : undefined;

function nicIpConfigs(sim: Sim): Array<{ nic: ArmResource; config: any }> {
  return [...sim.store.resources.values()]
    .filter((r) => r.type === T.nic)
    .flatMap((nic) => (nic.properties.ipConfigurations as any[]).map((config) => ({ nic, config })));
}

function subnetView(sim: Sim, s: ArmResource): Record<string, unknown> {
  const configs = nicIpConfigs(sim).filter(
    (c) => ref(c.config.properties.subnet)?.toLowerCase() === s.id.toLowerCase(),
  );
  return {
    ...view(s),
    properties: {
      ...s.properties,
      ...(configs.length ? { ipConfigurations: configs.map((c) => ({ id: c.config.id })) } : {}),
    },
  };
}

function vnetView(sim: Sim, r: ArmResource): Record<string, unknown> {
  return {
    ...view(r),
    properties: {
      ...r.properties,
      subnets: sim.store
        .childrenOf(r.id)
        .filter((s) => s.type === T.subnet)
        .map((s) => subnetView(sim, s)),
    },
  };
}

function nsgView(sim: Sim, r: ArmResource): Record<string, unknown> {
  const subnets = [...sim.store.resources.values()].filter(
    (s) => s.type === T.subnet && ref(s.properties.networkSecurityGroup)?.toLowerCase() === r.id.toLowerCase(),
  );
  return {
    ...view(r),
    properties: {
      ...r.properties,
      defaultSecurityRules: defaultSecurityRules.map(([name, direction, priority, access, src, dst]) => ({
        id: `${r.id}/defaultSecurityRules/${name}`,
        name,
        type: 'Microsoft.Network/networkSecurityGroups/defaultSecurityRules',
        properties: {
          provisioningState: 'Succeeded',
          protocol: '*',
          sourcePortRange: '*',
          destinationPortRange: '*',
          sourceAddressPrefix: src,
          destinationAddressPrefix: dst,
          access,
          priority,
          direction,
        },
      })),
      ...(subnets.length ? { subnets: subnets.map((s) => ({ id: s.id })) } : {}),
    },
  };
}

function pipView(sim: Sim, r: ArmResource): Record<string, unknown> {
  const user = nicIpConfigs(sim).find(
    (c) => ref(c.config.properties.publicIPAddress)?.toLowerCase() === r.id.toLowerCase(),
  );
  return { ...view(r), properties: { ...r.properties, ...(user ? { ipConfiguration: { id: user.config.id } } : {}) } };
}

/** Checks one subnet of a VNet: inside the address space, /29 or larger, no overlap, an existing NSG. */
function checkSubnet(
  sim: Sim,
  vnetName: string,
  space: string[],
  s: { name: string; prefix: string; nsg?: string },
  siblings: Array<{ name: string; prefix: string }>,
) {
  const c = parseCidr(s.prefix);
  if (!c)
    throw armErrors.badRequest(
      'InvalidCIDRNotation',
      `The address prefix ${s.prefix} in resource /subnets/${s.name} has an invalid CIDR notation.`,
    );
  if (c.prefix > 29)
    throw armErrors.badRequest(
      'SubnetPrefixTooSmall',
      `Subnet ${s.name} has an address prefix ${s.prefix} smaller than /29; Azure subnets must be /29 or larger.`,
    );
  if (!space.some((a) => cidrContains(a, s.prefix)))
    throw armErrors.badRequest(
      'NetcfgSubnetRangeOutsideVnet',
      `Subnet '${s.name}' is not valid because its IP address range is outside the IP address range of virtual network '${vnetName}'.`,
    );
  const clash = siblings.find((o) => o.name.toLowerCase() !== s.name.toLowerCase() && cidrsOverlap(o.prefix, s.prefix));
  if (clash)
    throw armErrors.badRequest(
      'NetcfgSubnetRangesOverlap',
      `Subnet '${s.name}' is not valid because its IP address range overlaps with that of an existing subnet '${clash.name}' in virtual network '${vnetName}'.`,
    );
  if (s.nsg && !sim.store.get(s.nsg))
    throw armErrors.badRequest(
      'InvalidResourceReference',
      `Resource ${s.nsg} referenced by resource subnet ${s.name} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
    );
}

function subnetResource(ctx: Ctx, vnet: ArmResource, name: string, props: any): ArmResource {
  const nsg = ref(props?.networkSecurityGroup);
  return {
    id: `${vnet.id}/subnets/${name}`,
    type: T.subnet,
    name,
    resourceGroup: vnet.resourceGroup,
    location: vnet.location,
    tags: {},
    properties: {
      addressPrefix: String(props?.addressPrefix ?? ''),
      ...(nsg ? { networkSecurityGroup: { id: nsg } } : {}),
      ...(props?.defaultOutboundAccess === undefined
        ? {}
        : { defaultOutboundAccess: Boolean(props.defaultOutboundAccess) }),
      privateEndpointNetworkPolicies: 'Disabled',
      privateLinkServiceNetworkPolicies: 'Enabled',
    },
    sim: {},
  };
}

function inUse(sim: Sim, subnetId: string): boolean {
  return nicIpConfigs(sim).some((c) => ref(c.config.properties.subnet)?.toLowerCase() === subnetId.toLowerCase());
}

function refuseConcurrent(ctx: Ctx, vnetId: string) {
  const op = runningOn(ctx, vnetId);
  if (op)
    throw armErrors.anotherOperation(
      `${ctx.sim.base}/subscriptions/${ctx.sim.store.subscriptionId}/providers/Microsoft.Network/locations/${op.location}/operations/${op.id}`,
    );
}

const rules = ['Tcp', 'Udp', 'Icmp', 'Esp', 'Ah', '*'];
const portRange = /^(\*|\d{1,5}(-\d{1,5})?)$/;

function checkRules(nsgName: string, list: any[]) {
  const seen = new Map<string, string>();
  for (const rule of list) {
    const p = rule?.properties ?? {};
    const name = String(rule?.name ?? '');
    const bad = (field: string, value: unknown) =>
      armErrors.badRequest(
        'SecurityRuleParameterContainsUnsupportedValue',
        `Security rule parameter ${field} for rule with Id ${name} in network security group ${nsgName} has an unsupported value ${String(value)}.`,
      );
    if (!Number.isInteger(p.priority) || p.priority < 100 || p.priority > 4096)
      throw armErrors.badRequest(
        'SecurityRuleInvalidPriority',
        `Security rule ${name} has invalid Priority. Value provided: ${p.priority} Allowed range 100-4096.`,
      );
    if (!rules.includes(p.protocol)) throw bad('Protocol', p.protocol);
    if (p.access !== 'Allow' && p.access !== 'Deny') throw bad('Access', p.access);
    if (p.direction !== 'Inbound' && p.direction !== 'Outbound') throw bad('Direction', p.direction);
    const ports = [
      ...(p.destinationPortRanges ?? []),
      ...(p.destinationPortRange !== undefined ? [p.destinationPortRange] : []),
    ];
    if (ports.length === 0) throw bad('DestinationPortRange', 'null');
    for (const range of ports) {
      if (
        !portRange.test(String(range)) ||
        String(range)
          .split('-')
          .some((x) => x !== '*' && (Number(x) < 0 || Number(x) > 65535))
      )
        throw armErrors.badRequest(
          'SecurityRuleInvalidPortRange',
          `Security rule has invalid Port range. Value provided: ${range}. Value should be an integer OR integer range with '-' delimiter. Valid range 0-65535.`,
        );
    }
    const sources = [
      ...(p.sourceAddressPrefixes ?? []),
      ...(p.sourceAddressPrefix !== undefined ? [p.sourceAddressPrefix] : []),
    ];
    const destinations = [
      ...(p.destinationAddressPrefixes ?? []),
      ...(p.destinationAddressPrefix !== undefined ? [p.destinationAddressPrefix] : []),
    ];
    for (const a of [...sources, ...destinations]) {
      const s = String(a);
      if (
        !['*', 'VirtualNetwork', 'Internet', 'AzureLoadBalancer'].includes(s) &&
        !parseCidr(s.includes('/') ? s : `${s}/32`)
      )
        throw armErrors.badRequest(
          'SecurityRuleInvalidAddressPrefix',
          `Security rule ${name} has invalid Address prefix. Value provided: ${s}`,
        );
    }
    if (sources.length === 0 || destinations.length === 0) throw bad('AddressPrefix', 'null');
    const key = `${p.direction}/${p.priority}`;
    const other = seen.get(key);
    if (other)
      throw armErrors.badRequest(
        'SecurityRuleConflict',
        `Security rule ${other} conflicts with rule ${name}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.`,
      );
    seen.set(key, name);
  }
}

export const networkRoutes: Route[] = [
  // ------------------------------------------------------------------ virtual networks
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/read',
    handle: (ctx) => ({ status: 200, body: vnetView(ctx.sim, existing(ctx, T.vnet, ctx.params.name!)) }),
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/write',
    handle(ctx) {
      const { sim, body } = ctx;
      const g = group(ctx);
      const name = ctx.params.name!;
      const id = ids(ctx, T.vnet, name);
      const old = sim.store.get(id);
      refuseConcurrent(ctx, id);
      const loc = location(ctx);
      const space: string[] = body?.properties?.addressSpace?.addressPrefixes ?? [];
      if (space.length === 0)
        throw armErrors.badRequest(
          'InvalidAddressSpace',
          `Virtual network ${name} must have at least one address prefix.`,
        );
      for (const a of space)
        if (!parseCidr(a))
          throw armErrors.badRequest(
            'InvalidCIDRNotation',
            `The address prefix ${a} in resource ${id} has an invalid CIDR notation.`,
          );
      const wanted: Array<{ name: string; properties: any }> = (body?.properties?.subnets ?? []).map((s: any) => ({
        name: String(s.name),
        properties: s.properties ?? {},
      }));
      const list = wanted.map((s) => ({
        name: s.name,
        prefix: String(s.properties.addressPrefix ?? ''),
        ...(ref(s.properties.networkSecurityGroup) ? { nsg: ref(s.properties.networkSecurityGroup)! } : {}),
      }));
      for (const s of list) checkSubnet(sim, name, space, s, list);
      // A PUT that leaves out a subnet deletes it, which the provider refuses while NICs use it.
      const current = old ? sim.store.childrenOf(id).filter((s) => s.type === T.subnet) : [];
      for (const s of current)
        if (!wanted.some((w) => w.name.toLowerCase() === s.name.toLowerCase()) && inUse(sim, s.id))
          throw armErrors.badRequest(
            'InUseSubnetCannotBeDeleted',
            `Subnet ${s.name} is in use by ${nicIpConfigs(sim).find((c) => ref(c.config.properties.subnet)?.toLowerCase() === s.id.toLowerCase())!.config.id} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
          );
      const r: ArmResource = old ?? {
        id,
        type: T.vnet,
        name,
        resourceGroup: g.name,
        location: loc,
        tags: {},
        properties: {},
        sim: {},
      };
      r.tags = { ...(body?.tags ?? {}) };
      r.properties = {
        addressSpace: { addressPrefixes: [...space] },
        enableDdosProtection: false,
        virtualNetworkPeerings: [],
        resourceGuid: r.properties.resourceGuid ?? crypto.randomUUID(),
      };
      for (const s of current)
        if (!wanted.some((w) => w.name.toLowerCase() === s.name.toLowerCase())) sim.store.remove(s.id);
      const subnets = wanted.map((w) => {
        const s = subnetResource(ctx, r, w.name, w.properties);
        const prior = sim.store.get(s.id);
        if (prior) s.properties = { ...prior.properties, ...s.properties };
        s.properties.provisioningState = 'Updating';
        sim.store.put(s);
        return s;
      });
      return startPut(ctx, r, {
        created: !old,
        simMs: sim.clock.pick(sim.clock.timing.networkOpMs),
        done: () => void subnets.forEach((s) => (s.properties.provisioningState = 'Succeeded')),
        view: (x) => vnetView(sim, x),
      });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/delete',
    handle(ctx) {
      group(ctx);
      const r = ctx.sim.store.get(ids(ctx, T.vnet, ctx.params.name!));
      if (!r) return { status: 204 };
      for (const s of ctx.sim.store.childrenOf(r.id))
        if (inUse(ctx.sim, s.id))
          throw armErrors.badRequest('InUseSubnetCannotBeDeleted', `Subnet ${s.name} is in use and cannot be deleted.`);
      return startDelete(ctx, r, {
        simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.networkOpMs),
        done: () => ctx.sim.store.childrenOf(r.id).forEach((s) => ctx.sim.store.remove(s.id)),
      });
    },
  },
  // ------------------------------------------------------------------ subnets
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/subnets/read',
    handle(ctx) {
      const vnet = existing(ctx, T.vnet, ctx.params.vnet!);
      const s = ctx.sim.store.get(`${vnet.id}/subnets/${ctx.params.name}`);
      if (!s) throw armErrors.resourceNotFound(`${T.vnet}/${vnet.name}/subnets`, ctx.params.name!, vnet.resourceGroup);
      return { status: 200, body: subnetView(ctx.sim, s) };
    },
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/subnets/write',
    handle(ctx) {
      const { sim } = ctx;
      const vnet = existing(ctx, T.vnet, ctx.params.vnet!);
      refuseConcurrent(ctx, vnet.id);
      const s = subnetResource(ctx, vnet, ctx.params.name!, ctx.body?.properties);
      const siblings = sim.store
        .childrenOf(vnet.id)
        .filter((x) => x.type === T.subnet)
        .map((x) => ({ name: x.name, prefix: String(x.properties.addressPrefix) }));
      checkSubnet(
        sim,
        vnet.name,
        vnet.properties.addressSpace.addressPrefixes,
        {
          name: s.name,
          prefix: s.properties.addressPrefix,
          ...(s.properties.networkSecurityGroup ? { nsg: s.properties.networkSecurityGroup.id } : {}),
        },
        siblings,
      );
      const old = sim.store.get(s.id);
      return startPut(ctx, s, {
        created: !old,
        simMs: sim.clock.pick(sim.clock.timing.networkOpMs),
        view: (x) => subnetView(sim, x),
      });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{name}',
    api: 'network',
    action: 'Microsoft.Network/virtualNetworks/subnets/delete',
    handle(ctx) {
      const vnet = existing(ctx, T.vnet, ctx.params.vnet!);
      const s = ctx.sim.store.get(`${vnet.id}/subnets/${ctx.params.name}`);
      if (!s) return { status: 204 };
      if (inUse(ctx.sim, s.id))
        throw armErrors.badRequest(
          'InUseSubnetCannotBeDeleted',
          `Subnet ${s.name} is in use and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.`,
        );
      refuseConcurrent(ctx, vnet.id);
      return startDelete(ctx, s, { simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.networkOpMs) });
    },
  },
  // ------------------------------------------------------------------ network security groups
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkSecurityGroups/read',
    handle: (ctx) => ({ status: 200, body: nsgView(ctx.sim, existing(ctx, T.nsg, ctx.params.name!)) }),
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkSecurityGroups/write',
    handle(ctx) {
      const { sim, body } = ctx;
      const g = group(ctx);
      const name = ctx.params.name!;
      const id = ids(ctx, T.nsg, name);
      const loc = location(ctx);
      const list: any[] = body?.properties?.securityRules ?? [];
      checkRules(name, list);
      const old = sim.store.get(id);
      const r: ArmResource = old ?? {
        id,
        type: T.nsg,
        name,
        resourceGroup: g.name,
        location: loc,
        tags: {},
        properties: {},
        sim: {},
      };
      r.tags = { ...(body?.tags ?? {}) };
      r.properties = {
        resourceGuid: r.properties.resourceGuid ?? crypto.randomUUID(),
        securityRules: list.map((rule) => ({
          id: `${id}/securityRules/${rule.name}`,
          name: rule.name,
          type: 'Microsoft.Network/networkSecurityGroups/securityRules',
          properties: { ...rule.properties, provisioningState: 'Succeeded' },
        })),
      };
      return startPut(ctx, r, {
        created: !old,
        simMs: sim.clock.pick(sim.clock.timing.networkOpMs),
        view: (x) => nsgView(sim, x),
      });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkSecurityGroups/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkSecurityGroups/delete',
    handle(ctx) {
      group(ctx);
      const r = ctx.sim.store.get(ids(ctx, T.nsg, ctx.params.name!));
      if (!r) return { status: 204 };
      const subnet = [...ctx.sim.store.resources.values()].find(
        (s) => s.type === T.subnet && ref(s.properties.networkSecurityGroup)?.toLowerCase() === r.id.toLowerCase(),
      );
      if (subnet)
        throw armErrors.badRequest(
          'InUseNetworkSecurityGroupCannotBeDeleted',
          `Network security group ${r.id} cannot be deleted because it is in use by the following resources: ${subnet.id}. In order to delete the Network security group, remove the association with the resource(s).`,
        );
      return startDelete(ctx, r, { simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.networkOpMs) });
    },
  },
  // ------------------------------------------------------------------ public IP addresses
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/publicIPAddresses/{name}',
    api: 'network',
    action: 'Microsoft.Network/publicIPAddresses/read',
    handle: (ctx) => ({ status: 200, body: pipView(ctx.sim, existing(ctx, T.pip, ctx.params.name!)) }),
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/publicIPAddresses/{name}',
    api: 'network',
    action: 'Microsoft.Network/publicIPAddresses/write',
    handle(ctx) {
      const { sim, body } = ctx;
      const g = group(ctx);
      const name = ctx.params.name!;
      const id = ids(ctx, T.pip, name);
      const loc = location(ctx);
      const sku = String(body?.sku?.name ?? 'Basic');
      if (sku !== 'Standard')
        throw armErrors.badRequest(
          'BasicSkuPublicIpNotAllowed',
          `Basic SKU public IP addresses can no longer be created. Use the Standard SKU for public IP address ${name}.`,
        );
      if (body?.properties?.publicIPAllocationMethod !== 'Static')
        throw armErrors.badRequest(
          'StandardSkuPublicIPAddressesMustBeStatic',
          `Standard sku publicIp ${id} must be Static.`,
        );
      const old = sim.store.get(id);
      const r: ArmResource = old ?? {
        id,
        type: T.pip,
        name,
        resourceGroup: g.name,
        location: loc,
        tags: {},
        properties: {},
        sim: {},
      };
      r.tags = { ...(body?.tags ?? {}) };
      r.sku = { name: 'Standard', tier: 'Regional' };
      const address =
        r.properties.ipAddress ??
        intToIp(ipToInt('20.50.0.0')! + 1 + [...sim.store.resources.values()].filter((x) => x.type === T.pip).length);
      r.properties = {
        publicIPAllocationMethod: 'Static',
        publicIPAddressVersion: 'IPv4',
        idleTimeoutInMinutes: 4,
        ipAddress: address,
        resourceGuid: r.properties.resourceGuid ?? crypto.randomUUID(),
      };
      return startPut(ctx, r, {
        created: !old,
        simMs: sim.clock.pick(sim.clock.timing.networkOpMs),
        view: (x) => pipView(sim, x),
      });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/publicIPAddresses/{name}',
    api: 'network',
    action: 'Microsoft.Network/publicIPAddresses/delete',
    handle(ctx) {
      group(ctx);
      const r = ctx.sim.store.get(ids(ctx, T.pip, ctx.params.name!));
      if (!r) return { status: 204 };
      const user = nicIpConfigs(ctx.sim).find(
        (c) => ref(c.config.properties.publicIPAddress)?.toLowerCase() === r.id.toLowerCase(),
      );
      if (user)
        throw armErrors.badRequest(
          'PublicIPAddressCannotBeDeleted',
          `Public IP address ${r.id} can not be deleted since it is still allocated to resource ${user.config.id}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.`,
        );
      return startDelete(ctx, r, { simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.networkOpMs) });
    },
  },
  // ------------------------------------------------------------------ network interfaces
  {
    method: 'GET',
    path: '/providers/Microsoft.Network/networkInterfaces',
    api: 'network',
    action: 'Microsoft.Network/networkInterfaces/read',
    handle: (ctx) =>
      page(
        ctx,
        [...ctx.sim.store.resources.values()].filter((r) => r.type === T.nic).map((r) => view(r)),
      ),
  },
  {
    method: 'GET',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkInterfaces/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkInterfaces/read',
    handle: (ctx) => ({ status: 200, body: view(existing(ctx, T.nic, ctx.params.name!)) }),
  },
  {
    method: 'PUT',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkInterfaces/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkInterfaces/write',
    handle(ctx) {
      const { sim, body } = ctx;
      const g = group(ctx);
      const name = ctx.params.name!;
      const id = ids(ctx, T.nic, name);
      const loc = location(ctx);
      const old = sim.store.get(id);
      const configs: any[] = body?.properties?.ipConfigurations ?? [];
      if (configs.length === 0)
        throw armErrors.badRequest(
          'NetworkInterfaceMustHaveIpConfiguration',
          `Network interface ${id} must have one or more IP configurations.`,
        );
      const others = nicIpConfigs(sim).filter((c) => c.nic.id.toLowerCase() !== id.toLowerCase());
      const out = configs.map((c, j) => {
        const p = c.properties ?? {};
        const subnetId = ref(p.subnet);
        const subnet = subnetId ? sim.store.get(subnetId) : undefined;
        const refErr = (what: string) =>
          armErrors.badRequest(
            'InvalidResourceReference',
            `Resource ${what} referenced by resource ${id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
          );
        if (!subnet || subnet.type !== T.subnet) throw refErr(subnetId ?? '(no subnet)');
        if (subnet.location !== loc) throw refErr(subnet.id);
        const prefix = parseCidr(subnet.properties.addressPrefix)!;
        const used = new Set(
          others
            .filter((o) => ref(o.config.properties.subnet)?.toLowerCase() === subnet.id.toLowerCase())
            .map((o) => o.config.properties.privateIPAddress),
        );
        let address: string;
        if (p.privateIPAllocationMethod === 'Static') {
          const n = ipToInt(String(p.privateIPAddress ?? ''));
          if (n === undefined || n < prefix.base || n >= prefix.base + prefix.size)
            throw armErrors.badRequest(
              'PrivateIPAddressNotInSubnet',
              `IP configuration ${id}/ipConfigurations/${c.name} is referencing private IP address ${p.privateIPAddress} which does not belong to subnet ${subnet.id}.`,
            );
          // Azure keeps the first four addresses and the last of every subnet.
          if (n - prefix.base < 4 || n === prefix.base + prefix.size - 1)
            throw armErrors.badRequest(
              'PrivateIPAddressInReservedRange',
              `Private static IP address ${p.privateIPAddress} falls within reserved IP range of subnet prefix ${subnet.properties.addressPrefix}.`,
            );
          if (used.has(p.privateIPAddress))
            throw armErrors.badRequest(
              'PrivateIPAddressInUse',
              `IP configuration ${id}/ipConfigurations/${c.name} is using the private IP address ${p.privateIPAddress} which is already allocated to resource ${others.find((o) => o.config.properties.privateIPAddress === p.privateIPAddress)!.config.id}.`,
            );
          address = String(p.privateIPAddress);
        } else {
          const keep = old?.properties.ipConfigurations?.[j]?.properties?.privateIPAddress;
          let n = prefix.base + 4;
          while (used.has(intToIp(n))) n++;
          if (n >= prefix.base + prefix.size - 1)
            throw armErrors.badRequest(
              'SubnetIsFull',
              `Subnet ${subnet.name} with address prefix ${subnet.properties.addressPrefix} does not have enough capacity for 1 IP addresses.`,
            );
          address = keep ?? intToIp(n);
        }
        const pipId = ref(p.publicIPAddress);
        if (pipId) {
          if (!sim.store.get(pipId)) throw refErr(pipId);
          const user = others.find(
            (o) => ref(o.config.properties.publicIPAddress)?.toLowerCase() === pipId.toLowerCase(),
          );
          if (user)
            throw armErrors.badRequest(
              'PublicIPAddressInUse',
              `Resource ${pipId} is referenced by ${user.config.id} and cannot be used by ${id}.`,
            );
        }
        return {
          id: `${id}/ipConfigurations/${c.name ?? `ipconfig${j + 1}`}`,
          name: c.name ?? `ipconfig${j + 1}`,
          type: 'Microsoft.Network/networkInterfaces/ipConfigurations',
          properties: {
            provisioningState: 'Succeeded',
            privateIPAddress: address,
            privateIPAllocationMethod: p.privateIPAllocationMethod === 'Static' ? 'Static' : 'Dynamic',
            privateIPAddressVersion: 'IPv4',
            subnet: { id: subnet.id },
            primary: j === 0,
            ...(pipId ? { publicIPAddress: { id: pipId } } : {}),
          },
        };
      });
      const r: ArmResource = old ?? {
        id,
        type: T.nic,
        name,
        resourceGroup: g.name,
        location: loc,
        tags: {},
        properties: {},
        sim: {},
      };
      r.tags = { ...(body?.tags ?? {}) };
      const mac =
        r.properties.macAddress ??
        `00-0D-3A-${[1, 2, 3]
          .map(() =>
            Math.floor(sim.clock.random() * 256)
              .toString(16)
              .padStart(2, '0')
              .toUpperCase(),
          )
          .join('-')}`;
      r.properties = {
        resourceGuid: r.properties.resourceGuid ?? crypto.randomUUID(),
        ipConfigurations: out,
        enableAcceleratedNetworking: Boolean(body?.properties?.enableAcceleratedNetworking),
        enableIPForwarding: Boolean(body?.properties?.enableIPForwarding),
        macAddress: mac,
        nicType: 'Standard',
        ...(r.properties.virtualMachine ? { virtualMachine: r.properties.virtualMachine } : {}),
      };
      return startPut(ctx, r, { created: !old, simMs: sim.clock.pick(sim.clock.timing.nicOpMs) });
    },
  },
  {
    method: 'DELETE',
    path: '/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkInterfaces/{name}',
    api: 'network',
    action: 'Microsoft.Network/networkInterfaces/delete',
    handle(ctx) {
      group(ctx);
      const r = ctx.sim.store.get(ids(ctx, T.nic, ctx.params.name!));
      if (!r) return { status: 204 };
      const vm = ref(r.properties.virtualMachine);
      if (vm)
        throw armErrors.badRequest(
          'NicInUse',
          `Network Interface ${r.id} is used by existing resource ${vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      return startDelete(ctx, r, { simMs: ctx.sim.clock.pick(ctx.sim.clock.timing.nicOpMs) });
    },
  },
];
