// Kills the CLI with SIGKILL at many points of a deployment and of its teardown, and checks that restarts
// complete it with every machine present exactly once, and that destroy then leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { twoTierScenario } from './helpers.ts';

const bin = path.resolve('server/cli/bin.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-crash-'));
const env = { ...process.env, GLASSDOME_DATA_DIR: dir, GLASSDOME_SIM_SPEED: '40', GLASSDOME_LEASE_SEC: '0.4' };
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function start(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

/** Waits until the process has made `lines` more lines of progress, then kills it with SIGKILL. */
async function killAfterProgress(p: ReturnType<typeof start>, lines: number, extraMs: number) {
  const deadline = Date.now() + 60_000;
  while (p.output().split('\n').length < lines + 1 && Date.now() < deadline && p.child.exitCode === null)
    await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, extraMs));
  p.child.kill('SIGKILL');
  return p.exit;
}

const query = <T>(sql: string, ...params: unknown[]) => {
  const db = new Database(path.join(dir, 'glassdome.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
};

describe('crash safety', () => {
  it('resumes a deployment killed at many points, creating every machine exactly once, then destroys it all', async () => {
    const file = path.join(dir, 'two-tier.yaml');
    fs.writeFileSync(file, twoTierScenario);

    const first = start(['deploy', file, '--instances', '3', '--wait']);
    await killAfterProgress(first, 3, 50);
    const id = /deployment (\w+):/.exec(first.output())?.[1];
    expect(id, first.output()).toBeDefined();

    // Kill the resumed run again and again, each time at a different point.
    const kills = [
      [2, 0],
      [4, 30],
      [3, 120],
      [6, 10],
      [2, 250],
      [8, 60],
      [5, 5],
      [10, 90],
    ] as const;
    let killed = 0;
    for (const [lines, ms] of kills) {
      const p = start(['resume', id!]);
      const code = await killAfterProgress(p, lines, ms);
      if (code === 0) break; // finished before we could kill it
      if (code === null) killed++;
    }
    // The kills landed mid-run, not after the work was done.
    expect(killed, `kills of ${kills.length} that landed mid-run`).toBeGreaterThanOrEqual(6);
    const last = start(['resume', id!]);
    expect(await last.exit, last.output()).toBe(0);

    const [dep] = query<{ state: string; plan: string }>('SELECT state, plan FROM deployments WHERE id = ?', id);
    expect(dep!.state).toBe('ready');
    const planned = (JSON.parse(dep!.plan) as { machines: Array<{ resourceName: string }> }).machines
      .map((m) => m.resourceName)
      .sort();
    const machines = query<{ name: string; n: number }>(
      'SELECT name, count(*) AS n FROM sim_machines WHERE deployment_id = ? GROUP BY name ORDER BY name',
      id,
    );
    expect(machines.map((m) => m.name)).toEqual(planned);
    expect(machines.filter((m) => m.n !== 1)).toEqual([]);
    expect(query('SELECT key FROM steps WHERE deployment_id = ? AND state != ?', id, 'done')).toEqual([]);
    const resumedLines = query<{ message: string }>(
      "SELECT message FROM events WHERE deployment_id = ? AND message LIKE 'resumed by process%'",
      id,
    );
    expect(resumedLines.length).toBeGreaterThan(0);

    // Teardown killed half-way also completes on restart, leaving no machine, network, VLAN or subnet behind.
    const destroy = start(['destroy', id!]);
    await killAfterProgress(destroy, 4, 0);
    const again = start(['resume', id!]);
    expect(await again.exit, again.output()).toBe(0);
    expect(query<{ state: string }>('SELECT state FROM deployments WHERE id = ?', id)[0]!.state).toBe('destroyed');
    expect(query('SELECT name FROM sim_machines WHERE deployment_id = ?', id)).toEqual([]);
    expect(query('SELECT name FROM sim_networks WHERE deployment_id = ?', id)).toEqual([]);
    expect(query('SELECT vlan FROM vlan_allocations WHERE deployment_id = ?', id)).toEqual([]);
    expect(query('SELECT cidr FROM subnet_allocations WHERE deployment_id = ?', id)).toEqual([]);
  }, 240_000);
});
