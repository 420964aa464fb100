// Snapshots of a whole instance (every machine of one trainee's range) under one name, and resetting the range to
// one: what an instructor does before an exercise and after a trainee has broken everything. Proxmox, ESXi and the
// simulator take them; on Proxmox with ZFS storage a rollback reaches only the newest snapshot (said when refused).
// Cloud snapshots (EBS, managed disks) are left for later: those drivers report supports.snapshots = false.
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, instanceSnapshots, steps } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { InstanceSnapshot } from '../model/overseer.ts';
import type { Plan } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';
import type { Platform } from '../platforms/platform.ts';
import { mapLimit } from '../platforms/shared/retry.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { EventBus } from './event-bus.ts';
import { createdMachines, type Lifecycle } from './lifecycle.ts';

/** Proxmox's rule for snapshot names, the strictest of the platforms: 2-40 letters, digits, - or _, a letter first. */
export const snapshotNamePattern = /^[a-z][a-z0-9_-]{1,39}$/i;

// Proxmox's ZFS storage plugin refuses a rollback past a newer snapshot with one of these.
const zfsLatestOnly = /not most recent snapshot|more recent snapshots? exist/i;

const callMs = 180_000;

export function createInstanceSnapshots(deps: {
  db: Db;
  platforms: PlatformStore;
  audit: AuditSink;
  events: EventBus;
  lifecycle: Lifecycle;
}) {
  const { db, platforms, audit, events, lifecycle } = deps;

  function head(id: string): { state: DeploymentState; platformId: string; plan: Plan } {
    const d = db
      .select({ state: deployments.state, platformId: deployments.platformId, plan: deployments.plan })
      .from(deployments)
      .where(eq(deployments.id, id))
      .get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return { state: d.state as DeploymentState, platformId: d.platformId, plan: d.plan as Plan };
  }

  async function platformFor(
    id: string,
    instance: number,
  ): Promise<{ platform: Platform; machines: ReturnType<typeof createdMachines> }> {
    const { platformId, plan } = head(id);
    if (!plan.machines.some((m) => m.instance === instance))
      throw new AppError('not_found', `Deployment ${id} has no instance ${instance}; it has ${plan.instances}`);
    const platform = await platforms.instance(platformId);
    if (!platform.supports.snapshots)
      throw new AppError(
        'invalid_input',
        `[${platform.kind}] Unable to snapshot instance ${instance} of deployment ${id}: this platform's driver takes no snapshots`,
        { hint: 'Snapshots work on Proxmox, ESXi and the simulator; cloud snapshots are not part of this version.' },
      );
    const keys = new Set(plan.machines.filter((m) => m.instance === instance).map((m) => m.key));
    return { platform, machines: createdMachines(db, id).filter((m) => keys.has(m.key)) };
  }

  function toSnapshot(r: typeof instanceSnapshots.$inferSelect): InstanceSnapshot {
    return {
      deploymentId: r.deploymentId,
      instance: r.instance,
      name: r.name,
      createdAt: r.createdAt,
      createdBy: r.createdBy,
      machines: r.machines,
      purpose: r.purpose as InstanceSnapshot['purpose'],
    };
  }

  function find(id: string, instance: number, name: string): InstanceSnapshot | undefined {
    const r = db
      .select()
      .from(instanceSnapshots)
      .where(
        and(
          eq(instanceSnapshots.deploymentId, id),
          eq(instanceSnapshots.instance, instance),
          eq(instanceSnapshots.name, name),
        ),
      )
      .get();
    return r ? toSnapshot(r) : undefined;
  }

  function list(id: string, instance?: number): InstanceSnapshot[] {
    return db
      .select()
      .from(instanceSnapshots)
      .where(
        instance === undefined
          ? eq(instanceSnapshots.deploymentId, id)
          : and(eq(instanceSnapshots.deploymentId, id), eq(instanceSnapshots.instance, instance)),
      )
      .all()
      .map(toSnapshot)
      .sort((a, b) => a.instance - b.instance || a.createdAt.localeCompare(b.createdAt));
  }

  return {
    list,
    /**
     * Snapshots every machine of a ready instance under `name`. All or nothing: when one machine fails, the
     * snapshots already taken are deleted again and the error names the machine.
     */
    async take(
      actor: Actor,
      id: string,
      instance: number,
      name: string,
      purpose: InstanceSnapshot['purpose'] = 'manual',
    ): Promise<InstanceSnapshot> {
      if (!snapshotNamePattern.test(name))
        throw new AppError('invalid_input', `"${name}" is not a snapshot name`, {
          issues: [{ path: 'name', message: '2-40 letters, digits, - or _, starting with a letter' }],
          hint: 'Use 2-40 letters, digits, - or _, starting with a letter (the rule of Proxmox, the strictest platform).',
        });
      const { state } = head(id);
      const notReady = db
        .select({ key: steps.key, state: steps.state })
        .from(steps)
        .where(and(eq(steps.deploymentId, id), eq(steps.kind, 'ready')))
        .all()
        .filter((s) => s.key.startsWith(`i${instance}.`) && s.state !== 'done');
      if (state === 'destroyed' || state === 'destroying' || notReady.length > 0)
        throw new AppError(
          'conflict',
          `Instance ${instance} of deployment ${id} is not ready (${notReady.length > 0 ? `${notReady.length} machine(s) not ready` : state}); snapshot it once it is`,
        );
      if (find(id, instance, name))
        throw new AppError('conflict', `Instance ${instance} of deployment ${id} already has a snapshot "${name}"`);
      const { platform, machines } = await platformFor(id, instance);
      const made: typeof machines = [];
      const failed: string[] = [];
      await mapLimit(machines, 4, async (m) => {
        try {
          await platform.createSnapshot(m.ref, name, { signal: AbortSignal.timeout(callMs) });
          made.push(m);
        } catch (e) {
          failed.push(`${m.key}: ${errorMessage(e)}`);
        }
      });
      if (failed.length > 0) {
        await mapLimit(made, 4, (m) =>
          platform.deleteSnapshot(m.ref, name, { signal: AbortSignal.timeout(callMs) }).catch(() => undefined),
        );
        throw new AppError(
          'platform_error',
          `Unable to snapshot instance ${instance} of deployment ${id} as "${name}": ${failed.join('; ')}`,
          { hint: 'No snapshot was kept; the ones taken before the failure were deleted again.' },
        );
      }
      const row = {
        deploymentId: id,
        instance,
        name,
        createdAt: new Date().toISOString(),
        createdBy: actor.username,
        machines: machines.map((m) => m.key).sort(),
        purpose,
      };
      db.insert(instanceSnapshots).values(row).run();
      audit.record(actor, 'instance.snapshot', `instance:${id}/${instance}`, `${name}: ${machines.length} machine(s)`);
      events.publish(
        id,
        'overseer',
        `instance ${instance}: snapshot "${name}" of ${machines.length} machine(s) by ${actor.username}`,
      );
      return row;
    },
    /**
     * Resets every machine of the instance to the snapshot, then starts those that should run. On Proxmox with ZFS
     * storage only the newest snapshot can be reached: the refusal says which newer ones to delete first.
     */
    async reset(actor: Actor, id: string, instance: number, name: string): Promise<{ machines: number }> {
      const snap = find(id, instance, name);
      if (!snap) throw new AppError('not_found', `Instance ${instance} of deployment ${id} has no snapshot "${name}"`);
      const { state } = head(id);
      if (state !== 'ready' && state !== 'failed')
        throw new AppError('conflict', `Deployment ${id} is ${state}; only a built deployment can be reset`);
      const { platform, machines } = await platformFor(id, instance);
      const inSnapshot = machines.filter((m) => snap.machines.includes(m.key));
      const failed: string[] = [];
      await mapLimit(inSnapshot, 4, async (m) => {
        try {
          await platform.revertSnapshot(m.ref, name, { signal: AbortSignal.timeout(callMs) });
        } catch (e) {
          const message = errorMessage(e);
          if (platform.kind === 'proxmox' && zfsLatestOnly.test(message)) {
            const newer = snapshotsAfter(list(id, instance), name).join(', ');
            failed.push(
              `${m.key}: Proxmox rolls back a ZFS disk only to its newest snapshot${newer ? `; delete ${newer} first` : ''} (${message})`,
            );
          } else failed.push(`${m.key}: ${message}`);
        }
      });
      if (failed.length > 0)
        throw new AppError(
          'platform_error',
          `Unable to reset instance ${instance} of deployment ${id} to "${name}": ${failed.join('; ')}`,
        );
      // A snapshot without memory leaves the VM off (Proxmox, ESXi), one with the power it had may start it (the
      // simulator): either way each machine ends as the appliance wants it, running unless stopped on purpose.
      const desired = lifecycle.desiredPower(id);
      await mapLimit(inSnapshot, 8, (m) => {
        const o = { signal: AbortSignal.timeout(callMs) };
        return (
          desired.get(m.key) === 'stopped' ? platform.stopMachine(m.ref, o) : platform.startMachine(m.ref, o)
        ).catch((e: unknown) => {
          failed.push(`${m.key}: ${errorMessage(e)}`);
        });
      });
      audit.record(
        actor,
        'instance.reset',
        `instance:${id}/${instance}`,
        `${name}: ${inSnapshot.length} machine(s)${failed.length ? `; not powered as wanted: ${failed.join('; ')}` : ''}`,
      );
      events.publish(id, 'overseer', `instance ${instance}: reset to snapshot "${name}" by ${actor.username}`);
      return { machines: inSnapshot.length };
    },
    async remove(actor: Actor, id: string, instance: number, name: string): Promise<void> {
      const snap = find(id, instance, name);
      if (!snap) return;
      const { platform, machines } = await platformFor(id, instance);
      const failed: string[] = [];
      await mapLimit(
        machines.filter((m) => snap.machines.includes(m.key)),
        4,
        (m) =>
          platform.deleteSnapshot(m.ref, name, { signal: AbortSignal.timeout(callMs) }).catch((e: unknown) => {
            failed.push(`${m.key}: ${errorMessage(e)}`);
          }),
      );
      if (failed.length > 0)
        throw new AppError(
          'platform_error',
          `Unable to delete snapshot "${name}" of instance ${instance} of deployment ${id}: ${failed.join('; ')}`,
        );
      db.delete(instanceSnapshots)
        .where(
          and(
            eq(instanceSnapshots.deploymentId, id),
            eq(instanceSnapshots.instance, instance),
            eq(instanceSnapshots.name, name),
          ),
        )
        .run();
      audit.record(actor, 'instance.snapshot-delete', `instance:${id}/${instance}`, name);
    },
  };
}

/** Names of the snapshots taken after `name`, oldest first. */
function snapshotsAfter(all: InstanceSnapshot[], name: string): string[] {
  const at = all.find((s) => s.name === name)?.createdAt;
  return at ? all.filter((s) => s.createdAt > at).map((s) => `"${s.name}"`) : [];
}

export type InstanceSnapshots = ReturnType<typeof createInstanceSnapshots>;
