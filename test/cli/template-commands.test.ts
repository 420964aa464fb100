// `glassdome platforms templates` on this machine's data folder: the commands of each template build, the variables
// file written private and audited as the local user, never the platform's secret, and the refusals.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './run-cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-cli-tpl-'));
const root = path.resolve(new URL('../..', import.meta.url).pathname);
const secret = 'Pve-Cli-Secret-4d5e6f';
const saved = { ...process.env };
beforeAll(() => {
  process.env.GLASSDOME_DATA_DIR = dir;
  process.env.GLASSDOME_SIM_SPEED = '3000';
});
afterAll(() => {
  process.env = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('glassdome platforms templates', () => {
  it('is in the usage text', async () => {
    const r = await run('--help');
    expect(r.out).toContain('platforms templates NAME [TEMPLATE] [--vars-out FILE] [--json]');
  });

  it('prints every template build of a platform, then writes one variables file (0600) the commands read, audited', async () => {
    const config = path.join(dir, 'pve.yaml');
    fs.writeFileSync(
      config,
      [
        'url: https://pve.example.org:8006',
        'auth: { mode: password, username: builder@pve }',
        'tls: { caFile: /etc/ssl/pve-root-ca.pem }',
        'node: pve1',
        'isoStorage: isos',
        `secret: ${secret}`,
      ].join('\n'),
    );
    expect((await run('platforms', 'add', 'proxmox', '--name', 'pve', '--config', config)).code).toBe(0);

    const all = await run('platforms', 'templates', 'pve');
    expect(all.err).toBe('');
    expect(all.code).toBe(0);
    expect(all.out).toContain(`Packer template builds for proxmox platform pve; run from ${root}.`);
    for (const t of ['windows-server-2022', 'ubuntu-22.04', 'ubuntu-24.04'])
      expect(all.out).toContain(
        `SSL_CERT_FILE=/etc/ssl/pve-root-ca.pem packer build -only=proxmox-iso -var-file=packer/${t}/build/pve.${t}.vars.json packer/${t}/${t}.json`,
      );
    expect(all.out).toContain('xorriso -as mkisofs');
    expect(all.out).toContain('glassdome platforms templates pve ubuntu-22.04 --vars-out packer/ubuntu-22.04/build/');

    const file = path.join(dir, 'pve ubuntu.vars.json');
    const one = await run('platforms', 'templates', 'pve', 'ubuntu-22.04', '--vars-out', file);
    expect(one.code, one.err).toBe(0);
    expect(one.out).toContain(`wrote ${file} (mode 0600)`);
    expect(one.out).toContain(
      `packer validate -only=proxmox-iso -var-file='${file}' packer/ubuntu-22.04/ubuntu-22.04.json`,
    );
    expect(one.out).not.toContain('windows-server-2022 (');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      proxmox_url: 'https://pve.example.org:8006/api2/json',
      proxmox_username: 'builder@pve',
      proxmox_password: '',
      proxmox_node: 'pve1',
      proxmox_storage_pool: 'local-lvm',
      proxmox_bridge: 'vmbr0',
      proxmox_iso_file: 'isos:iso/ubuntu-22.04.5-live-server-amd64.iso',
    });
    const printed = await run('platforms', 'templates', 'pve', 'ubuntu-24.04', '--vars-out', '-');
    expect(JSON.parse(printed.out).proxmox_iso_file).toBe('isos:iso/ubuntu-24.04.2-live-server-amd64.iso');

    const db = new Database(path.join(dir, 'glassdome.db'));
    const audit = db.prepare('SELECT action, username, target, detail FROM audit_log ORDER BY id').all() as Array<{
      action: string;
      username: string;
      target: string;
      detail: string;
    }>;
    db.close();
    const downloads = audit.filter((a) => a.action === 'platform.template-vars');
    expect(downloads.map((a) => [a.target, a.detail])).toEqual([
      ['platform:pve', 'ubuntu-22.04 (proxmox-iso)'],
      ['platform:pve', 'ubuntu-24.04 (proxmox-iso)'],
    ]);
    expect(downloads.every((a) => a.username.startsWith('cli:'))).toBe(true);
    for (const text of [all.out, one.out, printed.out, fs.readFileSync(file, 'utf8'), JSON.stringify(audit)])
      expect(text).not.toContain(secret);
  });

  it('refuses the simulator, a missing name, --vars-out without a template, and unknown templates (exit 2)', async () => {
    const sim = await run('platforms', 'templates', 'simulator');
    expect(sim.code).toBe(2);
    expect(sim.err).toContain(
      'Platform "simulator" (simulator) builds no packer templates: they build on Proxmox VE and ESXi platforms only',
    );
    expect((await run('platforms', 'templates')).code).toBe(2);
    const noTemplate = await run('platforms', 'templates', 'pve', '--vars-out', path.join(dir, 'x.json'));
    expect(noTemplate.code).toBe(2);
    expect(noTemplate.err).toContain('--vars-out needs TEMPLATE');
    expect(fs.existsSync(path.join(dir, 'x.json'))).toBe(false);
    expect((await run('platforms', 'templates', 'pve', 'windows-11')).err).toContain(
      'Packer template "windows-11" does not exist',
    );
  });
});
