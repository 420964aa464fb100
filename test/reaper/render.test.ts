import { describe, expect, it } from 'vitest';
import { derivePassword } from '../../server/agents/credentials.ts';
import { AppError } from '../../server/errors.ts';
import { defaultCatalogue, parseModule, supportedOs } from '../../server/reaper/catalogue.ts';
import { deriveFlag } from '../../server/reaper/derive.ts';
import { judgeProbe, renderProbes, type RenderedProbe } from '../../server/reaper/probes.ts';
import { renderVulnerability } from '../../server/reaper/render.ts';
import { resolveVulnerabilities } from '../../server/reaper/selection.ts';

const ctx = { os: 'debian-12', machineKey: 'i2.db', secret: 'sec', seed: 'seed' };
const text = [
  'id: render-demo',
  'title: Render demo',
  'category: misconfiguration',
  'difficulty: hard',
  'summary: S.',
  'challenge: C.',
  'os: [debian]',
  'parameters:',
  '  user: { type: username, default: trainee, description: U. }',
  '  dir: { type: path, default: /srv/demo, description: D. }',
  'apply:',
  '  packages: [nginx]',
  '  users: [{ name: "{{user}}", foothold: true, groups: [adm] }]',
  '  files: [{ path: "{{dir}}/secret.txt", content: "{{flag}}\\n", owner: "{{user}}:{{user}}", mode: "640" }]',
  '  runcmd: ["chmod 0750 {{dir}}"]',
  '  afterBoot: ["touch {{dir}}/ready", "echo {{flag}} > /root/late.txt"]',
  'verify: [{ kind: ssh, description: d, user: "{{user}}", command: "cat {{dir}}/secret.txt", expect: { contains: "{{flag}}" } }]',
  'revert: ["rm -rf {{dir}}"]',
  'flag: { location: "{{dir}}/secret.txt" }',
  'marking: M.',
  '',
].join('\n');
const parsed = parseModule(text, 'render-demo.yaml');
const module = parsed.module!;
const instance = {
  key: 'i2.db/render-demo',
  module: 'render-demo',
  params: { user: 'trainee', dir: '/srv/demo' },
  request: 0,
  selected: false,
};

describe('renderVulnerability', () => {
  it("fills every step with the parameters and the instance's flag, and derives the foothold's password", () => {
    expect(parsed.issues).toEqual([]);
    const flag = deriveFlag('sec', 'seed', 'i2.db/render-demo');
    const r = renderVulnerability(module, instance, ctx);
    expect(r).toEqual({
      key: 'i2.db/render-demo',
      module: 'render-demo',
      flag,
      packages: ['nginx'],
      users: [
        {
          name: 'trainee',
          password: derivePassword('sec', 'i2.db', 'trainee'),
          passwordSource: 'derived',
          shell: '/bin/bash',
          groups: ['adm'],
          foothold: true,
        },
      ],
      files: [
        { path: '/srv/demo/secret.txt', content: `${flag}\n`, mode: '0640', owner: 'trainee:trainee', append: false },
      ],
      applyScript:
        '# first-boot apply of vulnerability i2.db/render-demo (module render-demo)\nset -e\nchmod 0750 /srv/demo\n',
      afterBootScript: `# after-boot apply of vulnerability i2.db/render-demo (module render-demo)\nset -e\ntouch /srv/demo/ready\necho ${flag} > /root/late.txt\n`,
      revertScript: '# revert of vulnerability i2.db/render-demo (module render-demo)\nset -e\nrm -rf /srv/demo\n',
    });
  });

  it('refuses parameters that would put a file outside an absolute path', () => {
    expect(() =>
      renderVulnerability(module, { ...instance, params: { ...instance.params, dir: 'relative' } }, ctx),
    ).toThrow(AppError);
    expect(() => renderVulnerability(module, { ...instance, module: 'other' }, ctx)).toThrow(
      'the instance is of module "other"',
    );
  });
});

describe('verify probes', () => {
  const catalogue = defaultCatalogue();

  it('never put a flag into a script for the attacker machine, for any module on any OS', () => {
    for (const m of catalogue.modules.values()) {
      for (const os of supportedOs(m)) {
        // Windows modules go where they apply: a controller for the AD ones, a member for the rest.
        const domainRole = m.roles?.includes('dc') ? ('dc' as const) : ('member' as const);
        const [inst] = resolveVulnerabilities(
          [m.id],
          { key: 'i1.t', name: 't', os, domainRole },
          { seed: 's', catalogue },
        ).instances;
        const flag = deriveFlag('sec', 's', inst!.key);
        for (const p of renderProbes(m, inst!, {
          os,
          host: '10.0.0.5',
          secret: 'sec',
          seed: 's',
          machineKey: 'i1.t',
          domain: { name: 'corp.lab', netbios: 'CORP' },
        })) {
          expect(p.script, m.id).not.toContain(flag);
          expect(p.script, m.id).toContain("host='10.0.0.5'");
        }
      }
    }
  });

  it('pass an ssh password through the environment, never on a command line', () => {
    const [p] = renderProbes(module, instance, { ...ctx, host: '10.0.0.5' });
    const password = derivePassword('sec', 'i2.db', 'trainee');
    const lines = p!.script.split('\n');
    expect(lines.filter((l) => l.includes(password))).toEqual([`export SSHPASS='${password}'`]);
    expect(p!.script).toContain('sshpass -e ssh ');
    expect(p!.expect.contains).toBe(deriveFlag('sec', 'seed', 'i2.db/render-demo'));
  });

  it('are judged on the appliance with reasons that never show the flag', () => {
    const p: RenderedProbe = {
      kind: 'http',
      description: 'd',
      script: '',
      requires: ['curl'],
      timeoutSec: 30,
      expect: { exitCode: 0, contains: 'GD{secret}', matches: '^ok' },
    };
    expect(judgeProbe(p, { exitCode: 0, stdout: 'ok GD{secret}' })).toEqual({ ok: true });
    expect(judgeProbe(p, { exitCode: null, stdout: '' })).toEqual({ ok: false, reason: 'no answer within 30 s' });
    expect(judgeProbe(p, { exitCode: 127, stdout: '', stderr: 'bash: curl: command not found' }).reason).toBe(
      'a command was not found (bash: curl: command not found); the attacker machine needs curl',
    );
    expect(judgeProbe(p, { exitCode: 7, stdout: '', stderr: 'curl: (7) Failed to connect' }).reason).toBe(
      'exited 7, expected 0: curl: (7) Failed to connect',
    );
    const missing = judgeProbe(p, { exitCode: 0, stdout: 'ok, but not the flag' });
    expect(missing.ok).toBe(false);
    expect(missing.reason).not.toContain('GD{secret}');
    expect(judgeProbe(p, { exitCode: 0, stdout: 'no GD{secret}' }).reason).toBe('the output does not match /^ok/');
  });
});
