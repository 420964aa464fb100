// Ownership on EC2: the tags every resource gets, the names it derives them from, and the filters that find them
// again. A resumed deployment finds what it created by these tags, never by remembered ids.
import type { Tag, TagSpecification, Filter, ResourceType } from '@aws-sdk/client-ec2';

export const tagKeys = {
  deployment: 'glassdome:deployment',
  /** The lab instance (range) number, "1" for `gd-<id>-i1-...`. */
  instance: 'glassdome:instance',
  /** The machine's platform name, on its launch template, instance, volumes and network interfaces. */
  machine: 'glassdome:machine',
  /** The network's platform name, on its subnet, route table and security groups. */
  network: 'glassdome:network',
  /** A host address whose own security group this is (firewall rules that name single machines). */
  address: 'glassdome:address',
  /** On a launch template: its NICs' network names, in order, so a start finds their subnets after a zone move. */
  networks: 'glassdome:networks',
  /** On a range router's launch template: the networks whose default route goes through it. */
  routes: 'glassdome:routes',
  /** On a range router's launch template: the VPN's tunnel network, routed to it from every network of its instance. */
  vpn: 'glassdome:vpn',
  /** On a VPC: the availability zone its subnets are in. */
  zone: 'glassdome:zone',
} as const;

export interface RangeName {
  deploymentId: string;
  /** 1-based lab instance number; 0 when the name does not carry one. */
  instance: number;
  /** `gd-<id>-i<N>`: the VPC's name, and the prefix of every resource of the instance. */
  name: string;
}

/**
 * The lab instance a network or machine name belongs to: `gd-<deployment>-i<N>-<rest>`. A name outside that pattern
 * is a range of its own (one VPC for that network alone).
 */
export function rangeOf(deploymentId: string, resourceName: string): RangeName {
  const prefix = `gd-${deploymentId}-i`;
  const m = resourceName.startsWith(prefix) ? /^(\d+)-./.exec(resourceName.slice(prefix.length)) : null;
  if (!m) return { deploymentId, instance: 0, name: resourceName };
  return { deploymentId, instance: Number(m[1]), name: `${prefix}${m[1]}` };
}

/** The range a VPC stands for: a VPC is named after its range. */
export function rangeNamed(deploymentId: string, vpcName: string): RangeName {
  const prefix = `gd-${deploymentId}-i`;
  const n = vpcName.startsWith(prefix) ? vpcName.slice(prefix.length) : '';
  return /^\d+$/.test(n)
    ? { deploymentId, instance: Number(n), name: vpcName }
    : { deploymentId, instance: 0, name: vpcName };
}

export function tagsOf(range: RangeName, name: string, extra: Record<string, string> = {}): Tag[] {
  const all: Record<string, string> = {
    Name: name,
    [tagKeys.deployment]: range.deploymentId,
    [tagKeys.instance]: String(range.instance),
    ...extra,
  };
  return Object.entries(all).map(([Key, Value]) => ({ Key, Value }));
}

export function tagSpec(type: ResourceType, tags: Tag[]): TagSpecification {
  return { ResourceType: type, Tags: tags };
}

export function tagValue(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

export function byTag(key: string, ...values: string[]): Filter {
  return { Name: `tag:${key}`, Values: values };
}

export function byDeployment(deploymentId: string): Filter {
  return byTag(tagKeys.deployment, deploymentId);
}

/** Instances that still exist in some form (terminated ones linger in listings for an hour). */
export const liveInstanceStates: Filter = {
  Name: 'instance-state-name',
  Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
};
