// The SQLite schema (drizzle). Migrations are generated from this file by `npm run db:generate` and committed.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

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
    poolId: integer('pool_id').notNull().references(() => cidrPools.id),
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
    platformId: text('platform_id').notNull().references(() => platforms.id),
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
  (t) => [primaryKey({ columns: [t.deploymentId, t.key] }), index('steps_state').on(t.deploymentId, t.state)],
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
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    snapshots: text('snapshots', { mode: 'json' }).$type<Array<{ name: string; createdAt: string; power: string }>>().notNull(),
    /** While a clone task runs, the epoch ms it completes at; the machine is locked until then. */
    busyUntil: integer('busy_until').notNull(),
    storage: text('storage').notNull(),
    /** When the guest finishes first boot (epoch ms), set at power-on. */
    readyAt: integer('ready_at'),
    addressAt: integer('address_at'),
    createdAt: text('created_at').notNull().default(now),
  },
  // Names are not unique, as on a real hypervisor: idempotent creation is the driver's and the runner's job.
  (t) => [primaryKey({ columns: [t.platformId, t.id] }), index('sim_machines_name').on(t.platformId, t.name), index('sim_machines_deployment').on(t.platformId, t.deploymentId)],
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
