import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { VulnerabilityRequest } from '../../server/model/vulnerability.ts';
import { defaultCatalogue, parseModule } from '../../server/reaper/catalogue.ts';
import type { Catalogue } from '../../server/reaper/module-schema.ts';
import { createRandom, deriveFlag } from '../../server/reaper/derive.ts';
import {
  checkMachineRequests,
  machineVulnerabilitiesSchema,
  normalizeRequest,
  resolveVulnerabilities,
  selectionSeedSchema,
  vulnerableOnInternetSchema,
} from '../../server/reaper/selection.ts';

const catalogue = defaultCatalogue();
const target = (instance: number, name = 'web-1') => ({
  key: `i${instance}.${name}`,
  name,
  os: 'ubuntu-22.04',
  users: ['glassdome'],
});
const modulesOf = (r: ReturnType<typeof resolveVulnerabilities>) => r.instances.map((i) => i.module);

describe('the scenario fragment', () => {
  const schema = z.strictObject({
    seed: selectionSeedSchema,
    vulnerabilities: machineVulnerabilitiesSchema,
    vulnerableOnInternet: vulnerableOnInternetSchema,
  });

  it('keeps plain module ids valid and adds modules with parameters and selections', () => {
    const parsed = schema.parse({
      vulnerabilities: [
        'weak-ssh-password',
        { module: 'anonymous-ftp', params: { dir: 'backup', port: 2121 } },
        { select: { category: 'web', difficulty: ['easy', 'medium'], count: 2 } },
      ],
    });
    expect(parsed.vulnerableOnInternet).toBe(false);
    expect(parsed.vulnerabilities.map(normalizeRequest)).toEqual([
      { module: 'weak-ssh-password', params: {} },
      { module: 'anonymous-ftp', params: { dir: 'backup', port: 2121 } },
      { select: { category: ['web'], difficulty: ['easy', 'medium'], count: 2, per: 'instance' } },
    ]);
    expect(schema.parse({}).vulnerabilities).toEqual([]);
  });

  it('rejects an unknown selection key, a zero count, an object parameter and a bad seed', () => {
    const r = schema.safeParse({
      seed: 'has space',
      vulnerabilities: [
        { select: { category: 'web', count: 0, colour: 'red' } },
        { module: 'redis-no-auth', params: { port: { n: 1 } } },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'seed',
        'vulnerabilities.0.select',
        'vulnerabilities.0.select.count',
        'vulnerabilities.1',
      ]),
    );
  });
});

describe('checkMachineRequests', () => {
  it('reports every problem at once with its path in the list', () => {
    const requests = [
      'weak-ssh-pasword',
      { module: 'anonymous-ftp', params: { port: '21', colour: 'red' } },
      { module: 'tomcat-default-credentials', params: {} },
      'anonymous-ftp',
      { select: { category: 'web' as const, count: 5 } },
      { select: { from: ['nope-module'], count: 1 } },
    ];
    const issues = checkMachineRequests(requests as never, { os: 'kali-rolling' }, catalogue);
    expect(issues).toEqual([
      { path: [0], message: 'unknown vulnerability module "weak-ssh-pasword" (did you mean "weak-ssh-password"?)' },
      {
        path: [1, 'module'],
        message: expect.stringMatching(
          /^module "anonymous-ftp" does not apply to Kali Linux \(rolling\); it supports debian-12, ubuntu-22.04, ubuntu-24.04$/,
        ),
      },
      {
        path: [1, 'params', 'port'],
        message: 'expected a port number (port parameter "port" of module "anonymous-ftp")',
      },
      {
        path: [1, 'params', 'colour'],
        message: expect.stringMatching(
          /^module "anonymous-ftp" has no parameter "colour"; expected one of port, root, dir, file/,
        ),
      },
      {
        path: [2, 'module'],
        message: expect.stringMatching(/^module "tomcat-default-credentials" does not apply to Kali/),
      },
      {
        path: [3],
        message: 'module "anonymous-ftp" is already asked for at vulnerabilities[1]; a machine takes a module once',
      },
      { path: [3], message: expect.stringMatching(/does not apply to Kali/) },
      { path: [5, 'select', 'from', 0], message: expect.stringMatching(/^unknown vulnerability module "nope-module"/) },
      {
        path: [4, 'select', 'count'],
        message:
          'only 0 modules with category web apply to Kali Linux (rolling) besides those asked for explicitly; ask for at most 0',
      },
      { path: [5, 'select', 'count'], message: expect.stringMatching(/^only 0 modules with from nope-module apply/) },
    ]);
  });

  it('names the candidates when a selection asks for more than there are', () => {
    const issues = checkMachineRequests(
      [{ select: { category: 'web', difficulty: 'easy', count: 3 } }],
      { os: 'debian-12' },
      catalogue,
    );
    expect(issues).toEqual([
      {
        path: [0, 'select', 'count'],
        message:
          'only 1 module with category web, difficulty easy apply to Debian 12 (bookworm) (directory-traversal); ask for at most 1',
      },
    ]);
  });

  it("refuses a module user that is one of the machine's own, and a missing required parameter", () => {
    const custom = catalogueOf(
      moduleText('needs-param', '  size: { type: integer, min: 1, max: 9, description: Size. }'),
    );
    expect(checkMachineRequests(['needs-param'], { os: 'debian-12' }, custom)).toEqual([
      { path: [0], message: 'module "needs-param" needs parameter "size" (integer): Size.' },
    ]);
    expect(
      checkMachineRequests([{ module: 'needs-param', params: { size: 12 } }], { os: 'debian-12' }, custom),
    ).toEqual([
      { path: [0, 'params', 'size'], message: 'expected at most 9 (integer parameter "size" of module "needs-param")' },
    ]);
    expect(
      checkMachineRequests(
        [{ module: 'weak-ssh-password', params: { user: 'alice' } }],
        { os: 'debian-12', users: ['alice'] },
        catalogue,
      ),
    ).toEqual([
      {
        path: [0, 'params', 'user'],
        message: 'user "alice" is one of the machine\'s own users; the module creates its own',
      },
    ]);
  });

  it('accepts a valid list', () => {
    expect(
      checkMachineRequests(
        [
          'weak-ssh-password',
          { module: 'redis-no-auth', params: { port: 6380 } },
          { select: { category: 'privilege-escalation', count: 2 } },
        ],
        { os: 'debian-12' },
        catalogue,
      ),
    ).toEqual([]);
  });
});

describe('resolveVulnerabilities', () => {
  const requests: VulnerabilityRequest[] = [
    { module: 'weak-ssh-password', params: {} },
    { select: { category: ['privilege-escalation', 'web'], count: 3, per: 'instance' } },
  ];

  it('is deterministic for a seed, machine and requests', () => {
    const a = resolveVulnerabilities(requests, target(1), { seed: 'abc', catalogue });
    const b = resolveVulnerabilities(requests, target(1), { seed: 'abc', catalogue });
    expect(a).toEqual(b);
    expect(a.issues).toEqual([]);
    expect(a.instances).toHaveLength(4);
    expect(a.instances[0]).toMatchObject({
      key: 'i1.web-1/weak-ssh-password',
      module: 'weak-ssh-password',
      request: 0,
      selected: false,
    });
    expect(a.instances.slice(1).every((i) => i.selected && i.request === 1)).toBe(true);
  });

  it('gives each instance its own draw, and the same seed the same ranges', () => {
    const draws = [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
      JSON.stringify(
        resolveVulnerabilities(requests, target(n), { seed: 'class-2025', catalogue }).instances.map((i) => [
          i.module,
          i.params,
        ]),
      ),
    );
    expect(new Set(draws).size).toBeGreaterThan(4);
    const again = [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
      JSON.stringify(
        resolveVulnerabilities(requests, target(n), { seed: 'class-2025', catalogue }).instances.map((i) => [
          i.module,
          i.params,
        ]),
      ),
    );
    expect(again).toEqual(draws);
    const otherSeed = [1, 2, 3, 4, 5, 6, 7, 8].map((n) =>
      JSON.stringify(
        resolveVulnerabilities(requests, target(n), { seed: 'class-2026', catalogue }).instances.map((i) => [
          i.module,
          i.params,
        ]),
      ),
    );
    expect(otherSeed).not.toEqual(draws);
  });

  it('draws the same for every instance with per: deployment, while flags still differ', () => {
    const same: VulnerabilityRequest[] = [{ select: { count: 2, per: 'deployment' } }];
    const one = resolveVulnerabilities(same, target(1), { seed: 's', catalogue }).instances;
    const two = resolveVulnerabilities(same, target(2), { seed: 's', catalogue }).instances;
    expect(two.map((i) => [i.module, i.params])).toEqual(one.map((i) => [i.module, i.params]));
    expect(deriveFlag('secret', 's', two[0]!.key)).not.toBe(deriveFlag('secret', 's', one[0]!.key));
  });

  it('never draws a module asked for explicitly, one the OS does not support, or one twice', () => {
    for (let n = 1; n <= 30; n++) {
      const r = resolveVulnerabilities(
        [
          { module: 'suid-binary', params: {} },
          { select: { category: ['privilege-escalation'], count: 2, per: 'instance' } },
          { select: { category: ['privilege-escalation'], count: 1, per: 'instance' } },
        ],
        target(n),
        { seed: String(n), catalogue },
      );
      expect(r.issues).toEqual([]);
      // The catalogue has four privilege escalations for Ubuntu: all of them, each once.
      expect(new Set(modulesOf(r))).toEqual(
        new Set(['suid-binary', 'sudo-nopasswd-gtfobin', 'writable-cron-script', 'writable-passwd']),
      );
      expect(modulesOf(r)).not.toContain('outdated-openssh');
    }
  });

  it("does not change a request's draw when another request is added after it", () => {
    const first: VulnerabilityRequest = { select: { count: 2, per: 'instance' } };
    const alone = resolveVulnerabilities([first], target(3), { seed: 'q', catalogue }).instances;
    const withMore = resolveVulnerabilities(
      [first, { select: { category: ['credentials'], count: 1, per: 'instance' } }],
      target(3),
      { seed: 'q', catalogue },
    ).instances;
    expect(withMore.slice(0, 2)).toEqual(alone);
  });

  it('skips a drawn user name the machine already has', () => {
    const users = ['support', 'devops', 'webmaster', 'oracle', 'helpdesk', 'dbadmin', 'deploy'];
    for (let n = 1; n <= 10; n++) {
      const [inst] = resolveVulnerabilities(
        ['weak-ssh-password'],
        { ...target(n), users },
        { seed: 'u', catalogue },
      ).instances;
      expect(inst!.params.user).toBe('tester');
    }
  });

  it('skips a drawn module that clashes with one already on the machine, and says so when it cannot fill a selection', () => {
    const a = moduleText('writes-motd-a', '', '  files: [{ path: /etc/motd, content: a }]');
    const b = moduleText('writes-motd-b', '', '  files: [{ path: /etc/motd, content: b }]');
    const c = moduleText('declares-conflict', '', '', 'conflicts: [writes-motd-a]');
    const custom = catalogueOf(a, b, c);
    const r = resolveVulnerabilities(['writes-motd-a', { select: { count: 1 } }], target(1), {
      seed: 's',
      catalogue: custom,
    });
    expect(r.instances.map((i) => i.module)).toEqual(['writes-motd-a']);
    expect(r.issues).toEqual([
      "vulnerabilities[1]: only 0 of 1 modules could be drawn for i1.web-1 without clashing with the machine's other modules",
    ]);
  });

  it("takes given parameters, defaults, and values drawn from the module's list", () => {
    const [inst] = resolveVulnerabilities([{ module: 'anonymous-ftp', params: { dir: 'custom' } }], target(1), {
      seed: 's',
      catalogue,
    }).instances;
    expect(inst!.params).toMatchObject({ dir: 'custom', port: 21, root: '/srv/ftp', pasvMin: 40000 });
    expect(['backup-notes.txt', 'passwords.txt.bak', 'old-config.txt', 'handover.txt']).toContain(inst!.params.file);
  });
});

describe('the seeded random stream', () => {
  it('is uniform enough: 60,000 draws of 6 land within 3% of 10,000 each', () => {
    const r = createRandom('seed', 'uniformity');
    const counts = Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.below(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(300);
  });

  it('depends on every label', () => {
    const seq = (...labels: string[]) => {
      const r = createRandom('seed', ...labels);
      return Array.from({ length: 8 }, () => r.below(1000));
    };
    expect(seq('a', 'b')).toEqual(seq('a', 'b'));
    expect(seq('a', 'b')).not.toEqual(seq('a', 'c'));
    expect(seq('ab')).not.toEqual(seq('a', 'b'));
  });
});

function moduleText(id: string, params: string, apply = '', extra = ''): string {
  return [
    `id: ${id}`,
    'title: T',
    'category: misconfiguration',
    'difficulty: easy',
    'summary: S.',
    'challenge: C.',
    'os: [debian, ubuntu]',
    ...(params ? ['parameters:', params] : []),
    'apply:',
    ...(apply ? [apply] : ['  runcmd: ["true"]']),
    'verify: [{ kind: tcp, description: d, port: 22 }]',
    'flag: { location: l, file: { path: /root/f.txt } }',
    'marking: M.',
    ...(extra ? [extra] : []),
    '',
  ].join('\n');
}

function catalogueOf(...texts: string[]): Catalogue {
  const modules = new Map();
  for (const t of texts) {
    const { module, issues } = parseModule(t, 'test');
    if (!module) throw new Error(JSON.stringify(issues));
    modules.set(module.id, module);
  }
  return { modules };
}
