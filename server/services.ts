// Wires the domain once for a process (the server or the CLI): database, key, audit log, accounts, pools, platforms,
// events, the executor, deployments, machines, their lifecycle, quotas, snapshots and testing mode, the scenario
// library and the overseer. Pure construction: nothing starts here (main.ts starts the runner's sweep and the overseer).
import crypto from 'node:crypto';
import path from 'node:path';
import { createAssignments } from './accounts/assignments.ts';
import { createAudit } from './accounts/audit-log.ts';
import { createSessions } from './accounts/sessions.ts';
import { createSetup } from './accounts/setup-state.ts';
import { createTokens } from './accounts/tokens.ts';
import { createUsers } from './accounts/users.ts';
import type { Config } from './config.ts';
import { openDb, type Db } from './db/client.ts';
import { createIpam } from './ipam/pools.ts';
import { createDeployments } from './orchestrator/deployments.ts';
import { createEventBus } from './orchestrator/event-bus.ts';
import { createGuestChannel } from './orchestrator/guest-channel.ts';
import { createInstanceSnapshots } from './orchestrator/instance-snapshots.ts';
import { createLifecycle } from './orchestrator/lifecycle.ts';
import { createQuotas } from './orchestrator/quotas.ts';
import { createRangeAccess } from './orchestrator/ssh-targets.ts';
import { createTestingMode } from './orchestrator/testing-mode.ts';
import { createLibrary } from './orchestrator/library.ts';
import { createMachineActions } from './orchestrator/machine-actions.ts';
import type { OverseerDeps } from './overseer/context.ts';
import { createOverseer } from './overseer/overseer.ts';
import { createRunner, type RunnerOptions } from './orchestrator/run/runner.ts';
import { createPlatformStore } from './platforms/store.ts';
import { createSecretBox, loadOrCreateKey } from './secret-box.ts';

export interface ServiceOptions {
  config: Config;
  /** An open database; by default the one in the data folder. */
  db?: Db;
  /** The appliance key; by default the key file in the data folder (created on first start). */
  key?: Buffer;
  runner?: Partial<Omit<RunnerOptions, 'db' | 'events' | 'platforms' | 'ipam' | 'box'>>;
  /** The overseer's clock and options (tests inject a clock and shorten its waits). */
  overseer?: Pick<OverseerDeps, 'now' | 'log' | 'options'>;
}

export function createServices(opts: ServiceOptions) {
  const { config } = opts;
  const db = opts.db ?? openDb(config.dbFile);
  const key = opts.key ?? (opts.db ? crypto.randomBytes(32) : loadOrCreateKey(config.dataDir));
  const box = createSecretBox(key);
  const audit = createAudit(db);
  const sessions = createSessions(db, audit);
  const tokens = createTokens(db, audit);
  const users = createUsers(db, { audit, sessions, tokens });
  const assignments = createAssignments(db);
  const ipam = createIpam(db, audit);
  // An in-memory database (tests) gets no cache folder; the drivers fall back to a temporary one.
  const platforms = createPlatformStore(
    db,
    box,
    audit,
    opts.db ? {} : { cacheDir: path.join(config.dataDir, 'cache') },
  );
  const events = createEventBus(db);
  const runner = createRunner({ db, events, platforms, ipam, box, leaseMs: config.leaseMs, ...opts.runner });
  ipam.seedDefaults();
  platforms.ensureSimulator({ speed: config.sim.speed, seed: config.sim.seed });
  const lifecycle = createLifecycle({ db, platforms, audit, events });
  const quotas = createQuotas({ db, audit });
  const access = createRangeAccess({ db, box });
  // SSH into a range (platforms without a guest channel) is tried briefly: the health sweep asks every minute.
  const channel = createGuestChannel({
    db,
    platforms,
    access,
    ssh: { connectTimeoutMs: 8000, retry: { attempts: 2, baseMs: 1000, maxMs: 2000 } },
  });
  const snapshots = createInstanceSnapshots({ db, platforms, audit, events, lifecycle });
  const testing = createTestingMode({ db, platforms, audit, events, snapshots, channel });
  const deployments = createDeployments({
    db,
    ipam,
    platforms,
    box,
    runner,
    audit,
    assignments,
    users,
    lifecycle,
    quotas,
  });
  const overseer = createOverseer({
    db,
    platforms,
    events,
    audit,
    runner,
    deployments,
    lifecycle,
    testing,
    access,
    channel,
    ...opts.overseer,
  });
  return {
    config,
    db,
    box,
    audit,
    sessions,
    tokens,
    users,
    assignments,
    setup: createSetup(db, audit),
    ipam,
    platforms,
    events,
    runner,
    deployments,
    lifecycle,
    quotas,
    access,
    channel,
    snapshots,
    testing,
    overseer,
    machines: createMachineActions({ db, platforms, box, audit }),
    library: createLibrary(db, audit),
    async close() {
      await overseer.stop();
      await runner.shutdown();
      await channel.close();
      await platforms.closeAll();
      db.$client.close();
    },
  };
}

export type Services = ReturnType<typeof createServices>;
