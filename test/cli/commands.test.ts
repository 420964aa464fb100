import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './run-cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-cli-'));
const saved = { ...process.env };
beforeAll(() => {
  process.env.GLASSDOME_DATA_DIR = dir;
  process.env.GLASSDOME_SIM_SPEED = '3000';
});
afterAll(() => {
  process.env = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

const samples = fs
  .readdirSync('server/scenarios')
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join('server/scenarios', f));

describe('glassdome CLI', () => {
  it('validates the bundled samples with exit code 0', async () => {
    const r = await run('validate', ...samples);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(samples.length);
  });

  it('reports every problem with file, line and field, and exits 2 for invalid input', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      bad,
      'glassdome: 1\nname: Bad\ntitle: x\nnetworks:\n  - name: lan\n    vlan: 5000\nmachines:\n  - name: a\n    networks: [wan]\n',
    );
    const r = await run('validate', bad);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:2:7: name:`);
    expect(r.err).toContain(`${bad}:6:11: networks[0].vlan: expected a VLAN id from 1 to 4094`);
    // The schema problems do not hide the cross-field one.
    expect(r.err).toContain(`${bad}:9:16: machines[0].networks[0]: unknown network "wan"; expected one of lan`);
    expect(r.err).toContain(`${bad}: 3 problems`);
  });

  it('exits 2 for unknown commands, bad options and missing files', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('plan', samples[0]!, '--instances', 'zero')).code).toBe(2);
    expect((await run('plan', path.join(dir, 'missing.yaml'))).code).toBe(2);
    expect((await run('status', 'nosuchid')).code).toBe(2);
  });

  it('prints a plan as JSON with routers, addresses and VLANs per instance', async () => {
    const r = await run('plan', 'server/scenarios/web-dmz.yaml', '--instances', '2', '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan.instances).toBe(2);
    expect(plan.machines.filter((m: { role: string }) => m.role === 'router')).toHaveLength(2);
    const vlans = plan.networks
      .filter((n: { kind: string }) => n.kind === 'isolated')
      .map((n: { vlan: number }) => n.vlan);
    expect(new Set(vlans).size).toBe(vlans.length);
  });

  it('prints an AWS plan with the range router on its edge network and how each network reaches the internet', async () => {
    const r = await run('plan', 'server/scenarios/web-dmz.yaml', '--platform', 'aws');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/network uplink\s+10\.30\.0\.0\/28\s+gw 10\.30\.0\.1  internet\n/);
    expect(r.out).toMatch(/network dmz\s+10\.30\.1\.0\/24\s+gw 10\.30\.1\.1  internet via router\n/);
    expect(r.out).toMatch(/router\s+router\s+debian-12 .* 10\.30\.0\.4/);
    expect(r.out).toContain('dmz reaches the internet through the range router');
  });

  it('says in the plan which machines install from the package cache when GLASSDOME_PACKAGE_CACHE_URL is set', async () => {
    const file = path.join(dir, 'offline.yaml');
    fs.writeFileSync(
      file,
      [
        'glassdome: 1',
        'name: offline',
        'title: Offline',
        'networks:',
        '  - { name: lan, cidr: 10.9.0.0/24 }',
        '  - { name: red, cidr: 10.9.1.0/24 }',
        'machines:',
        '  - { name: db, os: debian-12, networks: [lan] }',
        '  - { name: kali, os: kali-rolling, networks: [red] }',
        '',
      ].join('\n'),
    );
    const without = await run('plan', file);
    expect(without.out).not.toContain('package cache');
    process.env.GLASSDOME_PACKAGE_CACHE_URL = 'http://192.0.2.10:3142';
    try {
      const r = await run('plan', file);
      expect(r.code).toBe(0);
      const lines = r.out.split('\n');
      expect(lines.find((l) => l.includes(' db '))).toMatch(/packages from the cache$/);
      expect(lines.find((l) => l.includes(' kali '))).not.toMatch(/packages from the cache/);
      expect(r.out).toContain(
        '\nnotes\n  router, db install packages from the package cache http://192.0.2.10:3142 (no internet on their networks; the range router lets them reach 192.0.2.10:3142 only)\n  kali installs nothing at first boot',
      );
    } finally {
      delete process.env.GLASSDOME_PACKAGE_CACHE_URL;
    }
  });

  it.each(samples)(
    'deploys %s on the simulator, reports it, and destroys it leaving nothing behind',
    async (file) => {
      const deployed = await run('deploy', file, '--wait');
      expect(deployed.code, deployed.err).toBe(0);
      const id = /deployment (\w+):/.exec(deployed.out)![1]!;
      expect(deployed.out).toContain('final state: ready');

      const status = await run('status', id, '--json');
      expect(status.code).toBe(0);
      const view = JSON.parse(status.out);
      expect(view.state).toBe('ready');
      for (const m of view.machines) {
        expect(m.state).toBe('ready');
        expect(m.platformId).toMatch(/^\d+$/);
        expect(m.steps.map((s: { kind: string }) => s.kind)).toEqual(['create', 'start', 'address', 'ready']);
        for (const s of m.steps) expect(Date.parse(s.endedAt)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
      }
      expect(JSON.stringify(view)).not.toMatch(/secret|passw/i);

      const destroyed = await run('destroy', id);
      expect(destroyed.code, destroyed.err).toBe(0);
      expect(destroyed.out).toContain('final state: destroyed');
      expect((await run('list')).out).toMatch(new RegExp(`${id}\\s+destroyed`));
    },
    120_000,
  );

  it('runs a deployment without --wait in a background process of its own, which takes it to ready', async () => {
    const deployed = await run('deploy', 'server/scenarios/web-dmz.yaml');
    expect(deployed.code, deployed.err).toBe(0);
    expect(deployed.out).toContain('running in the background');
    const id = /deployment (\w+):/.exec(deployed.out)![1]!;
    let state = '';
    for (let i = 0; i < 300 && !['ready', 'failed'].includes(state); i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = JSON.parse((await run('status', id, '--json')).out).state;
    }
    // A Node flag the background command line passes that this runtime refused would leave it pending, with the
    // reason in the deployment's log.
    expect(state, fs.readFileSync(path.join(dir, 'logs', `${id}.log`), 'utf8')).toBe('ready');
    expect((await run('destroy', id)).code).toBe(0);
  }, 60_000);
});
