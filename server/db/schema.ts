// The SQLite schema (drizzle). Migrations are generated from this file by `npm run db:generate` and committed.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

/** A configured deployment target. `secret` is sealed with the appliance key; `config` holds no secret. */
export const platforms = sqliteTable('platforms', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind').notNull(),
  config: text('config', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  secret: text('secret'),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

/** A range of addresses from which scenario networks without a cidr get a subnet. */
export const cidrPools = sqliteTable('cidr_pools', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  cidr: text('cidr').notNull().unique(),
  subnetPrefix: integer('subnet_prefix').notNull().default(24),
  createdAt: text('created_at').notNull().default(now),
});

export const vlanPools = sqliteTable('vlan_pools', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  first: integer('first').notNull(),
  last: integer('last').notNull(),
  createdAt: text('created_at').notNull().default(now),
});

export const subnetAllocations = sqliteTable(
  'subnet_allocations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    poolId: integer('pool_id')
      .notNull()
      .references(() => cidrPools.id),
    cidr: text('cidr').notNull().unique(),
    deploymentId: text('deployment_id').notNull(),
    network: text('network').notNull(),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [index('subnet_allocations_deployment').on(t.deploymentId)],
);

/** VLAN ids are unique across the appliance: every platform it drives may share the same switches. */
export const vlanAllocations = sqliteTable(
  'vlan_allocations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    vlan: integer('vlan').notNull().unique(),
    deploymentId: text('deployment_id').notNull(),
    label: text('label').notNull(),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [index('vlan_allocations_deployment').on(t.deploymentId)],
);

export const deployments = sqliteTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    scenarioName: text('scenario_name').notNull(),
    scenarioFile: text('scenario_file').notNull(),
    scenarioYaml: text('scenario_yaml').notNull(),
    platformId: text('platform_id')
      .notNull()
      .references(() => platforms.id),
    instances: integer('instances').notNull(),
    state: text('state').notNull(),
    /** The plan (JSON); it holds no secrets. */
    plan: text('plan', { mode: 'json' }).notNull(),
    /** Sealed per-deployment secret from which generated machine passwords are derived. */
    secret: text('secret').notNull(),
    error: text('error'),
    /** The process executing it and until when its claim holds; an expired lease means it was interrupted. */
    leaseOwner: text('lease_owner'),
    leaseUntil: integer('lease_until'),
    /** A cancel or destroy asked by a process that does not hold the lease; the holder (or the next one) carries it out. */
    requested: text('requested'),
    createdAt: text('created_at').notNull().default(now),
    updatedAt: text('updated_at').notNull().default(now),
    finishedAt: text('finished_at'),
  },
  (t) => [index('deployments_state').on(t.state)],
);

export const steps = sqliteTable(
  'steps',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').notNull(),
    target: text('target').notNull(),
    state: text('state').notNull(),
    dependsOn: text('depends_on', { mode: 'json' }).$type<string[]>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    startedAt: text('started_at'),
    endedAt: text('ended_at'),
    error: text('error'),
  },
  // No index on state: a deployment's steps are read through the primary key, and an index that moves on every
  // state change would add a page to each commit.
  (t) => [primaryKey({ columns: [t.deploymentId, t.key] })],
);

/** What a deployment has on its platform: written before and after each create, so nothing is ever lost track of. */
export const resources = sqliteTable(
  'resources',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').notNull(),
    name: text('name').notNull(),
    externalId: text('external_id'),
    addresses: text('addresses', { mode: 'json' }).$type<string[]>(),
    state: text('state').notNull(),
    updatedAt: text('updated_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.key] })],
);

export const events = sqliteTable(
  'events',
  {
    // The rowid: increasing, which is all that replay (Last-Event-ID) needs. AUTOINCREMENT would only add the
    // sqlite_sequence page to every commit, to guard against reusing ids of deleted events, which no reader holds.
    id: integer('id').primaryKey(),
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    at: text('at').notNull(),
    type: text('type').notNull(),
    stepKey: text('step_key'),
    message: text('message').notNull(),
  },
  (t) => [index('events_deployment').on(t.deploymentId, t.id)],
);

/** The simulator's inventory: a restarted process sees the machines it had. */
export const simMachines = sqliteTable(
  'sim_machines',
  {
    platformId: text('platform_id').notNull(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    deploymentId: text('deployment_id').notNull(),
    power: text('power').notNull(),
    cpus: integer('cpus').notNull(),
    memoryMb: integer('memory_mb').notNull(),
    addresses: text('addresses', { mode: 'json' }).$type<string[]>().notNull(),
    snapshots: text('snapshots', { mode: 'json' })
      .$type<Array<{ name: string; createdAt: string; power: string; guest?: { files: Record<string, string> } }>>()
      .notNull(),
    /** While a clone task runs, the epoch ms it completes at; the machine is locked until then. */
    busyUntil: integer('busy_until').notNull(),
    storage: text('storage').notNull(),
    /** When the guest finishes first boot (epoch ms), set at power-on. */
    readyAt: integer('ready_at'),
    addressAt: integer('address_at'),
    /** The cloud-config user data the machine was given: what its modelled guest applies (its firewall, its packages). */
    firstBoot: text('first_boot'),
    /** Its NICs: the network id each is on and its MAC, as created. */
    nics: text('nics', { mode: 'json' }).$type<Array<{ network: string; mac: string }>>().notNull().default([]),
    /** The modelled guest's CPU load (0..1), reported by the inventory. */
    cpuLoad: real('cpu_load').notNull().default(0),
    /** What the modelled guest was told after first boot: files written and rulesets loaded (see simulatedGuestCommand). */
    guest: text('guest', { mode: 'json' }).$type<{ files: Record<string, string>; loaded: string[] }>(),
    createdAt: text('created_at').notNull().default(now),
  },
  // Names are not unique, as on a real hypervisor: idempotent creation is the driver's and the runner's job.
  (t) => [
    primaryKey({ columns: [t.platformId, t.id] }),
    index('sim_machines_name').on(t.platformId, t.name),
    index('sim_machines_deployment').on(t.platformId, t.deploymentId),
  ],
);

export const simNetworks = sqliteTable(
  'sim_networks',
  {
    platformId: text('platform_id').notNull(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    deploymentId: text('deployment_id').notNull(),
    vlan: integer('vlan'),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.platformId, t.id] }), uniqueIndex('sim_networks_name').on(t.platformId, t.name)],
);

/** How often the simulator has drawn an injected fault for an action on a resource: a retry, in any process, draws anew. */
export const simDraws = sqliteTable(
  'sim_draws',
  {
    platformId: text('platform_id').notNull(),
    key: text('key').notNull(),
    n: integer('n').notNull(),
  },
  (t) => [primaryKey({ columns: [t.platformId, t.key] })],
);

// ------------------------------------------------------------------------------------------------ the appliance's users

/** People who sign in. `role`: admin (everything), instructor (scenarios and deployments), trainee (assigned ranges). */
export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  /** argon2id PHC string. */
  passwordHash: text('password_hash').notNull(),
  role: text('role').notNull(),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

/** Browser sessions; `id` is the SHA-256 of the cookie's token, so a copy of the database signs nobody in. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    ip: text('ip').notNull(),
    createdAt: text('created_at').notNull().default(now),
    /** Epoch ms; idle sessions expire, and every session expires at `absoluteUntil`. */
    lastSeenAt: integer('last_seen_at').notNull(),
    absoluteUntil: integer('absolute_until').notNull(),
  },
  (t) => [index('sessions_user').on(t.userId)],
);

/** Bearer tokens for scripts and the CLI; only the SHA-256 of the token is kept. */
export const apiTokens = sqliteTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    /** The first characters of the token, to recognise it in a list. */
    prefix: text('prefix').notNull(),
    createdAt: text('created_at').notNull().default(now),
    lastUsedAt: text('last_used_at'),
  },
  (t) => [index('api_tokens_user').on(t.userId)],
);

/** Every change, with who made it, from where and when. Never holds a secret. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: text('at').notNull().default(now),
    userId: text('user_id'),
    username: text('username').notNull(),
    ip: text('ip').notNull(),
    action: text('action').notNull(),
    target: text('target').notNull(),
    detail: text('detail').notNull().default(''),
  },
  (t) => [index('audit_log_at').on(t.at)],
);

/** Which trainee works in which instance of a deployment. */
export const deploymentAssignments = sqliteTable(
  'deployment_assignments',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    instance: integer('instance').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.instance] }), index('deployment_assignments_user').on(t.userId)],
);

/** The scenario library: bundled samples (imported once) and uploaded files, kept as their YAML text. */
export const scenarios = sqliteTable('scenarios', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  title: text('title').notNull(),
  yaml: text('yaml').notNull(),
  source: text('source').notNull(),
  createdAt: text('created_at').notNull().default(now),
  updatedAt: text('updated_at').notNull().default(now),
});

// ------------------------------------------------------------------------------------------------ the overseer

/** Each overseer job: the claim of the process running it now (a job never overlaps itself) and its last outcome. */
export const overseerJobs = sqliteTable('overseer_jobs', {
  name: text('name').primaryKey(),
  leaseOwner: text('lease_owner'),
  /** Epoch ms; a run whose process died is taken over once it passes. */
  leaseUntil: integer('lease_until'),
  runningSince: text('running_since'),
  lastSkipAt: text('last_skip_at'),
  lastSkipReason: text('last_skip_reason'),
  runs: integer('runs').notNull().default(0),
  skips: integer('skips').notNull().default(0),
  failures: integer('failures').notNull().default(0),
});

/** Every run of every job, newest kept (the sweep prunes old ones). */
export const overseerRuns = sqliteTable(
  'overseer_runs',
  {
    id: integer('id').primaryKey(),
    job: text('job').notNull(),
    startedAt: text('started_at').notNull(),
    endedAt: text('ended_at').notNull(),
    durationMs: integer('duration_ms').notNull(),
    result: text('result').notNull(),
    summary: text('summary').notNull(),
    trigger: text('trigger').notNull(),
    by: text('by').notNull(),
  },
  (t) => [index('overseer_runs_job').on(t.job, t.id)],
);

/** What the overseer found wrong; one open row per subject and kind (the fingerprint), resolved when it goes away. */
export const findings = sqliteTable(
  'findings',
  {
    id: integer('id').primaryKey(),
    /** kind|platform|subject: the same problem seen again updates its open row. */
    fingerprint: text('fingerprint').notNull(),
    kind: text('kind').notNull(),
    platformId: text('platform_id').notNull(),
    // No foreign key: an orphan names a deployment this appliance may not know.
    deploymentId: text('deployment_id'),
    machineKey: text('machine_key'),
    resourceName: text('resource_name').notNull(),
    externalId: text('external_id'),
    message: text('message').notNull(),
    state: text('state').notNull().default('open'),
    firstSeenAt: text('first_seen_at').notNull(),
    lastSeenAt: text('last_seen_at').notNull(),
    resolvedAt: text('resolved_at'),
    fixState: text('fix_state').notNull().default('none'),
    fixAttempts: integer('fix_attempts').notNull().default(0),
    fixAt: text('fix_at'),
    fixDetail: text('fix_detail'),
  },
  (t) => [
    uniqueIndex('findings_open')
      .on(t.fingerprint)
      .where(sql`state = 'open'`),
    index('findings_state').on(t.state, t.kind),
    index('findings_deployment').on(t.deploymentId),
  ],
);

/** The auto-fix policy of a platform, chosen by an admin; a platform without a row is report-only. */
export const overseerPolicies = sqliteTable('overseer_policies', {
  platformId: text('platform_id')
    .primaryKey()
    .references(() => platforms.id, { onDelete: 'cascade' }),
  mode: text('mode').notNull(),
  orphanGraceMinutes: integer('orphan_grace_minutes').notNull(),
  updatedAt: text('updated_at').notNull(),
  updatedBy: text('updated_by').notNull(),
});

/** What the last health sweep saw of each machine; a change is an event on its deployment. */
export const machineHealth = sqliteTable(
  'machine_health',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    power: text('power').notNull(),
    agent: text('agent').notNull(),
    addresses: text('addresses', { mode: 'json' }).$type<string[]>().notNull(),
    router: text('router'),
    cpuLoad: real('cpu_load'),
    /** Since when it has been seen running without a break (the guest agent gets time to come up). */
    runningSince: text('running_since'),
    checkedAt: text('checked_at').notNull(),
    changedAt: text('changed_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.key] })],
);

/** How each machine should be powered: what the appliance last asked (start, stop, idle shutdown, expiry). */
export const machinePower = sqliteTable(
  'machine_power',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    desired: text('desired').notNull(),
    reason: text('reason').notNull(),
    setBy: text('set_by').notNull(),
    setAt: text('set_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.key] })],
);

/** A deployment's owner and lifecycle: idle shutdown, end date and the expiry stage reached, trainee testing mode. */
export const deploymentSettings = sqliteTable('deployment_settings', {
  deploymentId: text('deployment_id')
    .primaryKey()
    .references(() => deployments.id, { onDelete: 'cascade' }),
  ownerId: text('owner_id').references(() => users.id, { onDelete: 'set null' }),
  idleShutdownMinutes: integer('idle_shutdown_minutes'),
  endsAt: text('ends_at'),
  warnHours: integer('warn_hours').notNull().default(24),
  destroyGraceHours: integer('destroy_grace_hours').notNull().default(24),
  expiryStage: text('expiry_stage').notNull().default('none'),
  lastActivityAt: text('last_activity_at'),
  lastBusyAt: text('last_busy_at'),
  idleStoppedAt: text('idle_stopped_at'),
  traineeTestingMode: integer('trainee_testing_mode', { mode: 'boolean' }).notNull().default(false),
  updatedAt: text('updated_at').notNull().default(now),
});

/** Limits per user, checked before a deployment starts; a null column is unlimited. */
export const quotas = sqliteTable('quotas', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  machines: integer('machines'),
  vcpus: integer('vcpus'),
  memoryMb: integer('memory_mb'),
  deployments: integer('deployments'),
  updatedAt: text('updated_at').notNull().default(now),
});

/** A snapshot of every machine of one instance, taken under one name. */
export const instanceSnapshots = sqliteTable(
  'instance_snapshots',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    instance: integer('instance').notNull(),
    name: text('name').notNull(),
    createdAt: text('created_at').notNull(),
    createdBy: text('created_by').notNull(),
    machines: text('machines', { mode: 'json' }).$type<string[]>().notNull(),
    purpose: text('purpose').notNull(),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.instance, t.name] })],
);

/** Testing mode per instance: its state, allow-list, the snapshot taken on entering, and who switched it. */
export const testingModes = sqliteTable(
  'testing_modes',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    instance: integer('instance').notNull(),
    state: text('state').notNull(),
    allowAddresses: text('allow_addresses', { mode: 'json' }).$type<string[]>().notNull(),
    allowDomains: text('allow_domains', { mode: 'json' }).$type<string[]>().notNull(),
    snapshot: text('snapshot'),
    switchedBy: text('switched_by').notNull(),
    switchedAt: text('switched_at').notNull(),
    verified: text('verified'),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.instance] })],
);

// ------------------------------------------------------------------------------------------------ trainee access

/**
 * WireGuard keys of a deployment's VPN: per instance the router's and the assigned trainee's, and the instructor's
 * (instance 0, one key on every router). `privateKey` is sealed with the appliance key; the public key is not secret.
 */
export const vpnKeys = sqliteTable(
  'vpn_keys',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    instance: integer('instance').notNull(),
    /** `router`, `trainee` or `instructor`. */
    role: text('role').notNull(),
    privateKey: text('private_key').notNull(),
    publicKey: text('public_key').notNull(),
    createdAt: text('created_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.instance, t.role] })],
);

/**
 * A trainee seat's key made anew after the deployment was created (its instance went to another trainee, or to
 * nobody), and whether the instance's router holds it yet: until it does, the previous trainee's configuration still
 * connects. `publicKey` names the key this row is about, so a check of an older key never marks a newer one applied.
 */
export const vpnRotations = sqliteTable(
  'vpn_rotations',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    instance: integer('instance').notNull(),
    publicKey: text('public_key').notNull(),
    /** `applied` (read back on the router) or `pending` (the router may still hold the previous key). */
    router: text('router').notNull(),
    /** How it was read back, or why it is not applied yet. */
    detail: text('detail').notNull(),
    rotatedAt: text('rotated_at').notNull(),
    rotatedBy: text('rotated_by').notNull(),
    checkedAt: text('checked_at'),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.instance] })],
);

/** SSH host keys seen on first use of a machine (web terminals): later connections must present one of them. */
export const hostKeys = sqliteTable(
  'host_keys',
  {
    deploymentId: text('deployment_id')
      .notNull()
      .references(() => deployments.id, { onDelete: 'cascade' }),
    /** The machine key in the plan (`i1.web`), or `i1.router` for the jump host. */
    machineKey: text('machine_key').notNull(),
    /** OpenSSH SHA-256 form: `SHA256:...`. */
    fingerprint: text('fingerprint').notNull(),
    firstSeenAt: text('first_seen_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.machineKey, t.fingerprint] })],
);
