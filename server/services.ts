// Wires the domain once for a process (the server or the CLI): database, key, pools, platforms, events, runner.
// Pure construction: nothing starts running here.
import type { Config } from './config.ts';
import { openDb, type Db } from './db/client.ts';
import { createIpam } from './ipam/pools.ts';
import { createEventBus } from './orchestrator/events.ts';
import { createRunner, type RunnerOptions } from './orchestrator/run/runner.ts';
import { createPlatformStore } from './platforms/store.ts';
import { createSecretBox, loadOrCreateKey } from './secret-box.ts';
import crypto from 'node:crypto';
import path from 'node:path';

export interface ServiceOptions {
  config: Config;
  /** An open database; by default the one in the data folder. */
  db?: Db;
  /** The appliance key; by default the key file in the data folder (created on first start). */
  key?: Buffer;
  runner?: Partial<Omit<RunnerOptions, 'db' | 'events' | 'platforms' | 'ipam' | 'box'>>;
}

export function createServices(opts: ServiceOptions) {
  const { config } = opts;
  const db = opts.db ?? openDb(config.dbFile);
  const key = opts.key ?? (opts.db ? crypto.randomBytes(32) : loadOrCreateKey(config.dataDir));
  const box = createSecretBox(key);
  const ipam = createIpam(db);
  // An in-memory database (tests) gets no cache folder; the drivers fall back to a temporary one.
  const platforms = createPlatformStore(db, box, opts.db ? {} : { cacheDir: path.join(config.dataDir, 'cache') });
  const events = createEventBus(db);
  const runner = createRunner({ db, events, platforms, ipam, box, leaseMs: config.leaseMs, ...opts.runner });
  ipam.seedDefaults();
  platforms.ensureSimulator({ speed: config.sim.speed, seed: config.sim.seed });
  return {
    config,
    db,
    box,
    ipam,
    platforms,
    events,
    runner,
    async close() {
      await runner.shutdown();
      await platforms.closeAll();
      db.$client.close();
    },
  };
}

export type Services = ReturnType<typeof createServices>;
