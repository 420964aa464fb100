// web-dmz.yaml with two instances, deployed and destroyed through the domain (services, the executor) on an AWS
// platform pointed at moto. moto never shows a first-boot line on a console, so the first run stops at what moto can
// show (networks, machines, launches, addresses) and its readiness steps time out; the second lets the proxy play
// the guests' consoles and runs to ready. Both must leave moto as they found it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../server/config.ts';
import { openDb } from '../../../server/db/client.ts';
import { createDeployment } from '../../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../../server/orchestrator/deployment-reads.ts';
import { createServices, type Services } from '../../../server/services.ts';
import { simulatedGuests } from '../ec2-proxy.ts';
import { motoState, region, startAwsTarget, type AwsTarget } from './helpers.ts';
import { systemActor } from '../../../server/model/audit.ts';

const yaml = readFileSync(
  path.resolve(new URL('../../..', import.meta.url).pathname, 'server/scenarios/web-dmz.yaml'),
  'utf8',
);
let t: AwsTarget | undefined;
let s: Services | undefined;
let baseline: Awaited<ReturnType<typeof motoState>>;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws e2e] skipped: ${r.skip}`);
    return;
  }
  t = r;
  baseline = await motoState(t.ec2);
});
afterEach(async () => {
  await s?.close();
  s = undefined;
  if (t) t.proxy.options.console = undefined;
});
afterAll(async () => t?.stop());

function services(readyMs: number): Services {
  const svc = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 2, baseMs: 50, maxMs: 200 }, timeouts: { addressMs: 30_000, readyMs }, leaseMs: 5000 },
  });
  svc.platforms.add(systemActor, {
    name: 'aws-moto',
    kind: 'aws',
    config: {
      region,
      accessKeyId: 'AKIATESTTESTTEST0000',
      endpoint: t!.proxy.endpoint,
      poll: { minMs: 100, maxMs: 300 },
    },
    secret: 'test-secret',
  });
  return svc;
}

const stepsOf = (svc: Services, id: string) => svc.deployments.get(id).steps;

describe('web-dmz on AWS (moto), two instances, through the executor', () => {
  it('deploys networks, machines and launches, stops at readiness moto cannot show, and destroys everything', async (ctx) => {
    if (!t) return ctx.skip();
    s = services(1500);
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2 });
    expect(await s.runner.run(id)).toBe('failed');
    const steps = stepsOf(s, id);
    const state = (key: string) => steps.find((x) => x.key === key)?.state;
    for (const i of [1, 2]) {
      for (const n of ['dmz', 'internal', 'attack']) expect(state(`net:i${i}.${n}`)).toBe('done');
      for (const m of ['web-1', 'web-2', 'db', 'attacker']) expect(state(`i${i}.${m}:create`)).toBe('done');
      for (const m of ['db', 'attacker']) {
        expect(state(`i${i}.${m}:start`)).toBe('done');
        expect(state(`i${i}.${m}:address`)).toBe('done');
        expect(state(`i${i}.${m}:ready`)).toBe('failed');
        expect(steps.find((x) => x.key === `i${i}.${m}:ready`)!.error).toMatch(
          /did not report the end of its first boot .* its console output has no "GLASSDOME-READY gd-.*" line/,
        );
      }
      // web-1 and web-2 depend on db being ready: never started.
      for (const m of ['web-1', 'web-2']) expect(state(`i${i}.${m}:start`)).toBe('skipped');
    }
    const machines = Object.fromEntries(machineStatus(s.deployments.get(id)).map((m) => [m.key, m]));
    expect(machines['i2.db']!.addresses).toEqual(['10.30.2.10']);
    expect(machines['i1.attacker']!.addresses).toEqual(machines['i1.attacker']!.plannedAddresses);
    expect((await motoState(t.ec2)).vpcs).toHaveLength(baseline.vpcs.length + 2);

    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });

  it('runs to ready when the guests print their first-boot line (played by the proxy), and destroys everything', async (ctx) => {
    if (!t) return ctx.skip();
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
    s = services(20_000);
    const { id } = createDeployment(s, { yaml, file: 'web-dmz.yaml', platform: 'aws-moto', instances: 2 });
    expect(await s.runner.run(id)).toBe('ready');
    const steps = stepsOf(s, id);
    const at = (key: string, end: 'startedAt' | 'endedAt') => steps.find((x) => x.key === key)![end]!;
    for (const i of [1, 2]) expect(at(`i${i}.web-1:start`, 'startedAt') >= at(`i${i}.db:ready`, 'endedAt')).toBe(true);
    const owned = await (await s.platforms.instance('aws-moto')).listOwned(id);
    expect(owned.filter((o) => o.kind === 'machine')).toHaveLength(8);
    expect(owned.filter((o) => o.kind === 'network')).toHaveLength(6);

    expect(await s.runner.destroy(id)).toBe('destroyed');
    expect(await motoState(t.ec2)).toEqual(baseline);
  });
});
