// The gate before anything is created, for a plan whose machines install from the package cache: the cache must
// answer for its index from the appliance, or the deployment is refused naming the URL, the reason and the machines.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import type { PackageCache, Plan } from '../../server/model/plan.ts';
import { planDeployment } from '../../server/orchestrator/planner.ts';
import { checkBeforeCreating } from '../../server/orchestrator/run/gate-checks.ts';
import { parseScenario } from '../../server/orchestrator/scenario/parse.ts';
import type { Platform } from '../../server/platforms/platform.ts';

const scenario = parseScenario(`glassdome: 1
name: cached
title: Cached
networks:
  - { name: lan, cidr: 10.1.0.0/24 }
  - { name: red, cidr: 10.1.1.0/24 }
machines:
  - { name: db, os: debian-12, networks: [lan] }
`);

let server: http.Server;
let port = 0;
const asked: string[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    if (req.url === '/debian/Release') res.end('Origin: glassdome\n');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function planWith(cache: PackageCache): Plan {
  return planDeployment({
    deploymentId: 'gate',
    scenario,
    platform: 'proxmox',
    instances: 1,
    allocations: { subnets: {}, vlans: { '1/lan': 10, '1/red': 11 } },
    packageCache: cache,
  });
}
const cacheAt = (p: number, base = ''): PackageCache => ({
  url: `http://127.0.0.1:${p}${base}`,
  address: '127.0.0.1',
  port: p,
});
const platform = (kind: Platform['kind']) => ({ kind }) as unknown as Platform;
const gate = (kind: Platform['kind'], plan: Plan, created: string[] = []) =>
  checkBeforeCreating(platform(kind), plan, new Set(created), new AbortController().signal);

it('asks the cache for its index and notes that it answers', async () => {
  const plan = planWith(cacheAt(port));
  expect(plan.machines.filter((m) => m.packageCache).map((m) => m.key)).toEqual(['i1.router', 'i1.db']);
  const r = await gate('proxmox', plan);
  expect(r.notes).toContain(`package cache http://127.0.0.1:${port} answers (2 machine(s) install from it)`);
  expect(asked).toContain('/debian/Release');
});

it('refuses, naming the URL, the reason and the machines, when it does not answer or has no index', async () => {
  const closed = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const refused = await gate('esxi', planWith(cacheAt(closed))).catch((e: unknown) => e as AppError);
  expect(refused).toBeInstanceOf(AppError);
  expect((refused as AppError).message).toBe(
    `Unable to deploy "cached": the package cache does not answer at http://127.0.0.1:${closed}/debian/Release (ECONNREFUSED); router, db install from it at first boot`,
  );
  expect((refused as AppError).hint).toMatch(/^Nothing was created\. Start the cache/);
  const missing = await gate('proxmox', planWith(cacheAt(port, '/wrong'))).catch((e: unknown) => e as AppError);
  expect((missing as AppError).message).toContain(`at http://127.0.0.1:${port}/wrong/debian/Release (HTTP 404)`);
});

it('asks nothing on the simulator, or once every machine that uses the cache exists', async () => {
  const before = asked.length;
  const plan = planWith(cacheAt(port));
  expect((await gate('simulator', plan)).notes.some((n) => n.includes('package cache'))).toBe(false);
  expect((await gate('proxmox', plan, ['i1.router', 'i1.db'])).notes.some((n) => n.includes('package cache'))).toBe(
    false,
  );
  expect(asked.length).toBe(before);
});
