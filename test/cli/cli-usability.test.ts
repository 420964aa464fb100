// The command line as people use it: help that helps, pipes closed early, platforms managed without the web, and
// interrupted deployments picked up again, every change audited as the local user.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { createServices } from '../../server/services.ts';
import { run } from './run-cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-cli-use-'));
const bin = path.resolve('server/cli/bin.mjs');
const saved = { ...process.env };
beforeAll(() => {
  process.env.GLASSDOME_DATA_DIR = dir;
  process.env.GLASSDOME_SIM_SPEED = '3000';
});
afterAll(() => {
  process.env = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

const db = () => new Database(path.join(dir, 'glassdome.db'));

describe('glassdome command line', () => {
  it('prints the usage for --help, -h and help, and succeeds', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await run(flag);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
      expect(r.out).toContain('Usage: glassdome <command>');
      expect(r.out).toContain('resume ID');
      expect(r.out).toContain('platforms add KIND --name NAME --config FILE');
    }
  });

  it('ends quietly when the reader of its output goes away (| head -1)', () => {
    fs.writeFileSync(path.join(dir, 'x.yaml'), fs.readFileSync('server/scenarios/class-20.yaml'));
    const r = spawnSync(
      'sh',
      ['-c', `"${process.execPath}" "${bin}" plan "${path.join(dir, 'x.yaml')}" --instances 200 --json | head -1`],
      {
        encoding: 'utf8',
        env: { ...process.env, GLASSDOME_DATA_DIR: dir },
      },
    );
    expect(r.stdout).toBe('{\n');
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });

  it('adds, tests and removes a platform, the secret read from the file, never echoed, and audits each step', async () => {
    const file = path.join(dir, 'sim.yaml');
    fs.writeFileSync(file, 'speed: 3000\nstorages: [fast, slow]\nsecret: not-used-but-sealed\n');
    const added = await run('platforms', 'add', 'simulator', '--name', 'lab-sim', '--config', file);
    expect(added.code, added.err).toBe(0);
    expect(added.out).toMatch(/^added simulator platform lab-sim \(p[0-9a-f]+\), secret stored sealed/);
    expect(added.out + added.err).not.toContain('not-used-but-sealed');
    const listed = await run('platforms', '--json');
    const row = (
      JSON.parse(listed.out) as Array<{ name: string; config: Record<string, unknown>; hasSecret: boolean }>
    ).find((p) => p.name === 'lab-sim')!;
    expect(row).toMatchObject({ hasSecret: true, config: { speed: 3000, storages: ['fast', 'slow'] } });
    const tested = await run('platforms', 'test', 'lab-sim');
    expect(tested.code).toBe(0);
    expect(tested.out).toMatch(/^ok: Glassdome simulator/);
    const removed = await run('platforms', 'remove', 'lab-sim');
    expect(removed.out).toBe('removed platform lab-sim\n');
    const d = db();
    const actions = d
      .prepare("SELECT action, username FROM audit_log WHERE target = 'platform:lab-sim' ORDER BY id")
      .all() as Array<{ action: string; username: string }>;
    d.close();
    expect(actions.map((a) => a.action)).toEqual(['platform.create', 'platform.test', 'platform.delete']);
    expect(actions.every((a) => a.username.startsWith('cli:'))).toBe(true);
  });

  it('manages users without the web, and resets a forgotten admin password on the appliance itself', async () => {
    const added = await run('users', 'add', 'root-one', '--role', 'admin');
    expect(added.code, added.err).toBe(0);
    const generated = /^password: (\S+) /.exec(added.out)![1]!;
    expect(generated.length).toBeGreaterThanOrEqual(20);
    expect(added.out).toMatch(/added admin root-one \(u[0-9a-f]+\) on this appliance/);
    const services = createServices({ config: loadConfig(), runner: {} });
    try {
      expect(await services.users.verifyLogin('root-one', generated)).toBeDefined();
      // Forgotten: the local command, fed the new password on stdin (never on the command line), lets the admin in.
      const reset = spawnSync(process.execPath, [bin, 'users', 'password', 'root-one', '--password-stdin'], {
        input: 'a brand new admin password\n',
        encoding: 'utf8',
        env: { ...process.env, GLASSDOME_DATA_DIR: dir },
      });
      expect(reset.status, reset.stderr).toBe(0);
      expect(reset.stdout).toContain('root-one: password reset');
      expect(reset.stdout + reset.stderr).not.toContain('a brand new admin password');
      expect(await services.users.verifyLogin('root-one', generated)).toBeUndefined();
      expect(await services.users.verifyLogin('root-one', 'a brand new admin password')).toBeDefined();
    } finally {
      await services.close();
    }
    // The last admin cannot be disabled or removed; a trainee can be added, disabled and removed.
    const lastAdmin = await run('users', 'set', 'root-one', '--disable');
    expect(lastAdmin.code).toBe(1);
    expect(lastAdmin.err).toContain('"root-one" is the last enabled admin');
    expect((await run('users', 'add', 'tina', '--role', 'trainee')).code).toBe(0);
    expect((await run('users', 'set', 'tina', '--disable')).out).toBe('tina: trainee, disabled\n');
    expect((await run('users')).out).toMatch(/tina +trainee +disabled/);
    expect((await run('users', 'remove', 'tina')).out).toBe('removed tina from this appliance\n');
    // Bad input names what is wrong and changes nothing.
    const badRole = await run('users', 'add', 'zed', '--role', 'root');
    expect(badRole.code).toBe(2);
    expect(badRole.err).toMatch(/--role: /);
    const short = spawnSync(process.execPath, [bin, 'users', 'add', 'zed', '--role', 'trainee', '--password-stdin'], {
      input: 'short\n',
      encoding: 'utf8',
      env: { ...process.env, GLASSDOME_DATA_DIR: dir },
    });
    expect(short.status).toBe(2);
    expect(short.stderr).toContain('password: at least 10 characters');
    expect((await run('users')).out).not.toContain('zed');
    const d = db();
    const actions = d
      .prepare("SELECT action, username FROM audit_log WHERE target LIKE 'user:%' ORDER BY id")
      .all() as Array<{ action: string; username: string }>;
    d.close();
    expect(actions.map((a) => a.action)).toEqual([
      'user.create',
      'user.update',
      'user.create',
      'user.update',
      'user.delete',
    ]);
    expect(actions.every((a) => a.username.startsWith('cli:'))).toBe(true);
  });

  it('refuses a bad platform definition with what is wrong, and changes nothing', async () => {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'speed: fast\n');
    const r = await run('platforms', 'add', 'simulator', '--name', 'broken', '--config', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Invalid simulator configuration: speed: /);
    expect((await run('platforms', 'add', 'vmware', '--name', 'x', '--config', file)).err).toMatch(
      /unknown platform kind "vmware"; expected one of simulator, proxmox, esxi, aws, azure/,
    );
    expect((await run('platforms')).out).not.toContain('broken');
  });

  it('retries an interrupted deployment by resuming it, and destroys it afterwards', async () => {
    const deployed = await run('deploy', 'server/scenarios/web-dmz.yaml', '--wait');
    const id = /deployment (\w+):/.exec(deployed.out)![1]!;
    // As a process killed mid-deployment leaves it: in progress, its claim expired.
    const d = db();
    d.prepare("UPDATE deployments SET state = 'deploying', lease_owner = 'gone-1', lease_until = 1 WHERE id = ?").run(
      id,
    );
    d.prepare("UPDATE steps SET state = 'running' WHERE deployment_id = ? AND kind = 'ready'").run(id);
    d.close();
    const retried = await run('retry', id);
    expect(retried.code, retried.err).toBe(0);
    expect(retried.out).toContain('final state: ready');
    const destroyed = await run('destroy', id);
    expect(destroyed.out).toContain('final state: destroyed');
  });
});
