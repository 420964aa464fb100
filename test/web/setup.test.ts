// The first-boot wizard: everything leads to it, only the setup code opens it, and it is gone afterwards.
import { describe, expect, it } from 'vitest';
import { Client, password, webTestApp } from './helpers.ts';
import { systemActor } from '../../server/model/audit.ts';

describe('first-boot setup', () => {
  it('leads every page to the wizard, refuses a wrong code, and walks admin -> platform -> pools -> done', async () => {
    const { app } = webTestApp();
    const code = app.web.setup.issueCode();
    const c = new Client(app);

    expect((await c.get('/')).location).toBe('/setup');
    expect((await c.get('/scenarios')).location).toBe('/setup');
    const apiBefore = await app.request('/api/v1/deployments');
    expect(apiBefore.status).toBe(409);

    const page = await c.get('/setup');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Setup code');

    // Field errors beside their fields; the typed username is kept, passwords and the code are not.
    const bad = await c.post('/setup', { code, username: 'A d', password: 'short', confirm: 'other' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('lowercase letters');
    expect(bad.text).toContain('at least 10 characters');
    expect(bad.text).toContain('value="A d"');
    expect(bad.text).not.toContain(code);

    const wrong = await c.post('/setup', { code: 'AAAA-BBBB-CCCC', username: 'admin', password, confirm: password });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('not the setup code');
    expect(app.web.users.count()).toBe(0);

    const ok = await c.post('/setup', { code: code.toLowerCase(), username: 'admin', password, confirm: password });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/setup/platform');
    // The code is used up.
    expect(app.web.setup.checkCode(systemActor, code)).toBe(false);

    const platform = await c.get('/setup/platform');
    expect(platform.text).toContain('Simulator (built in)');
    expect(platform.text).toMatch(/value="simulator"[^>]*checked/);
    // The Proxmox and ESXi forms suggest nodes, storages and networks from what Test connection finds.
    expect((await c.get('/setup/platform?kind=proxmox')).text).toMatch(
      /name="config\.storage"[^>]*list="choices-storages"/,
    );
    const esxi = (await c.get('/setup/platform?kind=esxi')).text;
    expect(esxi).toMatch(/name="config\.datastore"[^>]*list="choices-storages"/);
    expect(esxi).toMatch(/name="config\.vswitch"[^>]*list="choices-networks"/);

    const test = await c.post(
      '/setup/platform/test',
      { kind: 'simulator', name: 'simulator', 'config.speed': '500' },
      { headers: { 'HX-Request': 'true' } },
    );
    expect(test.status).toBe(200);
    expect(test.text).toContain('Connected');
    // What the platform offers comes back as datalists the form's storage and network fields suggest from.
    expect(test.text).toContain('<datalist id="choices-storages"><option value="local-lvm"></option></datalist>');
    expect(test.text).toContain('<datalist id="choices-networks"><option value="vmbr0"></option></datalist>');

    const badTest = await c.post('/setup/platform/test', {
      kind: 'simulator',
      name: 'simulator',
      'config.speed': '-1',
    });
    expect(badTest.text).toContain('Connection failed');
    expect(badTest.text).toContain('speed');

    const badSave = await c.post('/setup/platform', { kind: 'simulator', name: 'simulator', 'config.speed': 'fast' });
    expect(badSave.status).toBe(422);
    expect(badSave.text).toContain('expected a number');
    expect(badSave.text).toContain('value="fast"');

    const saved = await c.post('/setup/platform', { kind: 'simulator', name: 'simulator', 'config.speed': '500' });
    expect(saved.location).toBe('/setup/pools');
    expect(app.web.platforms.get('simulator').config.speed).toBe(500);

    const badPool = await c.post('/setup/pools/cidr', { cidr: '10.0.0.0/33', subnetPrefix: '24' });
    expect(badPool.status).toBe(422);
    expect(badPool.text).toContain('value="10.0.0.0/33"');
    expect((await c.post('/setup/pools/cidr', { cidr: '172.20.0.0/16', subnetPrefix: '24' })).status).toBe(303);
    expect(app.web.ipam.listPools().cidr.map((p) => p.cidr)).toContain('172.20.0.0/16');
    expect((await c.post('/setup/pools/vlan', { first: '3000', last: '2000' })).text).toContain('must not be below');

    expect((await c.post('/setup/pools/done')).location).toBe('/setup/done');
    const done = await c.get('/setup/done');
    expect(done.text).toContain('web-dmz');
    const finished = await c.post('/setup/finish');
    expect(finished.location).toBe('/');

    const dash = await c.get('/');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('Dashboard');
    expect((await c.get('/setup')).status).toBe(404);
    expect((await c.post('/setup', { code, username: 'eve', password, confirm: password })).status).toBe(404);
    expect(app.web.library.list().length).toBeGreaterThanOrEqual(3);
    expect(app.web.audit.list().map((e) => e.action)).toEqual(
      expect.arrayContaining(['user.create', 'platform.update', 'pool.create', 'setup.complete']),
    );
  });
});
