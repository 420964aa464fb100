// Wires the domain once for a process (the server or the CLI): database, key, audit log, accounts, pools, platforms,
// events, the executor, deployments, machines, their lifecycle, quotas, snapshots, testing mode and VPN peers, the
// scenario library, flags, the knowledge base and CVE research, trainee access, template builds and the overseer. Pure
// construction: nothing starts here (main.ts starts the runner's sweep, the overseer, the knowledge base and cve.db).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAccess, type AccessOptions } from './access/index.ts';
import { createAssignments } from './accounts/assignments.ts';
import { createAudit } from './accounts/audit-log.ts';
import { createSessions } from './accounts/sessions.ts';
import { createSetup } from './accounts/setup-state.ts';
import { createTokens } from './accounts/tokens.ts';
import { createUsers } from './accounts/users.ts';
import { aptRepositoryUrl } from './agents/package-cache.ts';
import type { Config } from './config.ts';
import { openDb, type Db } from './db/client.ts';
import { secureDataDir } from './db/data-dir.ts';
import { createIpam } from './ipam/pools.ts';
import { createCveResearch } from './orchestrator/cve-research.ts';
import { createDeploymentFlags } from './orchestrator/deployment-flags.ts';
import { createDeployments } from './orchestrator/deployments.ts';
import { createEventBus } from './orchestrator/event-bus.ts';
import { createKnowledgeBase } from './orchestrator/knowledge-base.ts';
import { createGuestChannel } from './orchestrator/guest-channel.ts';
import { createInstanceSnapshots } from './orchestrator/instance-snapshots.ts';
import { createLifecycle } from './orchestrator/lifecycle.ts';
import { createQuotas } from './orchestrator/quotas.ts';
import { createRangeAccess } from './orchestrator/ssh-targets.ts';
import { createTemplateBuilds } from './orchestrator/template-builds.ts';
import { createTestingMode } from './orchestrator/testing-mode.ts';
import { createVpnPeers } from './orchestrator/vpn-peers.ts';
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
  /** Consoles, terminals and VPN: link lifetime, re-check interval, terminal idle time and routing. */
  access?: AccessOptions;
  /** The overseer's clock and options (tests inject a clock and shorten its waits). */
  overseer?: Pick<OverseerDeps, 'now' | 'log' | 'options'>;
}

export function createServices(opts: ServiceOptions) {
  const { config } = opts;
  // The data folder holds secrets and hashes: private to this user, also when an older version made it readable.
  if (!opts.db) secureDataDir(config.dataDir);
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
  const access = createAccess({ db, platforms, box, audit }, opts.access);
  ipam.seedDefaults();
  platforms.ensureSimulator({ speed: config.sim.speed, seed: config.sim.seed });
  const library = createLibrary(db, audit);
  // The knowledge index and the CVE data live in the data folder; with an in-memory database and no data folder
  // (tests), in a temporary one removed at close.
  let scratch: string | undefined;
  const filesDir = () =>
    opts.db && !fs.existsSync(config.dataDir)
      ? (scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-data-')))
      : config.dataDir;
  const knowledge = createKnowledgeBase({
    dataDir: filesDir,
    modelDir: config.knowledge.modelDir,
    model: config.knowledge.model,
    db,
    library,
    events,
    audit,
    onWarning: (m) => console.warn(`glassdome: knowledge base: ${m}`),
  });
  const research = createCveResearch({ dataDir: filesDir, feedsDir: config.research.feedsDir, db, box, audit });
  const lifecycle = createLifecycle({ db, platforms, audit, events });
  const quotas = createQuotas({ db, audit });
  const rangeAccess = createRangeAccess({ db, box });
  // SSH into a range (platforms without a guest channel) is tried briefly: the health sweep asks every minute.
  const channel = createGuestChannel({
    db,
    platforms,
    access: rangeAccess,
    ssh: { connectTimeoutMs: 8000, retry: { attempts: 2, baseMs: 1000, maxMs: 2000 } },
  });
  const snapshots = createInstanceSnapshots({ db, platforms, audit, events, lifecycle });
  const testing = createTestingMode({ db, platforms, audit, events, snapshots, channel });
  const vpnPeers = createVpnPeers({ db, box, audit, events, channel });
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
    events,
    vpnPeers,
    packageCache: config.packageCache,
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
    vpnPeers,
    access: rangeAccess,
    channel,
    knowledge,
    ...opts.overseer,
    // The guest-agent fix installs from the cache a machine's plan names; this one is for machines planned without it.
    options: {
      ...(config.packageCache ? { packageCacheUrl: aptRepositoryUrl(config.packageCache) } : {}),
      ...opts.overseer?.options,
    },
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
    rangeAccess,
    channel,
    snapshots,
    testing,
    vpnPeers,
    overseer,
    machines: createMachineActions({ db, platforms, box, audit }),
    templateBuilds: createTemplateBuilds({ platforms, audit }),
    access,
    library,
    flags: createDeploymentFlags({ db, box, audit }),
    knowledge,
    research,
    async close() {
      await overseer.stop();
      await access.close();
      await runner.shutdown();
      await channel.close();
      await Promise.all([knowledge.close(), research.close()]);
      await platforms.closeAll();
      db.$client.close();
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export type Services = ReturnType<typeof createServices>;
