// Overseer test helpers: the domain over an in-memory database and the simulator at high speed, with the overseer's
// clock injected (tests move it, nobody sleeps) and its log kept; and a deployment run to ready.
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor, type Actor } from '../../server/model/audit.ts';
import type { OverseerOptions } from '../../server/overseer/context.ts';
import { createServices, type Services } from '../../server/services.ts';

export interface TestClock {
  now: () => Date;
  set(d: Date | string): void;
  advance(ms: number): void;
}

export function testClock(start: Date | string = '2030-01-01T08:00:00.000Z'): TestClock {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    set: (d) => void (t = new Date(d).getTime()),
    advance: (ms) => void (t += ms),
  };
}

export function overseerServices(
  opts: { sim?: Record<string, unknown>; options?: Partial<OverseerOptions>; clock?: TestClock } = {},
) {
  const clock = opts.clock ?? testClock();
  const logs: string[] = [];
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir', GLASSDOME_SIM_SPEED: '2000' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 8, baseMs: 200, maxMs: 2000 }, leaseMs: 2000 },
    overseer: { now: clock.now, log: (l) => logs.push(l), options: { agentGraceMs: 120_000, ...opts.options } },
  });
  if (opts.sim) services.platforms.update(systemActor, 'simulator', { config: { speed: 2000, ...opts.sim } });
  return { services, clock, logs };
}

/** Deploys a scenario on the simulator and waits until it is ready. */
export async function deployReady(s: Services, yaml: string, actor: Actor = systemActor, instances?: number) {
  const { id } = s.deployments.create(actor, {
    yaml,
    file: 'test.yaml',
    platform: 'simulator',
    ...(instances ? { instances } : {}),
  });
  const state = await s.runner.run(id);
  if (state !== 'ready') throw new Error(`deployment ${id} ended ${state}: ${s.deployments.get(id).error}`);
  return id;
}

/** A created machine's platform ref. */
export function refOf(s: Services, id: string, key: string) {
  const r = s.deployments.get(id).resources.find((x) => x.key === key);
  if (!r?.externalId) throw new Error(`machine ${key} of ${id} has no platform id`);
  return { id: r.externalId, name: r.name };
}

export const labScenario = `
glassdome: 1
name: overseer-lab
title: Overseer lab
networks:
  - name: lan
    cidr: 10.1.0.0/24
  - name: dmz
    internet: true
machines:
  - name: db
    networks: [lan]
  - name: web
    networks: [dmz, lan]
    dependsOn: [db]
`;
