import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../server/errors.ts';
import {
  catalogueDir,
  defaultCatalogue,
  loadCatalogue,
  parseModule,
  supportedOs,
  templatePackages,
} from '../../server/reaper/catalogue.ts';
import { moduleSchema } from '../../server/reaper/module-schema.ts';
import { parseTemplate, renderList, renderTemplate } from '../../server/reaper/template.ts';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const files = readdirSync(catalogueDir).filter((f) => f.endsWith('.yaml'));
const exampleFile = 'sudo-nopasswd-gtfobin.yaml';

/** A small valid module, one line per entry so tests can count lines. */
const minimal = [
  'id: demo-module',
  'title: Demo',
  'category: web',
  'difficulty: easy',
  'summary: A demo.',
  'challenge: Find the flag.',
  'os: [debian]',
  'parameters:',
  '  port: { type: port, default: 8080, description: The port. }',
  'apply:',
  '  runcmd:',
  '    - echo {{port}}',
  'verify:',
  '  - { kind: tcp, description: It answers., port: "{{port}}" }',
  'flag:',
  '  location: /root/flag.txt',
  '  file: { path: /root/flag.txt }',
  'marking: Solved when the flag is submitted.',
];

describe('the bundled catalogue', () => {
  it.each(files)('%s parses with no problem', (file) => {
    const { module, issues } = parseModule(readFileSync(path.join(catalogueDir, file), 'utf8'), file);
    expect(issues.map(formatIssue)).toEqual([]);
    expect(module?.id).toBe(file.replace(/\.yaml$/, ''));
  });

  it('has at least 15 Linux modules applicable to Ubuntu 22.04, Ubuntu 24.04 and Debian 12, and 6 Windows ones', () => {
    const { catalogue, issues } = loadCatalogue();
    expect(issues).toEqual([]);
    const modules = [...catalogue.modules.values()];
    const windows = modules.filter((m) => supportedOs(m).some((os) => os.startsWith('windows-')));
    const linux = modules.filter((m) => !windows.includes(m));
    expect(linux.length).toBeGreaterThanOrEqual(15);
    expect(windows.length).toBeGreaterThanOrEqual(6);
    for (const m of linux)
      expect(supportedOs(m), m.id).toEqual(expect.arrayContaining(['debian-12', 'ubuntu-22.04', 'ubuntu-24.04']));
    for (const m of windows) {
      expect(supportedOs(m), m.id).toContain('windows-server-2022');
      expect(
        supportedOs(m).every((os) => os.startsWith('windows-')),
        m.id,
      ).toBe(true);
    }
  });

  it('covers every category, Active Directory with Windows modules only, and every difficulty', () => {
    const modules = [...defaultCatalogue().modules.values()];
    expect(new Set(modules.map((m) => m.category))).toEqual(
      new Set(['web', 'privilege-escalation', 'credentials', 'network-service', 'misconfiguration', 'ad']),
    );
    for (const m of modules.filter((x) => x.category === 'ad'))
      expect(
        supportedOs(m).every((os) => os.startsWith('windows-')),
        m.id,
      ).toBe(true);
    expect(new Set(modules.map((m) => m.difficulty))).toEqual(new Set(['easy', 'medium', 'hard']));
  });

  it('lists the packages a template for offline machines must hold, per OS', () => {
    const jammy = templatePackages(defaultCatalogue(), 'ubuntu-22.04');
    expect(jammy).toEqual(
      expect.arrayContaining([
        'apache2',
        'mariadb-server',
        'redis-server',
        'samba',
        'sudo',
        'tomcat9',
        'tomcat9-admin',
        'vsftpd',
      ]),
    );
    expect(jammy).not.toContain('tomcat10');
    expect(templatePackages(defaultCatalogue(), 'debian-12')).toContain('tomcat10');
  });

  it('never lets the trainee-facing text give the flag away', () => {
    for (const m of defaultCatalogue().modules.values()) {
      expect(m.challenge).not.toContain('{{flag}}');
      for (const h of m.hints) expect(h.text).not.toContain('flag}}');
    }
  });
});

describe('the commented example module', () => {
  const text = readFileSync(path.join(catalogueDir, exampleFile), 'utf8');

  it('is a working module of the catalogue', () => {
    expect(parseModule(text, exampleFile).issues).toEqual([]);
    expect(defaultCatalogue().modules.has('sudo-nopasswd-gtfobin')).toBe(true);
  });

  it('documents every field of the format, set or commented out', () => {
    for (const key of Object.keys(moduleSchema.shape)) expect(text, key).toMatch(new RegExp(`^#? ?${key}:`, 'm'));
    for (const key of ['packages', 'users', 'files', 'runcmd', 'afterBoot', 'powershell'])
      expect(text, key).toMatch(new RegExp(`^ {2}#? ?${key}:`, 'm'));
    for (const kind of ['tcp', 'http', 'ssh', 'ftp', 'smb', 'redis', 'mysql', 'nfs', 'impacket', 'shell'])
      expect(text).toMatch(new RegExp(`^#\\s+${kind}\\s`, 'm'));
  });

  it('is the file the README points at', () => {
    expect(readFileSync(new URL('../../server/reaper/README.md', import.meta.url), 'utf8')).toContain(
      `catalogue/${exampleFile}`,
    );
  });
});

describe('parseModule: problems located in the file', () => {
  const issuesOf = (text: string) =>
    parseModule(text, 'demo-module.yaml').issues.map((i) => `${i.at?.line}:${i.at?.column} ${i.path}: ${i.message}`);

  it('accepts the minimal module', () => {
    expect(issuesOf(yaml(...minimal))).toEqual([]);
  });

  it('reports a YAML syntax error at its line', () => {
    expect(issuesOf(yaml('id: demo-module', 'title: Demo: the sequel'))).toEqual([
      expect.stringMatching(/^2:8 : YAML syntax error: Nested mappings/),
    ]);
  });

  it('reports every schema problem at once, unknown keys at the key', () => {
    const text = yaml(...minimal.map((l) => (l === 'difficulty: easy' ? 'difficulty: trivial' : l)), 'colour: red');
    const issues = issuesOf(text);
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(/^4:13 difficulty: Invalid option: expected one of "easy"\|"medium"\|"hard"/);
    expect(issues[1]).toBe('19:1 colour: unknown key "colour"');
  });

  it('points at a placeholder inside a command, naming the known parameters', () => {
    const text = yaml(...minimal.map((l) => (l === '    - echo {{port}}' ? '    - echo {{prot}}' : l)));
    expect(issuesOf(text)).toEqual(['12:12 apply.runcmd[0]: unknown parameter "prot"; expected one of port']);
  });

  it('refuses the flag in a probe command (it would run on the attacker machine) and in the challenge', () => {
    const text = yaml(
      ...minimal.flatMap((l) =>
        l === 'challenge: Find the flag.'
          ? ['challenge: "The flag is {{flag}}"']
          : l.startsWith('  - { kind: tcp')
            ? ['  - kind: shell', '    description: x', '    script: echo {{flag}}']
            : [l],
      ),
    );
    const issues = issuesOf(text);
    expect(issues).toContainEqual(expect.stringMatching(/^6:\d+ challenge: \{\{flag\}\} may not appear here/));
    expect(issues).toContainEqual(
      expect.stringMatching(/^16:\d+ verify\[0\]\.script: \{\{flag\}\} may not appear in a probe's command/),
    );
  });

  it('refuses an unknown OS, a Windows OS, per-OS vars missing for one OS, and a flag planted nowhere', () => {
    const text = yaml(
      ...minimal
        .map((l) => (l === 'os: [debian]' ? 'os: [debian, ubuntu-22.04, windows-11, beos]' : l))
        .map((l) => (l === '    - echo {{port}}' ? '    - echo {{os.tomcat}}' : l))
        .filter((l) => !l.includes('file: { path')),
      'vars:',
      '  debian-12: { tomcat: tomcat10 }',
    );
    const issues = issuesOf(text);
    expect(issues).toContainEqual(
      expect.stringMatching(/^7:\d+ os\[2\]: "windows-11" is not installed with cloud-init/),
    );
    expect(issues).toContainEqual(expect.stringMatching(/^7:\d+ os\[3\]: unknown OS "beos"/));
    expect(issues).toContainEqual(
      expect.stringMatching(
        /^12:12 apply\.runcmd\[0\]: \{\{os\.tomcat\}\} has no value for ubuntu-22.04; add it under vars/,
      ),
    );
    expect(issues).toContainEqual(expect.stringMatching(/^16:3 flag: the flag is planted nowhere/));
  });

  it('checks defaults and drawn values against the parameter type', () => {
    const text = yaml(
      ...minimal.map((l) =>
        l.startsWith('  port:') ? '  port: { type: port, default: "8080", description: The port. }' : l,
      ),
    ).replace('parameters:\n', 'parameters:\n  user: { type: username, random: [alice, Bob], description: Who. }\n');
    const issues = issuesOf(text);
    expect(issues).toContainEqual(
      expect.stringMatching(/^9:\d+ parameters\.user\.random\[1\]: expected a Unix user name/),
    );
    expect(issues).toContainEqual(expect.stringMatching(/^10:\d+ parameters\.port\.default: expected a port number/));
  });

  it('renders every module on every OS before accepting it (a port that is not a number)', () => {
    const text = yaml(
      ...minimal.map((l) =>
        l.startsWith('  port:') ? '  port: { type: string, default: http, description: The port. }' : l,
      ),
    );
    expect(issuesOf(text)).toEqual([
      expect.stringMatching(
        /^14:5 verify\[0\]: on debian-12 with default values: .*port "\{\{port\}\}" is not a port number/,
      ),
    ]);
  });

  it('requires the id to be the file name', () => {
    expect(parseModule(yaml(...minimal), 'other-name.yaml').issues.map((i) => i.message)).toEqual([
      'the id "demo-module" must be the file\'s name without .yaml ("other-name")',
    ]);
  });

  it('reports problems of several files and between files at once', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gd-catalogue-'));
    writeFileSync(path.join(dir, 'demo-module.yaml'), yaml(...minimal, 'conflicts: [no-such-module]'));
    writeFileSync(path.join(dir, 'broken.yaml'), yaml('id: broken', 'title: [oops'));
    const { catalogue, issues } = loadCatalogue(dir);
    expect(issues.map((i) => `${i.at?.file} ${i.path}`)).toEqual(['broken.yaml ', 'demo-module.yaml conflicts[0]']);
    expect([...catalogue.modules.keys()]).toEqual(['demo-module']);
  });
});

describe('templates', () => {
  it('fills parameters, per-OS vars and filters; a list parameter alone in a list item splices', () => {
    const values = { user: "o'brien", port: 22, 'os.pkg': ['a', 'b'] };
    expect(renderTemplate('ssh -p {{ port }} {{user|sh}}@x', values)).toBe("ssh -p 22 'o'\\''brien'@x");
    expect(renderTemplate('<u name="{{user | xml}}"/>', values)).toBe('<u name="o&apos;brien"/>');
    expect(renderList(['{{os.pkg}}', 'c {{os.pkg}}'], values)).toEqual(['a', 'b', 'c a b']);
  });

  it('rejects stray braces, two filters and unknown filters with their offset', () => {
    expect(parseTemplate('echo {{a}} }} x')).toEqual({ error: 'unbalanced "{{" or "}}"', offset: 11 });
    expect(parseTemplate('x {{a|sh|xml}}')).toMatchObject({
      error: expect.stringContaining('more than one filter'),
      offset: 2,
    });
    expect(parseTemplate('{{a|base64}}')).toMatchObject({ error: expect.stringContaining('unknown filter "base64"') });
  });
});
