import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { defaultCatalogue } from '../../server/reaper/catalogue.ts';
import { deriveFlag } from '../../server/reaper/derive.ts';
import { ctfdChallengesCsv, ctfdColumns, instanceFlags, type FlaggedMachine } from '../../server/reaper/flags.ts';
import { resolveVulnerabilities } from '../../server/reaper/selection.ts';
import { checkPlanExposure, checkScenarioExposure } from '../../server/reaper/ethics.ts';
import { planOf } from '../agents/lab-plan.ts';

const catalogue = defaultCatalogue();
const secret = 'deployment-secret';
const seed = 'seed-1';

function classOf(instances: number): FlaggedMachine[] {
  return Array.from({ length: instances }, (_, k) => {
    const key = `i${k + 1}.web`;
    const r = resolveVulnerabilities(
      ['weak-ssh-password', 'outdated-openssh', { select: { category: 'web', count: 1 } }],
      { key, name: 'web', os: 'ubuntu-22.04', users: ['glassdome'] },
      { seed, catalogue },
    );
    return { key, instance: k + 1, hostname: 'web', os: 'ubuntu-22.04', vulnerabilities: r.instances };
  });
}

describe('flags', () => {
  it('are GD{32 hex digits}, the same for the same secret, seed and instance, and different otherwise', () => {
    const f = deriveFlag(secret, seed, 'i1.web/anonymous-ftp');
    expect(f).toMatch(/^GD\{[0-9a-f]{32}\}$/);
    expect(deriveFlag(secret, seed, 'i1.web/anonymous-ftp')).toBe(f);
    expect(deriveFlag('other-secret', seed, 'i1.web/anonymous-ftp')).not.toBe(f);
    expect(deriveFlag(secret, 'seed-2', 'i1.web/anonymous-ftp')).not.toBe(f);
    expect(deriveFlag(secret, seed, 'i2.web/anonymous-ftp')).not.toBe(f);
  });

  it("give the instructor every instance's flag, where it is, the marking guide and the module accounts", () => {
    const rows = instanceFlags(classOf(2), { secret, seed, catalogue });
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => r.instance)).toEqual([1, 1, 1, 2, 2, 2]);
    const weak = rows.find((r) => r.module === 'weak-ssh-password' && r.instance === 2)!;
    expect(weak.flag).toBe(deriveFlag(secret, seed, 'i2.web/weak-ssh-password'));
    expect(weak.kind).toBe('planted');
    expect(weak.marking).toContain(weak.flag);
    expect(weak.challenge).not.toContain(weak.flag);
    expect(weak.location).toMatch(/^\/home\/[a-z]+\/flag\.txt, readable by [a-z]+$/);
    expect(weak.accounts).toHaveLength(1);
    expect(weak.accounts[0]!.password).toMatch(/^\S+$/);
    const openssh = rows.find((r) => r.module === 'outdated-openssh')!;
    expect(openssh).toMatchObject({ kind: 'answer', flag: 'CVE-2024-6387', points: 150 });
  });
});

describe('the CTFd export', () => {
  const rows = instanceFlags(classOf(2), { secret, seed, catalogue });
  const csv = ctfdChallengesCsv(rows, { address: (key) => (key === 'i1.web' ? '10.0.1.10' : undefined) });

  // The parsing of CTFd's load_challenges_csv (CTFd/utils/csv/__init__.py, 3.7+): csv.DictReader, then the flags
  // and hints columns as JSON lists of objects, tags split on commas; the rest goes to the challenge model.
  const ctfdParse = `
import csv, io, json, sys
out = []
for line in csv.DictReader(io.StringIO(sys.stdin.read())):
    flags = json.loads(line.pop("flags"))
    assert isinstance(flags, list) and all(isinstance(f, dict) for f in flags)
    hints = json.loads(line.pop("hints"))
    assert isinstance(hints, list) and all(isinstance(h, dict) for h in hints)
    tags = [t.strip() for t in line.pop("tags").split(",")]
    kind = line.pop("type", "standard")
    assert len(line["name"]) <= 80 and len(line["category"]) <= 80
    out.append({"challenge": line, "type": kind, "flags": flags, "hints": hints, "tags": tags})
print(json.dumps(out))
`;

  it("is read by CTFd's challenge CSV import as one challenge per module instance with its flag and hints", () => {
    const r = spawnSync('python3', ['-c', ctfdParse], { input: csv, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const parsed = JSON.parse(r.stdout) as Array<{
      challenge: Record<string, string>;
      type: string;
      flags: any[];
      hints: any[];
      tags: string[];
    }>;
    expect(parsed).toHaveLength(rows.length);
    expect(Object.keys(parsed[0]!.challenge).sort()).toEqual(
      ctfdColumns.filter((c) => !['flags', 'hints', 'tags', 'type'].includes(c)).sort(),
    );
    parsed.forEach((p, i) => {
      const row = rows[i]!;
      expect(p.type).toBe('standard');
      expect(p.flags).toEqual([
        { type: 'static', content: row.flag, data: row.kind === 'answer' ? 'case_insensitive' : '' },
      ]);
      expect(p.hints).toEqual(row.hints.map((h) => ({ content: h.text, cost: h.cost })));
      expect(p.challenge.value).toBe(String(row.points));
      expect(p.tags).toEqual([row.difficulty, `i${row.instance}`]);
      // Trainees read names and descriptions: neither may give the vulnerability or the flag away.
      expect(p.challenge.name).not.toContain(row.module);
      expect(p.challenge.name).not.toContain(row.title);
      expect(p.challenge.description).not.toContain(row.flag);
    });
    expect(parsed[0]!.challenge.name).toMatch(/^\[i1\] web: /);
    expect(parsed[0]!.challenge.connection_info).toBe('10.0.1.10');
    expect(parsed[3]!.challenge.connection_info).toBe('web');
  });

  it('exports one instance alone without instance prefixes', () => {
    const one = ctfdChallengesCsv(rows, { instances: [2] });
    expect(one.trim().split('\r\n')).toHaveLength(4);
    expect(one).not.toContain('[i2]');
    expect(one).not.toContain(rows[0]!.flag);
  });
});

describe('the ethics guard', () => {
  const scenario = {
    networks: [
      { name: 'dmz', internet: true },
      { name: 'lab', internet: false },
    ],
    machines: [
      { name: 'web', nics: [{ network: 'lab' }, { network: 'dmz' }], vulnerabilities: ['anonymous-ftp'] },
      { name: 'proxy', nics: [{ network: 'dmz' }], vulnerabilities: [] },
      { name: 'old', nics: [{ network: 'dmz' }], vulnerabilities: ['redis-no-auth'], vulnerableOnInternet: true },
    ],
  };

  it('refuses a vulnerable machine on a network with internet, at its NIC, unless the scenario says so for it', () => {
    const refusals = checkScenarioExposure(scenario);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({
      code: 'internet-egress',
      machine: 'web',
      network: 'dmz',
      path: ['machines', 0, 'networks', 1],
    });
    expect(refusals[0]!.message).toBe(
      'machine "web" has vulnerabilities and a NIC on network "dmz", which has internet egress; a deliberately vulnerable machine must neither be reachable from the internet nor reach it. Move it to a network without internet, or, if a supervised lab needs this, set vulnerableOnInternet: true on the machine',
    );
  });

  const plan = planOf(`
glassdome: 1
name: ethics
title: Ethics
networks:
  - { name: dmz, cidr: 10.0.1.0/24, vlan: 11, internet: true }
  - { name: lab, cidr: 10.0.2.0/24, vlan: 12 }
machines:
  - { name: web, os: debian-12, networks: [lab] }
  - { name: edge, os: debian-12, networks: [dmz] }
`);
  const withVulns = (keys: string[]) => ({
    ...plan,
    machines: plan.machines.map((m) =>
      keys.includes(m.key)
        ? { ...m, vulnerabilities: [{ key: `${m.key}/x`, module: 'x', params: {}, request: 0, selected: false }] }
        : m,
    ),
  });

  it('lets a vulnerable machine on an isolated lab network through', () => {
    expect(checkPlanExposure(withVulns(['i1.web']))).toEqual([]);
  });

  it("refuses one on an internet network unless allowed, and always a router or one on the appliance's network", () => {
    expect(checkPlanExposure(withVulns(['i1.edge'])).map((r) => [r.code, r.machine, r.network])).toEqual([
      ['internet-egress', 'i1.edge', 'i1.dmz'],
    ]);
    expect(checkPlanExposure(withVulns(['i1.edge']), { allowInternet: new Set(['edge']) })).toEqual([]);
    expect(checkPlanExposure(withVulns(['i1.router'])).map((r) => r.code)).toEqual(['router']);
    const onAppliance = checkPlanExposure(withVulns(['i1.web']), {
      applianceNetworks: new Set(['i1.lab']),
      allowInternet: new Set(['web']),
    });
    expect(onAppliance.map((r) => r.code)).toEqual(['appliance-network']);
    expect(onAppliance[0]!.message).toContain("the appliance's own network; this is never allowed");
  });
});
