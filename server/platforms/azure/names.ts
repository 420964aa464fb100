// How Glassdome's resources are named and tagged on Azure. Network and machine names carry the deployment and
// instance (`gd-<deployment>-i<N>-<name>`); each instance gets a resource group and a VNet named `gd-<deployment>-i<N>`,
// so every resource id follows from a name, and ownership is also in tags (what crash resume and teardown search).

export const tags = {
  deployment: 'glassdome:deployment',
  instance: 'glassdome:instance',
  machine: 'glassdome:machine',
  network: 'glassdome:network',
} as const;

export interface Owner {
  deploymentId: string;
  instance: number;
  /** The instance's resource group, which is also its VNet's name. */
  group: string;
}

/** The deployment and instance a Glassdome name belongs to: `gd-<deployment>-i<N>[-<rest>]`. */
export function ownerOf(name: string): Owner | undefined {
  const m = /^gd-([A-Za-z0-9]+)-i(\d+)(?:-.+)?$/.exec(name);
  if (!m) return undefined;
  return { deploymentId: m[1]!, instance: Number(m[2]), group: `gd-${m[1]}-i${m[2]}` };
}

export function ownerTags(o: Owner): Record<string, string> {
  return { [tags.deployment]: o.deploymentId, [tags.instance]: String(o.instance) };
}

export const nsgName = (network: string) => `${network}-nsg`;
export const nicName = (vm: string, j: number) => `${vm}-nic${j}`;
export const publicIpName = (vm: string, j: number) => `${vm}-pip${j}`;
export const osDiskName = (vm: string) => `${vm}-osdisk`;

export function resourceIds(subscriptionId: string) {
  const group = (rg: string) => `/subscriptions/${subscriptionId}/resourceGroups/${rg}`;
  const net = (rg: string, type: string, name: string) => `${group(rg)}/providers/Microsoft.Network/${type}/${name}`;
  return {
    group,
    vnet: (rg: string) => net(rg, 'virtualNetworks', rg),
    subnet: (rg: string, network: string) => `${net(rg, 'virtualNetworks', rg)}/subnets/${network}`,
    nsg: (rg: string, network: string) => net(rg, 'networkSecurityGroups', nsgName(network)),
    nic: (rg: string, vm: string, j: number) => net(rg, 'networkInterfaces', nicName(vm, j)),
    publicIp: (rg: string, vm: string, j: number) => net(rg, 'publicIPAddresses', publicIpName(vm, j)),
    vm: (rg: string, vm: string) => `${group(rg)}/providers/Microsoft.Compute/virtualMachines/${vm}`,
  };
}

/** The resource group and last name of an ARM resource id. */
export function parseResourceId(id: string): { group: string; type: string; name: string } | undefined {
  const m = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)(?:\/providers\/(.+))?$/i.exec(id);
  if (!m) return undefined;
  if (!m[2]) return { group: m[1]!, type: 'Microsoft.Resources/resourceGroups', name: m[1]! };
  const parts = m[2].split('/');
  const type = [parts[0], ...parts.slice(1).filter((_, i) => i % 2 === 0)].join('/');
  return { group: m[1]!, type, name: parts[parts.length - 1]! };
}
