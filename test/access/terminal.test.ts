// Web terminals end to end: the appliance on a real port, a browser-like WebSocket client, and two real OpenSSH
// servers on 127.0.0.1, one playing the range router (the jump host, reached at its uplink address) and one the lab
// machine behind it, each with the account and password the deployment's secret gives it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { PlannedMachine } from '../../server/model/plan.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { machinePasswords } from '../../server/orchestrator/passwords.ts';
import { createServices } from '../../server/services.ts';
import { startSshd, sshdUsable, type Sshd } from '../ssh/sshd.ts';
import { setUpAppliance } from '../web/helpers.ts';
import { link, openSocket, serve } from './helpers.ts';
import net from 'node:net';

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const avail = await sshdUsable();
const asRoot = 'ok' in avail && avail.asRoot;
if (!('ok' in avail)) console.warn(`[skip] web terminal tests: ${avail.skip}`);
else if (!asRoot)
  console.warn('[skip] web terminal tests: password logins to the test sshd need root (test/ssh/sshd.ts)');

const labPassword = 'Lab-pass-4-terminal';
const scenario = `
glassdome: 1
name: term-lab
title: Terminal lab
networks:
  - { name: lan, cidr: 10.40.1.0/24 }
  - { name: dmz, cidr: 10.40.2.0/24, internet: true }
machines:
  - name: web
    networks: [lan]
    users: [{ name: lab, password: "${labPassword}" }]
  - name: dc
    os: windows-server-2022
    networks: [lan]
`;

describe.skipIf(!asRoot)('web terminal through the range router', () => {
  const routes = new Map<string, { host: string; port: number }>();
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir', GLASSDOME_SIM_SPEED: '2000' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 8, baseMs: 200, maxMs: 2000 }, leaseMs: 2000 },
    access: {
      checkEveryMs: 100,
      terminal: { idleMs: 4000, connectTimeoutMs: 3000, route: (host, port) => routes.get(host) ?? { host, port } },
    },
  });
  const app = createApp(services);
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let server: Awaited<ReturnType<typeof serve>>;
  let jump: Sshd;
  let lab: Sshd;
  let id: string;

  beforeAll(async () => {
    ctx = await setUpAppliance(app);
    ({ id } = services.deployments.create(systemActor, {
      yaml: scenario,
      file: 'term-lab.yaml',
      platform: 'simulator',
      instances: 2,
      assignments: { '1': ctx.users.trainee.id, '2': ctx.users.other.id },
    }));
    expect(await services.runner.run(id)).toBe('ready');
    const view = services.deployments.get(id);
    const row = services.db.$client.prepare('SELECT secret FROM deployments WHERE id = ?').get(id) as {
      secret: string;
    };
    const secret = services.box.open(row.secret);
    const router = view.plan.machines.find((m) => m.key === 'i1.router') as PlannedMachine;
    const uplink = machineStatus(view)
      .find((m) => m.key === 'i1.router')!
      .addresses.find((a) => a.startsWith('203.0.113.'))!;
    jump = await startSshd({
      account: { user: 'glassdome', password: machinePasswords(router, secret, scenario).glassdome! },
    });
    lab = await startSshd({ account: { user: 'lab', password: labPassword } });
    routes.set(uplink, { host: '127.0.0.1', port: jump.port });
    routes.set('10.40.1.10', { host: '127.0.0.1', port: lab.port });
    // Instance 2's router answers nothing: a port where no SSH server listens.
    const i2uplink = machineStatus(view)
      .find((m) => m.key === 'i2.router')!
      .addresses.find((a) => a.startsWith('203.0.113.'))!;
    routes.set(i2uplink, { host: '127.0.0.1', port: await closedPort() });
    server = await serve(app);
  });
  afterAll(async () => {
    await server?.close();
    await services.close();
    await jump?.stop();
    await lab?.stop();
  });

  it("types into a shell on the trainee's machine through the router and reads its output, resized", async () => {
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'terminal');
    expect(l.status).toBe(200);
    expect(l.body.socket).toMatch(new RegExp(`^/deployments/${id}/machines/i1\\.web/terminal/socket\\?token=`));
    const t = await openSocket(server.base, `${l.body.socket}&cols=100&rows=30`, { client: ctx.clients.trainee });
    const opened = services.lifecycle.get(id).lastActivityAt;
    await new Promise((r) => setTimeout(r, 20));
    t.ws.send(Buffer.from('echo "hello-$((6*7)) $(id -un)"; stty size\n'));
    await t.waitFor(/hello-42 lab/);
    // Typing is activity: idle shutdown waits for the range's users, not only for its pages.
    expect(services.lifecycle.get(id).lastActivityAt! > (opened ?? '')).toBe(true);
    await t.waitFor(/^30 100\r?$/m);
    t.ws.send(JSON.stringify({ type: 'resize', cols: 132, rows: 40 }));
    await new Promise((r) => setTimeout(r, 200));
    t.ws.send(Buffer.from('stty size\n'));
    await t.waitFor(/^40 132\r?$/m);
    // The router forwarded the connection (a direct-tcpip channel), so the lab machine was reached through it.
    expect(jump.log()).toMatch(/direct-tcpip/);
    // No password or secret ever reached the browser.
    const all = t.bytes().toString() + t.texts.join('');
    expect(all).not.toContain(labPassword);
    t.ws.close();
    await t.closed;
    await new Promise((r) => setTimeout(r, 200));
    const audit = services.audit.list(50).filter((e) => e.target === `machine:${id}/i1.web`);
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['terminal.open', 'terminal.close']));
    const closed = audit.find((e) => e.action === 'terminal.close')!;
    expect(closed.username).toBe('alice');
    expect(closed.detail).toMatch(
      /^terminal session from \d{4}-.*Z to \d{4}-.*Z \(\d+ s\): the browser closed the terminal$/,
    );
    // The host keys seen first are now pinned for the next connection.
    const keys = services.db.$client
      .prepare('SELECT machine_key AS k, fingerprint AS fp FROM host_keys WHERE deployment_id = ? ORDER BY k')
      .all(id);
    expect(keys).toEqual([
      { k: 'i1.router', fp: jump.hostKeyFingerprint },
      { k: 'i1.web', fp: lab.hostKeyFingerprint },
    ]);
  });

  it("refuses another trainee's machine, another user's link and a link used twice", async () => {
    expect((await link(ctx.clients.other, id, 'i1.web', 'terminal')).status).toBe(404);
    expect((await link(ctx.clients.trainee, id, 'i2.web', 'terminal')).status).toBe(404);
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'terminal');
    // Bob cannot see the machine at all; the admin can, but the link is Alice's.
    await expect(openSocket(server.base, l.body.socket, { client: ctx.clients.other })).rejects.toMatchObject({
      status: 404,
    });
    await expect(openSocket(server.base, l.body.socket, { client: ctx.clients.admin })).rejects.toMatchObject({
      status: 403,
    });
    // The admin's attempt used the link up.
    await expect(openSocket(server.base, l.body.socket, { client: ctx.clients.trainee })).rejects.toMatchObject({
      status: 403,
    });
    const foreign = await link(ctx.clients.trainee, id, 'i1.web', 'terminal');
    await expect(
      openSocket(server.base, foreign.body.socket, { client: ctx.clients.trainee, origin: 'http://evil.example' }),
    ).rejects.toMatchObject({ status: 403 });
    await expect(openSocket(server.base, foreign.body.socket)).rejects.toMatchObject({ status: 303 });
  });

  it('links terminals from the topology: Linux machines only, the router only for staff', async () => {
    const alice = (await ctx.clients.trainee.get(`/deployments/${id}/topology`)).text;
    expect(alice).toContain(`href="/deployments/${id}/machines/i1.web/terminal"`);
    expect(alice).not.toContain(`href="/deployments/${id}/machines/i1.dc/terminal"`);
    expect(alice).not.toContain(`/machines/i1.router/terminal`);
    expect(alice).not.toContain('/console"'); // the simulator has no consoles
    expect((await ctx.clients.trainee.get(`/deployments/${id}/machines/i1.router/terminal`)).status).toBe(403);
    const admin = (await ctx.clients.admin.get(`/deployments/${id}/topology`)).text;
    expect(admin).toContain(`href="/deployments/${id}/machines/i1.router/terminal"`);
    expect(admin).toContain(`href="/deployments/${id}/machines/i2.web/terminal"`);
  });

  it('says why there is no terminal on a Windows machine, before any socket opens', async () => {
    const l = await link(ctx.clients.trainee, id, 'i1.dc', 'terminal');
    expect(l.status).toBe(400);
    expect(l.body.error.message).toBe(
      'Unable to open a terminal on "i1.dc": it runs Windows Server 2022, and the web terminal is SSH to Linux machines',
    );
    expect(l.body.error.hint).toBe('Use its console instead.');
  });

  it('tells the browser why SSH failed and closes the socket, leaving nothing open', async () => {
    const l = await link(ctx.clients.other, id, 'i2.web', 'terminal');
    expect(l.status).toBe(200);
    const t = await openSocket(server.base, l.body.socket, { client: ctx.clients.other });
    const closed = await t.closed;
    expect(closed.code).toBe(4001);
    const m = JSON.parse(t.texts[0]!) as { type: string; message: string; hint: string };
    expect(m.type).toBe('error');
    expect(m.message).toMatch(
      /^\[ssh\] Unable to connect to machine "gd-\w+-i2-router" \(127\.0\.0\.1:\d+\): connection refused/,
    );
    expect(m.hint).toContain('SSH server');
    expect(services.access.live.list()).toEqual([]);
    expect(services.audit.list(10).find((e) => e.action === 'terminal.refused')?.username).toBe('bob');
  });

  it('ends the session after the idle time', async () => {
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'terminal');
    const t = await openSocket(server.base, l.body.socket, { client: ctx.clients.trainee });
    t.ws.send(Buffer.from('echo ready-$((1+1))\n'));
    await t.waitFor(/ready-2/);
    const closed = await t.closed;
    expect(closed.code).toBe(4000);
    expect(JSON.parse(t.texts.at(-1)!)).toEqual({ type: 'closed', reason: 'no input for 4 s' });
  });

  it('dies with the sign-out', async () => {
    const l = await link(ctx.clients.trainee, id, 'i1.web', 'terminal');
    const t = await openSocket(server.base, l.body.socket, { client: ctx.clients.trainee });
    t.ws.send(Buffer.from('echo alive-$((2+3))\n'));
    await t.waitFor(/alive-5/);
    const before = Date.now();
    expect((await ctx.clients.trainee.post('/logout')).status).toBe(303);
    const closed = await t.closed;
    expect(Date.now() - before).toBeLessThan(2000);
    expect(closed).toEqual({ code: 4000, reason: 'the viewer signed out' });
    expect(JSON.parse(t.texts.at(-1)!)).toEqual({ type: 'closed', reason: 'the viewer signed out' });
    expect(services.access.live.list()).toEqual([]);
  });
});
