// The packer templates: `packer validate` on each (Debian's packer 1.6.6 in CI), the answer files and autoinstall
// data they ship checked against the generators and passwords they must agree with, and the README's commands
// checked against the templates' files and builders.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hashPassword } from '../../server/agents/credentials.ts';
import { buildAnswerFiles } from '../../packer/windows-server-2022/make-autounattend.ts';
import { readPowerShell } from '../agents/windows/powershell-structure.ts';
import { all, checkUnattendShape, parseXml, text } from '../agents/windows/xml.ts';

const root = path.resolve(new URL('../../packer', import.meta.url).pathname);
const templates = [
  { dir: 'windows-server-2022', file: 'windows-server-2022.json' },
  { dir: 'ubuntu-22.04', file: 'ubuntu-22.04.json' },
  { dir: 'ubuntu-24.04', file: 'ubuntu-24.04.json' },
];

const version = spawnSync('packer', ['version'], { encoding: 'utf8' });
const packerMissing = version.error
  ? 'packer is not installed (apt-get install packer)'
  : version.status !== 0
    ? `packer cannot run: ${version.stderr.trim()}`
    : undefined;
if (packerMissing) console.warn(`[skip] packer validate: ${packerMissing}`);

interface Template {
  variables: Record<string, string>;
  builders: Array<{ type: string }>;
  provisioners: Array<{ only?: string[] }>;
}
const load = (t: (typeof templates)[number]) =>
  JSON.parse(readFileSync(path.join(root, t.dir, t.file), 'utf8')) as Template;

describe.skipIf(packerMissing !== undefined)(`packer validate (${version.stdout?.trim() ?? 'packer'})`, () => {
  for (const t of templates) {
    it(`accepts ${t.dir}/${t.file} with both builders, from any working directory`, () => {
      const r = spawnSync(
        'packer',
        ['validate', `-var-file=${path.join(root, t.dir, 'example.vars.json')}`, path.join(root, t.dir, t.file)],
        { encoding: 'utf8', cwd: tmpdir() },
      );
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/Error/);
      expect(r.status).toBe(0);
    });
  }

  it('fails a template whose platform settings are missing (the check can fail)', () => {
    const vars = path.join(mkdtempSync(path.join(tmpdir(), 'gd-packer-')), 'empty.json');
    writeFileSync(vars, '{}');
    const r = spawnSync(
      'packer',
      ['validate', `-var-file=${vars}`, path.join(root, 'ubuntu-22.04', 'ubuntu-22.04.json')],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/proxmox_url|vcenter_server|host/i);
  });
});

describe('what the templates ship', () => {
  it('every template has the proxmox-iso and vsphere-iso builders, and per-builder provisioners name only those', () => {
    for (const t of templates) {
      const tpl = load(t);
      expect(tpl.builders.map((b) => b.type)).toEqual(['proxmox-iso', 'vsphere-iso']);
      for (const p of tpl.provisioners)
        for (const o of p.only ?? []) expect(['proxmox-iso', 'vsphere-iso']).toContain(o);
    }
  });

  it("the Windows answer files are the generator's output, with the build password encoded", () => {
    const tpl = load(templates[0]!);
    const generated = buildAnswerFiles(tpl.variables.build_password);
    for (const hv of ['proxmox', 'vsphere'] as const) {
      const xml = readFileSync(path.join(root, 'windows-server-2022', hv, 'Autounattend.xml'), 'utf8');
      expect(xml).toBe(generated[hv]);
      const doc = parseXml(xml);
      expect(checkUnattendShape(doc)).toEqual(['windowsPE', 'specialize', 'oobeSystem']);
      for (const p of [...all(doc, 'AdministratorPassword'), ...all(doc, 'Password')]) {
        expect(Buffer.from(text(p, 'Value'), 'base64').toString('utf16le')).toBe(
          `${tpl.variables.build_password}${p.localName}`,
        );
      }
      expect(xml).not.toContain(tpl.variables.build_password!);
    }
    expect(readFileSync(path.join(root, 'windows-server-2022', 'proxmox', 'Autounattend.xml'), 'utf8')).toContain(
      'vioscsi\\2k22\\amd64',
    );
  });

  it('the Ubuntu autoinstall user has the build password as its crypt hash, and the agents follow the builder', () => {
    for (const t of templates.slice(1)) {
      const tpl = load(t);
      const data = parse(readFileSync(path.join(root, t.dir, 'http', 'user-data'), 'utf8')) as {
        autoinstall: { identity: { username: string; password: string }; packages: string[] };
      };
      const hash = data.autoinstall.identity.password;
      const salt = hash.split('$')[2]!;
      expect(hashPassword(tpl.variables.build_password!, salt)).toBe(hash);
      expect(data.autoinstall.packages).toEqual(expect.arrayContaining(['cloud-init', 'nftables', 'dnsmasq']));
      const text = JSON.stringify(tpl.provisioners);
      expect(text).toContain('GD_GUEST_AGENT=qemu-guest-agent');
      expect(text).toContain('GD_GUEST_AGENT=open-vm-tools');
      expect(spawnSync('sh', ['-n', path.join(root, t.dir, 'scripts', 'template.sh')]).status).toBe(0);
    }
  });

  it('the Windows build scripts are structurally sound PowerShell, and the sysprep gate demands GeneralizationState 7', () => {
    const dir = path.join(root, 'windows-server-2022', 'scripts');
    for (const f of readdirSync(dir))
      expect({ f, problems: readPowerShell(readFileSync(path.join(dir, f), 'utf8')).problems }).toEqual({
        f,
        problems: [],
      });
    const sysprep = readFileSync(path.join(dir, 'sysprep.ps1'), 'utf8');
    expect(sysprep).toContain('HKLM:\\SYSTEM\\Setup\\Status\\SysprepStatus');
    expect(sysprep).toMatch(/if \(\$state -ne 7\) \{[\s\S]*throw/);
    expect(readFileSync(path.join(dir, 'remove-appx.ps1'), 'utf8')).toContain('Remove-AppxProvisionedPackage');
  });
});

describe('packer/README-windows.md', () => {
  const readme = readFileSync(path.join(root, 'README-windows.md'), 'utf8');
  const builds = [...readme.matchAll(/^packer build (.+)$/gm)].map((m) => m[1]!);

  it('prints a build command for every template and builder, each naming files that exist', () => {
    const seen = new Set<string>();
    for (const cmd of builds) {
      const only = /-only=(\S+)/.exec(cmd)?.[1];
      const file = cmd.split(' ').at(-1)!;
      expect(readFileSync(path.resolve(root, '..', file), 'utf8').length).toBeGreaterThan(0);
      seen.add(`${file}#${only}`);
    }
    for (const t of templates)
      for (const b of ['proxmox-iso', 'vsphere-iso']) expect(seen).toContain(`packer/${t.dir}/${t.file}#${b}`);
  });

  const xorriso = spawnSync('xorriso', ['-version'], { encoding: 'utf8' });
  it.skipIf(xorriso.error !== undefined)(
    'its ISO command puts the Proxmox answer file and WinRM script at the root of a CD',
    () => {
      const cmd = /^(xorriso -as mkisofs .+)$/m.exec(readme)?.[1];
      expect(cmd).toBeDefined();
      const out = mkdtempSync(path.join(tmpdir(), 'gd-iso-'));
      const args = cmd!
        .split(' ')
        .slice(1)
        .map((a) => a.replace('packer/windows-server-2022/build/autounattend.iso', path.join(out, 'a.iso')));
      execFileSync('xorriso', args, { cwd: path.resolve(root, '..'), stdio: 'pipe' });
      const listing = execFileSync('xorriso', ['-indev', path.join(out, 'a.iso'), '-find', '/', '-type', 'f'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      expect(
        listing
          .split('\n')
          .filter(Boolean)
          .map((l) => l.replace(/'/g, ''))
          .sort(),
      ).toEqual(['/Autounattend.xml', '/enable-winrm.ps1']);
    },
  );
});
