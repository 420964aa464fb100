// The package cache as packets: network namespaces play a range without internet (its router loading the generated
// nftables ruleset, a Debian machine that installs from the cache, a Kali machine that does not) and the appliance's
// side of the uplink (the cache, served by python3's http.server as glassdome-packages.service does, and other
// ports and hosts there). The Debian machine's apt, configured by first boot's apt section, installs a real .deb
// through the router; nothing else reaches the uplink side. Needs root, iproute2, nft, python3, apt-get, dpkg-deb.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFlatRepo } from '../../offline-bundle/apt-repo.ts';
import { buildRouterFiles, checkRuleset, routerSelfChecks, rulesetReadback } from '../../server/agents/lab-router.ts';
import { cacheAptSection, packageCacheList } from '../../server/agents/package-cache.ts';
import type { PackageCache, Plan, PlannedMachine } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import { createNetns, netnsUnavailable, sh } from '../netns.ts';

const scenario = `
glassdome: 1
name: cache-packets
title: Package cache packets
networks:
  - { name: red, cidr: 172.16.0.0/24 }
  - { name: blue, cidr: 172.16.1.0/24 }
firewall:
  default: allow
machines:
  - { name: kali, os: kali-rolling, networks: [red] }
  - { name: target, os: debian-12, networks: [blue] }
`;
const cache: PackageCache = { url: 'http://192.168.77.10:3142', address: '192.168.77.10', port: 3142 };

const skip = netnsUnavailable([
  ['nft', ['--version'], 'nftables'],
  ['python3', ['--version'], 'python3'],
  ['apt-get', ['--version'], 'apt'],
  ['dpkg-deb', ['--version'], 'dpkg'],
]);
if (skip) console.warn(`[skip] package cache packet tests: ${skip}`);

const net = createNetns('cache');
const { ns, inNs, dir } = net;
const names = ['c', 'r', 't', 'k'];
let httpLog = '';
const listen = net.listen;
/** What a client in a namespace asking host:port for the cache's Release reads: the first line, TIMEOUT, or ERR <code>. */
const connect = (n: string, host: string, port: number, ms = 2500) =>
  net.connect(n, host, port, ms, 'GET /debian/Release HTTP/1.0\r\n\r\n');

/** A tiny real Debian package, in a flat repository indexed as the offline bundle indexes it. */
function buildRepo(repo: string): void {
  const root = path.join(dir, 'pkg');
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'DEBIAN/control'),
    'Package: glassdome-cache-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Glassdome tests <tests@example.invalid>\nDescription: package cache test package\n',
  );
  fs.mkdirSync(repo, { recursive: true });
  sh(['dpkg-deb', '--root-owner-group', '--build', root, path.join(repo, 'glassdome-cache-test_1.0-1_all.deb')]);
  writeFlatRepo(repo);
}

/**
 * A machine's apt in a private state, configured as first boot's `apt` section configures it (its apt.conf and its
 * list, written where cloud-init writes them), with the template's own sources pointing at unreachable mirrors.
 */
function aptState(name: string, withCacheConf: boolean): { env: NodeJS.ProcessEnv; root: string } {
  const root = path.join(dir, name);
  for (const d of [
    'etc/apt/apt.conf.d',
    'etc/apt/preferences.d',
    'etc/apt/sources.list.d',
    'var/lib/dpkg',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
  ])
    fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
  fs.writeFileSync(path.join(root, 'etc/apt/sources.list'), 'deb http://192.168.77.99/debian bookworm main\n');
  fs.writeFileSync(
    path.join(root, 'etc/apt/sources.list.d/debian.list'),
    'deb http://192.168.77.98/debian-security bookworm-security main\n',
  );
  const section = cacheAptSection(cache) as { conf: string; sources: { glassdome: { source: string } } };
  fs.writeFileSync(path.join(root, packageCacheList), `${section.sources.glassdome.source}\n`);
  if (withCacheConf) fs.writeFileSync(path.join(root, 'etc/apt/apt.conf.d/94cloud-init-config'), section.conf);
  // APT_CONFIG is read before the apt.conf.d parts, so they come from the private root as on the machine.
  const main = path.join(root, 'apt.conf');
  fs.writeFileSync(main, `Dir "${root}/";\nDebug::NoLocking "1";\nAPT::Architecture "amd64";\n`);
  return { env: { ...process.env, APT_CONFIG: main }, root };
}

function aptIn(n: string, env: NodeJS.ProcessEnv, args: string[], timeoutMs = 60_000) {
  const r = spawnSync('ip', ['netns', 'exec', ns(n), 'apt-get', '-q', ...args], {
    env,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(skip !== undefined)('the package cache through a range router, between network namespaces', () => {
  let plan: Plan;
  let router: PlannedMachine;

  beforeAll(async () => {
    plan = planDeployment({
      deploymentId: 'netns',
      scenario: parseScenario(scenario),
      platform: 'proxmox',
      instances: 1,
      allocations: { subnets: {}, vlans: { '1/red': 11, '1/blue': 12 } },
      packageCache: cache,
    });
    router = plan.machines.find((m) => m.key === 'i1.router')!;
    net.add(...names);
    // The appliance's side of the uplink: the cache's address and another host's, and no route back into the lab.
    sh(['ip', 'link', 'add', 'nic2', 'netns', ns('r'), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns('c')]);
    inNs('c', 'ip', 'addr', 'add', '192.168.77.10/24', 'dev', 'eth0');
    inNs('c', 'ip', 'addr', 'add', '192.168.77.20/24', 'dev', 'eth0');
    inNs('c', 'ip', 'link', 'set', 'eth0', 'up');
    inNs('r', 'ip', 'addr', 'add', '192.168.77.11/24', 'dev', 'nic2');
    inNs('r', 'ip', 'link', 'set', 'nic2', 'up');
    // The lab: the router's NICs as the plan numbers them, each machine at its planned address.
    const lab: Array<[string, string, string, string]> = [
      ['nic0', '172.16.0.1/24', 'k', '172.16.0.10/24'],
      ['nic1', '172.16.1.1/24', 't', '172.16.1.10/24'],
    ];
    for (const [nic, raddr, host, haddr] of lab) {
      sh(['ip', 'link', 'add', nic, 'netns', ns('r'), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(host)]);
      inNs('r', 'ip', 'addr', 'add', raddr, 'dev', nic);
      inNs('r', 'ip', 'link', 'set', nic, 'up');
      inNs(host, 'ip', 'addr', 'add', haddr, 'dev', 'eth0');
      inNs(host, 'ip', 'link', 'set', 'eth0', 'up');
      inNs(host, 'ip', 'route', 'add', 'default', 'via', raddr.split('/')[0]!);
    }
    inNs('r', 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    const rules = path.join(dir, 'nftables.conf');
    fs.writeFileSync(rules, buildRouterFiles(router).nftables);
    inNs('r', 'nft', '-f', rules);

    const repo = path.join(dir, 'cache', 'debian');
    buildRepo(repo);
    // The unit's command, bound to the cache's address in the appliance's namespace.
    const http = net.spawn('c', [
      'python3',
      '-m',
      'http.server',
      '3142',
      '--bind',
      '192.168.77.10',
      '--directory',
      path.dirname(repo),
    ]);
    http.stderr!.on('data', (d: Buffer) => (httpLog += d.toString()));
    http.stdout!.on('data', (d: Buffer) => (httpLog += d.toString()));
    for (let i = 0; i < 50 && !httpLog.includes('Serving HTTP'); i++) await new Promise((r) => setTimeout(r, 100));
    await listen('c', '192.168.77.10', 8080, 'appliance-8080');
    await listen('c', '192.168.77.20', 3142, 'other-host-3142');
  }, 60_000);

  afterAll(() => net.close());

  it('plans the router an uplink to the cache, from the Debian machine only', () => {
    expect(router.router!.uplinkNic).toBe(2);
    expect(router.router!.packageCache).toEqual({ address: '192.168.77.10', port: 3142, from: ['172.16.1.10'] });
    expect(router.nics[0]!.ip).toBe('172.16.0.1');
  });

  it("installs a real package from the cache with first boot's apt configuration, never asking the template's mirrors", async () => {
    const apt = aptState('target-apt', true);
    const started = Date.now();
    const update = aptIn('t', apt.env, ['update']);
    expect(update.status, update.out).toBe(0);
    expect(update.out).toContain('http://192.168.77.10:3142/debian ./ Packages');
    expect(update.out).not.toMatch(/192\.168\.77\.9[89]/);
    expect(Date.now() - started).toBeLessThan(20_000);
    const get = aptIn('t', apt.env, ['install', '--download-only', '-y', 'glassdome-cache-test']);
    expect(get.status, get.out).toBe(0);
    expect(fs.readdirSync(path.join(apt.root, 'var/cache/apt/archives')).filter((f) => f.endsWith('.deb'))).toEqual([
      'glassdome-cache-test_1.0-1_all.deb',
    ]);
    // The cache saw the router's uplink address, not the lab's: it needs no route back into the range. (apt ran
    // synchronously: the server's log lines are read now.)
    for (let i = 0; i < 50 && !httpLog.includes('.deb HTTP'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(httpLog).toMatch(/^192\.168\.77\.11 - - .*"GET \/debian\/\.\/glassdome-cache-test_1\.0-1_all\.deb HTTP/m);
    expect(httpLog).not.toContain('172.16.1.10');
  });

  it("without first boot's apt.conf, apt would ask the template's unreachable mirrors too", () => {
    const apt = aptState('target-apt-plain', false);
    const update = aptIn('t', apt.env, ['-o', 'Acquire::http::Timeout=2', '-o', 'Acquire::Retries=0', 'update']);
    expect(update.out).toMatch(/192\.168\.77\.99/);
  });

  it('owes the way to the cache to the gd:package-cache rule and its masquerade, each of them', () => {
    expect(connect('t', '192.168.77.10', 3142)).toMatch(/^HTTP\/1\.0 200/);
    const without = (table: string, chain: string, comment: string) => {
      const listed = inNs('r', 'nft', '-a', 'list', 'chain', ...table.split(' '), chain);
      const handle = new RegExp(`comment "${comment}" # handle (\\d+)`).exec(listed)?.[1];
      expect(handle, listed).toBeDefined();
      inNs('r', 'nft', 'delete', 'rule', ...table.split(' '), chain, 'handle', handle!);
      try {
        expect(connect('t', '192.168.77.10', 3142, 1500)).toBe('TIMEOUT');
      } finally {
        inNs('r', 'nft', '-f', path.join(dir, 'nftables.conf'));
      }
    };
    without('inet glassdome', 'forward', 'gd:package-cache');
    without('ip nat', 'postrouting', 'gd:package-cache-nat');
    expect(connect('t', '192.168.77.10', 3142)).toMatch(/^HTTP\/1\.0 200/);
  });

  it('lets the Debian machine reach the cache address and port only, and the Kali machine nothing', () => {
    expect(connect('t', '192.168.77.10', 8080, 1500)).toBe('TIMEOUT');
    expect(connect('t', '192.168.77.20', 3142, 1500)).toBe('TIMEOUT');
    expect(connect('k', '192.168.77.10', 3142, 1500)).toBe('TIMEOUT');
    expect(connect('k', '192.168.77.10', 8080, 1500)).toBe('TIMEOUT');
    // Nothing on the uplink side starts a connection into the lab either.
    inNs('c', 'ip', 'route', 'add', '172.16.0.0/16', 'via', '192.168.77.11');
    try {
      expect(connect('c', '172.16.1.10', 22, 1500)).toBe('TIMEOUT');
    } finally {
      inNs('c', 'ip', 'route', 'del', '172.16.0.0/16', 'via', '192.168.77.11');
    }
  });

  it("passes the router's own first-boot checks and the overseer's read-back of its firewall", () => {
    for (const c of routerSelfChecks(router)) {
      const r = spawnSync('ip', ['netns', 'exec', ns('r'), 'sh', '-c', c.test], { encoding: 'utf8' });
      expect(r.status, `${c.test}: ${c.failure}`).toBe(0);
    }
    expect(routerSelfChecks(router).map((c) => c.failure)).toContain(
      'firewall rule gd:package-cache does not lead to 192.168.77.10:3142 only',
    );
    expect(checkRuleset(router, inNs('r', ...rulesetReadback))).toEqual([]);
  });
});
