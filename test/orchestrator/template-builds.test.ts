// Packer template builds for a platform: the variables file filled from its settings (never its secret), the
// commands in order naming files that exist (and that the production build ships), refusals for platforms that build
// no templates, the audit of variables downloads, and, where packer is installed, the printed commands run for real
// (the answer-file CD made with xorriso, `packer validate` on Debian's packer 1.6.6) with the passwords filled in.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assetFiles } from '../../appliance/dist.ts';
import { AppError } from '../../server/errors.ts';
import { systemActor, type Actor } from '../../server/model/audit.ts';
import {
  appInstallDir,
  createTemplateBuilds,
  packerTemplateNames,
  planTemplateBuild,
  readPackerTemplate,
  shellWord,
  type PackerTemplateName,
} from '../../server/orchestrator/template-builds.ts';
import type { PlatformRecord } from '../../server/platforms/store.ts';
import { testServices } from './helpers.ts';

const root = path.resolve(new URL('../..', import.meta.url).pathname);
const secrets = { pve: 'pve-T0ken-Secret-0f1e2d3c', pvePassword: 'Pve-Passw0rd!sealed', esxi: 'Esx1-P@ss-sealed-77' };
const fingerprint = 'AB:'.repeat(31) + 'AB';

const services = testServices();
afterAll(() => services.close());
const pveToken = services.platforms.add(systemActor, {
  name: 'pve-lab',
  kind: 'proxmox',
  secret: secrets.pve,
  config: {
    url: 'https://pve.example.org:8006/',
    auth: { mode: 'token', tokenId: 'glassdome@pve!lab' },
    tls: { fingerprint },
    node: 'pve1',
    storage: 'fast-zfs',
    uplink: { bridge: 'vmbr1', vlan: 20 },
    isoStorage: 'isos',
    templates: { 'ubuntu-22.04': 9000 },
  },
});
const pvePassword = services.platforms.add(systemActor, {
  name: 'pve-pw',
  kind: 'proxmox',
  secret: secrets.pvePassword,
  config: {
    url: 'https://10.0.0.5:8006',
    auth: { mode: 'password', username: 'builder@pam' },
    tls: { insecure: true },
    node: 'node-a',
  },
});
const esxi = services.platforms.add(systemActor, {
  name: 'esx01',
  kind: 'esxi',
  secret: secrets.esxi,
  config: { host: 'esxi01.lab.example', username: 'glassdome', tls: { fingerprint }, datastore: 'ssd1' },
});
const esxiCa = services.platforms.add(systemActor, {
  name: 'esx-ca',
  kind: 'esxi',
  secret: secrets.esxi,
  config: { host: 'esxi02.lab.example', username: 'root', tls: { caFile: '/etc/glassdome/lab ca.pem' } },
});
const builds = services.templateBuilds;
const onPlatforms = [pveToken, pvePassword, esxi, esxiCa];

const varsOf = (p: PlatformRecord, t: string) =>
  JSON.parse(builds.variablesFile(systemActor, p.name, t).text) as Record<string, string>;

/** The repository paths a command reads (its packer/... words), without the outputs under build/. */
const inputsOf = (command: string) =>
  [...command.matchAll(/(?:^|[\s=])(packer\/[^\s=]+)/g)].map((m) => m[1]!).filter((p) => !/\/build(\/|$)/.test(p));

describe('the variables file', () => {
  it("fills a Proxmox token platform's file from its settings: API URL, the token's user, node, storage, uplink bridge and VLAN, ISO storage", () => {
    expect(varsOf(pveToken, 'ubuntu-22.04')).toEqual({
      proxmox_url: 'https://pve.example.org:8006/api2/json',
      proxmox_username: 'glassdome@pve',
      proxmox_password: '',
      proxmox_node: 'pve1',
      proxmox_storage_pool: 'fast-zfs',
      proxmox_bridge: 'vmbr1',
      proxmox_vlan_tag: '20',
      proxmox_iso_file: 'isos:iso/ubuntu-22.04.5-live-server-amd64.iso',
    });
    expect(varsOf(pveToken, 'windows-server-2022')).toMatchObject({
      proxmox_iso_file: 'isos:iso/SERVER_EVAL_x64FRE_en-us.iso',
      proxmox_virtio_iso_file: 'isos:iso/virtio-win.iso',
      proxmox_iso_storage_pool: 'isos',
    });
  });

  it('sets *_insecure only when the platform itself skips verification', () => {
    const pw = varsOf(pvePassword, 'ubuntu-24.04');
    expect(pw).toEqual({
      proxmox_url: 'https://10.0.0.5:8006/api2/json',
      proxmox_username: 'builder@pam',
      proxmox_password: '',
      proxmox_insecure: 'true',
      proxmox_node: 'node-a',
      proxmox_storage_pool: 'local-lvm',
      proxmox_bridge: 'vmbr0',
      proxmox_iso_file: 'local:iso/ubuntu-24.04.2-live-server-amd64.iso',
    });
    expect(varsOf(pveToken, 'ubuntu-24.04')).not.toHaveProperty('proxmox_insecure');
    expect(varsOf(esxi, 'ubuntu-24.04')).not.toHaveProperty('esxi_insecure');
  });

  it("fills an ESXi platform's file: host, user, datastore, the uplink port group, the ISO on its datastore", () => {
    expect(varsOf(esxi, 'windows-server-2022')).toEqual({
      esxi_host: 'esxi01.lab.example',
      esxi_username: 'glassdome',
      esxi_password: '',
      esxi_datastore: 'ssd1',
      esxi_network: 'VM Network',
      esxi_iso_path: '[ssd1] iso/SERVER_EVAL_x64FRE_en-us.iso',
    });
  });

  it('only sets variables the template declares, for every platform and template', () => {
    for (const p of onPlatforms)
      for (const t of packerTemplateNames) {
        const declared = readPackerTemplate(root, t).variables;
        for (const k of Object.keys(varsOf(p, t))) expect(declared, `${p.name} ${t}`).toHaveProperty(k);
      }
  });

  it('never holds, prints or audits a stored secret; the password fields are empty and named as to fill in', () => {
    const out: string[] = [];
    for (const p of onPlatforms) {
      out.push(JSON.stringify(builds.list(p.name)));
      for (const t of packerTemplateNames) {
        const file = builds.variablesFile(systemActor, p.name, t);
        out.push(file.text, JSON.stringify(file.build));
        const passwordVar = p.kind === 'proxmox' ? 'proxmox_password' : 'esxi_password';
        expect(JSON.parse(file.text)[passwordVar]).toBe('');
        expect(file.build.toFill.map((f) => f.variable)).toEqual([passwordVar]);
      }
    }
    out.push(JSON.stringify(services.audit.list(10_000)));
    for (const text of out) for (const s of Object.values(secrets)) expect(text).not.toContain(s);
  });

  it('says which credential the build needs: packer 1.6.6 cannot use the Proxmox API token', () => {
    const [b] = builds.list('pve-lab', { template: 'ubuntu-22.04' }).builds;
    expect(b!.credential).toContain('glassdome@pve');
    expect(b!.credential).toContain('API tokens came with packer 1.7.1');
    expect(b!.credential).toContain('pveum passwd glassdome@pve');
    const [pw] = builds.list('pve-pw', { template: 'ubuntu-22.04' }).builds;
    expect(pw!.credential).toContain('"builder@pam" and its password');
    expect(pw!.credential).not.toContain('token');
  });
});

describe('the commands', () => {
  it('go in order, from the install folder: the answer-file CD for Windows on Proxmox only, validate, then build', () => {
    for (const p of onPlatforms)
      for (const t of packerTemplateNames) {
        const b = planTemplateBuild(p, t, { installDir: root });
        const cmds = b.commands.map((c) => c.command);
        const builder = p.kind === 'proxmox' ? 'proxmox-iso' : 'vsphere-iso';
        const tail = [
          `packer validate -only=${builder} -var-file=${b.varsFile} packer/${t}/${t}.json`,
          expect.stringMatching(
            new RegExp(`packer build -only=${builder} -var-file=${b.varsFile} packer/${t}/${t}\\.json$`),
          ),
        ];
        if (p.kind === 'proxmox' && t === 'windows-server-2022')
          expect(cmds).toEqual([
            `cd ${root}`,
            'mkdir -p packer/windows-server-2022/build',
            expect.stringMatching(/^xorriso -as mkisofs .* -o packer\/windows-server-2022\/build\/autounattend\.iso /),
            ...tail,
          ]);
        else expect(cmds).toEqual([`cd ${root}`, ...tail]);
        expect(b.varsFile).toBe(`packer/${t}/build/${p.name}.${t}.vars.json`);
      }
  });

  it('name files that exist in the install folder and that the production build ships', () => {
    const shipped = new Set(assetFiles(root));
    let checked = 0;
    for (const p of onPlatforms)
      for (const t of packerTemplateNames)
        for (const c of planTemplateBuild(p, t, { installDir: root }).commands)
          for (const file of inputsOf(c.command)) {
            expect(fs.statSync(path.join(root, file)).isFile(), file).toBe(true);
            expect(shipped.has(file), `${file} is in the production build`).toBe(true);
            checked++;
          }
    expect(checked).toBeGreaterThanOrEqual(4 * 3 + 2 * 2);
    expect(appInstallDir).toBe(root);
  });

  it('pass a CA file the platform trusts to packer, shell-quoted, and name a chosen variables file', () => {
    const b = planTemplateBuild(esxiCa, 'ubuntu-22.04', {
      installDir: root,
      varsFile: '/home/a b/x.json',
    });
    expect(b.commands.at(-1)!.command).toBe(
      "SSL_CERT_FILE='/etc/glassdome/lab ca.pem' packer build -only=vsphere-iso -var-file='/home/a b/x.json' packer/ubuntu-22.04/ubuntu-22.04.json",
    );
    expect(b.commands[0]!.command).toBe(`cd ${shellWord(root)}`);
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });

  it('say what to upload first, and check the ESXi Windows drivers folder', () => {
    const win = planTemplateBuild(pveToken, 'windows-server-2022', { installDir: root });
    expect(win.uploads.map((u) => u.where)).toEqual([
      'isos:iso/SERVER_EVAL_x64FRE_en-us.iso',
      'isos:iso/virtio-win.iso',
    ]);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-tb-drivers-'));
    fs.cpSync(path.join(root, 'packer', 'windows-server-2022'), path.join(tmp, 'packer', 'windows-server-2022'), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}build`),
    });
    const drivers = () =>
      planTemplateBuild(esxi, 'windows-server-2022', { installDir: tmp }).uploads.find((u) =>
        u.where.endsWith('vsphere/drivers/'),
      )!;
    fs.rmSync(path.join(tmp, 'packer/windows-server-2022/vsphere/drivers'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'packer/windows-server-2022/vsphere/drivers'));
    fs.writeFileSync(path.join(tmp, 'packer/windows-server-2022/vsphere/drivers/README.md'), 'x');
    expect(drivers().ready).toBe(false);
    fs.mkdirSync(path.join(tmp, 'packer/windows-server-2022/vsphere/drivers/pvscsi'));
    expect(drivers()).toMatchObject({ ready: true, what: expect.stringContaining('found pvscsi') });
    const ubuntu = planTemplateBuild(esxi, 'ubuntu-24.04', { installDir: root });
    expect(ubuntu.uploads).toEqual([
      expect.objectContaining({ where: '[ssd1] iso/ubuntu-24.04.2-live-server-amd64.iso', variable: 'esxi_iso_path' }),
    ]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('tell how to map the result, and what the platform maps today', () => {
    expect(planTemplateBuild(pveToken, 'ubuntu-22.04', { installDir: root }).after).toContain(
      'today "ubuntu-22.04" is mapped to VMID 9000',
    );
    expect(planTemplateBuild(esxi, 'ubuntu-22.04', { installDir: root }).after).toContain(
      '{"ubuntu-22.04": "ubuntu-22.04-glassdome"}',
    );
  });
});

describe('refusals', () => {
  const record = (kind: PlatformRecord['kind']): PlatformRecord => ({
    id: `p-${kind}`,
    name: `lab-${kind}`,
    kind,
    config: {},
    hasSecret: true,
  });

  it('refuses the simulator, AWS and Azure with a message naming the platform, and an unknown template', () => {
    for (const kind of ['simulator', 'aws', 'azure'] as const) {
      let err: unknown;
      try {
        planTemplateBuild(record(kind), 'ubuntu-22.04', { installDir: root });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('invalid_input');
      expect((err as AppError).message).toBe(
        `Platform "lab-${kind}" (${kind}) builds no packer templates: they build on Proxmox VE and ESXi platforms only`,
      );
      expect((err as AppError).hint).toBeTruthy();
    }
    expect(() => builds.list('simulator')).toThrow(/"simulator" \(simulator\) builds no packer templates/);
    expect(() => builds.variablesFile(systemActor, 'simulator', 'ubuntu-22.04')).toThrow(AppError);
    expect(() => builds.list('pve-lab', { template: 'windows-11' })).toThrow(
      /Packer template "windows-11" does not exist/,
    );
  });
});

describe('the audit log', () => {
  it('records each variables file handed out (it names hosts), by whom; listing the commands is not recorded', () => {
    const actor: Actor = { userId: null, username: 'auditor-check', ip: '192.0.2.7' };
    const mine = () => services.audit.list(10_000).filter((e) => e.username === 'auditor-check');
    builds.list('esx01');
    expect(mine()).toEqual([]);
    builds.variablesFile(actor, 'esx01', 'ubuntu-24.04');
    expect(mine()).toEqual([
      expect.objectContaining({
        action: 'platform.template-vars',
        target: 'platform:esx01',
        detail: 'ubuntu-24.04 (vsphere-iso)',
        ip: '192.0.2.7',
      }),
    ]);
  });

  it('a separate install folder is honoured (the appliance: /opt/glassdome/app)', () => {
    const other = createTemplateBuilds({ platforms: services.platforms, audit: services.audit, installDir: root });
    expect(other.list('esx01').installDir).toBe(root);
  });
});

// ------------------------------------------------------------------------------------------- the commands, run
const version = spawnSync('packer', ['version'], { encoding: 'utf8' });
const packerMissing = version.error
  ? 'packer is not installed (apt-get install packer)'
  : version.status !== 0
    ? `packer cannot run: ${version.stderr.trim()}`
    : undefined;
const xorrisoMissing = spawnSync('xorriso', ['-version']).error ? 'xorriso is not installed' : undefined;
const skip = packerMissing ?? xorrisoMissing;
if (skip) console.warn(`[skip] running the printed template build commands: ${skip}`);

describe.skipIf(skip !== undefined)(`the printed commands, run (${version.stdout?.trim() ?? 'packer'})`, () => {
  // A copy of the install's packer/ folder, so the answer-file CD is written there and not into the checkout.
  const install = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-tb-install-'));
  for (const t of packerTemplateNames)
    fs.cpSync(path.join(root, 'packer', t), path.join(install, 'packer', t), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}build`),
    });
  const copy = createTemplateBuilds({ platforms: services.platforms, audit: services.audit, installDir: install });
  afterAll(() => fs.rmSync(install, { recursive: true, force: true }));

  /** Every command but `packer build`, in one shell, from elsewhere (the first command changes directory). */
  const runUpToBuild = (p: PlatformRecord, t: PackerTemplateName, fill: boolean) => {
    const { text, build } = copy.variablesFile(systemActor, p.name, t);
    const vars = JSON.parse(text) as Record<string, string>;
    if (fill) for (const f of build.toFill) vars[f.variable] = 'dummy-password-for-validate';
    const file = path.join(install, build.varsFile);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(vars));
    const script = build.commands
      .map((c) => c.command)
      .filter((c) => !/(^| )packer build /.test(c))
      .join('\n');
    const r = spawnSync('sh', ['-e', '-c', script], { encoding: 'utf8', cwd: os.tmpdir(), timeout: 60_000 });
    return { ...r, output: `${r.stdout}${r.stderr}`, build };
  };

  for (const p of [pveToken, esxi])
    for (const t of packerTemplateNames)
      it(`${t} on ${p.kind}: the CD step and packer validate pass once the password is filled in`, () => {
        const r = runUpToBuild(p, t, true);
        expect(r.output).not.toMatch(/Error/);
        expect(r.status).toBe(0);
        if (p.kind === 'proxmox' && t === 'windows-server-2022') {
          const listing = spawnSync(
            'xorriso',
            ['-indev', path.join(install, 'packer', t, 'build', 'autounattend.iso'), '-find', '/', '-type', 'f'],
            { encoding: 'utf8' },
          ).stdout;
          expect(listing).toContain('/Autounattend.xml');
          expect(listing).toContain('/enable-winrm.ps1');
        }
      });

  it('packer validate fails while the password is still to fill in (the check can fail)', () => {
    for (const p of [pveToken, esxi]) {
      const r = runUpToBuild(p, 'ubuntu-22.04', false);
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/password/);
    }
  });
});
