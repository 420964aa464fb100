import { describe, expect, it } from 'vitest';
import {
  networkSecurity,
  permissionKeys,
  type Permission,
  type RangeNetwork,
} from '../../../server/platforms/aws/firewall.ts';
import type { FirewallPolicy, TrafficRule } from '../../../server/platforms/platform.ts';

// web-dmz.yaml's networks and rules, resolved to addresses as the planner resolves them.
const nets: RangeNetwork[] = [
  { name: 'dmz', cidr: '10.30.1.0/24', internet: true },
  { name: 'internal', cidr: '10.30.2.0/24', internet: false },
  { name: 'attack', cidr: '10.30.66.0/24', internet: false },
];
const rule = (r: Partial<TrafficRule> & Pick<TrafficRule, 'from' | 'to'>): TrafficRule => ({
  protocol: 'tcp',
  ports: [],
  action: 'allow',
  ...r,
});
const webDmz: FirewallPolicy = {
  default: 'deny',
  rules: [
    rule({
      from: ['10.30.66.0/24'],
      to: ['10.30.1.0/24'],
      ports: [
        [80, 80],
        [443, 443],
      ],
    }),
    rule({ from: ['10.30.1.20/32', '10.30.1.21/32'], to: ['10.30.2.10/32'], ports: [[5432, 5432]] }),
  ],
};
const keys = (p: Permission[]) => permissionKeys(p);

describe('security groups from firewall rules', () => {
  it('opens a network to itself and to what the rules allow, and nothing else', () => {
    const dmz = networkSecurity(nets, webDmz, 'dmz');
    expect(keys(dmz.base.ingress)).toEqual([
      '-1||10.30.1.0/24',
      'tcp|443-443|10.30.66.0/24',
      'tcp|80-80|10.30.66.0/24',
    ]);
    // The DMZ has internet: its machines may send anywhere.
    expect(keys(dmz.base.egress)).toEqual(['-1||0.0.0.0/0']);
    expect(dmz.hosts).toEqual([]);
  });

  it('gives an address a rule singles out a group of its own, and leaves the rest of its network closed', () => {
    const internal = networkSecurity(nets, webDmz, 'internal');
    expect(keys(internal.base.ingress)).toEqual(['-1||10.30.2.0/24']);
    expect(internal.hosts.map((h) => h.address)).toEqual(['10.30.2.10']);
    expect(keys(internal.hosts[0]!.rules.ingress)).toEqual(['-1||10.30.2.0/24', 'tcp|5432-5432|10.30.1.20/31']);
    // No internet: egress stays inside the lab instance.
    expect(keys(internal.base.egress)).toEqual(['-1||10.30.1.0/24', '-1||10.30.2.0/24', '-1||10.30.66.0/24']);
  });

  it('opens nothing to 0.0.0.0/0 unless a rule names anywhere', () => {
    for (const n of nets) {
      const s = networkSecurity(nets, webDmz, n.name);
      for (const g of [s.base, ...s.hosts.map((h) => h.rules)])
        expect(keys(g.ingress).filter((k) => k.endsWith('|0.0.0.0/0'))).toEqual([]);
    }
    const open = networkSecurity(
      nets,
      { default: 'deny', rules: [rule({ from: ['0.0.0.0/0'], to: ['10.30.1.0/24'], ports: [[443, 443]] })] },
      'dmz',
    );
    expect(keys(open.base.ingress)).toContain('tcp|443-443|0.0.0.0/0');
    expect(keys(open.base.ingress)).not.toContain('-1||0.0.0.0/0');
  });

  it('lets an earlier deny carve its ports out of a later allow', () => {
    const policy: FirewallPolicy = {
      default: 'deny',
      rules: [
        rule({ from: ['10.30.66.0/24'], to: ['10.30.1.0/24'], ports: [[22, 22]], action: 'deny' }),
        rule({ from: ['10.30.66.0/24'], to: ['10.30.1.0/24'], protocol: 'any' }),
      ],
    };
    const k = keys(networkSecurity(nets, policy, 'dmz').base.ingress);
    expect(k).toEqual([
      '-1||10.30.1.0/24',
      'icmp||10.30.66.0/24',
      'tcp|0-21|10.30.66.0/24',
      'tcp|23-65535|10.30.66.0/24',
      'udp|0-65535|10.30.66.0/24',
    ]);
  });

  it('applies a default of allow between networks, minus what rules deny', () => {
    const policy: FirewallPolicy = {
      default: 'allow',
      rules: [rule({ from: ['10.30.66.0/24'], to: ['10.30.2.0/24'], protocol: 'any', action: 'deny' })],
    };
    const internal = networkSecurity(nets, policy, 'internal');
    expect(keys(internal.base.ingress)).toEqual(['-1||10.30.1.0/24', '-1||10.30.2.0/24']);
    const dmz = networkSecurity(nets, policy, 'dmz');
    expect(keys(dmz.base.ingress)).toEqual(['-1||10.30.1.0/24', '-1||10.30.2.0/24', '-1||10.30.66.0/24']);
  });

  it('a later deny cannot close what an earlier allow opened', () => {
    // The first matching rule decides: a deny after an allow of the same traffic changes nothing.
    const policy: FirewallPolicy = {
      default: 'deny',
      rules: [
        rule({ from: ['10.30.66.0/24'], to: ['10.30.1.0/24'], ports: [[80, 80]] }),
        rule({ from: ['10.30.66.0/24'], to: ['10.30.1.0/24'], ports: [[80, 80]], action: 'deny' }),
      ],
    };
    expect(keys(networkSecurity(nets, policy, 'dmz').base.ingress)).toContain('tcp|80-80|10.30.66.0/24');
  });

  it('keeps internet egress open but for the ports a rule denies, in a handful of permissions', () => {
    const policy: FirewallPolicy = {
      default: 'deny',
      rules: [rule({ from: ['10.30.1.0/24'], to: ['0.0.0.0/0'], ports: [[25, 25]], action: 'deny' })],
    };
    const k = keys(networkSecurity(nets, policy, 'dmz').base.egress);
    expect(k).toEqual([
      '-1||10.30.1.0/24',
      '-1||10.30.2.0/24',
      '-1||10.30.66.0/24',
      'icmp||0.0.0.0/0',
      'tcp|0-24|0.0.0.0/0',
      'tcp|26-65535|0.0.0.0/0',
      'udp|0-65535|0.0.0.0/0',
    ]);
  });

  it('needs no group of its own for an address whose traffic is the same as its network', () => {
    // web-1 and web-2 are named in a rule's "from", but their egress is the DMZ's anyway.
    expect(networkSecurity(nets, webDmz, 'dmz').hosts).toEqual([]);
  });

  it('refuses a rule naming part of a network that is not a single address', () => {
    const policy: FirewallPolicy = {
      default: 'deny',
      rules: [rule({ from: ['10.30.66.0/24'], to: ['10.30.1.0/25'] })],
    };
    expect(() => networkSecurity(nets, policy, 'dmz')).toThrow(/part of network "dmz"/);
  });

  it('refuses rules that need more permissions than a group holds', () => {
    const many = Array.from({ length: 70 }, (_, i) =>
      rule({ from: [`10.30.66.${i * 2}/32`], to: ['10.30.1.0/24'], ports: [[80, 80]] }),
    );
    expect(() => networkSecurity(nets, { default: 'deny', rules: many }, 'dmz')).toThrow(
      /ingress permissions; a security group holds 60/,
    );
  });
});
