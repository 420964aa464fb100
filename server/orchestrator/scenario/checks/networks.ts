// Networks: unique names, CIDRs that parse, are wide enough and do not overlap, gateways inside their network, VLANs.
import { ipToInt, isUsableHost, overlaps, parseSubnet, type Subnet } from '../../../ipam/cidr.ts';
import type { CheckInput, PathIssue } from './input.ts';

export interface NetworkFacts {
  subnets: Map<string, Subnet>;
  gateways: Map<string, number>;
  /** Networks whose CIDR comes from the appliance's pool (no static addresses possible). */
  fromPool: Set<string>;
}

/** Names the plan gives to networks it adds itself. */
export const reservedNetworkNames = ['uplink'];

export function checkNetworks(input: CheckInput, add: (i: PathIssue) => void): NetworkFacts {
  const facts: NetworkFacts = { subnets: new Map(), gateways: new Map(), fromPool: new Set() };
  const firstIndex = new Map<string, number>();
  for (const { index: i, net: n } of input.networks) {
    // A duplicate is reported, and is otherwise checked on its own: machines' NICs refer to the first definition.
    const first = !firstIndex.has(n.name);
    if (reservedNetworkNames.includes(n.name))
      add({
        path: ['networks', i, 'name'],
        message: `"${n.name}" is reserved for the outside network Glassdome adds (the range router's uplink); choose another name`,
      });
    if (!first)
      add({
        path: ['networks', i, 'name'],
        message: `duplicate network name "${n.name}" (first defined at networks[${firstIndex.get(n.name)}])`,
      });
    else firstIndex.set(n.name, i);
    let sub: Subnet | undefined;
    if (n.cidr !== undefined) {
      const parsed = parseSubnet(n.cidr);
      if ('error' in parsed) add({ path: ['networks', i, 'cidr'], message: parsed.error });
      else {
        sub = parsed;
        if (sub.prefix > 29)
          add({
            path: ['networks', i, 'cidr'],
            message: `"${n.cidr}" is too small for a lab network; expected a prefix of /29 or wider`,
          });
        for (const [other, os] of facts.subnets)
          if (overlaps(sub, os))
            add({ path: ['networks', i, 'cidr'], message: `${sub.cidr} overlaps network "${other}" (${os.cidr})` });
      }
    } else if (first) facts.fromPool.add(n.name);
    let gateway = sub && sub.base + 1;
    if (n.gateway !== undefined) {
      const gw = ipToInt(n.gateway);
      gateway = undefined;
      if (gw === undefined) add({ path: ['networks', i, 'gateway'], message: `"${n.gateway}" is not an IPv4 address` });
      else if (n.cidr === undefined)
        add({
          path: ['networks', i, 'gateway'],
          message: "a gateway needs the network's cidr; remove it to let Glassdome choose both",
        });
      else if (sub && !isUsableHost(sub, gw))
        add({ path: ['networks', i, 'gateway'], message: `${n.gateway} is not a usable host address of ${sub.cidr}` });
      else if (sub) gateway = gw;
    }
    if (first && sub) facts.subnets.set(n.name, sub);
    if (first && gateway !== undefined) facts.gateways.set(n.name, gateway);
  }
  const vlanOwner = new Map<number, string>();
  for (const { index: i, net: n } of input.networks) {
    if (n.vlan === undefined) continue;
    if (vlanOwner.has(n.vlan))
      add({
        path: ['networks', i, 'vlan'],
        message: `VLAN ${n.vlan} is already used by network "${vlanOwner.get(n.vlan)}"`,
      });
    else vlanOwner.set(n.vlan, n.name);
    if (input.instances > 1)
      add({
        path: ['networks', i, 'vlan'],
        message: `a fixed VLAN cannot isolate ${input.instances} instances; remove "vlan" to allocate one per instance from the VLAN pool`,
      });
  }
  return facts;
}
