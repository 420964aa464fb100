// A lab instance's firewall as EC2 security groups. The scenario's rules are ordered, first match wins, and may
// deny; security groups only allow, unordered. So each rule list is evaluated here into the exact set of traffic it
// allows (source or destination addresses x protocol x ports), and that set is written as allow permissions.
// One group per network (its ingress and internet egress), plus one per address that a rule singles out.
import type { FirewallPolicy, TrafficRule } from '../platform.ts';
import { cidrInterval, containsInterval, intervalCidrs, type Interval } from './addressing.ts';

export interface RangeNetwork {
  name: string;
  cidr: string;
  internet: boolean;
  egress?: 'gateway' | 'router' | 'nat-gateway';
}

/** One EC2 permission: a protocol (`-1` is every protocol), a port range for tcp/udp, and the peer CIDRs. */
export interface Permission {
  protocol: '-1' | 'tcp' | 'udp' | 'icmp';
  ports?: [number, number];
  cidrs: string[];
}

export interface GroupRules {
  ingress: Permission[];
  egress: Permission[];
}

export interface NetworkSecurity {
  /** Every machine on the network gets this group, unless it has a group of its own below. */
  base: GroupRules;
  /** Addresses that rules single out and whose traffic differs from the network's: a group each, replacing the base. */
  hosts: Array<{ address: string; rules: GroupRules }>;
}

/** What EC2 allows per group and direction without a quota increase (each CIDR counts). */
export const maxPermissionsPerGroup = 60;

type Proto = 'tcp' | 'udp' | 'icmp' | 'other';
const protos: Proto[] = ['tcp', 'udp', 'icmp', 'other'];
const allPorts: Interval = [0, 65535];
const everywhere: Interval = [0, 0xffffffff];

/** A box of traffic: peer addresses x ports (ports are [0, 0] for icmp and other protocols). */
interface Rect {
  a: Interval;
  p: Interval;
}
type Traffic = Record<Proto, Rect[]>;
interface Clause {
  traffic: Traffic;
  allow: boolean;
}

/**
 * The group of an instance's edge network (its range router's): in, everything the networks routed through the
 * router send (it forwards their internet traffic); out, anywhere. Nothing else reaches it.
 */
export function edgeSecurity(routed: string[], vpn?: { port: number; networks: string[] }): NetworkSecurity {
  // With a VPN, the instance's networks answer (and call) its peers through the router, and the peers' UDP comes
  // from anywhere (WireGuard answers nothing that is not signed by a peer's key).
  const from = [...new Set([...routed, ...(vpn?.networks ?? [])])].sort();
  return {
    base: {
      ingress: [
        ...(from.length > 0 ? [{ protocol: '-1' as const, cidrs: from }] : []),
        ...(vpn
          ? [{ protocol: 'udp' as const, ports: [vpn.port, vpn.port] as [number, number], cidrs: ['0.0.0.0/0'] }]
          : []),
      ],
      egress: [{ protocol: '-1', cidrs: ['0.0.0.0/0'] }],
    },
    hosts: [],
  };
}

/** A network's groups with the VPN's peers let in and out (the router's own rules keep them to their instance). */
export function withVpnPeers(security: NetworkSecurity, tunnel: string): NetworkSecurity {
  const add = (r: GroupRules): GroupRules => ({
    ingress: [...r.ingress, { protocol: '-1', cidrs: [tunnel] }],
    egress: [...r.egress, { protocol: '-1', cidrs: [tunnel] }],
  });
  return { base: add(security.base), hosts: security.hosts.map((h) => ({ ...h, rules: add(h.rules) })) };
}

/**
 * The security groups of network `name` of a lab instance: what may reach its machines (ingress) and where they may
 * send to outside the instance (egress; traffic between the instance's networks is filtered at the receiver).
 * Throws an Error saying why when the rules cannot be written as security groups.
 */
export function networkSecurity(networks: RangeNetwork[], policy: FirewallPolicy, name: string): NetworkSecurity {
  const net = networks.find((n) => n.name === name);
  if (!net) throw new Error(`network "${name}" is not one of the instance's networks`);
  const self = cidrInterval(net.cidr);
  const others = networks.filter((n) => n.name !== name).map((n) => cidrInterval(n.cidr));
  const all = networks.map((n) => cidrInterval(n.cidr));
  const rules = policy.rules.map((r) => ({ rule: r, from: r.from.map(cidrInterval), to: r.to.map(cidrInterval) }));

  // Addresses of this network that a rule names on its own: they may need a group of their own.
  const singled = new Set<number>();
  for (const [i, r] of rules.entries())
    for (const [side, list] of [
      ['from', r.from],
      ['to', r.to],
    ] as const)
      for (const iv of list) {
        if (iv[1] < self[0] || iv[0] > self[1] || containsInterval(iv, self)) continue;
        if (iv[0] !== iv[1])
          throw new Error(
            `rule ${i + 1} names ${intervalCidrs(iv).join(', ')} in its "${side}", part of network "${name}" (${net.cidr}); security groups can single out only whole networks or single addresses`,
          );
        singled.add(iv[0]);
      }

  const covers = (list: Interval[], scope: Interval) => list.some((iv) => containsInterval(iv, scope));
  const groupRules = (scope: Interval): GroupRules => {
    const ingress: Clause[] = [
      { traffic: anyTraffic([self]), allow: true },
      ...rules
        .filter((r) => covers(r.to, scope))
        .map((r) => ({ traffic: ruleTraffic(r.rule, r.from), allow: r.rule.action === 'allow' })),
      { traffic: anyTraffic(others), allow: policy.default === 'allow' },
    ];
    const egress: Clause[] = [
      { traffic: anyTraffic(all), allow: true },
      ...(net.internet
        ? [
            ...rules
              .filter((r) => covers(r.from, scope))
              .map((r) => ({ traffic: ruleTraffic(r.rule, r.to), allow: r.rule.action === 'allow' })),
            { traffic: anyTraffic([everywhere]), allow: true },
          ]
        : []),
    ];
    return { ingress: permissions(firstMatch(ingress)), egress: permissions(firstMatch(egress)) };
  };

  const base = groupRules(self);
  const hosts: NetworkSecurity['hosts'] = [];
  for (const ip of [...singled].sort((a, b) => a - b)) {
    const own = groupRules([ip, ip]);
    if (!sameRules(own, base)) hosts.push({ address: intervalCidrs([ip, ip])[0]!.replace(/\/32$/, ''), rules: own });
  }
  for (const [scope, r] of [['the network', base] as const, ...hosts.map((h) => [h.address, h.rules] as const)]) {
    for (const dir of ['ingress', 'egress'] as const) {
      const n = countEntries(r[dir]);
      if (n > maxPermissionsPerGroup)
        throw new Error(
          `the firewall gives ${scope} of "${name}" ${n} ${dir} permissions; a security group holds ${maxPermissionsPerGroup} without a quota increase`,
        );
    }
  }
  return { base, hosts };
}

export function countEntries(perms: Permission[]): number {
  return perms.reduce((n, p) => n + p.cidrs.length, 0);
}

/** A stable text per permission entry (one CIDR each), to compare what a group has with what it should have. */
export function permissionKeys(perms: Permission[]): string[] {
  return perms
    .flatMap((p) => p.cidrs.map((c) => `${p.protocol}|${p.ports ? `${p.ports[0]}-${p.ports[1]}` : ''}|${c}`))
    .sort();
}

function sameRules(a: GroupRules, b: GroupRules): boolean {
  return (
    permissionKeys(a.ingress).join() === permissionKeys(b.ingress).join() &&
    permissionKeys(a.egress).join() === permissionKeys(b.egress).join()
  );
}

function anyTraffic(peers: Interval[]): Traffic {
  return {
    tcp: peers.map((a) => ({ a, p: allPorts })),
    udp: peers.map((a) => ({ a, p: allPorts })),
    icmp: peers.map((a) => ({ a, p: [0, 0] })),
    other: peers.map((a) => ({ a, p: [0, 0] })),
  };
}

function ruleTraffic(rule: TrafficRule, peers: Interval[]): Traffic {
  const t: Traffic = { tcp: [], udp: [], icmp: [], other: [] };
  const ports: Interval[] = rule.ports.length > 0 ? rule.ports.map(([a, b]) => [a, b]) : [allPorts];
  for (const proto of rule.protocol === 'any' ? protos : [rule.protocol]) {
    const ps: Interval[] =
      proto === 'tcp' || proto === 'udp' ? (rule.protocol === 'any' ? [allPorts] : ports) : [[0, 0]];
    for (const a of peers) for (const p of ps) t[proto].push({ a, p });
  }
  return t;
}

/** The traffic the clauses allow, first match deciding: each clause counts only where no earlier clause matched. */
function firstMatch(clauses: Clause[]): Traffic {
  const out: Traffic = { tcp: [], udp: [], icmp: [], other: [] };
  for (const proto of protos) {
    const matched: Rect[] = [];
    for (const c of clauses) {
      for (const r of c.traffic[proto]) {
        let pieces = [r];
        for (const m of matched) pieces = pieces.flatMap((x) => subtract(x, m));
        if (c.allow) out[proto].push(...pieces);
        matched.push(r);
      }
    }
  }
  return out;
}

function overlapOf(a: Interval, b: Interval): Interval | undefined {
  const lo = Math.max(a[0], b[0]);
  const hi = Math.min(a[1], b[1]);
  return lo <= hi ? [lo, hi] : undefined;
}

/** r minus m, as at most four disjoint boxes. */
function subtract(r: Rect, m: Rect): Rect[] {
  const a = overlapOf(r.a, m.a);
  const p = overlapOf(r.p, m.p);
  if (!a || !p) return [r];
  const out: Rect[] = [];
  if (r.a[0] < a[0]) out.push({ a: [r.a[0], a[0] - 1], p: r.p });
  if (a[1] < r.a[1]) out.push({ a: [a[1] + 1, r.a[1]], p: r.p });
  if (r.p[0] < p[0]) out.push({ a, p: [r.p[0], p[0] - 1] });
  if (p[1] < r.p[1]) out.push({ a, p: [p[1] + 1, r.p[1]] });
  return out;
}

/** Sorted, merged intervals (adjacent ones joined). */
function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = [...list].sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
    else out.push([iv[0], iv[1]]);
  }
  return out;
}

function intersectIntervals(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of a)
    for (const y of b) {
      const o = overlapOf(x, y);
      if (o) out.push(o);
    }
  return mergeIntervals(out);
}

function minusIntervals(a: Interval[], b: Interval[]): Interval[] {
  let rest = a;
  for (const y of b) rest = rest.flatMap((x) => subtract({ a: x, p: [0, 0] }, { a: y, p: [0, 0] }).map((r) => r.a));
  return mergeIntervals(rest);
}

/** Address sets per port segment: segments cut at every boundary, then neighbours with equal addresses joined. */
function byPorts(rects: Rect[]): Array<{ p: Interval; a: Interval[] }> {
  const cuts = [...new Set(rects.flatMap((r) => [r.p[0], r.p[1] + 1]))].sort((x, y) => x - y);
  const segs: Array<{ p: Interval; a: Interval[] }> = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const p: Interval = [cuts[i]!, cuts[i + 1]! - 1];
    const a = mergeIntervals(rects.filter((r) => r.p[0] <= p[0] && p[1] <= r.p[1]).map((r) => r.a));
    if (a.length === 0) continue;
    const last = segs[segs.length - 1];
    if (last && last.p[1] + 1 === p[0] && sameIntervals(last.a, a)) last.p = [last.p[0], p[1]];
    else segs.push({ p, a });
  }
  return segs;
}

function sameIntervals(x: Interval[], y: Interval[]): boolean {
  return x.length === y.length && x.every((iv, i) => iv[0] === y[i]![0] && iv[1] === y[i]![1]);
}

/**
 * Allowed traffic as permissions: addresses open to every protocol become `-1`; the rest per protocol and port
 * range. Traffic of other protocols (GRE, ESP...) that is not open together with tcp, udp and icmp cannot be written
 * without listing protocol numbers, so it stays closed: never more open than the rules say.
 */
function permissions(t: Traffic): Permission[] {
  const full = (proto: Proto) =>
    mergeIntervals(
      t[proto]
        .filter((r) => proto === 'icmp' || proto === 'other' || (r.p[0] === 0 && r.p[1] === 65535))
        .map((r) => r.a),
    );
  const everyProto = protos.map(full).reduce((x, y) => intersectIntervals(x, y));
  const out: Permission[] = [];
  if (everyProto.length) out.push({ protocol: '-1', cidrs: everyProto.flatMap(intervalCidrs) });
  for (const proto of ['tcp', 'udp', 'icmp'] as const) {
    for (const seg of byPorts(t[proto])) {
      const rest = minusIntervals(seg.a, everyProto);
      if (rest.length === 0) continue;
      // Addresses open to every protocol are allowed either way: include them or not, whichever takes fewer CIDRs
      // (all ports to everywhere but the lab's networks is one CIDR, 0.0.0.0/0, not dozens).
      const cidrs = [rest, seg.a, mergeIntervals([...seg.a, ...everyProto])]
        .map((a) => a.flatMap(intervalCidrs))
        .reduce((x, y) => (y.length < x.length ? y : x));
      out.push({ protocol: proto, ...(proto === 'icmp' ? {} : { ports: seg.p }), cidrs });
    }
  }
  return out;
}
