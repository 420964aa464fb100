// End to end in a real browser (Debian's chromium via playwright-core): a fresh appliance over HTTPS, its setup
// code, the wizard, sign-in, a scenario upload, two instances deployed on the simulator and followed over SSE
// without a reload, the topology, a machine, and destroy. Screenshots of each page go to test-results/e2e/.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const chromiumPath = '/usr/bin/chromium';
const shots = path.resolve('test-results/e2e');
const password = 'correct horse battery';
const scenario = `glassdome: 1
name: e2e-lab
title: End-to-end lab
description: A web server behind a router, reached from an attacker network on port 80.
networks:
  - name: lan
    cidr: 10.77.1.0/24
  - name: attack
firewall:
  rules:
    - from: attack
      to: web
      protocol: tcp
      ports: 80
machines:
  - name: web
    networks:
      - network: lan
        ip: 10.77.1.20
  - name: kali
    os: kali-rolling
    networks: [attack]
`;

async function startAppliance(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  // The very command `npm start` runs, Node's flags included.
  const start = (
    JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: { start: string } }
  ).scripts.start.split(' ');
  const child = spawn(start[0] === 'node' ? process.execPath : start[0]!, start.slice(1), {
    env: {
      ...process.env,
      GLASSDOME_DATA_DIR: dataDir,
      GLASSDOME_PORT: '0',
      GLASSDOME_HOST: '127.0.0.1',
      GLASSDOME_TLS: 'on',
      GLASSDOME_SIM_SPEED: '150',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stderr!.on('data', (c) => (out += c));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the appliance did not start:\n${out}`)), 30_000);
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /serving (https:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`the appliance exited with ${code}:\n${out}`)));
  });
  return { child, url };
}

const skip = !fs.existsSync(chromiumPath);
if (skip) console.log(`skipped: the browser end-to-end test needs ${chromiumPath} (apt-get install -y chromium)`);

describe.skipIf(skip)('the appliance in a real browser', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.pid) process.kill(-child.pid, 'SIGTERM');
  });

  it(
    'sets up, deploys two instances on the simulator, follows them live, draws the topology and destroys them',
    { timeout: 240_000 },
    async () => {
      const { chromium } = await import('playwright-core');
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-e2e-'));
      const started = await startAppliance(dataDir);
      child = started.child;
      const base = started.url;
      fs.mkdirSync(shots, { recursive: true });
      const code = fs.readFileSync(path.join(dataDir, 'setup-code.txt'), 'utf8').trim();
      expect(fs.statSync(path.join(dataDir, 'setup-code.txt')).mode & 0o077).toBe(0);

      const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'gd-chromium-')), {
        executablePath: chromiumPath,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
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
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

      try {
        // Plain HTTP on the same port is redirected to HTTPS; every page leads to the wizard.
        await page.goto(`${base.replace('https:', 'http:')}/`);
        expect(page.url()).toBe(`${base}/setup`);
        await shot('01-setup-code');

        await page.fill('input[name=code]', 'WRON-GCOD-EXXX');
        await page.fill('input[name=username]', 'admin');
        await page.fill('input[name=password]', password);
        await page.fill('input[name=confirm]', password);
        await page.click('button[type=submit]');
        await expect.poll(() => page.textContent('.field.has-error .error')).toContain('not the setup code');
        expect(await page.inputValue('input[name=username]')).toBe('admin');
        expect(await page.inputValue('input[name=password]')).toBe('');
        await shot('02-setup-code-rejected');
        await page.fill('input[name=code]', code);
        await page.fill('input[name=password]', password);
        await page.fill('input[name=confirm]', password);
        await page.click('button[type=submit]');
        await page.waitForURL(`${base}/setup/platform`);
        expect(await page.isChecked('input[name=kind][value=simulator]')).toBe(true);
        await page.click('text=Test connection');
        await page.waitForSelector('#connection-report.ok');
        expect(await page.textContent('#connection-report')).toContain('Glassdome simulator');
        await shot('03-setup-platform');
        await page.click('text=Save and continue');
        await page.waitForURL(`${base}/setup/pools`);
        await shot('04-setup-pools');
        await page.click('button:has-text("Continue")');
        await page.waitForURL(`${base}/setup/done`);
        await shot('05-setup-done');
        await page.click('button:has-text("Finish")');
        await page.waitForURL(`${base}/`);
        expect(fs.existsSync(path.join(dataDir, 'setup-code.txt'))).toBe(false);
        await shot('06-dashboard');

        // Sign out and back in.
        await page.click('button:has-text("Sign out")');
        await page.waitForURL(`${base}/login`);
        await page.fill('input[name=username]', 'admin');
        await page.fill('input[name=password]', password);
        await shot('07-login');
        await page.click('button[type=submit]');
        await page.waitForURL(`${base}/`);

        // Upload a scenario file.
        await page.goto(`${base}/scenarios`);
        expect(await page.textContent('table')).toContain('web-dmz');
        const file = path.join(dataDir, 'e2e-lab.yaml');
        fs.writeFileSync(file, scenario);
        await page.setInputFiles('input[type=file][name=file]', file);
        await shot('08-scenarios');
        await page.click('button:has-text("Add to library")');
        await page.waitForURL(/\/scenarios\/s[0-9a-f]+$/);
        expect(await page.textContent('.scenario-summary')).toContain('kali');
        await shot('09-scenario');

        // Deploy two instances: the plan preview follows the form.
        await page.click('text=Deploy this scenario');
        await page.waitForURL(/\/deploy$/);
        await page.fill('input[name=instances]', '2');
        await page.dispatchEvent('input[name=instances]', 'change');
        await page.waitForSelector('#plan-preview :text("Instance 2")');
        await shot('10-deploy');
        await page.click('button:has-text("Start deployment")');
        await page.waitForURL(/\/deployments\/[a-z0-9]+$/);
        const id = page.url().split('/').pop()!;
        // Marks this document: a reload would lose it.
        await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
        await page.waitForSelector('#live-status.on');
        await page.waitForSelector('#dep-summary[data-state="deploying"], #dep-summary[data-state="ready"]');
        await page.waitForTimeout(600);
        await shot('11-deployment-in-progress');
        await page.waitForSelector('#dep-summary[data-state="ready"]', { timeout: 120_000 });
        expect(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
        const rows = await page.$$eval('tr[id^="m-"]', (trs) => trs.map((tr) => tr.getAttribute('data-state')));
        expect(rows.length).toBe(6);
        expect(rows.every((s) => s === 'ready')).toBe(true);
        expect(await page.$$eval('#log li', (lis) => lis.length)).toBeGreaterThan(20);
        await page.waitForTimeout(300);
        await shot('12-deployment-ready');

        await page.click('a:has-text("Topology")');
        await page.waitForURL(`${base}/deployments/${id}/topology`);
        expect(await page.$$eval('svg.topology', (s) => s.length)).toBe(2);
        expect(await page.textContent('body')).toContain('10.77.1.20');
        await shot('13-topology');

        await page.click('svg.topology >> nth=0 >> text=web');
        await page.waitForURL(/\/machines\/i1\.web$/);
        expect(await page.textContent('body')).toContain('Credentials');
        expect(await page.textContent('body')).toContain('running');
        await shot('14-machine');

        await page.goto(`${base}/deployments/${id}`);
        await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
        // A ready deployment at rest: the live status says the page is up to date, the log shows its newest line.
        await page.waitForSelector('#live-status.on');
        expect(await page.textContent('#live-status')).toBe('up to date');
        expect(
          await page.$eval(
            '#log',
            (l) => l.scrollHeight <= l.clientHeight || l.scrollTop + l.clientHeight >= l.scrollHeight - 2,
          ),
        ).toBe(true);
        // A wrong confirmation: the page comes back with the form open and the error at its field; nothing is destroyed.
        await page.click('summary:has-text("Destroy")');
        await page.fill('input[name=confirm]', 'not-the-id');
        await page.click(`button:has-text("Destroy ${id}")`);
        await page.waitForSelector('.danger-zone[open] .field.has-error');
        expect(await page.textContent('.danger-zone .error')).toContain(`type ${id} exactly`);
        expect(await page.getAttribute('#dep-summary', 'data-state')).toBe('ready');
        await shot('15a-destroy-wrong-id');
        await page.fill('input[name=confirm]', id);
        await shot('15-destroy-confirm');
        await page.click(`button:has-text("Destroy ${id}")`);
        await page.waitForURL(`${base}/deployments/${id}`);
        await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
        await page.waitForSelector('#dep-summary[data-state="destroyed"]', { timeout: 60_000 });
        expect(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
        // After destroy: progress counts machines removed, no action but the topology, the log says it is over.
        const summary = await page.textContent('#dep-summary');
        expect(summary).toContain('machines removed');
        expect(summary).not.toContain('machines ready');
        expect(await page.$$eval('#dep-summary button, #dep-summary summary', (b) => b.length)).toBe(0);
        await page.waitForFunction(
          () =>
            (
              globalThis as unknown as { document: { getElementById(id: string): { textContent: string } | null } }
            ).document.getElementById('live-status')?.textContent === 'up to date',
        );
        expect(await page.$$eval('#log li', (lis) => lis.at(-1)?.textContent ?? '')).toMatch(/destroyed/);
        await shot('16-destroyed');

        await page.goto(`${base}/settings/audit`);
        expect(await page.textContent('table')).toContain('deployment.destroy');
        await shot('17-audit');
        // Script errors and CSP refusals; the deliberate 401 (wrong setup code) and 422 (wrong destroy id) are not ones.
        expect(
          problems.filter((p) => !/^Failed to load resource: the server responded with a status of (401|422)/.test(p)),
        ).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );
});
