import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deriveSalt, derivePassword, hashPassword } from '../../server/agents/credentials.ts';
import { AppError } from '../../server/errors.ts';
import { defaultCatalogue, supportedOs } from '../../server/reaper/catalogue.ts';
import { applyDir, mergeVulnerabilities } from '../../server/agents/vulnerabilities.ts';
import { renderProbes } from '../../server/reaper/probes.ts';
import type { RenderedVulnerability } from '../../server/model/vulnerability.ts';
import { probe, run, tempFile } from '../agents/lab-plan.ts';
import { applyTo, secret } from './helpers.ts';
import { firstBootCheckPath } from '../../server/agents/cloud-init.ts';

const catalogue = defaultCatalogue();
const allIds = [...catalogue.modules.keys()];
const oses = ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12'];
const load = (text: string) => parse(text, { version: '1.1' }) as Record<string, any>;

describe("every module in one machine's first boot", () => {
  // All modules fit on one machine: they share the foothold user and write no common file.
  const applied = Object.fromEntries(
    oses.map((os) => [
      os,
      applyTo(
        os,
        allIds.filter((id) => supportedOs(catalogue.modules.get(id)!).includes(os)),
      ),
    ]),
  );

  const cloudInit = probe('cloud-init', ['--version']);
  if (!cloudInit.has) console.warn(`skipping cloud-init schema checks: ${cloudInit.why}`);
  for (const os of oses) {
    it.skipIf(!cloudInit.has)(`passes \`cloud-init schema\` on ${os}`, () => {
      const file = tempFile(`${os}.user-data`, applied[os]!.userData);
      const r = run('cloud-init', ['schema', '--config-file', file]);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain('Valid cloud-config');
      expect(r.out.toLowerCase()).not.toContain('deprecat');
    });
  }

  it('checks, on a machine without internet, that the template holds every module package', () => {
    const ud = load(applied['debian-12']!.userData);
    expect(ud.packages).toBeUndefined();
    const check = ud.runcmd[0] as string;
    for (const p of [
      'vsftpd',
      'redis-server',
      'samba',
      'mariadb-server',
      'apache2',
      'tomcat10',
      'nfs-kernel-server',
      'cron',
      'sqlite3',
    ])
      expect(check).toContain(`'${p}'`);
  });

  it("runs each module's script once, after the machine's own commands, stopping first boot when one fails", () => {
    const ud = load(applied['debian-12']!.userData);
    const lines = (ud.runcmd as string[]).filter((l) => l.startsWith('sh '));
    const withScript = applied['debian-12']!.rendered.filter((v) => v.applyScript);
    expect(lines).toHaveLength(withScript.length);
    expect(lines[0]).toBe(
      `sh ${applyDir}/${withScript[0]!.module}.sh && rm -f ${applyDir}/${withScript[0]!.module}.sh || { echo 'glassdome: vulnerability ${withScript[0]!.key} did not apply (its script is ${applyDir}/${withScript[0]!.module}.sh)' >&2; exit 1; }`,
    );
    const script = (ud.write_files as any[]).find((f) => f.path === `${applyDir}/${withScript[0]!.module}.sh`);
    expect(script).toMatchObject({ permissions: '0700', owner: 'root:root', defer: true });
    expect(script.content).toContain('\nset -e\n');
  });

  it("creates the foothold user once, with a hashed derived password, and keeps the module's weak password weak", () => {
    const a = applied['debian-12']!;
    const ud = load(a.userData);
    const student = (ud.users as any[]).filter((u) => u.name === 'student');
    expect(student).toHaveLength(1);
    expect(student[0].passwd).toBe(
      hashPassword(derivePassword(secret, 'i1.target', 'student'), deriveSalt(secret, 'i1.target', 'student'), 1000),
    );
    const weak = a.instances.find((i) => i.module === 'weak-ssh-password')!;
    const weakUser = (ud.users as any[]).find((u) => u.name === weak.params.user);
    expect(weakUser.passwd).toBe(
      hashPassword(String(weak.params.password), deriveSalt(secret, 'i1.target', String(weak.params.user))),
    );
    expect(a.userData).not.toContain(derivePassword(secret, 'i1.target', 'student'));
  });

  it("appends to a package's file with its owner and mode instead of replacing it", () => {
    const redis = (load(applied['debian-12']!.userData).write_files as any[]).find(
      (f) => f.path === '/etc/redis/redis.conf',
    );
    expect(redis).toMatchObject({ append: true, owner: 'redis:redis', permissions: '0640', defer: true });
  });

  describe('shell snippets parse', () => {
    const snippets: Array<{ label: string; text: string; shell: 'sh' | 'bash' }> = [];
    for (const os of oses) {
      const a = applied[os]!;
      const ud = load(a.userData);
      (ud.runcmd as string[]).forEach((line, i) =>
        snippets.push({ label: `${os} runcmd[${i}]`, text: line, shell: 'sh' }),
      );
      for (const v of a.rendered) {
        for (const [what, text] of [
          ['apply', v.applyScript],
          ['afterBoot', v.afterBootScript],
          ['revert', v.revertScript],
        ] as const) {
          if (text) snippets.push({ label: `${os} ${v.module} ${what}`, text, shell: 'sh' });
        }
        const instance = a.instances.find((i) => i.key === v.key)!;
        const module = catalogue.modules.get(v.module)!;
        renderProbes(module, instance, { os, host: '192.0.2.10', secret, seed: 'x', machineKey: 'i1.target' }).forEach(
          (p, i) => snippets.push({ label: `${os} ${v.module} verify[${i}]`, text: p.script, shell: 'bash' }),
        );
        // What an ssh probe runs on the target, with `sh -s`.
        module.verify.forEach((p, i) => {
          if (p.kind === 'ssh')
            snippets.push({
              label: `${os} ${v.module} verify[${i}] remote`,
              text: p.command.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, n: string) => String(instance.params[n] ?? 'x')),
              shell: 'sh',
            });
        });
      }
    }

    it('with sh -n (and bash -n for the bash ones)', () => {
      expect(snippets.length).toBeGreaterThan(100);
      const failures: string[] = [];
      for (const s of snippets) {
        for (const shell of s.shell === 'sh' ? ['sh', 'bash'] : ['bash']) {
          const r = spawnSync(shell, ['-n'], { input: s.text, encoding: 'utf8' });
          if (r.status !== 0) failures.push(`${s.label} (${shell} -n): ${r.stderr.trim()}`);
        }
      }
      expect(failures).toEqual([]);
    });

    it('and sh -n fails on a broken one (the check can fail)', () => {
      expect(spawnSync('sh', ['-n'], { input: 'if true; then echo x', encoding: 'utf8' }).status).not.toBe(0);
    });
  });
});

describe('mergeVulnerabilities refuses clashes, naming the machine and the modules', () => {
  const base: RenderedVulnerability = { key: 'i1.web/a', module: 'a', packages: [], users: [], files: [] };
  const file = (path: string, append = false) => ({ path, content: 'x\n', mode: '0644', owner: 'root:root', append });
  const user = (name: string, password: string) => ({
    name,
    password,
    passwordSource: 'module' as const,
    shell: '/bin/bash',
    groups: [],
    foothold: false,
  });
  const target = { key: 'i1.web', users: ['alice'], files: ['/etc/motd'] };

  it('two modules replacing one file', () => {
    expect(() =>
      mergeVulnerabilities(
        [
          { ...base, files: [file('/etc/x.conf')] },
          { ...base, key: 'i1.web/b', module: 'b', files: [file('/etc/x.conf')] },
        ],
        target,
      ),
    ).toThrow(
      'Unable to apply vulnerabilities to machine "i1.web": module "b" writes /etc/x.conf, which module "a" writes too',
    );
  });

  it("a module replacing one of the machine's own files or users", () => {
    expect(() => mergeVulnerabilities([{ ...base, files: [file('/etc/motd')] }], target)).toThrow(
      'module "a" writes /etc/motd, which the machine itself writes too',
    );
    expect(() => mergeVulnerabilities([{ ...base, users: [user('alice', 'x')] }], target)).toThrow(AppError);
  });

  it('two modules creating one user differently; the same way is merged', () => {
    expect(() =>
      mergeVulnerabilities(
        [
          { ...base, users: [user('bob', 'one')] },
          { ...base, module: 'b', users: [user('bob', 'two')] },
        ],
        target,
      ),
    ).toThrow('modules "a" and "b" both create user "bob", differently');
    const merged = mergeVulnerabilities(
      [
        { ...base, users: [{ ...user('bob', 'one'), groups: ['adm'] }] },
        { ...base, module: 'b', users: [{ ...user('bob', 'one'), groups: ['www-data'] }] },
      ],
      target,
    );
    expect(merged.users).toEqual([{ ...user('bob', 'one'), groups: ['adm', 'www-data'] }]);
  });

  it('appends stack on any file', () => {
    const merged = mergeVulnerabilities(
      [
        { ...base, files: [file('/etc/motd', true)] },
        { ...base, module: 'b', files: [file('/etc/motd', true)] },
      ],
      target,
    );
    expect(merged.files).toHaveLength(2);
  });

  it("leaves the machine's own users, files and commands first and as they were", () => {
    const without = load(applyTo('debian-12', []).userData);
    const withModules = load(applyTo('debian-12', ['anonymous-ftp', 'suid-binary']).userData);
    expect(withModules.users.slice(0, without.users.length)).toEqual(without.users);
    // The modules' lines come after the machine's own commands and before the first-boot check, which stays last.
    // (The first line, the offline package check, names the modules' packages too.)
    expect(withModules.runcmd.slice(1, without.runcmd.length - 1)).toEqual(without.runcmd.slice(1, -1));
    expect(withModules.runcmd.at(-1)).toBe(without.runcmd.at(-1));
    expect(withModules.runcmd).toHaveLength(without.runcmd.length + 2);
    expect(without.write_files.map((f: { path: string }) => f.path)).toEqual([firstBootCheckPath]);
  });
});
