// Consoles and terminals in a real browser (Debian's chromium via playwright-core). The console: the appliance
// started as `npm start` does, over HTTPS (main.ts's front door and its WebSocket upgrade), on a data folder holding a
// Proxmox platform (the test server) and a ready deployment; noVNC draws the VM's screen, typed keys, Ctrl+Alt+Del and
// a paste reach the VM. The terminal: xterm.js through the appliance to a real sshd. Screenshots go to test-results.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { PlannedMachine } from '../../server/model/plan.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { machinePasswords } from '../../server/orchestrator/passwords.ts';
import { createServices } from '../../server/services.ts';
import { driverConfig, server as pveServer } from '../platforms/proxmox-harness.ts';
import { schemaMissingReason, type ProxmoxServer } from '../platforms/proxmox-server/index.ts';
import { startSshd, sshdUsable, type Sshd } from '../ssh/sshd.ts';
import { setUpAppliance } from '../web/helpers.ts';
import { serve } from './helpers.ts';

const chromiumPath = '/usr/bin/chromium';
const shots = path.resolve('test-results/access');
const password = 'correct horse battery';
const skip = !fs.existsSync(chromiumPath)
  ? `${chromiumPath} is missing (apt-get install -y chromium)`
  : schemaMissingReason('9.1');
if (skip) console.warn(`[skip] console and terminal in a browser: ${skip}`);

async function browser() {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'gd-chromium-')), {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
  page.on('pageerror', (e) => problems.push(e.message));
  return { context, page, problems };
}

async function signIn(page: Awaited<ReturnType<typeof browser>>['page'], base: string, username: string) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
}

const scenario = `
glassdome: 1
name: browser-lab
title: Browser lab
networks:
  - { name: lan, cidr: 10.70.1.0/24 }
  - { name: dmz, cidr: 10.70.2.0/24, internet: true }
machines:
  - name: web
    networks: [lan]
    users: [{ name: lab, password: "Lab-pass-in-browser" }]
`;

const consoleScenario = `
glassdome: 1
name: console-lab
title: Console lab
networks:
  - { name: lan, cidr: 10.70.1.0/24 }
machines:
  - { name: web, networks: [lan] }
`;

describe.skipIf(skip !== undefined)('consoles and terminals in a real browser', () => {
  let child: ChildProcess | undefined;
  let pve: ProxmoxServer | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    if (child?.pid) process.kill(-child.pid, 'SIGTERM');
    for (const c of cleanups.reverse()) await c();
    await pve?.close();
  });

  it(
    'opens a Proxmox VM console in noVNC over the HTTPS appliance, types into it and sends Ctrl+Alt+Del',
    { timeout: 180_000 },
    async () => {
      pve = await pveServer();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-access-e2e-'));
      // The data folder as an appliance would have it after setup, a platform and a deployment.
      const seed = createServices({ config: loadConfig({ GLASSDOME_DATA_DIR: dataDir }) });
      const alice = await seed.users.create(systemActor, { username: 'alice', password, role: 'trainee' });
      await seed.users.create(systemActor, { username: 'admin', password, role: 'admin' });
      seed.setup.complete(systemActor);
      seed.platforms.add(systemActor, {
        name: 'pve',
        kind: 'proxmox',
        config: driverConfig(pve, { isoStorage: 'local' }),
        secret: pve.tokens[0]!.secret,
      });
      const { id } = seed.deployments.create(systemActor, {
        yaml: consoleScenario,
        file: 'console-lab.yaml',
        platform: 'pve',
        assignments: { '1': alice.id },
      });
      expect(await seed.runner.run(id)).toBe('ready');
      const vmid = Number(seed.deployments.get(id).resources.find((r) => r.key === 'i1.web')!.externalId);
      await seed.close();

      // The very command `npm start` runs, with HTTPS on.
      const start = (
        JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: { start: string } }
      ).scripts.start.split(' ');
      child = spawn(process.execPath, start.slice(1), {
        env: {
          ...process.env,
          GLASSDOME_DATA_DIR: dataDir,
          GLASSDOME_PORT: '0',
          GLASSDOME_HOST: '127.0.0.1',
          GLASSDOME_TLS: 'on',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let out = '';
      child.stderr!.on('data', (c) => (out += c));
      const base = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the appliance did not start:\n${out}`)), 30_000);
        child!.stdout!.on('data', (c) => {
          out += c;
          const m = /serving (https:\/\/[\d.]+:\d+)/.exec(out);
          if (m) (clearTimeout(timer), resolve(m[1]!));
        });
      });

      fs.mkdirSync(shots, { recursive: true });
      const { context, page, problems } = await browser();
      cleanups.push(() => context.close());
      await signIn(page, base, 'alice');
      await page.goto(`${base}/deployments/${id}/machines/i1.web`);
      await page.click('a:has-text("Console")');
      await page.waitForURL(`${base}/deployments/${id}/machines/i1.web/console`);
      await expect.poll(() => page.textContent('#console-status'), { timeout: 20_000 }).toBe('Connected');
      await page.waitForSelector('#console-screen canvas');
      await expect.poll(() => pve!.consoles.records.get(vmid)?.updates ?? 0).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(shots, '01-console.png'), fullPage: true });

      await page.click('#console-screen canvas');
      await page.keyboard.type('hello');
      await expect.poll(() => String.fromCharCode(...(pve!.consoles.records.get(vmid)?.keys ?? []))).toBe('hello');
      await page.click('#console-cad');
      await expect.poll(() => pve!.consoles.records.get(vmid)!.keys.slice(5)).toEqual([0xffe3, 0xffe9, 0xffff]);
      await page.fill('#console-paste-text', 'ls -l');
      await page.click('button:has-text("Type it")');
      await expect.poll(() => String.fromCharCode(...pve!.consoles.records.get(vmid)!.keys.slice(8))).toBe('ls -l');
      expect(pve.consoles.records.get(vmid)!.cutText).toEqual(['ls -l']);
      await new Promise((r) => setTimeout(r, 500)); // the echoed text's frame
      await page.screenshot({ path: path.join(shots, '02-console-typed.png'), fullPage: true });

      // Reconnect opens a new session through a new single-use link.
      const before = pve.requests.filter((r) => r.path.endsWith('/vncproxy')).length;
      await page.click('#console-reconnect');
      await expect.poll(() => pve!.requests.filter((r) => r.path.endsWith('/vncproxy')).length).toBe(before + 1);
      await expect.poll(() => page.textContent('#console-status'), { timeout: 20_000 }).toBe('Connected');
      expect(problems).toEqual([]);
      // Every call to Proxmox was valid (the open console's vncproxy task still runs: no idle wait).
      expect(pve.stats().invalid).toEqual([]);
    },
  );

  it(
    'runs a shell in xterm.js through the appliance to a real sshd behind the range router',
    { timeout: 120_000 },
    async (ctx) => {
      const avail = await sshdUsable();
      if (!('ok' in avail) || !avail.asRoot) return ctx.skip();
      const routes = new Map<string, { host: string; port: number }>();
      const services = createServices({
        config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir', GLASSDOME_SIM_SPEED: '2000' }),
        db: openDb(':memory:'),
        access: { terminal: { route: (host, port) => routes.get(host) ?? { host, port } } },
      });
      cleanups.push(() => services.close());
      const app = createApp(services);
      const users = await setUpAppliance(app);
      const { id } = services.deployments.create(systemActor, {
        yaml: scenario,
        file: 'browser-lab.yaml',
        platform: 'simulator',
        assignments: { '1': users.users.trainee.id },
      });
      expect(await services.runner.run(id)).toBe('ready');
      const view = services.deployments.get(id);
      const secret = services.box.open(
        (services.db.$client.prepare('SELECT secret FROM deployments WHERE id = ?').get(id) as { secret: string })
          .secret,
      );
      const router = view.plan.machines.find((m) => m.key === 'i1.router') as PlannedMachine;
      const jump: Sshd = await startSshd({
        account: { user: 'glassdome', password: machinePasswords(router, secret, scenario).glassdome! },
      });
      const lab: Sshd = await startSshd({ account: { user: 'lab', password: 'Lab-pass-in-browser' } });
      cleanups.push(
        () => jump.stop(),
        () => lab.stop(),
      );
      routes.set(
        machineStatus(view)
          .find((m) => m.key === 'i1.router')!
          .addresses.find((a) => a.startsWith('203.0.113.'))!,
        { host: '127.0.0.1', port: jump.port },
      );
      routes.set('10.70.1.10', { host: '127.0.0.1', port: lab.port });
      const web = await serve(app);
      cleanups.push(() => web.close());

      const { context, page, problems } = await browser();
      cleanups.push(() => context.close());
      await signIn(page, web.base, 'alice');
      await page.goto(`${web.base}/deployments/${id}/machines/i1.web/terminal`);
      await expect.poll(() => page.textContent('#terminal-status'), { timeout: 20_000 }).toBe('Connected');
      await page.click('#terminal-screen');
      await page.keyboard.type('echo "hi-$((2*21)) from $(id -un)"\n');
      await expect
        .poll(() => page.textContent('#terminal-screen .xterm-rows'), { timeout: 10_000 })
        .toContain('hi-42 from lab');
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, '03-terminal.png'), fullPage: true });
      // Sign out from another tab of the same browser: the terminal says why it ended.
      const other = await context.newPage();
      await other.goto(`${web.base}/`);
      await other.click('button:has-text("Sign out")');
      await expect
        .poll(() => page.textContent('#terminal-status'), { timeout: 5000 })
        .toBe('Session ended: the viewer signed out');
      await page.screenshot({ path: path.join(shots, '04-terminal-signed-out.png'), fullPage: true });
      expect(problems).toEqual([]);
    },
  );
});
