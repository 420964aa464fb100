import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../server/errors.ts';
import { parseScenario, validateScenario } from '../../server/orchestrator/scenario/parse.ts';
import { scenarioJsonSchema } from '../../server/orchestrator/scenario/schema.ts';
import { planDeployment, allocationNeeds } from '../../server/orchestrator/planner.ts';

const file = 'lab.yaml';
const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** YAML text from lines, so a test can count them: the first argument is line 1. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/**
 * Asserts the text has exactly this one issue, as data and as the rendered line the CLI and the web form show
 * (`lab.yaml:9:13: machines[0].networks[0].ip: ...`), so losing the line or the field fails.
 */
function expectOnlyIssue(
  text: string,
  expected: { line: number; column: number; path: string; message: string | RegExp },
) {
  const { scenario, issues } = validateScenario(text, file);
  expect(scenario).toBeUndefined();
  expect(issues.map((i) => `${i.at?.line}:${i.at?.column} ${i.path}`)).toEqual([
    `${expected.line}:${expected.column} ${expected.path}`,
  ]);
  expect(issues[0]!.at).toEqual({ file, line: expected.line, column: expected.column });
  expect(issues[0]!.message).toMatch(expected.message);
  const prefix = `${file}:${expected.line}:${expected.column}: ${expected.path ? `${expected.path}: ` : ''}`;
  expect(() => parseScenario(text, file)).toThrow(prefix);
}

describe('validateScenario: YAML', () => {
  it('rejects a YAML syntax error at the line and column the parser stopped', () => {
    expectOnlyIssue(yaml('glassdome: 1', 'name: lab', 'title: Lab: the sequel', 'networks: []'), {
      line: 3,
      column: 8,
      path: '',
      message: /^YAML syntax error: Nested mappings are not allowed/,
    });
  });

  it('rejects tab indentation as a YAML syntax error on its line', () => {
    expectOnlyIssue(
      yaml('glassdome: 1', 'name: lab', 'title: Lab', 'networks:', '  - name: lan', '\tcidr: 10.0.0.0/24'),
      {
        line: 6,
        column: 1,
        path: '',
        message: /^YAML syntax error: Tabs are not allowed/,
      },
    );
  });

  it('rejects a duplicate top-level key, naming the second one', () => {
    expectOnlyIssue(yaml('glassdome: 1', 'name: lab', 'title: Lab', 'name: other'), {
      line: 4,
      column: 1,
      path: 'name',
      message: 'duplicate key "name"',
    });
  });

  it('rejects a duplicate nested key with its field path', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    os: ubuntu-22.04',
      '    networks: [lan]',
      '    os: debian-12',
    );
    expectOnlyIssue(text, { line: 10, column: 5, path: 'machines[0].os', message: 'duplicate key "os"' });
  });

  it('rejects a file that is not a mapping', () => {
    expectOnlyIssue(yaml('- glassdome: 1'), { line: 1, column: 1, path: '', message: /expected a mapping/ });
    expectOnlyIssue('', { line: 1, column: 1, path: '', message: /expected a mapping/ });
  });
});

describe('validateScenario: schema', () => {
  it('rejects an unknown top-level key at the key itself, suggesting the near one', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'instance: 2',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 4,
      column: 1,
      path: 'instance',
      message: 'unknown key "instance" (did you mean "instances"?)',
    });
  });

  it('rejects unknown nested keys at each key, not at the object holding them', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '    size: { cpus: 2, memory: 4G, disks: 40 }',
      '    sizes: small',
    );
    const issues = validateScenario(text, file).issues;
    expect(issues.map((i) => [i.path, i.at?.line, i.at?.column, i.message])).toEqual([
      ['machines[0].size.disks', 9, 34, 'unknown key "disks"'],
      ['machines[0].sizes', 10, 5, 'unknown key "sizes"'],
    ]);
  });

  it('reports a wrong type as a wrong type, not as a missing field', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    count: two',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 8,
      column: 12,
      path: 'machines[0].count',
      message: /expected number, received string/,
    });
    expect(validateScenario(text, file).issues[0]!.message).not.toMatch(/required/);
  });

  it('rejects a missing top-level field at the start of the file', () => {
    const text = yaml(
      'glassdome: 1',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 1, column: 1, path: 'name', message: 'is required (expected string)' });
  });

  it('takes the name as the title when the file gives none (a title is a label)', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expect(validateScenario(text, file)).toMatchObject({ scenario: { name: 'lab', title: 'lab' }, issues: [] });
  });

  it('refuses a title longer than 200 characters at the title', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      `title: ${'x'.repeat(201)}`,
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 3, column: 8, path: 'title', message: 'expected at most 200 characters' });
  });

  it('rejects a missing nested field at the object that lacks it', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '  - name: db',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 7,
      column: 5,
      path: 'machines[0].networks',
      message: 'is required (expected array)',
    });
  });

  it.each([0, 4095])('rejects VLAN %i, which is outside 1-4094, at the value', (vlan) => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      `    vlan: ${vlan}`,
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 6,
      column: 11,
      path: 'networks[0].vlan',
      message: 'expected a VLAN id from 1 to 4094',
    });
  });

  it('accepts VLANs 1 and 4094, the edges of the range', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: a',
      '    vlan: 1',
      '  - name: b',
      '    vlan: 4094',
      'machines:',
      '  - name: web',
      '    networks: [a, b]',
    );
    expect(validateScenario(text, file).issues).toEqual([]);
  });

  it('rejects a defaults.user that is not a Unix user name as an issue rather than a crash', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'defaults:',
      '  user: Bad Name',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 5, column: 9, path: 'defaults.user', message: /Unix user name/ });
  });
});

describe('validateScenario: cross-field checks', () => {
  it('rejects a duplicate machine name at the second one', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 11,
      path: 'machines[1].name',
      message: 'duplicate machine name "web" (first defined at machines[0])',
    });
  });

  it('rejects a duplicate network name at the second one', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 6,
      column: 11,
      path: 'networks[1].name',
      message: 'duplicate network name "lan" (first defined at networks[0])',
    });
  });

  it('rejects a replica name that collides with another machine', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web-2',
      '    networks: [lan]',
      '  - name: web',
      '    count: 2',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 11,
      path: 'machines[1].name',
      message: 'replica name "web-2" collides with machine "web-2"',
    });
  });

  it('rejects a dependency on a missing machine, naming the ones that exist', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '    dependsOn: [db, ghost]',
      '  - name: db',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 21,
      path: 'machines[0].dependsOn[1]',
      message: 'depends on unknown machine "ghost"; expected one of db',
    });
  });

  it('rejects a dependency cycle once, naming the machines in it in order', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: a',
      '    networks: [lan]',
      '    dependsOn: [b]',
      '  - name: b',
      '    networks: [lan]',
      '    dependsOn: [c]',
      '  - name: c',
      '    networks: [lan]',
      '    dependsOn: [a]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 16,
      path: 'machines[0].dependsOn',
      message: 'dependency cycle: a -> b -> c -> a',
    });
  });

  it('rejects a machine that depends on itself', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: a',
      '    networks: [lan]',
      '    dependsOn: [a]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 17,
      path: 'machines[0].dependsOn[0]',
      message: 'machine "a" cannot depend on itself',
    });
  });

  it('rejects a NIC on an unknown network, in either NIC form', () => {
    const short = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan, dmz]',
    );
    expectOnlyIssue(short, {
      line: 8,
      column: 21,
      path: 'machines[0].networks[1]',
      message: 'unknown network "dmz"; expected one of lan',
    });
    const long = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: dmz',
    );
    expectOnlyIssue(long, {
      line: 9,
      column: 18,
      path: 'machines[0].networks[0].network',
      message: 'unknown network "dmz"; expected one of lan',
    });
  });

  it('rejects overlapping CIDRs at the later network, naming the earlier one', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/16',
      '  - name: dmz',
      '    cidr: 10.0.5.0/24',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 8,
      column: 11,
      path: 'networks[1].cidr',
      message: '10.0.5.0/24 overlaps network "lan" (10.0.0.0/16)',
    });
  });

  it('rejects a CIDR with host bits set, naming the network it meant', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.5/24',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 6,
      column: 11,
      path: 'networks[0].cidr',
      message: /host bits set; the network is 10\.0\.0\.0\/24/,
    });
  });

  it('rejects a network smaller than /29', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/30',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 6, column: 11, path: 'networks[0].cidr', message: /too small/ });
  });

  it('rejects an IP outside its network', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.1.5',
    );
    expectOnlyIssue(text, {
      line: 11,
      column: 13,
      path: 'machines[0].networks[0].ip',
      message: '10.0.1.5 is outside network "lan" (10.0.0.0/24)',
    });
  });

  it.each([
    ['10.0.0.0', 'network'],
    ['10.0.0.255', 'broadcast'],
  ])('rejects the %s address as an IP, saying it is the %s address', (ip, which) => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      `        ip: ${ip}`,
    );
    expectOnlyIssue(text, {
      line: 11,
      column: 13,
      path: 'machines[0].networks[0].ip',
      message: `${ip} is the ${which} address of network "lan" (10.0.0.0/24), not a host`,
    });
  });

  it('rejects an IP given twice at the second machine, naming the first', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.20',
      '  - name: db',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.20',
    );
    expectOnlyIssue(text, {
      line: 15,
      column: 13,
      path: 'machines[1].networks[0].ip',
      message: '10.0.0.20 is given twice on network "lan" (also machines[0] "web")',
    });
  });

  it('rejects an IP equal to the default gateway (the first host), naming line and field', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.1',
    );
    expectOnlyIssue(text, {
      line: 11,
      column: 13,
      path: 'machines[0].networks[0].ip',
      message: '10.0.0.1 is the gateway of network "lan"',
    });
  });

  it('rejects an IP equal to an explicit gateway, and lets the first host be used then', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      '    gateway: 10.0.0.254',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.254',
      '  - name: db',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.1',
    );
    expectOnlyIssue(text, {
      line: 12,
      column: 13,
      path: 'machines[0].networks[0].ip',
      message: '10.0.0.254 is the gateway of network "lan"',
    });
  });

  it('rejects a static IP on a network whose CIDR comes from the pool', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.20',
    );
    expectOnlyIssue(text, { line: 10, column: 13, path: 'machines[0].networks[0].ip', message: /has no cidr/ });
  });

  it('rejects replica IPs that run past the end of the network, naming the replica', () => {
    // web-1 .. web-3 take .5, .6 and .7; .7 is the broadcast address of the /29.
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/29',
      'machines:',
      '  - name: web',
      '    count: 3',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.5',
    );
    expectOnlyIssue(text, {
      line: 12,
      column: 13,
      path: 'machines[0].networks[0].ip',
      message: '10.0.0.7 (replica web-3) is the broadcast address of network "lan" (10.0.0.0/29), not a host',
    });
  });

  it('rejects another machine taking an address a replica takes', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    cidr: 10.0.0.0/24',
      'machines:',
      '  - name: web',
      '    count: 2',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.20',
      '  - name: db',
      '    networks:',
      '      - network: lan',
      '        ip: 10.0.0.21',
    );
    expectOnlyIssue(text, {
      line: 16,
      column: 13,
      path: 'machines[1].networks[0].ip',
      message: '10.0.0.21 is given twice on network "lan" (also machines[0] "web")',
    });
  });

  it('rejects an unknown OS on a machine at its os field', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    os: plan9',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 8,
      column: 9,
      path: 'machines[0].os',
      message: /^unknown OS "plan9"; expected one of ubuntu-22.04, .*windows-11$/,
    });
  });

  it('rejects an unknown default OS once, at defaults.os, however many machines use it', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'defaults:',
      '  os: plan9',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '  - name: db',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 5, column: 7, path: 'defaults.os', message: /^unknown OS "plan9"/ });
  });

  it('rejects a size with less memory than the OS needs, naming the machine', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: pc',
      '    os: windows-11',
      '    size: small',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 11,
      path: 'machines[0].size',
      message: 'machine "pc": Windows 11 needs at least 4096 MiB of memory; this size gives 2048',
    });
  });

  it('reports too little memory inherited from defaults at the machine that inherits it, by name', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'defaults: { size: small }',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '  - name: pc',
      '    os: windows-11',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 11,
      path: 'machines[1].name',
      message: 'machine "pc": Windows 11 needs at least 4096 MiB of memory; the size from defaults gives 2048',
    });
  });

  it('grows a disk below what the OS needs to its minimum, with a warning at the machine, and lets a machine set disk', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: dc',
      '    os: windows-server-2022',
      '    networks: [lan]',
      '  - name: fs',
      '    os: windows-server-2022',
      '    disk: 100G',
      '    networks: [lan]',
    );
    const r = validateScenario(text, file);
    expect(r.issues).toEqual([]);
    expect(r.scenario!.machines.map((m) => m.size.diskGb)).toEqual([32, 100]);
    expect(r.warnings.map((w) => `${w.at?.line}:${w.at?.column} ${w.path}: ${w.message}`)).toEqual([
      '6:11 machines[0].name: machine "dc": disk grown from 20 to 32 GiB, the least Windows Server 2022 needs (set "disk:" on the machine to choose more)',
    ]);
  });

  it('rejects a Windows replica name longer than 15 characters', () => {
    // classroom-pc-1 .. classroom-pc-9 fit; classroom-pc-10 is 15 characters and fits too; one more letter does not.
    const fits = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: classroom-pc',
      '    os: windows-11',
      '    size: large',
      '    count: 10',
      '    networks: [lan]',
    );
    expect(validateScenario(fits, file).issues).toEqual([]);
    const text = fits.replace('classroom-pc', 'classroom-pcs');
    expectOnlyIssue(text, {
      line: 7,
      column: 11,
      path: 'machines[0].name',
      message: 'Windows computer names are at most 15 characters; "classroom-pcs-10" is longer',
    });
  });

  it('rejects an unknown vulnerability id at its list item', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '    vulnerabilities: [cve-2021-44228]',
    );
    expectOnlyIssue(text, {
      line: 9,
      column: 23,
      path: 'machines[0].vulnerabilities[0]',
      message: /^unknown vulnerability module "cve-2021-44228"/,
    });
  });

  it('rejects a fixed VLAN when the scenario has several instances', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'instances: 3',
      'networks:',
      '  - name: lan',
      '    vlan: 100',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 7,
      column: 11,
      path: 'networks[0].vlan',
      message: 'a fixed VLAN cannot isolate 3 instances; remove "vlan" to allocate one per instance from the VLAN pool',
    });
  });

  it('rejects a firewall rule naming an unknown endpoint', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'firewall:',
      '  rules:',
      '    - from: kali',
      '      to: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 8,
      column: 13,
      path: 'firewall.rules[0].from',
      message: 'unknown network or machine "kali"; expected one of lan, web or "*"',
    });
  });

  it('rejects ports on an icmp rule', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'firewall:',
      '  rules:',
      '    - from: "*"',
      '      to: web',
      '      protocol: icmp',
      '      ports: 8',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, {
      line: 11,
      column: 14,
      path: 'firewall.rules[0].ports',
      message: 'ports apply only to tcp or udp, not icmp',
    });
  });

  it('rejects "router" as a machine name, since the plan adds its own', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: router',
      '    networks: [lan]',
    );
    expectOnlyIssue(text, { line: 7, column: 11, path: 'machines[0].name', message: /reserved for the router/ });
  });

  it('rejects "uplink" as a network name, since the plan adds its own', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: uplink',
      'machines:',
      '  - name: m',
      '    networks: [uplink]',
    );
    expectOnlyIssue(text, {
      line: 5,
      column: 11,
      path: 'networks[0].name',
      message: /"uplink" is reserved for the outside network/,
    });
  });
});

describe('validateScenario: every problem at once', () => {
  // The duplicate "lan" (10.0.9.0/24) must not replace the first one: web's ip is checked against 10.0.0.0/24.
  it('reports all five problems of a file, in line order, each with its field', () => {
    const path = 'test/fixtures/scenarios/five-problems.yaml';
    const { scenario, issues } = validateScenario(read(path), path);
    expect(scenario).toBeUndefined();
    expect(issues.map((i) => [i.at?.file, i.at?.line, i.path])).toEqual([
      [path, 9, 'networks[1].cidr'],
      [path, 10, 'networks[2].name'],
      [path, 14, 'machines[0].os'],
      [path, 17, 'machines[0].networks[0].ip'],
      [path, 18, 'machines[0].dependsOn[0]'],
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      '10.0.0.128/25 overlaps network "lan" (10.0.0.0/24)',
      'duplicate network name "lan" (first defined at networks[0])',
      expect.stringMatching(/^unknown OS "plan9"/),
      '10.0.0.1 is the gateway of network "lan"',
      'depends on unknown machine "ghost"; expected one of (no other machines)',
    ]);
  });

  it('reports several schema problems together, in line order', () => {
    const text = yaml(
      'glassdome: 2',
      'name: Lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '    vlan: 0',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '    color: blue',
    );
    expect(validateScenario(text, file).issues.map((i) => `${i.at?.line}:${i.at?.column} ${i.path}`)).toEqual([
      '1:12 glassdome',
      '2:7 name',
      '6:11 networks[0].vlan',
      '10:5 machines[0].color',
    ]);
  });

  it('lists every problem in the AppError parseScenario throws', () => {
    const path = 'test/fixtures/scenarios/five-problems.yaml';
    let caught: unknown;
    try {
      parseScenario(read(path), path);
    } catch (e) {
      caught = e;
    }
    expect(isAppError(caught) && caught.code).toBe('invalid_input');
    if (!isAppError(caught)) return;
    expect(caught.issues).toHaveLength(5);
    expect(caught.message.split('\n').slice(1)).toEqual(
      caught.issues!.map((i) => `${path}:${i.at!.line}:${i.at!.column}: ${i.path}: ${i.message}`),
    );
  });
});

describe('bundled scenarios', () => {
  const dir = 'server/scenarios/';
  const names = readdirSync(new URL(dir, root)).filter((f) => f.endsWith('.yaml'));

  it('include the commented example and the three samples', () => {
    expect(names.sort()).toEqual(
      expect.arrayContaining(['ad-lab.yaml', 'class-20.yaml', 'example.yaml', 'web-dmz.yaml']),
    );
  });

  it.each(names)('%s starts with the editor schema line, parses cleanly and plans', (name) => {
    const text = read(dir + name);
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../views/static/scenario.schema.json');
    const { scenario, issues } = validateScenario(text, name);
    expect(issues).toEqual([]);
    const needs = allocationNeeds(scenario!, 'proxmox', scenario!.instances);
    const plan = planDeployment({
      deploymentId: 'sample',
      scenario: scenario!,
      platform: 'proxmox',
      instances: scenario!.instances,
      allocations: {
        subnets: Object.fromEntries(needs.subnets.map((n, i) => [n, `172.16.${i}.0/24`])),
        vlans: Object.fromEntries(needs.vlans.map((v, i) => [v, 100 + i])),
      },
    });
    expect(plan.machines.filter((m) => m.role === 'machine')).toHaveLength(
      scenario!.instances * scenario!.machines.reduce((n, m) => n + m.count, 0),
    );
  });

  it('example.yaml documents every field of the format', () => {
    const text = read(dir + 'example.yaml');
    const keys = new Set<string>();
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'properties' && v && typeof v === 'object') for (const p of Object.keys(v)) keys.add(p);
          collect(v);
        }
      }
    };
    collect(scenarioJsonSchema());
    expect(keys.size).toBeGreaterThan(40);
    const missing = [...keys].filter((k) => !new RegExp(`^\\s*(#\\s*)?(- )?${k}:`, 'm').test(text));
    expect(missing).toEqual([]);
  });

  it('ad-lab has a Windows Server 2022 DC, Windows 11 clients depending on it, a Kali attacker, two networks and rules', () => {
    const s = parseScenario(read(dir + 'ad-lab.yaml'));
    expect(s.networks).toHaveLength(2);
    expect(s.machines.find((m) => m.name === 'dc01')?.os).toBe('windows-server-2022');
    const clients = s.machines.filter((m) => m.os === 'windows-11');
    expect(clients.length).toBeGreaterThan(0);
    for (const c of clients) expect(c.dependsOn).toContain('dc01');
    expect(s.machines.some((m) => m.os === 'kali-rolling')).toBe(true);
    expect(s.firewall.rules.length).toBeGreaterThan(0);
  });

  it('web-dmz has two web replicas, a db, egress on dmz only, 80/443 from the attack network and 5432 from web to db', () => {
    const s = parseScenario(read(dir + 'web-dmz.yaml'));
    expect(s.networks.filter((n) => n.internet).map((n) => n.name)).toEqual(['dmz']);
    expect(s.machines.find((m) => m.name === 'web')?.count).toBe(2);
    const attacker = s.machines.find((m) => m.os === 'kali-rolling')!;
    expect(s.firewall.rules).toContainEqual({
      from: attacker.nics[0]!.network,
      to: 'dmz',
      protocol: 'tcp',
      ports: [
        [80, 80],
        [443, 443],
      ],
      action: 'allow',
    });
    expect(s.firewall.rules).toContainEqual({
      from: 'web',
      to: 'db',
      protocol: 'tcp',
      ports: [[5432, 5432]],
      action: 'allow',
    });
    expect(s.machines.find((m) => m.name === 'db')?.nics.map((n) => n.network)).toEqual(['internal']);
  });

  it('class-20 deploys 20 instances of an attacker and 2-3 targets', () => {
    const s = parseScenario(read(dir + 'class-20.yaml'));
    expect(s.instances).toBe(20);
    expect(s.machines.filter((m) => m.os === 'kali-rolling')).toHaveLength(1);
    expect(s.machines.length - 1).toBeGreaterThanOrEqual(2);
    expect(s.machines.length - 1).toBeLessThanOrEqual(3);
    expect(s.networks.every((n) => n.vlan === undefined)).toBe(true);
  });
});

describe('defaults', () => {
  const minimal = yaml(
    'glassdome: 1',
    'name: lab',
    'title: Lab',
    'networks:',
    '  - name: lan',
    'machines:',
    '  - name: web',
    '    networks: [lan]',
  );

  it('gives a machine that sets nothing ubuntu-22.04, the small size, one instance and no users', () => {
    const s = parseScenario(minimal);
    expect(s.instances).toBe(1);
    expect(s.description).toBe('');
    expect(s.firewall).toEqual({ default: 'deny', rules: [] });
    expect(s.networks[0]).toEqual({ name: 'lan', dhcp: false, internet: false });
    expect(s.machines[0]).toMatchObject({
      os: 'ubuntu-22.04',
      size: { cpus: 1, memoryMb: 2048, diskGb: 20 },
      count: 1,
      users: [],
      dependsOn: [],
      nics: [{ network: 'lan' }],
    });
  });

  it('applies defaults.os, defaults.size and a defaults.user name to machines that set none, and not to those that do', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'defaults:',
      '  os: debian-12',
      '  size: { cpus: 2, memory: 3G, disk: 1T }',
      '  user: student',
      'networks:',
      '  - name: lan',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
      '  - name: kali',
      '    os: kali-rolling',
      '    size: medium',
      '    users:',
      '      - name: alice',
      '    networks: [lan]',
    );
    const [web, kali] = parseScenario(text).machines;
    expect(web).toMatchObject({ os: 'debian-12', size: { cpus: 2, memoryMb: 3072, diskGb: 1024 } });
    expect(web!.users).toEqual([{ name: 'student', sudo: true, sshKeys: [], groups: [], shell: '/bin/bash' }]);
    expect(kali).toMatchObject({ os: 'kali-rolling', size: { cpus: 2, memoryMb: 4096, diskGb: 40 } });
    expect(kali!.users).toEqual([{ name: 'alice', sudo: false, sshKeys: [], groups: [], shell: '/bin/bash' }]);
  });

  it('parses single ports, ranges and lists into [first, last] pairs, defaulting to tcp allow', () => {
    const text = yaml(
      'glassdome: 1',
      'name: lab',
      'title: Lab',
      'networks:',
      '  - name: lan',
      '  - name: dmz',
      'firewall:',
      '  rules:',
      '    - from: lan',
      '      to: dmz',
      '      ports: [22, "8000-8080"]',
      'machines:',
      '  - name: web',
      '    networks: [lan]',
    );
    expect(parseScenario(text).firewall.rules).toEqual([
      {
        from: 'lan',
        to: 'dmz',
        protocol: 'tcp',
        ports: [
          [22, 22],
          [8000, 8080],
        ],
        action: 'allow',
      },
    ]);
  });
});

describe('scenarioJsonSchema', () => {
  it('is a draft 2020-12 object schema that closes the top level to unknown keys', () => {
    const schema = scenarioJsonSchema();
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties as object)).toEqual(
      expect.arrayContaining(['glassdome', 'name', 'networks', 'machines']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['glassdome', 'name', 'networks', 'machines']));
    expect(schema.required).not.toContain('title');
    expect(schema.required).not.toContain('instances');
  });

  it('is plain JSON: it survives a round trip unchanged', () => {
    const schema = scenarioJsonSchema();
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});

describe('the exported JSON Schema file', () => {
  it('is up to date with the zod schema (regenerate with npm run schema:scenario)', async () => {
    const { readFileSync } = await import('node:fs');
    const { scenarioJsonSchema: current } = await import('../../server/orchestrator/scenario/schema.ts');
    expect(JSON.parse(readFileSync('views/static/scenario.schema.json', 'utf8'))).toEqual(current());
  });
});
