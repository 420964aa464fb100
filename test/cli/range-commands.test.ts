// `glassdome overseer` and `glassdome instance`, on this machine's database and on a running appliance through its
// API; and `destroy --confirm` when trainees are assigned.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../server/cli/commands.ts';
import { api, setUpAppliance, twoTierScenario, waitForState, webTestApp, type TestApp } from '../web/helpers.ts';

async function cli(...args: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => (stdout += c));
  err.on('data', (c) => (stderr += c));
  const code = await main(args, out, err);
  return { code, stdout, stderr };
}

describe('glassdome overseer and instance, local', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-range-cli-'));
  const saved = { ...process.env };
  let id: string;
  beforeAll(async () => {
    process.env.GLASSDOME_DATA_DIR = dir;
    process.env.GLASSDOME_SIM_SPEED = '3000';
    const file = path.join(dir, 'lab.yaml');
    fs.writeFileSync(file, twoTierScenario);
    const r = await cli('deploy', file, '--wait');
    expect(r.code, r.stderr).toBe(0);
    id = /deployment (\w+):/.exec(r.stdout)![1]!;
  });
  afterAll(() => {
    process.env = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs a job now and shows every job with its last run', async () => {
    const run = await cli('overseer', 'run', 'health');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^health: ok in \d+ ms: 5 machine\(s\) of 1 deployment\(s\) on 1 platform\(s\)/);
    const status = await cli('overseer', 'status');
    expect(status.code).toBe(0);
    const lines = status.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^health {3}\* \* \* \* \* {8}ok {5}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d+ ms {2}runs 1, skips 0, failures 0$/,
    );
    expect(lines.some((l) => l.startsWith('drift    */5 * * * *      never run'))).toBe(true);
    const json = JSON.parse((await cli('overseer', 'status', '--json')).stdout);
    expect(json.map((j: { name: string }) => j.name)).toEqual(['health', 'drift', 'idle', 'expiry']);
    expect((await cli('overseer', 'findings')).stdout.trim()).toBe('No open findings.');
    expect((await cli('overseer', 'run', 'nope')).code).toBe(2);
  });

  it('snapshots an instance, lists, resets, enters and leaves testing mode, and deletes the snapshot', async () => {
    const snap = await cli('instance', id, '1', 'snapshot', 'clean');
    expect(snap.code, snap.stderr).toBe(0);
    expect(snap.stdout.trim()).toBe(
      'instance 1: snapshot "clean" of 5 machine(s): i1.db, i1.kali, i1.router, i1.web-1, i1.web-2',
    );
    expect((await cli('instance', id, '1', 'snapshots')).stdout).toMatch(/^clean +\d{4}-.* by cli:\S+ {2}manual\n$/);
    const reset = await cli('instance', id, '1', 'reset', 'clean');
    expect(reset.stdout.trim()).toBe('instance 1: 5 machine(s) reset to "clean"');
    const on = await cli('instance', id, '1', 'testing', 'on', '--allow', '192.0.2.1,deb.debian.org');
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toMatch(
      /^instance 1: testing mode on since .* \(by cli:\S+\); allowed out: 192\.0\.2\.1\/32, deb\.debian\.org; snapshot testing-\d{14}; egress through nic\d limited/,
    );
    expect((await cli('instance', id, '1', 'testing')).stdout).toContain('testing mode on');
    const off = await cli('instance', id, '1', 'testing', 'off', '--revert');
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(
      /^instance 1: testing mode off \(switched by cli:\S+, .*\); egress back to the scenario's rules/,
    );
    expect((await cli('instance', id, '1', 'delete-snapshot', 'clean')).code).toBe(0);
    expect((await cli('instance', id, '1', 'snapshots')).stdout.trim()).toBe('instance 1 has no snapshots');
    const bad = await cli('instance', id, 'x', 'snapshots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the instance is a number from 1, not "x"');
  });
});

describe('glassdome overseer and instance, remote', () => {
  let app: TestApp;
  let server: http.Server;
  let url: string;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let id: string;

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    server = http.createServer(getRequestListener(app.fetch));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: twoTierScenario,
      platform: 'simulator',
      assignments: { '1': ctx.users.trainee.id },
    });
    id = created.body.id;
    await waitForState(app, id, ['ready']);
  });
  afterAll(() => server.close());

  const remote = (...args: string[]) => cli(...args, '--server', url, '--token', ctx.tokens.instructor);

  it('runs a job, snapshots and resets an instance on the appliance', async () => {
    const run = await remote('overseer', 'run', 'drift');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^drift: ok in \d+ ms: \d+ machine\(s\) listed on 1 platform\(s\)/);
    expect((await remote('overseer', 'status')).stdout).toContain('drift    */5 * * * *      ok');
    expect((await remote('instance', id, '1', 'snapshot', 'clean')).code).toBe(0);
    const reset = await remote('instance', id, '1', 'reset', 'clean');
    expect(reset.stdout.trim()).toBe('instance 1: 5 machine(s) reset to "clean"');
    expect(app.web.audit.list().find((a) => a.action === 'instance.reset')).toMatchObject({ username: 'teacher' });
  });

  it('destroys a deployment with trainees assigned only with --confirm', async () => {
    const refused = await remote('destroy', id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`has trainees assigned (instance 1: alice); destroying it ends their ranges`);
    expect(refused.stderr).toContain('hint: Confirm it explicitly');
    const done = await remote('destroy', id, '--confirm');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('final state: destroyed');
  });
});
