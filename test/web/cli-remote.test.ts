// The CLI driving a running appliance through its API with a token: deploy, status, list, destroy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../server/cli/commands.ts';
import { setUpAppliance, webTestApp, type TestApp } from './helpers.ts';

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

describe('CLI remote mode', () => {
  let app: TestApp;
  let server: http.Server;
  let url: string;
  let token: string;
  let adminToken: string;

  beforeAll(async () => {
    ({ app } = webTestApp());
    const ctx = await setUpAppliance(app);
    token = ctx.tokens.instructor;
    adminToken = ctx.tokens.admin;
    server = http.createServer(getRequestListener(app.fetch));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('deploys, shows status and the list, and destroys on the appliance', async () => {
    const deployed = await cli([
      'deploy',
      'server/scenarios/web-dmz.yaml',
      '--server',
      url,
      '--token',
      token,
      '--wait',
    ]);
    expect(deployed.stderr).toBe('');
    expect(deployed.code).toBe(0);
    const id = /deployment (\w+):/.exec(deployed.stdout)![1]!;
    expect(deployed.stdout).toContain('final state: ready');

    const status = await cli(['status', id, '--server', url, '--token', token, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).state).toBe('ready');
    expect((await cli(['list', '--server', url, '--token', token])).stdout).toContain(id);
    expect((await cli(['platforms', '--server', url, '--token', token])).stdout).toContain('simulator');

    const destroyed = await cli(['destroy', id, '--server', url, '--token', token]);
    expect(destroyed.stdout).toContain('final state: destroyed');
    expect(destroyed.code).toBe(0);
    // It ran on the appliance, attributed to the token's user.
    expect(app.web.audit.list().find((e) => e.action === 'deployment.destroy')?.username).toBe('teacher');
  });

  it('manages users on the appliance with an admin token; an instructor token is refused', async () => {
    const admin = ['--server', url, '--token', adminToken];
    const added = await cli(['users', 'add', 'remy', '--role', 'instructor', ...admin]);
    expect(added.code, added.stderr).toBe(0);
    const pw = /^password: (\S+) /.exec(added.stdout)![1]!;
    expect(await app.web.users.verifyLogin('remy', pw)).toBeDefined();
    expect((await cli(['users', ...admin])).stdout).toMatch(/remy +instructor +active/);
    expect((await cli(['users', 'set', 'remy', '--role', 'trainee', ...admin])).stdout).toBe('remy: trainee, active\n');
    const reset = await cli(['users', 'password', 'remy', ...admin]);
    expect(await app.web.users.verifyLogin('remy', pw)).toBeUndefined();
    expect(await app.web.users.verifyLogin('remy', /^password: (\S+) /.exec(reset.stdout)![1]!)).toBeDefined();
    expect((await cli(['users', 'remove', 'remy', ...admin])).code).toBe(0);
    const refused = await cli(['users', '--server', url, '--token', token]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Your role (instructor) may not do this; it needs admin');
    expect(
      app.web.audit
        .list()
        .filter((e) => e.target === 'user:remy')
        .map((e) => e.username),
    ).toEqual(['admin', 'admin', 'admin', 'admin']);
  });

  it('explains a bad token, a missing token and an invalid scenario', async () => {
    const bad = await cli(['list', '--server', url, '--token', 'gd_nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown or revoked');
    expect((await cli(['list', '--server', url])).code).toBe(2);
    const invalid = await cli(['deploy', 'package.json', '--server', url, '--token', token]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/line \d+|glassdome: 1|expected/);
  });
});
