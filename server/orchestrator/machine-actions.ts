// Acting on one machine of a deployment after it is built: its live state, power, snapshots and credentials.
// What the machine view and the API call; the runner is not involved (these are single, user-driven calls).
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, resources } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { MachineRef, MachineState, SnapshotInfo } from '../platforms/platform.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SecretBox } from '../secret-box.ts';
import { recordDesiredPower } from './lifecycle.ts';
import { machinePasswords } from './passwords.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';

export type PowerAction = 'start' | 'stop' | 'reset';

interface Deps {
  db: Db;
  platforms: PlatformStore;
  box: SecretBox;
  audit: AuditSink;
}

const callTimeoutMs = 20_000;

function find(
  db: Db,
  deploymentId: string,
  key: string,
): { machine: PlannedMachine; platformId: string; ref?: MachineRef } {
  const d = db
    .select({ plan: deployments.plan, platformId: deployments.platformId })
    .from(deployments)
    .where(eq(deployments.id, deploymentId))
    .get();
  if (!d) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
  const machine = (d.plan as Plan).machines.find((m) => m.key === key);
  if (!machine) throw new AppError('not_found', `Machine "${key}" is not part of deployment ${deploymentId}`);
  const r = db
    .select()
    .from(resources)
    .where(and(eq(resources.deploymentId, deploymentId), eq(resources.key, key)))
    .get();
  return {
    machine,
    platformId: d.platformId,
    ...(r?.externalId && r.state !== 'deleted' ? { ref: { id: r.externalId, name: r.name } } : {}),
  };
}

function needRef(deploymentId: string, key: string, ref: MachineRef | undefined): MachineRef {
  if (!ref)
    throw new AppError(
      'conflict',
      `Machine "${key}" of deployment ${deploymentId} has not been created (or was destroyed)`,
      { hint: 'Wait for its create step, or retry the deployment.' },
    );
  return ref;
}

export function createMachineActions({ db, platforms, box, audit }: Deps) {
  return {
    /** What the platform says now; `missing` when the machine was never created or is gone. Never throws for a slow platform. */
    async state(deploymentId: string, key: string): Promise<MachineState & { error?: string }> {
      const { ref, platformId } = find(db, deploymentId, key);
      if (!ref) return { power: 'missing', addresses: [] };
      try {
        const p = await platforms.instance(platformId);
        return await p.getMachineState(ref, { signal: AbortSignal.timeout(5_000) });
      } catch (e) {
        return { power: 'missing', addresses: [], error: e instanceof Error ? e.message : String(e) };
      }
    },
    async supportsSnapshots(deploymentId: string): Promise<boolean> {
      const d = db
        .select({ platformId: deployments.platformId })
        .from(deployments)
        .where(eq(deployments.id, deploymentId))
        .get();
      if (!d) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
      try {
        return (await platforms.instance(d.platformId)).supports.snapshots;
      } catch {
        return false;
      }
    },
    /** start, stop (graceful), or reset (forced off, then on). */
    async power(actor: Actor, deploymentId: string, key: string, action: PowerAction): Promise<void> {
      const { ref, platformId } = find(db, deploymentId, key);
      const r = needRef(deploymentId, key, ref);
      const p = await platforms.instance(platformId);
      const signal = AbortSignal.timeout(callTimeoutMs);
      if (action === 'start') await p.startMachine(r, { signal });
      else if (action === 'stop') await p.stopMachine(r, { signal });
      else {
        await p.stopMachine(r, { signal, force: true });
        await p.startMachine(r, { signal });
      }
      // What the overseer compares the platform with: a machine stopped on purpose is not restarted behind one's back.
      recordDesiredPower(
        db,
        deploymentId,
        [key],
        action === 'stop' ? 'stopped' : 'running',
        `machine ${action}`,
        actor.username,
      );
      audit.record(actor, `machine.${action}`, `machine:${deploymentId}/${key}`);
    },
    async snapshots(deploymentId: string, key: string): Promise<SnapshotInfo[]> {
      const { ref, platformId } = find(db, deploymentId, key);
      if (!ref) return [];
      const p = await platforms.instance(platformId);
      if (!p.supports.snapshots) return [];
      return p.listSnapshots(ref, { signal: AbortSignal.timeout(callTimeoutMs) });
    },
    async snapshot(actor: Actor, deploymentId: string, key: string, name: string): Promise<void> {
      const { ref, platformId } = find(db, deploymentId, key);
      await (
        await platforms.instance(platformId)
      ).createSnapshot(needRef(deploymentId, key, ref), name, { signal: AbortSignal.timeout(callTimeoutMs) });
      audit.record(actor, 'machine.snapshot', `machine:${deploymentId}/${key}`, name);
    },
    async revert(actor: Actor, deploymentId: string, key: string, name: string): Promise<void> {
      const { ref, platformId } = find(db, deploymentId, key);
      await (
        await platforms.instance(platformId)
      ).revertSnapshot(needRef(deploymentId, key, ref), name, { signal: AbortSignal.timeout(callTimeoutMs) });
      audit.record(actor, 'machine.revert', `machine:${deploymentId}/${key}`, name);
    },
    /** Every user's password on the machine. Only for viewers allowed to see them; never logged. */
    credentials(deploymentId: string, key: string): Record<string, string> {
      const { machine } = find(db, deploymentId, key);
      const d = db
        .select({ secret: deployments.secret, yaml: deployments.scenarioYaml })
        .from(deployments)
        .where(eq(deployments.id, deploymentId))
        .get()!;
      return machinePasswords(machine, box.open(d.secret), d.yaml);
    },
  };
}

export type MachineActions = ReturnType<typeof createMachineActions>;
