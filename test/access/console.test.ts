// Browser consoles end to end on Proxmox: the appliance on a real port, a WebSocket client speaking RFB as noVNC does,
// and the Proxmox test server behind it (vncproxy, vncwebsocket, RFB 3.8 with VNC authentication). The browser only
// ever speaks to the appliance, with security type None; the session ends on a role change and on destroy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import { createServices } from '../../server/services.ts';
import { driverConfig, mirrorSnippets, server as pveServer } from '../platforms/proxmox-harness.ts';
import { schemaMissingReason, type ProxmoxServer } from '../platforms/proxmox-server/index.ts';
import { setUpAppliance } from '../web/helpers.ts';
import { link, openSocket, serve, type OpenedSocket } from './helpers.ts';

const missing = schemaMissingReason('9.1');
if (missing) console.warn(`[skip] console tests: ${missing}`);

const scenario = `
glassdome: 1
name: console-lab
title: Console lab
networks:
  - { name: lan, cidr: 10.50.1.0/24 }
machines:
  - name: web
    networks: [lan]
`;

const u16 = (n: number) => [n >> 8, n & 0xff];

/** The browser side of RFB as noVNC speaks it to the appliance, through ServerInit and one full frame. */
async function rfbAsBrowser(t: OpenedSocket) {
  expect((await t.read(12)).toString()).toBe('RFB 003.008\n');
  t.ws.send(Buffer.from('RFB 003.008\n'));
  expect([...(await t.read(2))]).toEqual([1, 1]); // one security type: None
  t.ws.send(Buffer.from([1]));
  expect((await t.read(4)).readUInt32BE(0)).toBe(0);
  t.ws.send(Buffer.from([1])); // ClientInit: shared
  const init = await t.read(24);
  const name = (await t.read(init.readUInt32BE(20))).toString();
  const [w, h] = [init.readUInt16BE(0), init.readUInt16BE(2)];
  // SetPixelFormat as noVNC sends it: 32 bpp, depth 24, little-endian, true colour, red at bit 0, blue at bit 16.
  t.ws.send(Buffer.from([0, 0, 0, 0, 32, 24, 0, 1, ...u16(255), ...u16(255), ...u16(255), 0, 8, 16, 0, 0, 0]));
  t.ws.send(Buffer.from([2, 0, ...u16(1), 0, 0, 0, 0])); // SetEncodings: raw
  t.ws.send(Buffer.from([3, 0, 0, 0, 0, 0, ...u16(w), ...u16(h)]));
  expect([...(await t.read(4))]).toEqual([0, 0, 0, 1]);
  const rect = await t.read(12);
  const pixels = await t.read(rect.readUInt16BE(4) * rect.readUInt16BE(6) * 4);
  return { name, w, h, rect, pixels };
}

describe.skipIf(missing !== undefined)('browser console on Proxmox through the appliance', () => {
  let pve: ProxmoxServer;
  let dir: string;
  let stopMirror: () => void;
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir', GLASSDOME_SIM_SPEED: '2000' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 8, baseMs: 50, maxMs: 500 }, leaseMs: 2000 },
    access: { checkEveryMs: 100 },
  });
  const app = createApp(services);
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let web: Awaited<ReturnType<typeof serve>>;
  let id: string;
  let simId: string;

  beforeAll(async () => {
    pve = await pveServer();
    dir = mkdtempSync(path.join(tmpdir(), 'gd-console-snippets-'));
    stopMirror = mirrorSnippets(pve, dir);
    services.platforms.add(systemActor, {
      name: 'pve',
      kind: 'proxmox',
      config: driverConfig(pve, { snippets: { storage: 'local', path: dir } }),
      secret: pve.tokens[0]!.secret,
    });
    ctx = await setUpAppliance(app);
    ({ id } = services.deployments.create(systemActor, {
      yaml: scenario,
      file: 'console-lab.yaml',
      platform: 'pve',
      instances: 2,
      assignments: { '1': ctx.users.trainee.id, '2': ctx.users.other.id },
    }));
    ({ id: simId } = services.deployments.create(systemActor, {
      yaml: scenario,
      file: 'console-lab.yaml',
      platform: 'simulator',
      instances: 1,
      assignments: { '1': ctx.users.trainee.id },
    }));
    expect(await services.runner.run(id)).toBe('ready');
    expect(await services.runner.run(simId)).toBe('ready');
    web = await serve(app);
  });
  afterAll(async () => {
    await web?.close();
    await services.close();
    stopMirror?.();
    await pve?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the trainee's own machine, greets the browser with no password, relays frames and keys", async () => {
    const page = await ctx.clients.trainee.get(`/deployments/${id}/machines/i1.web`);
    expect(page.text).toContain(`href="/deployments/${id}/machines/i1.web/console"`);
    expect((await ctx.clients.trainee.get(`/deployments/${id}/topology`)).text).toContain(
      `href="/deployments/${id}/machines/i1.web/console"`,
    );
    const consolePage = await ctx.clients.trainee.get(`/deployments/${id}/machines/i1.web/console`);
    expect(consolePage.status).toBe(200);
    expect(consolePage.text).toContain('src="/static/console.js"');
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'console');
    expect(l.status).toBe(200);
    const t = await openSocket(web.base, l.body.socket, { client: ctx.clients.trainee });
    const f = await rfbAsBrowser(t);
    const vmName = `gd-${id}-i1-web`;
    expect(f.name).toBe(vmName);
    expect([f.w, f.h]).toEqual([640, 200]);
    // The background (0x10233d) in the browser's pixel format: red in the low byte.
    expect([...f.pixels.subarray(0, 4)]).toEqual([0x10, 0x23, 0x3d, 0]);
    for (const key of [0x68, 0x69]) t.ws.send(Buffer.from([4, 1, 0, 0, 0, 0, 0, key]));
    t.ws.send(Buffer.from([3, 1, 0, 0, 0, 0, ...u16(640), ...u16(200)]));
    await t.read(16); // the next update's header and rectangle
    const vmid = Number(services.deployments.get(id).resources.find((r) => r.key === 'i1.web')!.externalId);
    await expect.poll(() => pve.consoles.records.get(vmid)?.keys).toEqual([0x68, 0x69]);
    expect(pve.consoles.records.get(vmid)!.pixelFormatSet).toBe(true);
    expect(t.bytes().toString('latin1')).not.toMatch(/PVEVNC|vncticket/);
    t.ws.close();
    await t.closed;
    await new Promise((r) => setTimeout(r, 200));
    const audit = services.audit.list(50).filter((e) => e.target === `machine:${id}/i1.web`);
    expect(audit.find((e) => e.action === 'console.close')?.detail).toMatch(
      /^console session from .*Z to .*Z \(\d+ s\): the browser closed the console$/,
    );
    expect(audit.find((e) => e.action === 'console.open')?.username).toBe('alice');
    await pve.idle();
    expect(pve.stats().invalid).toEqual([]);
  });

  it("refuses another trainee's console, and says why a platform or a powered-off machine has none", async () => {
    expect((await link(ctx.clients.other, id, 'i1.web', 'console')).status).toBe(404);
    expect((await ctx.clients.trainee.get(`/deployments/${id}/machines/i2.web/console`)).status).toBe(404);
    const sim = await link(ctx.clients.trainee, simId, 'i1.web', 'console');
    expect(sim.status).toBe(400);
    expect(sim.body.error.message).toBe(
      'Unable to open the console of "i1.web": simulator platforms have no browser console here',
    );
    await services.machines.power(systemActor, id, 'i1.web', 'stop');
    const off = await link(ctx.clients.trainee, id, 'i1.web', 'console');
    expect(off.status).toBe(409);
    expect(off.body.error.message).toBe('Unable to open the console of "i1.web": it is powered off');
    await services.machines.power(systemActor, id, 'i1.web', 'start');
  });

  it('tells the browser over RFB why the console could not open, and closes the socket', async () => {
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'console');
    await services.machines.power(systemActor, id, 'i1.web', 'stop');
    const t = await openSocket(web.base, l.body.socket, { client: ctx.clients.trainee });
    expect((await t.read(12)).toString()).toBe('RFB 003.008\n');
    t.ws.send(Buffer.from('RFB 003.008\n'));
    expect((await t.read(1))[0]).toBe(0); // no security types: a reason follows
    const reason = (await t.read((await t.read(4)).readUInt32BE(0))).toString();
    expect(reason).toBe(`[proxmox] Unable to open the console of VM "gd-${id}-i1-web": it is powered off`);
    expect((await t.closed).code).toBe(4000);
    await services.machines.power(systemActor, id, 'i1.web', 'start');
  });

  it('closes when the viewer loses the role, and when the deployment is destroyed', async () => {
    const open = async () => {
      const l = await link(ctx.clients.trainee, id, 'i1.web', 'console');
      const t = await openSocket(web.base, l.body.socket, { client: ctx.clients.trainee });
      await rfbAsBrowser(t);
      return t;
    };
    const a = await open();
    await services.users.update(systemActor, ctx.users.trainee.id, { role: 'instructor' });
    expect(await a.closed).toEqual({ code: 4000, reason: "the viewer's role changed to instructor" });
    await services.users.update(systemActor, ctx.users.trainee.id, { role: 'trainee' });

    const b = await open();
    const destroyed = services.deployments.destroy(systemActor, id, { confirm: true });
    expect((await b.closed).reason).toMatch(
      /deployment \w+ is (being )?destroyed|has not been created \(or was destroyed\)/,
    );
    expect(await destroyed).toBe('destroyed');
    const after = await link(ctx.clients.trainee, id, 'i1.web', 'console');
    expect(after.status).toBe(409);
    expect(after.body.error.message).toBe(`Unable to open the console of "i1.web": deployment ${id} is destroyed`);
    expect(services.access.live.list()).toEqual([]);
  });
});
