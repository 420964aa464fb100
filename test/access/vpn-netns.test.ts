// The VPN as packets: network namespaces play two instances' range routers (the generated nftables ruleset loaded,
// WireGuard from the generated files through Debian's userspace wireguard-go), their lab machines, a classroom
// switch, two trainees and the instructor. Traffic passes only into the right instance, the lab can call a trainee
// back, default deny between the scenario's networks still holds, and once the instance goes to another trainee the
// router change the appliance sends (run here as the router's root shell would) leaves the old key unable to
// handshake. Needs root, iproute2, nft, wg, wireguard-go.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWireguardKeys } from '../../server/access/vpn-keys.ts';
import { renderPeerConfig } from '../../server/access/vpn.ts';
import {
  buildRouterFiles,
  checkVpnPeers,
  renderRouterWireguard,
  routerChangeScript,
  vpnPeersChange,
  vpnPeersReadback,
} from '../../server/agents/lab-router.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { createNetns, netnsUnavailable, sh } from '../netns.ts';

const scenario = `
glassdome: 1
name: vpn-packets
title: VPN packets
networks:
  - { name: lan, cidr: 10.60.1.0/24 }
  - { name: dmz, cidr: 10.60.2.0/24 }
firewall:
  default: deny
  rules:
    - { from: dmz, to: lan, protocol: tcp, ports: [22] }
machines:
  - { name: web, networks: [lan] }
  - { name: kali, os: kali-rolling, networks: [dmz] }
`;

const skip = netnsUnavailable([
  ['nft', ['--version'], 'nftables'],
  ['wg', ['--version'], 'wireguard-tools'],
  ['wireguard-go', ['--version'], 'wireguard-go'],
]);
if (skip) console.warn(`[skip] VPN packet tests: ${skip}`);

const net = createNetns('vpn');
const { ns, inNs, dir } = net;
const listen = (n: string, port: number, text: string) => net.listen(n, '0.0.0.0', port, text);
const connect = net.connect;
const wireguard = net.wireguard;

describe.skipIf(skip !== undefined)('VPN traffic between network namespaces', () => {
  let plan: Plan;
  const keys = {
    instructor: generateWireguardKeys(),
    r1: generateWireguardKeys(),
    r2: generateWireguardKeys(),
    alice: generateWireguardKeys(),
    bob: generateWireguardKeys(),
    carol: generateWireguardKeys(),
  };
  const [gw, gc] = [net.unique('gw'), net.unique('gc')];
  const wgName = { r1: `${gw}1`, r2: `${gw}2`, t1: `${gc}1`, t2: `${gc}2`, t3: `${gc}3` };

  /** Instance i's router as planned, its interface named for this run (wireguard-go's sockets are shared). */
  const routerOf = (i: 1 | 2): PlannedMachine => {
    const r = plan.machines.find((m) => m.key === `i${i}.router`)!;
    return { ...r, router: { ...r.router!, vpn: { ...r.router!.vpn!, ifname: i === 1 ? wgName.r1 : wgName.r2 } } };
  };

  const peerConf = (i: 1 | 2, who: 'alice' | 'bob' | 'instructor', uplink: string) =>
    renderPeerConfig({
      deploymentId: 'netns',
      scenario: 'vpn-packets',
      instance: i,
      who,
      privateKey: keys[who].privateKey,
      address: who === 'instructor' ? '100.64.0.2' : '100.64.0.3',
      routerPublicKey: (i === 1 ? keys.r1 : keys.r2).publicKey,
      endpointHost: uplink,
      port: 51820,
      allowedIps: ['10.60.1.0/24', '10.60.2.0/24'],
    });

  beforeAll(async () => {
    plan = planDeployment({
      deploymentId: 'netns',
      scenario: parseScenario(scenario),
      platform: 'proxmox',
      instances: 2,
      allocations: { subnets: {}, vlans: { '1/lan': 11, '1/dmz': 12, '2/lan': 21, '2/dmz': 22 } },
      vpn: true,
    });
    net.add('c', 'r1', 'r2', 'a1', 'b1', 'a2', 't1', 't2', 't3');
    // The classroom: a switch with the routers' uplinks, the trainees' computers and one classroom host.
    inNs('c', 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs('c', 'ip', 'addr', 'add', '192.168.77.1/24', 'dev', 'br0');
    inNs('c', 'ip', 'link', 'set', 'br0', 'up');
    const uplinks: Array<[string, string, string]> = [
      ['r1', 'nic2', '192.168.77.11/24'],
      ['r2', 'nic2', '192.168.77.12/24'],
      ['t1', 'eth0', '192.168.77.21/24'],
      ['t2', 'eth0', '192.168.77.22/24'],
      ['t3', 'eth0', '192.168.77.23/24'],
    ];
    for (const [n, ifname, addr] of uplinks) {
      sh(['ip', 'link', 'add', `up${n}`, 'netns', ns('c'), 'type', 'veth', 'peer', 'name', ifname, 'netns', ns(n)]);
      inNs('c', 'ip', 'link', 'set', `up${n}`, 'master', 'br0', 'up');
      inNs(n, 'ip', 'addr', 'add', addr, 'dev', ifname);
      inNs(n, 'ip', 'link', 'set', ifname, 'up');
    }
    // Each instance's lab: the router's NICs as the plan numbers them, one host per network, same addresses in both.
    const labs: Array<[string, string, string, string, string]> = [
      ['r1', 'nic0', '10.60.1.1/24', 'a1', '10.60.1.10/24'],
      ['r1', 'nic1', '10.60.2.1/24', 'b1', '10.60.2.10/24'],
      ['r2', 'nic0', '10.60.1.1/24', 'a2', '10.60.1.10/24'],
    ];
    for (const [r, nic, raddr, host, haddr] of labs) {
      sh(['ip', 'link', 'add', nic, 'netns', ns(r), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(host)]);
      inNs(r, 'ip', 'addr', 'add', raddr, 'dev', nic);
      inNs(r, 'ip', 'link', 'set', nic, 'up');
      inNs(host, 'ip', 'addr', 'add', haddr, 'dev', 'eth0');
      inNs(host, 'ip', 'link', 'set', 'eth0', 'up');
      inNs(host, 'ip', 'route', 'add', 'default', 'via', raddr.split('/')[0]!);
    }
    for (const i of [1, 2] as const) {
      const r = routerOf(i);
      const n = `r${i}`;
      inNs(n, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      const rules = path.join(dir, `nftables-${n}.conf`);
      fs.writeFileSync(rules, buildRouterFiles(r).nftables);
      inNs(n, 'nft', '-f', rules);
      const own = i === 1 ? keys.r1 : keys.r2;
      const trainee = i === 1 ? keys.alice : keys.bob;
      await wireguard(
        n,
        r.router!.vpn!.ifname,
        renderRouterWireguard(r, {
          privateKey: own.privateKey,
          peers: { trainee: trainee.publicKey, instructor: keys.instructor.publicKey },
        }),
        `${r.router!.vpn!.address}/24`,
        [],
      );
    }
    await wireguard('t1', wgName.t1, peerConf(1, 'alice', '192.168.77.11'), '100.64.0.3/32', [
      '10.60.1.0/24',
      '10.60.2.0/24',
    ]);
    await wireguard('t2', wgName.t2, peerConf(2, 'bob', '192.168.77.12'), '100.64.0.3/32', [
      '10.60.1.0/24',
      '10.60.2.0/24',
    ]);
    await wireguard('t3', wgName.t3, peerConf(1, 'instructor', '192.168.77.11'), '100.64.0.2/32', [
      '10.60.1.0/24',
      '10.60.2.0/24',
    ]);
    await listen('a1', 8080, 'i1-lan');
    await listen('b1', 8080, 'i1-dmz');
    await listen('a2', 8080, 'i2-lan');
    await listen('t1', 9090, 'alice');
    await listen('c', 8081, 'classroom');
  }, 60_000);

  afterAll(() => net.close());

  it("takes each trainee into their own instance's networks, the same addresses reaching different labs", () => {
    expect(connect('t1', '10.60.1.10', 8080)).toBe('i1-lan');
    expect(connect('t1', '10.60.2.10', 8080)).toBe('i1-dmz');
    expect(connect('t2', '10.60.1.10', 8080)).toBe('i2-lan');
    expect(connect('t3', '10.60.1.10', 8080)).toBe('i1-lan');
    expect(inNs('r1', 'wg', 'show', wgName.r1, 'latest-handshakes')).toMatch(
      new RegExp(`${keys.alice.publicKey.replace(/[+/]/g, '\\$&')}\\t[1-9]`),
    );
  });

  it("gets nowhere with another instance's router: it does not know the trainee's key", () => {
    inNs('t1', 'wg', 'set', wgName.t1, 'peer', keys.r1.publicKey, 'endpoint', '192.168.77.12:51820');
    try {
      expect(connect('t1', '10.60.1.10', 8080, 1500)).toBe('TIMEOUT');
    } finally {
      inNs('t1', 'wg', 'set', wgName.t1, 'peer', keys.r1.publicKey, 'endpoint', '192.168.77.11:51820');
    }
    expect(connect('t1', '10.60.1.10', 8080)).toBe('i1-lan');
  });

  it('forwards nothing from a peer but into the lab: not the classroom, not another peer', () => {
    /**
     * Runs `check` with the router's forward policy set to accept (a scenario's `default: allow`) and the rules
     * carrying `comments` removed, then loads the generated ruleset again.
     */
    const without = (comments: string[], check: () => void) => {
      inNs('r1', 'nft', 'chain', 'inet', 'glassdome', 'forward', '{ policy accept; }');
      const listed = inNs('r1', 'nft', '-a', 'list', 'chain', 'inet', 'glassdome', 'forward');
      for (const comment of comments) {
        const handle = new RegExp(`comment "${comment}" # handle (\\d+)`).exec(listed)?.[1];
        expect(handle, listed).toBeDefined();
        inNs('r1', 'nft', 'delete', 'rule', 'inet', 'glassdome', 'forward', 'handle', handle!);
      }
      try {
        check();
      } finally {
        inNs('r1', 'nft', '-f', path.join(dir, 'nftables-r1.conf'));
      }
    };
    // The classroom host answers the trainee directly, and knows the way back to the tunnel through router 1.
    expect(connect('t1', '192.168.77.1', 8081)).toBe('classroom');
    inNs('c', 'ip', 'route', 'add', '100.64.0.0/24', 'via', '192.168.77.11');
    // Alice widens her own configuration to send the classroom host through the tunnel: the router drops it, twice
    // over (nothing leaves by an uplink without internet egress, and nothing leaves the tunnel but into the lab).
    inNs(
      't1',
      'wg',
      'set',
      wgName.t1,
      'peer',
      keys.r1.publicKey,
      'allowed-ips',
      '10.60.1.0/24,10.60.2.0/24,100.64.0.2/32,192.168.77.1/32',
    );
    inNs('t1', 'ip', 'route', 'add', '192.168.77.1/32', 'dev', wgName.t1);
    inNs('t1', 'ip', 'route', 'add', '100.64.0.2/32', 'dev', wgName.t1);
    expect(connect('t1', '192.168.77.1', 8081, 1500)).toBe('TIMEOUT');
    without(['gd:uplink-out'], () => expect(connect('t1', '192.168.77.1', 8081, 1500)).toBe('TIMEOUT'));
    without(['gd:uplink-out', 'gd:vpn-guard'], () => expect(connect('t1', '192.168.77.1', 8081)).toBe('classroom'));
    inNs('t1', 'ip', 'route', 'del', '192.168.77.1/32', 'dev', wgName.t1);
    // The instructor and the trainee share the router, never a path to each other, even when both try.
    inNs(
      't3',
      'wg',
      'set',
      wgName.t3,
      'peer',
      keys.r1.publicKey,
      'allowed-ips',
      '10.60.1.0/24,10.60.2.0/24,100.64.0.3/32',
    );
    inNs('t3', 'ip', 'route', 'add', '100.64.0.3/32', 'dev', wgName.t3);
    expect(connect('t3', '100.64.0.3', 9090, 1500)).toBe('TIMEOUT');
    without([], () => expect(connect('t3', '100.64.0.3', 9090, 1500)).toBe('TIMEOUT'));
    without(['gd:vpn-guard'], () => expect(connect('t3', '100.64.0.3', 9090)).toBe('alice'));
  });

  it("lets the lab call the trainee back, and keeps the scenario's default deny between its networks", () => {
    expect(connect('a1', '100.64.0.3', 9090)).toBe('alice');
    expect(connect('a1', '10.60.2.10', 8080, 1500)).toBe('TIMEOUT');
    expect(connect('b1', '10.60.1.10', 8080, 1500)).toBe('TIMEOUT');
  });

  it("drops the previous trainee's key when the instance goes to another: it no longer handshakes, the new one does", () => {
    const r1 = routerOf(1);
    const ifname = wgName.r1;
    const peers = { trainee: keys.carol.publicKey, instructor: keys.instructor.publicKey };
    const change = vpnPeersChange(r1, { privateKey: keys.r1.privateKey, peers });
    // The router's wg-quick file lives in this test's folder instead of /etc/wireguard; the script is otherwise the one
    // the appliance sends through the guest channel.
    const script = routerChangeScript(change).replaceAll('/etc/wireguard/', `${dir}/`);
    expect(script).toContain(`wg syncconf ${ifname} /dev/stdin`);
    inNs('r1', 'sh', '-c', script);
    expect(fs.statSync(path.join(dir, `${ifname}.conf`)).mode & 0o777).toBe(0o600);
    const shown = inNs('r1', ...vpnPeersReadback(r1));
    expect(checkVpnPeers(r1, peers, shown), shown).toEqual([]);
    expect(shown).not.toContain(keys.alice.publicKey);

    const handshakes = () => inNs('r1', 'wg', 'show', ifname, 'latest-handshakes');
    const aliceBefore = inNs('t1', 'wg', 'show', wgName.t1, 'latest-handshakes');
    // Alice's configuration, unchanged on her computer: nothing gets through, and no handshake completes.
    expect(connect('t1', '10.60.1.10', 8080, 3000)).toBe('TIMEOUT');
    expect(handshakes()).not.toContain(keys.alice.publicKey);
    expect(inNs('t1', 'wg', 'show', wgName.t1, 'latest-handshakes')).toBe(aliceBefore);
    // The instructor's session was left alone.
    expect(connect('t3', '10.60.1.10', 8080)).toBe('i1-lan');
    // Carol's configuration (the new seat key, the same tunnel address) on the same computer gets in.
    const carolKey = path.join(dir, 'carol.key');
    fs.writeFileSync(carolKey, keys.carol.privateKey, { mode: 0o600 });
    inNs('t1', 'wg', 'set', wgName.t1, 'private-key', carolKey);
    expect(connect('t1', '10.60.1.10', 8080)).toBe('i1-lan');
    expect(handshakes()).toMatch(new RegExp(`${keys.carol.publicKey.replace(/[+/]/g, '\\$&')}\\t[1-9]`));
  });
});
