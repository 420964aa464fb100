// Builds the domain for tests: an in-memory database, the simulator at high speed, small backoff.
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { createServices } from '../../server/services.ts';
import { systemActor } from '../../server/model/audit.ts';

export function testServices(sim: Record<string, unknown> = {}, runner: Record<string, unknown> = {}) {
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir', GLASSDOME_SIM_SPEED: '2000' }),
    db: openDb(':memory:'),
    runner: { retry: { attempts: 8, baseMs: 200, maxMs: 2000 }, leaseMs: 2000, ...runner },
  });
  if (Object.keys(sim).length > 0)
    services.platforms.update(systemActor, 'simulator', { config: { speed: 2000, ...sim } });
  return services;
}

export const twoTierScenario = `
glassdome: 1
name: two-tier
title: Two tiers
networks:
  - name: lan
    cidr: 10.1.0.0/24
  - name: dmz
    internet: true
machines:
  - name: db
    networks: [lan]
  - name: web
    count: 2
    networks: [dmz, lan]
    dependsOn: [db]
  - name: kali
    os: kali-rolling
    networks: [dmz]
`;
