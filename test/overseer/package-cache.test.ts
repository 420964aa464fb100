// A range planned with the appliance's package cache, end to end on the simulator: GLASSDOME_PACKAGE_CACHE_URL
// reaches the stored plan, the machines' first-boot data, and the router's firewall, which the overseer's health
// sweep reads back through the guest channel and finds as planned (its cache rule included).
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import { createServices, type Services } from '../../server/services.ts';
import { deployReady, testClock } from './helpers.ts';

const scenario = `
glassdome: 1
name: cache-range
title: Cache range
networks:
  - { name: lan, cidr: 10.1.0.0/24 }
  - { name: red, cidr: 10.1.1.0/24 }
machines:
  - { name: db, os: debian-12, networks: [lan] }
  - { name: kali, os: kali-rolling, networks: [red] }
`;

describe('a range with the package cache configured', () => {
  let s: Services | undefined;
  afterEach(async () => {
    await s?.close();
  });

  it('plans, boots and reads back its router as the cache setting says', async () => {
    const clock = testClock();
    s = createServices({
      config: loadConfig({
        GLASSDOME_DATA_DIR: '/nonexistent-test-dir',
        GLASSDOME_SIM_SPEED: '2000',
        GLASSDOME_PACKAGE_CACHE_URL: 'http://192.0.2.10:3142',
      }),
      db: openDb(':memory:'),
      runner: { retry: { attempts: 8, baseMs: 200, maxMs: 2000 }, leaseMs: 2000 },
      overseer: { now: clock.now, log: () => {}, options: { agentGraceMs: 120_000 } },
    });
    const id = await deployReady(s, scenario);
    const plan = s.deployments.get(id).plan;
    expect(plan.packageCache).toEqual({ url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 });
    expect(plan.machines.map((m) => [m.key, m.packageCache === true])).toEqual([
      ['i1.router', true],
      ['i1.db', true],
      ['i1.kali', false],
    ]);
    const firstBoot = (key: string) => {
      const name = plan.machines.find((m) => m.key === key)!.resourceName;
      const row = s!.db.$client.prepare('SELECT first_boot AS fb FROM sim_machines WHERE name = ?').get(name) as {
        fb: string;
      };
      return parse(row.fb, { version: '1.1' }) as Record<string, any>;
    };
    expect(firstBoot('i1.db').apt.sources.glassdome.source).toBe('deb [trusted=yes] http://192.0.2.10:3142/debian/ ./');
    expect(firstBoot('i1.router').packages).toEqual(['qemu-guest-agent', 'nftables', 'dnsmasq']);
    expect(firstBoot('i1.kali').apt).toBeUndefined();
    const nft = firstBoot('i1.router').write_files.find((f: any) => f.path === '/etc/nftables.conf').content;
    expect(nft).toContain('ip saddr 10.1.0.10 ip daddr 192.0.2.10 tcp dport 3142 accept comment "gd:package-cache"');

    const r = await s.overseer.run(systemActor, 'health');
    if (r.state !== 'ran') throw new Error(`health skipped: ${r.reason}`);
    expect(r.run.result, r.run.summary).toBe('ok');
    expect(s.overseer.findings.list({ state: 'open' })).toEqual([]);
    expect(s.overseer.health(id).find((h) => h.key === 'i1.router')!.router).toBe('ok');
  });
});
