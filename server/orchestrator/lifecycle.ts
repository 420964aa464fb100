// A deployment after it is built: who owns it, its idle shutdown and end date (and how far the overseer has gone
// with them), page and API activity, and how each machine should be powered. Starting or stopping a whole
// deployment is here too, each change audited with its reason; the overseer's idle and expiry jobs act through it.
import { and, eq, inArray, isNotNull, or } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deploymentSettings, deployments, machinePower, resources } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { DeploymentLifecycle, ExpiryStage } from '../model/overseer.ts';
import type { Plan } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';
import type { MachineRef } from '../platforms/platform.ts';
import { mapLimit } from '../platforms/shared/retry.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { EventBus } from './event-bus.ts';

export type DesiredPower = 'running' | 'stopped';

export interface LifecycleSettingsInput {
  idleShutdownMinutes?: number | null;
  endsAt?: string | null;
  warnHours?: number;
  destroyGraceHours?: number;
  traineeTestingMode?: boolean;
}

const defaults = { warnHours: 24, destroyGraceHours: 24 };

/** Records how machines should be powered (what the overseer compares the platform with). */
export function recordDesiredPower(
  db: Db,
  deploymentId: string,
  keys: string[],
  desired: DesiredPower,
  reason: string,
  by: string,
  at = new Date().toISOString(),
): void {
  const upsert = db.$client.prepare(
    'INSERT INTO machine_power (deployment_id, key, desired, reason, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?) ' +
      'ON CONFLICT (deployment_id, key) DO UPDATE SET desired = excluded.desired, reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at',
  );
  db.$client.transaction(() => {
    for (const key of keys) upsert.run(deploymentId, key, desired, reason.slice(0, 200), by, at);
  })();
}

/** The created machines of a deployment, with their platform refs. */
export function createdMachines(db: Db, deploymentId: string): Array<{ key: string; ref: MachineRef }> {
  return db
    .select({ key: resources.key, name: resources.name, externalId: resources.externalId, state: resources.state })
    .from(resources)
    .where(and(eq(resources.deploymentId, deploymentId), eq(resources.kind, 'machine')))
    .all()
    .filter((r) => r.externalId && r.state !== 'deleted')
    .map((r) => ({ key: r.key, ref: { id: r.externalId!, name: r.name } }));
}

export function createLifecycle(deps: { db: Db; platforms: PlatformStore; audit: AuditSink; events: EventBus }) {
  const { db, platforms, audit, events } = deps;
  /** Page and API activity, kept in memory per request and written by the idle job (a write per request is waste). */
  const touched = new Map<string, string>();

  function head(id: string): { state: DeploymentState; platformId: string; plan: Plan } {
    const d = db
      .select({ state: deployments.state, platformId: deployments.platformId, plan: deployments.plan })
      .from(deployments)
      .where(eq(deployments.id, id))
      .get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return { state: d.state as DeploymentState, platformId: d.platformId, plan: d.plan as Plan };
  }

  function row(id: string): DeploymentLifecycle {
    const r = db.select().from(deploymentSettings).where(eq(deploymentSettings.deploymentId, id)).get();
    const activity = touched.get(id);
    return {
      deploymentId: id,
      ownerId: r?.ownerId ?? null,
      idleShutdownMinutes: r?.idleShutdownMinutes ?? null,
      endsAt: r?.endsAt ?? null,
      warnHours: r?.warnHours ?? defaults.warnHours,
      destroyGraceHours: r?.destroyGraceHours ?? defaults.destroyGraceHours,
      expiryStage: (r?.expiryStage ?? 'none') as ExpiryStage,
      lastActivityAt: [r?.lastActivityAt, activity].filter(Boolean).sort().at(-1) ?? null,
      lastBusyAt: r?.lastBusyAt ?? null,
      idleStoppedAt: r?.idleStoppedAt ?? null,
      traineeTestingMode: r?.traineeTestingMode ?? false,
    };
  }

  function ensureRow(id: string) {
    db.insert(deploymentSettings).values({ deploymentId: id }).onConflictDoNothing().run();
  }

  /** Starts or stops machines on the platform, a few at a time; returns the keys that failed with why. */
  async function power(id: string, keys: string[] | undefined, action: DesiredPower): Promise<string[]> {
    const { platformId } = head(id);
    const p = await platforms.instance(platformId);
    const targets = createdMachines(db, id).filter((m) => !keys || keys.includes(m.key));
    const failed: string[] = [];
    await mapLimit(targets, 8, async (m) => {
      try {
        const signal = AbortSignal.timeout(120_000);
        if (action === 'running') await p.startMachine(m.ref, { signal });
        else await p.stopMachine(m.ref, { signal });
      } catch (e) {
        failed.push(`${m.key}: ${errorMessage(e)}`);
      }
    });
    return failed;
  }

  return {
    get: row,
    /** Lifecycles with an idle shutdown or an end date, of deployments that still exist on their platform. */
    scheduled(): Array<DeploymentLifecycle & { state: DeploymentState }> {
      const rows = db
        .select({ id: deploymentSettings.deploymentId, state: deployments.state })
        .from(deploymentSettings)
        .innerJoin(deployments, eq(deployments.id, deploymentSettings.deploymentId))
        .where(or(isNotNull(deploymentSettings.idleShutdownMinutes), isNotNull(deploymentSettings.endsAt)))
        .all();
      return rows
        .filter((r) => r.state !== 'destroyed')
        .map((r) => ({ ...row(r.id), state: r.state as DeploymentState }));
    },
    /** Who created the deployment: quotas count it against them. Written once, by create. */
    setOwner(id: string, ownerId: string | null): void {
      ensureRow(id);
      db.update(deploymentSettings).set({ ownerId }).where(eq(deploymentSettings.deploymentId, id)).run();
    },
    update(actor: Actor, id: string, input: LifecycleSettingsInput): DeploymentLifecycle {
      const { state } = head(id);
      if (state === 'destroyed') throw new AppError('conflict', `Deployment ${id} is destroyed; it has no lifecycle`);
      if (input.endsAt != null && Number.isNaN(Date.parse(input.endsAt)))
        throw new AppError('invalid_input', `"${input.endsAt}" is not a date and time`, {
          issues: [{ path: 'endsAt', message: 'expected an ISO date and time' }],
        });
      ensureRow(id);
      const before = row(id);
      const set: Partial<typeof deploymentSettings.$inferInsert> = { updatedAt: new Date().toISOString() };
      if (input.idleShutdownMinutes !== undefined) set.idleShutdownMinutes = input.idleShutdownMinutes;
      if (input.endsAt !== undefined) {
        set.endsAt = input.endsAt === null ? null : new Date(input.endsAt).toISOString();
        // A new end date starts the expiry over: warned again before it, stopped at it.
        if (set.endsAt !== before.endsAt) set.expiryStage = 'none';
      }
      if (input.warnHours !== undefined) set.warnHours = input.warnHours;
      if (input.destroyGraceHours !== undefined) set.destroyGraceHours = input.destroyGraceHours;
      if (input.traineeTestingMode !== undefined) set.traineeTestingMode = input.traineeTestingMode;
      db.update(deploymentSettings).set(set).where(eq(deploymentSettings.deploymentId, id)).run();
      const after = row(id);
      const changes = (Object.keys(input) as Array<keyof LifecycleSettingsInput>)
        .filter((k) => input[k] !== undefined && before[k] !== after[k])
        .map((k) => `${k}: ${before[k] ?? 'none'} -> ${after[k] ?? 'none'}`);
      if (changes.length > 0) audit.record(actor, 'deployment.settings', `deployment:${id}`, changes.join('; '));
      return after;
    },
    /** A page or API request about the deployment: it is in use. Cheap; written by the idle job. */
    touch(id: string, at = new Date()): void {
      touched.set(id, at.toISOString());
    },
    /** Writes the activity noted since the last call (the idle job calls it before it decides). */
    flushActivity(): void {
      if (touched.size === 0) return;
      const update = db.$client.prepare(
        'UPDATE deployment_settings SET last_activity_at = ? WHERE deployment_id = ? AND (last_activity_at IS NULL OR last_activity_at < ?)',
      );
      db.$client.transaction(() => {
        for (const [id, at] of touched) update.run(at, id, at);
      })();
      touched.clear();
    },
    /** The health sweep saw CPU load on the deployment's machines. */
    noteBusy(ids: string[], at: string): void {
      if (ids.length === 0) return;
      db.update(deploymentSettings).set({ lastBusyAt: at }).where(inArray(deploymentSettings.deploymentId, ids)).run();
    },
    setExpiryStage(id: string, stage: ExpiryStage): void {
      db.update(deploymentSettings).set({ expiryStage: stage }).where(eq(deploymentSettings.deploymentId, id)).run();
    },
    /** How each machine should be powered: what the appliance last asked, running by default. */
    desiredPower(id: string): Map<string, DesiredPower> {
      return new Map(
        db
          .select({ key: machinePower.key, desired: machinePower.desired })
          .from(machinePower)
          .where(eq(machinePower.deploymentId, id))
          .all()
          .map((r) => [r.key, r.desired as DesiredPower]),
      );
    },
    /** Every deployment's stopped machines (the rest should run): one read for a whole sweep. */
    stoppedOnPurpose(): Set<string> {
      return new Set(
        db
          .select({ id: machinePower.deploymentId, key: machinePower.key })
          .from(machinePower)
          .where(eq(machinePower.desired, 'stopped'))
          .all()
          .map((r) => `${r.id}/${r.key}`),
      );
    },
    /**
     * Starts or stops every created machine of a ready deployment, with a reason (`idle for 30 min`, `ended`, or a
     * person's request); records the wish first, so the overseer does not undo it. Resolves with what failed.
     */
    async powerAll(
      actor: Actor,
      id: string,
      action: 'start' | 'stop',
      reason: string,
      at = new Date(),
    ): Promise<{ machines: number; failed: string[] }> {
      const { state } = head(id);
      if (state !== 'ready' && state !== 'failed')
        throw new AppError(
          'conflict',
          `Deployment ${id} is ${state}; only a built deployment can be started or stopped`,
        );
      const keys = createdMachines(db, id).map((m) => m.key);
      const desired: DesiredPower = action === 'start' ? 'running' : 'stopped';
      recordDesiredPower(db, id, keys, desired, reason, actor.username, at.toISOString());
      ensureRow(id);
      db.update(deploymentSettings)
        .set({ idleStoppedAt: action === 'stop' && actor.username === 'overseer' ? at.toISOString() : null })
        .where(eq(deploymentSettings.deploymentId, id))
        .run();
      if (action === 'start') this.touch(id, at);
      const failed = await power(id, undefined, desired);
      audit.record(
        actor,
        `deployment.${action}`,
        `deployment:${id}`,
        `${reason}; ${keys.length - failed.length}/${keys.length} machine(s)${failed.length ? `; failed: ${failed.join('; ')}` : ''}`,
      );
      events.publish(
        id,
        'overseer',
        `${action === 'start' ? 'started' : 'stopped'} ${keys.length - failed.length} machine(s): ${reason}${failed.length ? ` (${failed.length} failed)` : ''}`,
      );
      return { machines: keys.length, failed };
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
