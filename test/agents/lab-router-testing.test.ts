// Testing mode's router change: its own nft table and dnsmasq file, as values, then as the real tools read them
// (nft -c, dnsmasq --test) and as the kernel holds them (loaded in a network namespace and read back as JSON).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  buildRouterFiles,
  checkRuleset,
  checkTestingRuleset,
  leaveTestingModeChange,
  normalizeAllowList,
  routerChangeScript,
  rulesetReadback,
  testingDnsmasqPath,
  testingModeChange,
  testingNftPath,
} from '../../server/agents/lab-router.ts';
import { runSimulatedGuest } from '../../server/platforms/simulated-guest.ts';
import { labScenario, machine, offlineScenario, planOf, probe, run, tempFile, testCache } from './lab-plan.ts';

const router = machine(planOf(labScenario), 'i1.router');
const offline = machine(planOf(offlineScenario), 'i1.router');
const cacheRouter = machine(planOf(offlineScenario, { packageCache: testCache }), 'i1.router');
const allow = { addresses: ['192.0.2.10', '198.51.100.0/24'], domains: ['Deb.Debian.org.', 'pypi.org'] };

describe('the testing-mode change, as values', () => {
  it('makes the allow-list canonical and refuses what is not an address, a CIDR or a DNS name', () => {
    expect(normalizeAllowList(allow)).toEqual({
      addresses: ['192.0.2.10/32', '198.51.100.0/24'],
      domains: ['deb.debian.org', 'pypi.org'],
    });
    expect(() => normalizeAllowList({ addresses: ['10.0.0.5/24'], domains: [] })).toThrow(
      'Unable to use the testing-mode allow-list: "10.0.0.5/24" is not an IPv4 address or CIDR',
    );
    expect(() => normalizeAllowList({ addresses: [], domains: ['exa mple.com'] })).toThrow(/is not a DNS name/);
    expect(() => normalizeAllowList({ addresses: [], domains: ['localhost'] })).toThrow(/is not a DNS name/);
  });

  it('blocks everything out of the uplink except the allowed addresses and what dnsmasq resolves for the names', () => {
    const change = testingModeChange(router, allow);
    expect(change.files.map((f) => f.path)).toEqual([testingNftPath, testingDnsmasqPath]);
    const nft = change.files[0]!.content;
    const forward = nft.slice(nft.indexOf('chain forward'));
    expect(
      forward
        .split('\n')
        .map((l) => l.trim())
        .slice(1, 5),
    ).toEqual([
      'type filter hook forward priority filter - 10; policy accept;',
      'oifname "nic2" ip daddr @allow_addresses accept comment "gd:testing-allow"',
      'oifname "nic2" ip daddr @allow_resolved accept comment "gd:testing-resolved"',
      'oifname "nic2" drop comment "gd:testing-block"',
    ]);
    expect(nft).toContain('elements = { 192.0.2.10, 198.51.100.0/24 }');
    expect(change.files[1]!.content.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'address=/#/',
      'server=/deb.debian.org/#',
      'nftset=/deb.debian.org/4#inet#glassdome_testing#allow_resolved',
      'server=/pypi.org/#',
      'nftset=/pypi.org/4#inet#glassdome_testing#allow_resolved',
      '',
    ]);
    expect(change.commands).toEqual([`nft -f ${testingNftPath}`, 'systemctl restart dnsmasq']);
  });

  it("keeps the package cache's users reaching it: the cache is the appliance, not the internet", () => {
    const nft = testingModeChange(cacheRouter, allow).files[0]!.content;
    const lines = nft.split('\n').map((l) => l.trim());
    const block = lines.indexOf('oifname "nic2" drop comment "gd:testing-block"');
    expect(lines[block - 1]).toBe(
      'oifname "nic2" ip saddr 172.16.1.10 ip daddr 192.0.2.10 tcp dport 3142 accept comment "gd:testing-package-cache"',
    );
    expect(testingModeChange(router, allow).files[0]!.content).not.toContain('package-cache');
  });

  it('changes nothing on a router without an uplink: nothing leaves that instance anyway', () => {
    expect(testingModeChange(offline, allow)).toEqual({
      files: [],
      remove: [],
      commands: [],
      note: 'this instance has no internet egress: nothing leaves it, so its router needs no change',
    });
  });

  it('writes files through base64 in a script sh accepts, and the simulated guest applies it', () => {
    const script = routerChangeScript(testingModeChange(router, allow));
    expect(spawnSync('sh', ['-n'], { input: script }).status).toBe(0);
    expect(script.split('\n')[0]).toBe('set -eu');
    const userData = `#cloud-config\nwrite_files:\n  - path: /etc/nftables.conf\n    content: ${JSON.stringify(buildRouterFiles(router).nftables)}\n`;
    const applied = runSimulatedGuest(userData, null, ['sh', '-c', script]);
    expect(applied.result.exitCode).toBe(0);
    const back = runSimulatedGuest(userData, applied.guest!, rulesetReadback).result.stdout;
    expect(checkRuleset(router, back)).toEqual([]);
    expect(checkTestingRuleset(router, allow, back)).toEqual([]);
    expect(checkTestingRuleset(router, null, back)).toEqual([
      'table inet glassdome_testing is still loaded although testing mode is off',
    ]);
    const left = runSimulatedGuest(userData, applied.guest!, [
      'sh',
      '-c',
      routerChangeScript(leaveTestingModeChange(router)),
    ]);
    expect(left.result.exitCode).toBe(0);
    const after = runSimulatedGuest(userData, left.guest!, rulesetReadback).result.stdout;
    expect(checkTestingRuleset(router, null, after)).toEqual([]);
    expect(left.guest!.files[testingDnsmasqPath]).toBeUndefined();
  });
});

describe('the testing-mode change as the real tools read it', () => {
  const nft = probe(
    'nft',
    ['-c', '-f', tempFile('probe.nft', 'table inet glassdome_probe {\n}\n')],
    undefined,
    'nftables',
  );
  if (!nft.has) console.warn(`skipping nft -c of testing mode: ${nft.why}`);
  it.skipIf(!nft.has)('nft -c accepts the testing table, with and without allowed addresses', () => {
    for (const a of [allow, { addresses: [], domains: ['pypi.org'] }]) {
      const r = run('nft', ['-c', '-f', tempFile('testing.nft', testingModeChange(router, a).files[0]!.content)]);
      expect(r.status, r.out).toBe(0);
    }
  });

  const dnsmasq = probe('dnsmasq', ['--version'], undefined, 'dnsmasq-base');
  if (!dnsmasq.has) console.warn(`skipping dnsmasq --test of testing mode: ${dnsmasq.why}`);
  it.skipIf(!dnsmasq.has)('dnsmasq --test accepts the router configuration with the testing file added', () => {
    const conf = buildRouterFiles(router).dnsmasq! + testingModeChange(router, allow).files[1]!.content;
    const r = run('dnsmasq', ['--test', '-C', tempFile('dnsmasq.conf', conf)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('syntax check OK');
  });

  /** Runs the files in order in a fresh network namespace, then reads the ruleset back as JSON. */
  function loadInNamespace(files: string[]): { json: string } | { skip: string } {
    const paths = files.map((f, i) => tempFile(`step-${i}.nft`, f));
    const r = spawnSync(
      'unshare',
      ['-n', 'sh', '-c', `${paths.map((p) => `nft -f ${p}`).join(' && ')} && ${rulesetReadback.join(' ')}`],
      { encoding: 'utf8' },
    );
    if (r.error || r.status !== 0)
      return { skip: `cannot load rulesets in a network namespace here: ${r.error?.message ?? r.stderr.trim()}` };
    return { json: r.stdout };
  }
  const base = buildRouterFiles(router).nftables;
  const enter = testingModeChange(router, allow).files[0]!.content;
  const loaded = loadInNamespace([base, enter]);
  if ('skip' in loaded) console.warn(`skipping the namespace checks of testing mode: ${loaded.skip}`);

  it.skipIf('skip' in loaded)(
    'loads beside the router ruleset; both read back as the plan and testing mode say',
    () => {
      const json = (loaded as { json: string }).json;
      expect(checkRuleset(router, json)).toEqual([]);
      expect(checkTestingRuleset(router, allow, json)).toEqual([]);
      // Another allow-list is told apart.
      expect(checkTestingRuleset(router, { addresses: ['192.0.2.10', '203.0.113.7'], domains: [] }, json)).toEqual([
        "the allowed addresses are not the allow-list's (missing 203.0.113.7/32) (extra 198.51.100.0/24)",
      ]);
    },
  );

  it.skipIf('skip' in loaded)(
    'loads again idempotently with a new allow-list, and leaving removes only its table',
    () => {
      const changed = testingModeChange(router, { addresses: ['203.0.113.7'], domains: [] }).files[0]!.content;
      const again = loadInNamespace([base, enter, changed]);
      expect(again).toHaveProperty('json');
      expect(
        checkTestingRuleset(router, { addresses: ['203.0.113.7'], domains: [] }, (again as { json: string }).json),
      ).toEqual([]);
      const left = loadInNamespace([base, enter, leaveTestingModeChange(router).files[0]!.content]);
      expect(left).toHaveProperty('json');
      const json = (left as { json: string }).json;
      expect(checkTestingRuleset(router, null, json)).toEqual([]);
      expect(checkRuleset(router, json)).toEqual([]);
      // Leaving twice is harmless: the file declares the table before deleting it.
      expect(loadInNamespace([base, leaveTestingModeChange(router).files[0]!.content])).toHaveProperty('json');
    },
  );

  it.skipIf('skip' in loaded)("expects the package cache's rule in testing mode where the router has one", () => {
    const cacheBase = buildRouterFiles(cacheRouter).nftables;
    const cacheEnter = testingModeChange(cacheRouter, allow).files[0]!.content;
    const back = loadInNamespace([cacheBase, cacheEnter]);
    expect(checkTestingRuleset(cacheRouter, allow, (back as { json: string }).json)).toEqual([]);
    expect(checkRuleset(cacheRouter, (back as { json: string }).json)).toEqual([]);
    const without = cacheEnter
      .split('\n')
      .filter((l) => !l.includes('gd:testing-package-cache'))
      .join('\n');
    const tampered = loadInNamespace([cacheBase, without]);
    expect(checkTestingRuleset(cacheRouter, allow, (tampered as { json: string }).json)).toEqual([
      'testing-mode rules missing: gd:testing-package-cache',
    ]);
  });

  it.skipIf('skip' in loaded)('names a testing table that lost its block rule in what the kernel holds', () => {
    const tampered = enter
      .split('\n')
      .filter((l) => !l.includes('gd:testing-block'))
      .join('\n');
    const back = loadInNamespace([base, tampered]);
    expect(checkTestingRuleset(router, allow, (back as { json: string }).json)).toEqual([
      'testing-mode rules missing: gd:testing-block',
    ]);
  });
});
