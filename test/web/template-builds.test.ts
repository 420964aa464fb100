// Template builds over the web, the API and the CLI against a running appliance: who may see them, the variables file
// download (audited, never a secret), the Templates page linked from the platform's settings, and the refusals.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../server/cli/commands.ts';
import { systemActor } from '../../server/model/audit.ts';
import { api, setUpAppliance, webTestApp, type TestApp } from './helpers.ts';

const secrets = { pve: 'pve-T0ken-Secret-web-91a', esxi: 'Esx1-P@ss-web-sealed' };

async function cli(args: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => (stdout += c));
  err.on('data', (c) => (stderr += c));
  const code = await main(args, out, err);
  return { code, stdout, stderr };
}

describe('template builds on the web, the API and the remote CLI', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let pve: { id: string };
  let esxi: { id: string };
  let server: http.Server;
  let url: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-tb-web-'));
  const seen: string[] = [];

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    pve = app.web.platforms.add(systemActor, {
      name: 'pve-lab',
      kind: 'proxmox',
      secret: secrets.pve,
      config: {
        url: 'https://pve.example.org:8006',
        auth: { mode: 'token', tokenId: 'glassdome@pve!lab' },
        tls: { insecure: true },
        node: 'pve1',
      },
    });
    esxi = app.web.platforms.add(systemActor, {
      name: 'esx01',
      kind: 'esxi',
      secret: secrets.esxi,
      config: { host: 'esxi01.lab.example', username: 'glassdome', tls: { insecure: true } },
    });
    server = http.createServer(getRequestListener(app.fetch));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists every template with its commands for admins and instructors; trainees and strangers are refused', async () => {
    for (const who of ['admin', 'instructor'] as const) {
      const r = await api(app, 'GET', `/api/v1/platforms/${pve.id}/template-builds`, ctx.tokens[who]);
      expect(r.status).toBe(200);
      seen.push(r.text);
      expect(r.body.platform).toEqual({ id: pve.id, name: 'pve-lab', kind: 'proxmox' });
      expect(r.body.builds.map((b: { template: string }) => b.template)).toEqual([
        'windows-server-2022',
        'ubuntu-22.04',
        'ubuntu-24.04',
      ]);
      const ubuntu = r.body.builds[1];
      expect(ubuntu.commands.at(-1).command).toBe(
        'packer build -only=proxmox-iso -var-file=packer/ubuntu-22.04/build/pve-lab.ubuntu-22.04.vars.json packer/ubuntu-22.04/ubuntu-22.04.json',
      );
      // The list gives commands, not the variables: those name the hosts and come from the audited download.
      expect(r.text).not.toContain('pve.example.org');
    }
    expect((await api(app, 'GET', `/api/v1/platforms/${pve.id}/template-builds`, ctx.tokens.trainee)).status).toBe(403);
    expect((await api(app, 'GET', `/api/v1/platforms/${pve.id}/template-builds`, undefined)).status).toBe(401);
    expect(
      (await api(app, 'GET', `/api/v1/platforms/${pve.id}/template-builds/ubuntu-22.04/vars.json`, ctx.tokens.trainee))
        .status,
    ).toBe(403);
  });

  it('filters by template and names a chosen variables file, shell-quoted; a path on two lines is refused', async () => {
    const q = new URLSearchParams({ template: 'ubuntu-24.04', varsFile: '/srv/my vars.json' });
    const r = await api(app, 'GET', `/api/v1/platforms/esx01/template-builds?${q}`, ctx.tokens.instructor);
    expect(r.status).toBe(200);
    expect(r.body.builds).toHaveLength(1);
    expect(r.body.builds[0].commands.map((c: { command: string }) => c.command)).toContain(
      "packer validate -only=vsphere-iso -var-file='/srv/my vars.json' packer/ubuntu-24.04/ubuntu-24.04.json",
    );
    const bad = new URLSearchParams({ varsFile: 'a\nrm -rf /' });
    expect((await api(app, 'GET', `/api/v1/platforms/esx01/template-builds?${bad}`, ctx.tokens.admin)).status).toBe(
      400,
    );
  });

  it('downloads the variables file as an attachment, passwords empty, and audits who did', async () => {
    const res = await app.request(`/api/v1/platforms/${esxi.id}/template-builds/windows-server-2022/vars.json`, {
      headers: { Authorization: `Bearer ${ctx.tokens.instructor}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Disposition')).toBe('attachment; filename="esx01.windows-server-2022.vars.json"');
    const text = await res.text();
    seen.push(text);
    expect(JSON.parse(text)).toEqual({
      esxi_host: 'esxi01.lab.example',
      esxi_username: 'glassdome',
      esxi_password: '',
      esxi_insecure: 'true',
      esxi_datastore: 'datastore1',
      esxi_network: 'VM Network',
      esxi_iso_path: '[datastore1] iso/SERVER_EVAL_x64FRE_en-us.iso',
    });
    const audit = await api(app, 'GET', '/api/v1/audit', ctx.tokens.admin);
    seen.push(audit.text);
    expect(audit.body.find((e: { action: string }) => e.action === 'platform.template-vars')).toMatchObject({
      username: 'teacher',
      target: 'platform:esx01',
      detail: 'windows-server-2022 (vsphere-iso)',
    });
  });

  it('refuses the simulator and unknown templates with a clear message', async () => {
    const sim = await api(app, 'GET', '/api/v1/platforms/simulator/template-builds', ctx.tokens.admin);
    expect(sim.status).toBe(400);
    expect(sim.body.error.message).toBe(
      'Platform "simulator" (simulator) builds no packer templates: they build on Proxmox VE and ESXi platforms only',
    );
    const simVars = await api(
      app,
      'GET',
      '/api/v1/platforms/simulator/template-builds/ubuntu-22.04/vars.json',
      ctx.tokens.admin,
    );
    expect(simVars.status).toBe(400);
    const unknown = await api(
      app,
      'GET',
      `/api/v1/platforms/${pve.id}/template-builds/windows-11/vars.json`,
      ctx.tokens.admin,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('Packer template "windows-11" does not exist');
    expect(
      app.web.audit.list(10_000).filter((e) => e.action === 'platform.template-vars' && e.target !== 'platform:esx01'),
    ).toEqual([]);
  });

  it('shows a Templates page, linked from the platform settings, with the commands in blocks and the download link', async () => {
    const edit = await ctx.clients.admin.get(`/settings/platforms/${pve.id}`);
    expect(edit.text).toContain(`href="/settings/platforms/${pve.id}/templates"`);
    expect((await ctx.clients.admin.get('/settings/platforms/simulator')).text).not.toContain('/templates"');
    const page = await ctx.clients.admin.get(`/settings/platforms/${pve.id}/templates`);
    expect(page.status).toBe(200);
    seen.push(page.text, edit.text);
    expect(page.text).toContain(
      '<pre class="command">packer build -only=proxmox-iso -var-file=packer/windows-server-2022/build/pve-lab.windows-server-2022.vars.json packer/windows-server-2022/windows-server-2022.json</pre>',
    );
    expect(page.text).toMatch(/<pre class="command">xorriso -as mkisofs /);
    expect(page.text).toContain(
      `href="/api/v1/platforms/${pve.id}/template-builds/ubuntu-24.04/vars.json" download="pve-lab.ubuntu-24.04.vars.json"`,
    );
    expect(page.text).toContain('API tokens came with packer 1.7.1');
    expect(page.text).not.toMatch(/<script(?![^>]*src=)/);
    // The page's link works with the browser session.
    const link = await ctx.clients.admin.get(`/api/v1/platforms/${pve.id}/template-builds/ubuntu-24.04/vars.json`);
    expect(link.status).toBe(200);
    expect(JSON.parse(link.text).proxmox_url).toBe('https://pve.example.org:8006/api2/json');
    expect((await ctx.clients.instructor.get(`/settings/platforms/${pve.id}/templates`)).status).toBe(403);
    expect((await ctx.clients.admin.get('/settings/platforms/simulator/templates')).status).toBe(400);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await api(app, 'GET', '/api/v1/openapi.json', undefined)).body;
    expect(doc.paths['/api/v1/platforms/{id}/template-builds'].get['x-roles']).toEqual(['admin', 'instructor']);
    expect(
      Object.keys(
        doc.paths['/api/v1/platforms/{id}/template-builds/{template}/vars.json'].get.responses['200'].content,
      ),
    ).toEqual(['application/json']);
  });

  it('the CLI does the same on the appliance: commands, the variables file written 0600, the download audited', async () => {
    const file = path.join(dir, 'pve.vars.json');
    const r = await cli([
      'platforms',
      'templates',
      'pve-lab',
      'ubuntu-22.04',
      '--vars-out',
      file,
      '--server',
      url,
      '--token',
      ctx.tokens.instructor,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    seen.push(r.stdout, fs.readFileSync(file, 'utf8'));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({
      proxmox_url: 'https://pve.example.org:8006/api2/json',
      proxmox_username: 'glassdome@pve',
      proxmox_password: '',
      proxmox_insecure: 'true',
    });
    expect(r.stdout).toContain(
      `packer build -only=proxmox-iso -var-file=${file} packer/ubuntu-22.04/ubuntu-22.04.json`,
    );
    expect(r.stdout).toContain('fill in proxmox_password there');
    const entries = app.web.audit.list(10_000).filter((e) => e.action === 'platform.template-vars');
    expect(entries[0]).toMatchObject({
      username: 'teacher',
      target: 'platform:pve-lab',
      detail: 'ubuntu-22.04 (proxmox-iso)',
    });

    const printed = await cli([
      'platforms',
      'templates',
      'esx01',
      'ubuntu-24.04',
      '--vars-out',
      '-',
      '--server',
      url,
      '--token',
      ctx.tokens.admin,
    ]);
    expect(JSON.parse(printed.stdout).esxi_iso_path).toBe('[datastore1] iso/ubuntu-24.04.2-live-server-amd64.iso');
    seen.push(printed.stdout);

    const listed = await cli([
      'platforms',
      'templates',
      'esx01',
      '--server',
      url,
      '--token',
      ctx.tokens.admin,
      '--json',
    ]);
    expect(JSON.parse(listed.stdout).builds).toHaveLength(3);
    const refused = await cli(['platforms', 'templates', 'esx01', '--server', url, '--token', ctx.tokens.trainee]);
    expect(refused.code).toBe(1);
    const sim = await cli(['platforms', 'templates', 'simulator', '--server', url, '--token', ctx.tokens.admin]);
    expect(sim.code).toBe(2);
    expect(sim.stderr).toContain('"simulator" (simulator) builds no packer templates');
  });

  it('never shows a stored secret in any of it', () => {
    expect(seen.length).toBeGreaterThan(8);
    for (const text of seen) for (const s of Object.values(secrets)) expect(text).not.toContain(s);
    for (const s of Object.values(secrets)) expect(JSON.stringify(app.web.audit.list(10_000))).not.toContain(s);
  });
});
