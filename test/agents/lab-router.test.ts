import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import {
  buildRouterFiles,
  checkRuleset,
  dhcpRanges,
  renderRule,
  routerExpectation,
  routerSelfChecks,
  rulesetReadback,
} from '../../server/agents/lab-router.ts';
import { AppError } from '../../server/errors.ts';
import type { FirewallRule, PlannedMachine } from '../../server/model/plan.ts';
import { labScenario, machine, offlineScenario, planOf, probe, run, tempFile, testCache } from './lab-plan.ts';

const labRouter = machine(planOf(labScenario), 'i1.router');
const offlineRouter = machine(planOf(offlineScenario), 'i1.router');
// With the appliance's package cache: the offline lab's router gets an uplink for its Debian machine (10) only.
const cacheRouter = machine(planOf(offlineScenario, { packageCache: testCache }), 'i1.router');
// The lab with internet: its db (Debian, on dmz with internet) uses its mirrors; nobody needs the cache.
const labCacheRouter = machine(planOf(labScenario, { packageCache: testCache }), 'i1.router');

function withRouter(m: PlannedMachine, change: Partial<NonNullable<PlannedMachine['router']>>): PlannedMachine {
  return { ...m, router: { ...m.router!, ...change } };
}

/** The body of one chain, one trimmed line per rule. */
function chain(ruleset: string, name: string): string[] {
  const m = new RegExp(`chain ${name} \\{\\n([\\s\\S]*?)\\n\\s*\\}`).exec(ruleset);
  if (!m) throw new Error(`no chain ${name} in:\n${ruleset}`);
  return m[1]!
    .split('\n')
    .map((l) => l.trim().replace(/ comment "gd:[a-z0-9:-]+"$/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('router nftables ruleset', () => {
  const nft = buildRouterFiles(labRouter).nftables;

  it('replaces the whole ruleset', () => {
    expect(nft.split('\n')).toContain('flush ruleset');
  });

  it('lets the lab networks reach the router for SSH, DNS and DHCP, the appliance jump through it by SSH on the uplink, and drops the rest', () => {
    expect(chain(nft, 'input')).toEqual([
      'type filter hook input priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
      'iifname "lo" accept',
      'meta l4proto { icmp, ipv6-icmp } accept',
      'iifname { "nic0", "nic1" } tcp dport 22 accept',
      'iifname { "nic0", "nic1" } meta l4proto { tcp, udp } th dport 53 accept',
      'iifname "nic0" udp dport 67 accept',
      'iifname "nic2" udp sport 67 udp dport 68 accept',
      'iifname "nic2" tcp dport 22 accept',
    ]);
  });

  it('forwards by the scenario rules in order, lets only internet networks out of the uplink, and drops the rest', () => {
    expect(chain(nft, 'forward')).toEqual([
      'type filter hook forward priority filter; policy drop;',
      'ct state established,related accept',
      'ct state invalid drop',
      'meta nfproto ipv6 drop',
      'iifname "nic2" drop',
      'oifname "nic2" ip saddr != 10.0.1.0/24 drop',
      // dmz -> db (both of its addresses), tcp 5432 and 8000-8080
      'ip saddr 10.0.1.0/24 ip daddr { 10.0.1.11/32, 10.0.2.5/32 } tcp dport { 5432, 8000-8080 } accept',
      // internal -> *, any protocol: no address or protocol match on the far side
      'ip saddr 10.0.2.0/24 drop',
      'ip saddr 10.0.1.10/32 ip daddr 10.0.2.0/24 meta l4proto icmp accept',
      'oifname "nic2" accept',
    ]);
  });

  it('masquerades only the internet networks out of the uplink', () => {
    expect(chain(nft, 'postrouting')).toEqual([
      'type nat hook postrouting priority srcnat; policy accept;',
      'oifname "nic2" ip saddr 10.0.1.0/24 masquerade',
    ]);
  });

  it('with a deny default really drops: policy drop and no accept between lab networks beyond the rules', () => {
    const forward = chain(nft, 'forward');
    expect(forward[0]).toContain('policy drop;');
    const accepts = forward.filter((l) => /\baccept$/.test(l));
    expect(accepts).toEqual([
      'ct state established,related accept',
      'ip saddr 10.0.1.0/24 ip daddr { 10.0.1.11/32, 10.0.2.5/32 } tcp dport { 5432, 8000-8080 } accept',
      'ip saddr 10.0.1.10/32 ip daddr 10.0.2.0/24 meta l4proto icmp accept',
      'oifname "nic2" accept',
    ]);
    // With no rules at all, nothing new crosses between lab networks.
    const bare = chain(buildRouterFiles(withRouter(labRouter, { rules: [] })).nftables, 'forward');
    expect(bare.filter((l) => /\baccept$/.test(l))).toEqual([
      'ct state established,related accept',
      'oifname "nic2" accept',
    ]);
  });

  it('with an allow default accepts by policy but still keeps non-internet networks off the uplink', () => {
    const forward = chain(buildRouterFiles(withRouter(labRouter, { forwardDefault: 'allow' })).nftables, 'forward');
    expect(forward[0]).toBe('type filter hook forward priority filter; policy accept;');
    expect(forward).toContain('oifname "nic2" ip saddr != 10.0.1.0/24 drop');
    expect(forward).toContain('iifname "nic2" drop');
  });

  it('changes exactly the rule that changed', () => {
    const rules = labRouter.router!.rules;
    const changed: FirewallRule = {
      ...rules[0]!,
      protocol: 'udp',
      ports: [
        [53, 53],
        [1000, 2000],
      ],
      action: 'deny',
    };
    const after = buildRouterFiles(withRouter(labRouter, { rules: [changed, ...rules.slice(1)] })).nftables;
    const before = nft.split('\n');
    const diff = after.split('\n').flatMap((l, i) => (l === before[i] ? [] : [[before[i]!.trim(), l.trim()]]));
    expect(diff).toEqual([
      [
        'ip saddr 10.0.1.0/24 ip daddr { 10.0.1.11/32, 10.0.2.5/32 } tcp dport { 5432, 8000-8080 } accept comment "gd:rule:1"',
        'ip saddr 10.0.1.0/24 ip daddr { 10.0.1.11/32, 10.0.2.5/32 } udp dport { 53, 1000-2000 } drop comment "gd:rule:1"',
      ],
    ]);
  });

  it('keeps rule order, so a deny above an allow wins', () => {
    const deny: FirewallRule = {
      from: ['10.0.1.0/24'],
      to: ['10.0.2.0/24'],
      protocol: 'any',
      ports: [],
      action: 'deny',
    };
    const allow: FirewallRule = { ...deny, protocol: 'tcp', ports: [[22, 22]], action: 'allow' };
    const forward = chain(buildRouterFiles(withRouter(labRouter, { rules: [deny, allow] })).nftables, 'forward');
    expect(forward.indexOf('ip saddr 10.0.1.0/24 ip daddr 10.0.2.0/24 drop')).toBeLessThan(
      forward.indexOf('ip saddr 10.0.1.0/24 ip daddr 10.0.2.0/24 tcp dport 22 accept'),
    );
  });

  it('renders each protocol and port form', () => {
    const r = (p: Partial<FirewallRule>) =>
      renderRule({ from: ['0.0.0.0/0'], to: ['0.0.0.0/0'], protocol: 'tcp', ports: [], action: 'allow', ...p });
    expect(r({})).toBe('meta l4proto tcp accept');
    expect(r({ protocol: 'udp', ports: [[161, 162]] })).toBe('udp dport 161-162 accept');
    expect(r({ protocol: 'icmp', action: 'deny' })).toBe('meta l4proto icmp drop');
    expect(r({ protocol: 'any' })).toBe('accept');
    expect(r({ protocol: 'any', from: ['10.0.0.5/32', '10.0.0.6/32'], action: 'deny' })).toBe(
      'ip saddr { 10.0.0.5/32, 10.0.0.6/32 } drop',
    );
  });

  it('without internet has no uplink, no egress and no NAT', () => {
    const text = buildRouterFiles(offlineRouter).nftables;
    expect(text).not.toContain('table ip nat');
    expect(text).not.toContain('oifname');
    expect(chain(text, 'forward')[0]).toContain('policy accept;');
    // DNS is served on every lab network even without internet: machines resolve through their router.
    expect(chain(text, 'input')).toContain('iifname { "nic0", "nic1" } meta l4proto { tcp, udp } th dport 53 accept');
  });

  it("lets the cache's users reach its address and port through the uplink, masqueraded, and nothing else out", () => {
    const text = buildRouterFiles(cacheRouter).nftables;
    expect(chain(text, 'forward').slice(4)).toEqual([
      'iifname "nic2" drop',
      'oifname "nic2" ip saddr 172.16.1.10 ip daddr 192.0.2.10 tcp dport 3142 accept',
      'oifname "nic2" drop',
    ]);
    expect(text).toContain(
      'oifname "nic2" ip saddr 172.16.1.10 ip daddr 192.0.2.10 tcp dport 3142 accept comment "gd:package-cache"',
    );
    expect(chain(text, 'postrouting')).toEqual([
      'type nat hook postrouting priority srcnat; policy accept;',
      'oifname "nic2" ip saddr 172.16.1.10 ip daddr 192.0.2.10 tcp dport 3142 masquerade',
    ]);
    // The uplink adds the SSH the appliance jumps through, as every uplink does, and no other way in.
    expect(chain(text, 'input')).toContain('iifname "nic2" tcp dport 22 accept');
  });

  it('has no cache rule where no lab machine installs from the cache', () => {
    expect(labCacheRouter.router!.packageCache).toBeUndefined();
    expect(buildRouterFiles(labCacheRouter).nftables).toBe(buildRouterFiles(labRouter).nftables);
  });

  it('refuses a machine that is not a router, naming it', () => {
    const web = machine(planOf(labScenario), 'i1.web');
    expect(() => buildRouterFiles(web)).toThrow(AppError);
    expect(() => buildRouterFiles(web)).toThrow(/machine "i1\.web"/);
  });
});

describe('router dnsmasq and sysctl', () => {
  it('enables IPv4 forwarding', () => {
    expect(buildRouterFiles(labRouter).sysctl).toBe('net.ipv4.ip_forward = 1\n');
  });

  it('serves DNS on every lab network and DHCP only on those that ask for it', () => {
    const conf = buildRouterFiles(labRouter).dnsmasq!.split('\n');
    expect(conf).toEqual(
      expect.arrayContaining([
        'interface=nic0',
        'interface=nic1',
        'no-dhcp-interface=nic1',
        'dhcp-range=set:nic0,10.0.1.128,10.0.1.254,255.255.255.0,12h',
        'dhcp-option=tag:nic0,option:router,10.0.1.1',
      ]),
    );
    expect(conf.filter((l) => l.startsWith('dhcp-range='))).toHaveLength(1);
    const offline = buildRouterFiles(offlineRouter).dnsmasq!.split('\n');
    expect(offline).toEqual(expect.arrayContaining(['interface=nic0', 'interface=nic1']));
    expect(offline.filter((l) => l.startsWith('dhcp-range='))).toEqual([]);
  });

  it('hands out the upper half of the subnet and never the router address', () => {
    expect(dhcpRanges('10.0.1.0/24', '10.0.1.1')).toEqual([['10.0.1.128', '10.0.1.254']]);
    expect(dhcpRanges('10.0.1.0/24', '10.0.1.200')).toEqual([
      ['10.0.1.128', '10.0.1.199'],
      ['10.0.1.201', '10.0.1.254'],
    ]);
    expect(dhcpRanges('10.0.1.0/24', '10.0.1.254')).toEqual([['10.0.1.128', '10.0.1.253']]);
    expect(dhcpRanges('192.168.8.0/29', '192.168.8.1')).toEqual([['192.168.8.4', '192.168.8.6']]);
    expect(dhcpRanges('172.16.0.0/16', '172.16.0.1')).toEqual([['172.16.128.0', '172.16.255.254']]);
  });
});

describe('router files as the real tools read them', () => {
  const nftProbe = probe(
    'nft',
    ['-c', '-f', tempFile('probe.nft', 'table inet glassdome_probe {\n}\n')],
    undefined,
    'nftables',
  );
  if (!nftProbe.has) console.warn(`skipping nft -c checks: ${nftProbe.why}`);
  const rulesets: Array<[string, PlannedMachine]> = [
    ['a router with internet and DHCP', labRouter],
    ['a router without internet', offlineRouter],
    ['a router whose only uplink leads to the package cache', cacheRouter],
    [
      'a router with internet and two package cache users',
      withRouter(labRouter, { packageCache: { address: '192.0.2.10', port: 80, from: ['10.0.2.5', '10.0.2.6'] } }),
    ],
    ['a router with an allow default and no rules', withRouter(labRouter, { forwardDefault: 'allow', rules: [] })],
    [
      'a router with every rule form',
      withRouter(labRouter, {
        rules: [
          {
            from: ['0.0.0.0/0'],
            to: ['10.0.2.5/32'],
            protocol: 'udp',
            ports: [
              [53, 53],
              [5000, 5010],
            ],
            action: 'allow',
          },
          { from: ['10.0.1.10/32', '10.0.1.11/32'], to: ['0.0.0.0/0'], protocol: 'icmp', ports: [], action: 'deny' },
          { from: ['0.0.0.0/0'], to: ['0.0.0.0/0'], protocol: 'any', ports: [], action: 'allow' },
          { from: ['10.0.2.0/24'], to: ['10.0.1.0/24'], protocol: 'tcp', ports: [], action: 'deny' },
        ],
      }),
    ],
  ];
  for (const [label, router] of rulesets) {
    it.skipIf(!nftProbe.has)(`nft -c accepts the ruleset of ${label}`, () => {
      const r = run('nft', ['-c', '-f', tempFile('nftables.conf', buildRouterFiles(router).nftables)]);
      expect(r.status, r.out).toBe(0);
    });
  }

  const dnsmasq = probe('dnsmasq', ['--version'], undefined, 'dnsmasq-base');
  if (!dnsmasq.has) console.warn(`skipping dnsmasq --test: ${dnsmasq.why}`);
  it.skipIf(!dnsmasq.has)('dnsmasq --test accepts the DHCP/DNS configuration', () => {
    const r = run('dnsmasq', ['--test', '-C', tempFile('dnsmasq.conf', buildRouterFiles(labRouter).dnsmasq!)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('syntax check OK');
  });
});

/** Loads a ruleset into a fresh network namespace with the real nft and reads it back as JSON, or says why it cannot. */
function loadAndReadBack(ruleset: string): { json: string } | { skip: string } {
  const file = tempFile('loaded.nft', ruleset);
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `nft -f ${file} && ${rulesetReadback.join(' ')}`], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0)
    return { skip: `cannot load a ruleset in a network namespace here: ${r.error?.message ?? r.stderr.trim()}` };
  return { json: r.stdout };
}

describe("reading a router's firewall back", () => {
  const loaded = loadAndReadBack(buildRouterFiles(labRouter).nftables);
  if ('skip' in loaded) console.warn(`skipping ruleset read-back: ${loaded.skip}`);

  it('expects the forward policy, every scenario rule, the uplink guards and NAT by their comments', () => {
    expect(routerExpectation(labRouter)).toEqual({
      forwardPolicy: 'drop',
      forward: [
        'gd:uplink-in',
        'gd:uplink-out',
        ...labRouter.router!.rules.map((_, i) => `gd:rule:${i + 1}`),
        'gd:egress',
      ],
      nat: ['gd:nat'],
    });
    expect(routerExpectation(offlineRouter).nat).toEqual([]);
    expect(routerExpectation(cacheRouter)).toEqual({
      forwardPolicy: 'accept',
      forward: ['gd:uplink-in', 'gd:package-cache', 'gd:uplink-out'],
      nat: ['gd:package-cache-nat'],
    });
  });

  it("checks at first boot that the cache rule leads to the cache's address and port", () => {
    expect(routerSelfChecks(cacheRouter).map((c) => c.test)).toContain(
      `nft list chain inet glassdome forward | grep -qF 'ip daddr 192.0.2.10 tcp dport 3142 accept comment "gd:package-cache"'`,
    );
    expect(routerSelfChecks(offlineRouter).some((c) => c.test.includes('package-cache'))).toBe(false);
  });

  it.skipIf('skip' in loaded)('finds nothing wrong with the ruleset the router loaded from its own file', () => {
    expect(checkRuleset(labRouter, (loaded as { json: string }).json)).toEqual([]);
  });

  it.skipIf('skip' in loaded)('names a changed policy and a missing rule in what the kernel really holds', () => {
    const tampered = buildRouterFiles(labRouter)
      .nftables.replace('hook forward priority filter; policy drop;', 'hook forward priority filter; policy accept;')
      .split('\n')
      .filter((l) => !l.includes('comment "gd:rule:2"'))
      .join('\n');
    const back = loadAndReadBack(tampered);
    expect(back).toHaveProperty('json');
    expect(checkRuleset(labRouter, (back as { json: string }).json)).toEqual([
      "the forward chain's policy is accept (hook forward), the scenario says drop",
      'forward rules missing: gd:rule:2',
    ]);
  });

  it('says so when nothing or something else was read back', () => {
    expect(checkRuleset(labRouter, '')).toEqual(['the ruleset read back is not nft JSON (empty)']);
    expect(checkRuleset(labRouter, '{"nftables": []}')).toEqual([
      'table inet glassdome is not loaded',
      'its forward chain is missing',
      `forward rules missing: ${routerExpectation(labRouter).forward.join(', ')}`,
      'NAT rules missing: gd:nat',
    ]);
  });
});
