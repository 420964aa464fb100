// What the parts of the runner share for one process: the domain's stores, the committer, the prepared statements,
// and the few operations every part needs (state changes, a platform's driver, a lane's gate).
import type { Db } from '../../db/client.ts';
import type { Ipam } from '../../ipam/pools.ts';
import type { DeploymentState } from '../../model/states.ts';
import type { RetryPolicy } from '../../platforms/shared/retry.ts';
import type { Platform } from '../../platforms/platform.ts';
import type { PlatformStore } from '../../platforms/store.ts';
import type { SecretBox } from '../../secret-box.ts';
import type { EventBus } from '../event-bus.ts';
import type { Committer } from './commit.ts';
import type { PriorityGate } from './gate.ts';

export interface RunContext {
  db: Db;
  events: EventBus;
  platforms: PlatformStore;
  ipam: Ipam;
  box: SecretBox;
  retry: RetryPolicy;
  /** Real-time limits; a simulated platform scales them by its timeScale. */
  timeouts: { addressMs: number; readyMs: number };
  commit: Committer;
  sql: Statements;
  /** This process's lease name. */
  owner: string;
  counters: { firstBoots: number; firstBootCpuUs: number };
  now(): string;
  setState(id: string, to: DeploymentState, error?: string | null): void;
  stateOf(id: string): DeploymentState;
  /** The platform's driver, or, when it cannot be had (bad config, missing secret), the deployment ends in `orElse`. */
  connect(id: string, platformId: string, orElse: 'failed' | 'destroy_failed'): Promise<Platform | undefined>;
  gateFor(platformId: string, lane: 'create' | 'control', cloneSlots?: number): PriorityGate;
}

/** The per-step statements run thousands of times in a large deployment: prepared once, not rebuilt per call. */
export function prepareStatements(db: Db) {
  const c = db.$client;
  return {
    stepRunning: c.prepare(
      "UPDATE steps SET state = 'running', started_at = ?, ended_at = NULL, error = NULL, attempts = ? WHERE deployment_id = ? AND key = ?",
    ),
    stepEnded: c.prepare('UPDATE steps SET state = ?, ended_at = ?, error = ? WHERE deployment_id = ? AND key = ?'),
    resource: c.prepare<[string, string], { name: string; external_id: string | null }>(
      'SELECT name, external_id FROM resources WHERE deployment_id = ? AND key = ?',
    ),
    upsertResource: c.prepare(
      'INSERT INTO resources (deployment_id, key, kind, name, external_id, state) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (deployment_id, key) DO UPDATE SET name = excluded.name, state = excluded.state, updated_at = excluded.updated_at, external_id = coalesce(excluded.external_id, resources.external_id)',
    ),
    addresses: c.prepare('UPDATE resources SET addresses = ?, updated_at = ? WHERE deployment_id = ? AND key = ?'),
    scenarioYaml: c.prepare<[string], string>('SELECT scenario_yaml FROM deployments WHERE id = ?').pluck(),
    deploymentState: c.prepare<[string], string>('SELECT state FROM deployments WHERE id = ?').pluck(),
    /** A cancel or destroy another process asked for (it could not claim the deployment). */
    requested: c.prepare<[string], string | null>('SELECT requested FROM deployments WHERE id = ?').pluck(),
    setRequested: c.prepare<[string | null, string]>('UPDATE deployments SET requested = ? WHERE id = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
