// A scenario network's NSG rules, as data: traffic within the network allowed first, then the scenario's rules in
// their order (inbound where the destination lies in this network; rules to anywhere also as egress from their
// source), then the default between networks and, for a network without internet, no egress to the internet.
// Azure's own defaults (below ours) allow VNet traffic and internet egress and deny inbound from the internet.
import { AppError } from '../../errors.ts';
import type { FirewallRule } from '../../model/plan.ts';
import type { FirewallPolicy, NetworkSpec } from '../platform.ts';

/** A security rule in the SDK's (flattened) shape. */
export interface NsgRule {
  name: string;
  description: string;
  protocol: 'Tcp' | 'Udp' | 'Icmp' | '*';
  access: 'Allow' | 'Deny';
  direction: 'Inbound' | 'Outbound';
  priority: number;
  sourcePortRange: '*';
  sourceAddressPrefix?: string;
  sourceAddressPrefixes?: string[];
  destinationAddressPrefix?: string;
  destinationAddressPrefixes?: string[];
  destinationPortRange?: string;
  destinationPortRanges?: string[];
}

type RuleFields = Omit<NsgRule, 'name' | 'description' | 'sourcePortRange'>;

/** The highest priority our rules may use; Azure's defaults start at 65000. */
const lastPriority = 4096;
const firstRulePriority = 200;

function toInt(ip: string): number {
  return ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
}

function range(cidr: string): { lo: number; hi: number } {
  const [ip, bits] = cidr.includes('/') ? cidr.split('/') : [cidr, '32'];
  const prefix = Number(bits);
  const size = 2 ** (32 - prefix);
  const lo = Math.floor(toInt(ip!) / size) * size;
  return { lo, hi: lo + size - 1 };
}

/** The part of `cidr` inside `network` (one of the two when one contains the other), or undefined. */
function within(cidr: string, network: string): string | undefined {
  const a = range(cidr);
  const n = range(network);
  if (a.lo <= n.lo && a.hi >= n.hi) return network;
  if (a.lo >= n.lo && a.hi <= n.hi) return cidr;
  return undefined;
}

const isAny = (cidr: string) => cidr === '0.0.0.0/0' || cidr === '*';
const protocols: Record<FirewallRule['protocol'], NsgRule['protocol']> = {
  tcp: 'Tcp',
  udp: 'Udp',
  icmp: 'Icmp',
  any: '*',
};

function addresses(list: string[], side: 'source' | 'destination'): Partial<NsgRule> {
  const norm = [...new Set(list.map((a) => (isAny(a) ? '*' : a.endsWith('/32') ? a.slice(0, -3) : a)))];
  if (norm.includes('*')) return side === 'source' ? { sourceAddressPrefix: '*' } : { destinationAddressPrefix: '*' };
  if (norm.length === 1)
    return side === 'source' ? { sourceAddressPrefix: norm[0]! } : { destinationAddressPrefix: norm[0]! };
  return side === 'source' ? { sourceAddressPrefixes: norm } : { destinationAddressPrefixes: norm };
}

function ports(rule: FirewallRule): Partial<NsgRule> {
  if (rule.protocol === 'icmp' || rule.ports.length === 0) return { destinationPortRange: '*' };
  const list = rule.ports.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`));
  return list.length === 1 ? { destinationPortRange: list[0]! } : { destinationPortRanges: list };
}

/** The NSG of one network; `firewall` is the instance's (NetworkSpec.range.firewall), absent: deny between networks. */
export function nsgRules(
  spec: Pick<NetworkSpec, 'name' | 'cidr' | 'internet'> & { firewall?: FirewallPolicy | undefined },
): NsgRule[] {
  const firewall = spec.firewall ?? { default: 'deny' as const, rules: [] };
  const out: NsgRule[] = [];
  const rule = (name: string, description: string, p: RuleFields): void =>
    void out.push({ name, description, sourcePortRange: '*', ...p });
  rule('gd-within-network', 'Glassdome: machines of this network reach each other', {
    protocol: '*',
    access: 'Allow',
    direction: 'Inbound',
    priority: 100,
    sourceAddressPrefix: spec.cidr,
    destinationAddressPrefix: spec.cidr,
    destinationPortRange: '*',
  });
  firewall.rules.forEach((r, i) => {
    const priority = firstRulePriority + i;
    if (priority >= lastPriority - 1)
      throw new AppError(
        'invalid_input',
        `[azure] Unable to create network "${spec.name}": its firewall has ${firewall.rules.length} rules, more than an Azure NSG can order`,
        { hint: 'Merge firewall rules (a rule may list several ports).' },
      );
    const common = {
      protocol: protocols[r.protocol],
      access: r.action === 'allow' ? ('Allow' as const) : ('Deny' as const),
      priority,
      ...ports(r),
    };
    const description = `Glassdome: scenario firewall rule ${i + 1}`;
    const into = r.to.flatMap((c) => within(c, spec.cidr) ?? []);
    if (into.length > 0)
      rule(`gd-rule-${i + 1}-in`, description, {
        ...common,
        direction: 'Inbound',
        ...addresses(r.from, 'source'),
        ...addresses(into, 'destination'),
      });
    // A rule to anywhere also governs egress (to the internet) from the networks it comes from.
    const from = r.from.flatMap((c) => within(c, spec.cidr) ?? []);
    if (r.to.some(isAny) && from.length > 0)
      rule(`gd-rule-${i + 1}-out`, description, {
        ...common,
        direction: 'Outbound',
        ...addresses(from, 'source'),
        destinationAddressPrefix: '*',
      });
  });
  if (firewall.default === 'deny')
    rule('gd-deny-other-networks', 'Glassdome: scenario firewall default deny between networks', {
      protocol: '*',
      access: 'Deny',
      direction: 'Inbound',
      priority: lastPriority,
      sourceAddressPrefix: 'VirtualNetwork',
      destinationAddressPrefix: '*',
      destinationPortRange: '*',
    });
  if (!spec.internet)
    rule('gd-no-internet', 'Glassdome: this network has no internet egress', {
      protocol: '*',
      access: 'Deny',
      direction: 'Outbound',
      priority: lastPriority,
      sourceAddressPrefix: '*',
      destinationAddressPrefix: 'Internet',
      destinationPortRange: '*',
    });
  return out;
}
