// A cloud's range router (AWS): one NIC on the instance's edge subnet, the lab's internet traffic sent to it by the
// cloud's route tables. Its ruleset as nft reads it, as the kernel holds it, and as packets meet it: network
// namespaces play the VPC (the routed network's default route points at the router's address, as a route table
// points at its interface), a network that is not routed, and a host on the internet that knows only the router's
// address (as the internet gateway maps only the router's). Needs root, iproute2 and nft for the packet tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRouterFiles,
  checkRuleset,
  renderRouterWireguard,
  routerExpectation,
  rulesetReadback,
} from '../../server/agents/lab-router.ts';
import { generateWireguardKeys } from '../../server/access/vpn-keys.ts';
import { instanceVpn, renderPeerConfig } from '../../server/access/vpn.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { createNetns, netnsUnavailable } from '../netns.ts';
import { machine, probe, run, tempFile } from './lab-plan.ts';

const cloudPlan = (vpn: boolean): Plan =>
  planDeployment({
    deploymentId: 'cloud',
    platform: 'aws',
    instances: 1,
    allocations: { subnets: {}, vlans: {} },
    ...(vpn ? { vpn: true } : {}),
    scenario: parseScenario(`
glassdome: 1
name: cloud-router
title: Cloud router
networks:
  - { name: dmz, cidr: 10.0.1.0/24, internet: true }
  - { name: lan, cidr: 10.0.2.0/24 }
firewall:
  default: allow
  rules:
    - { from: dmz, to: "*", protocol: tcp, ports: 25, action: deny }
machines:
  - { name: web, networks: [dmz] }
  - { name: db, networks: [lan] }
`),
  });
const plan = cloudPlan(false);
const router = machine(plan, 'i1.router');
const files = buildRouterFiles(router);

describe('the cloud router files', () => {
  it('forward only what the routed networks send outside the instance, masqueraded; no DNS or DHCP service', () => {
    expect(router.nics.map((n) => n.ip)).toEqual(['10.0.0.4']);
    expect(files.dnsmasq).toBeUndefined();
    expect(files.sysctl).toContain('net.ipv4.conf.all.send_redirects = 0');
    const forward = /chain forward \{\n([\s\S]*?)\n\t\}/.exec(files.nftables)![1]!;
    expect(forward).toContain('policy drop;');
    expect(forward).toContain('ip saddr != 10.0.1.0/24 drop comment "gd:uplink-in"');
    expect(forward).toContain('ip daddr { 10.0.1.0/24, 10.0.2.0/24, 10.0.0.0/28 } drop comment "gd:uplink-out"');
    expect(forward).toContain('ip saddr 10.0.1.0/24 tcp dport 25 drop comment "gd:rule:1"');
    expect(files.nftables).toContain(
      'ip saddr 10.0.1.0/24 ip daddr != { 10.0.1.0/24, 10.0.2.0/24, 10.0.0.0/28 } masquerade comment "gd:nat"',
    );
    // No interface names: the image names its NIC, and everything arrives and leaves on it.
    expect(files.nftables).not.toMatch(/[io]ifname "(?!lo")/);
    expect(routerExpectation(router)).toEqual({
      forwardPolicy: 'drop',
      forward: ['gd:uplink-in', 'gd:uplink-out', 'gd:rule:1', 'gd:egress'],
      nat: ['gd:nat'],
    });
  });

  const nft = probe(
    'nft',
    ['-c', '-f', tempFile('probe.nft', 'table inet glassdome_probe {\n}\n')],
    undefined,
    'nftables',
  );
  if (!nft.has) console.warn(`skipping nft -c of the cloud router: ${nft.why}`);
  it.skipIf(!nft.has)('nft -c accepts the ruleset', () => {
    const r = run('nft', ['-c', '-f', tempFile('cloud.nft', files.nftables)]);
    expect(r.status, r.out).toBe(0);
  });
});

const skip = netnsUnavailable([['nft', ['--version'], 'nftables']]);
if (skip) console.warn(`[skip] cloud router packet tests: ${skip}`);

describe.skipIf(skip !== undefined)('the cloud router as packets meet it', () => {
  const net = createNetns('cloud-router');
  // v: the VPC fabric (a bridge); r: router 10.0.0.4/28; w: web 10.0.1.10 (dmz, routed); d: db 10.0.2.10 (lan, not
  // routed, but pointed at the router all the same); x: a host on the internet, 198.51.100.10.
  const hosts: Array<[string, string]> = [
    ['r', '10.0.0.4/28'],
    ['w', '10.0.1.10/24'],
    ['d', '10.0.2.10/24'],
    ['x', '198.51.100.10/24'],
  ];

  beforeAll(async () => {
    net.add('v', ...hosts.map(([n]) => n));
    net.inNs('v', 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    net.inNs('v', 'ip', 'link', 'set', 'br0', 'up');
    for (const [n, addr] of hosts) {
      net.inNs('v', 'ip', 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.ns(n));
      net.inNs('v', 'ip', 'link', 'set', `p${n}`, 'master', 'br0', 'up');
      net.inNs(n, 'ip', 'addr', 'add', addr, 'dev', 'eth0');
      net.inNs(n, 'ip', 'link', 'set', 'eth0', 'up');
    }
    // The route tables: dmz and (wrongly, to prove the router refuses it) lan send everything to the router.
    for (const n of ['w', 'd']) {
      net.inNs(n, 'ip', 'route', 'add', '10.0.0.4', 'dev', 'eth0');
      net.inNs(n, 'ip', 'route', 'add', 'default', 'via', '10.0.0.4');
    }
    // The VPC's local routes and the internet gateway, from the router's side.
    for (const c of ['10.0.1.0/24', '10.0.2.0/24', '198.51.100.0/24'])
      net.inNs('r', 'ip', 'route', 'add', c, 'dev', 'eth0');
    // The internet knows only the router's address, and is sent to the router for the lab's.
    net.inNs('x', 'ip', 'route', 'add', '10.0.0.4', 'dev', 'eth0');
    net.inNs('x', 'ip', 'route', 'add', '10.0.0.0/16', 'via', '10.0.0.4');
    const sysctl = tempFile('cloud-sysctl.conf', files.sysctl);
    net.inNs('r', 'sysctl', '-q', '-p', sysctl);
    net.inNs('r', 'nft', '-f', tempFile('cloud-router.nft', files.nftables));
    for (const port of [8080, 25]) await net.listen('x', '198.51.100.10', port);
    await net.listen('w', '10.0.1.10', 8080);
    await net.listen('d', '10.0.2.10', 8080);
  }, 60_000);
  afterAll(() => net.close());

  it('holds the ruleset the plan expects, read back from the kernel', () => {
    expect(checkRuleset(router, net.inNs('r', ...rulesetReadback))).toEqual([]);
  });

  it("lets the routed network out to the internet, which sees the router's address", () => {
    expect(net.connect('w', '198.51.100.10', 8080)).toBe('peer 10.0.0.4');
  });

  it("applies the scenario's rules to egress: dmz may not send mail", () => {
    expect(net.connect('w', '198.51.100.10', 25)).toBe('TIMEOUT');
  });

  it('forwards nothing from a network it does not serve, nothing in from the internet, nothing between lab networks', () => {
    expect(net.connect('d', '198.51.100.10', 8080)).toBe('TIMEOUT');
    expect(net.connect('x', '10.0.1.10', 8080)).toBe('TIMEOUT');
    // web's route sends the lab's other network to the router too: the cloud routes that, never the router.
    expect(net.connect('w', '10.0.2.10', 8080)).toBe('TIMEOUT');
  });
});

const wgSkip =
  skip ??
  netnsUnavailable([
    ['wg', ['--version'], 'wireguard-tools'],
    ['wireguard-go', ['--version'], 'wireguard-go'],
    ['nft', ['--version'], 'nftables'],
  ]);
if (wgSkip && !skip) console.warn(`[skip] cloud router VPN packet tests: ${wgSkip}`);

describe.skipIf(wgSkip !== undefined)('the cloud router VPN as packets meet it', () => {
  const net = createNetns('cloud-vpn');
  const vpnPlan = cloudPlan(true);
  const planned = machine(vpnPlan, 'i1.router');
  // wireguard-go's control sockets are shared by every namespace: the interface is named for this run.
  const ifname = net.unique('gv');
  const vpnRouter: PlannedMachine = {
    ...planned,
    router: { ...planned.router!, vpn: { ...planned.router!.vpn!, ifname } },
  };
  const keys = { router: generateWireguardKeys(), trainee: generateWireguardKeys() };
  const routerFiles = buildRouterFiles(vpnRouter);

  beforeAll(async () => {
    // v: the VPC fabric and the internet as one bridge; r: the router; w: web (dmz, egress through the router);
    // d: db (lan); t: the trainee's computer on the internet, which reaches the router at its (public) address.
    const hosts: Array<[string, string]> = [
      ['r', '10.0.0.4/28'],
      ['w', '10.0.1.10/24'],
      ['d', '10.0.2.10/24'],
      ['t', '198.51.100.20/24'],
    ];
    net.add('v', ...hosts.map(([n]) => n));
    net.inNs('v', 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    net.inNs('v', 'ip', 'link', 'set', 'br0', 'up');
    for (const [n, addr] of hosts) {
      net.inNs('v', 'ip', 'link', 'add', `p${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.ns(n));
      net.inNs('v', 'ip', 'link', 'set', `p${n}`, 'master', 'br0', 'up');
      net.inNs(n, 'ip', 'addr', 'add', addr, 'dev', 'eth0');
      net.inNs(n, 'ip', 'link', 'set', 'eth0', 'up');
    }
    // The route tables: every network sends the tunnel network to the router; the dmz its default route too.
    for (const n of ['w', 'd']) {
      net.inNs(n, 'ip', 'route', 'add', '10.0.0.4', 'dev', 'eth0');
      net.inNs(n, 'ip', 'route', 'add', '100.64.0.0/24', 'via', '10.0.0.4');
    }
    net.inNs('w', 'ip', 'route', 'add', 'default', 'via', '10.0.0.4');
    for (const c of ['10.0.1.0/24', '10.0.2.0/24', '198.51.100.0/24'])
      net.inNs('r', 'ip', 'route', 'add', c, 'dev', 'eth0');
    net.inNs('t', 'ip', 'route', 'add', '10.0.0.4', 'dev', 'eth0');
    net.inNs('r', 'sysctl', '-q', '-p', tempFile('vpn-sysctl.conf', routerFiles.sysctl));
    net.inNs('r', 'nft', '-f', tempFile('vpn-router.nft', routerFiles.nftables));
    const routerConf = renderRouterWireguard(vpnRouter, {
      privateKey: keys.router.privateKey,
      peers: { trainee: keys.trainee.publicKey },
    });
    await net.wireguard('r', ifname, routerConf, '100.64.0.1/24', []);
    // The trainee's side from the configuration the appliance hands out (its Endpoint: the router's address).
    const seat = instanceVpn(
      { ...vpnPlan, machines: vpnPlan.machines.map((m) => (m.key === 'i1.router' ? vpnRouter : m)) },
      'cloud',
      1,
      'trainee',
    );
    const traineeConf = renderPeerConfig({
      deploymentId: 'cloud',
      scenario: 'cloud-router',
      instance: 1,
      who: 'trainee',
      privateKey: keys.trainee.privateKey,
      address: seat.address,
      routerPublicKey: keys.router.publicKey,
      endpointHost: '10.0.0.4',
      port: vpnPlan.vpn!.port,
      allowedIps: seat.allowedIps,
    });
    await net.wireguard('t', net.unique('gt'), traineeConf, `${seat.address}/32`, seat.allowedIps);
    await net.listen('d', '10.0.2.10', 8080);
    await net.listen('w', '10.0.1.10', 8080);
    await net.listen('t', '100.64.0.3', 8080);
  }, 60_000);
  afterAll(() => net.close());

  it('holds the ruleset the plan expects, VPN rules included, read back from the kernel', () => {
    expect(routerExpectation(vpnRouter).forward.slice(0, 3)).toEqual(['gd:vpn-in', 'gd:vpn-guard', 'gd:vpn-out']);
    expect(checkRuleset(vpnRouter, net.inNs('r', ...rulesetReadback))).toEqual([]);
  });

  it('lets the trainee into every network of the instance, unmasqueraded', () => {
    expect(net.connect('t', '10.0.2.10', 8080)).toBe('peer 100.64.0.3');
    expect(net.connect('t', '10.0.1.10', 8080)).toBe('peer 100.64.0.3');
  });

  it('lets the lab call the trainee back with its own addresses, the NATed dmz included', () => {
    expect(net.connect('d', '100.64.0.3', 8080)).toBe('peer 10.0.2.10');
    expect(net.connect('w', '100.64.0.3', 8080)).toBe('peer 10.0.1.10');
  });
});
