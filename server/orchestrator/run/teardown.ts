// Destroying: removes everything a deployment owns, from what the database knows and what the platform says it
// owns (tags, name prefix), retrying transient errors; ends destroyed only when the platform lists nothing left.
import { and, eq, inArray } from 'drizzle-orm';
import { deployments, resources, steps } from '../../db/schema.ts';
import { errorMessage, isAppError } from '../../errors.ts';
import type { DeploymentState } from '../../model/states.ts';
import type { MachineRef, NetworkRef } from '../../platforms/platform.ts';
import { backoffDelay } from '../../platforms/shared/retry.ts';
import { sleep } from '../../platforms/shared/wait.ts';
import type { RunContext } from './run-context.ts';

export function createTeardown(rc: RunContext) {
  const { db, events, ipam, retry, now, setState, connect, gateFor } = rc;

  async function teardown(id: string, controller: AbortController): Promise<DeploymentState> {
    const signal = controller.signal;
    const d = db.select().from(deployments).where(eq(deployments.id, id)).get()!;
    setState(id, 'destroying');
    const platform = await connect(id, d.platformId, 'destroy_failed');
    if (!platform) return 'destroy_failed';
    const gate = gateFor(d.platformId, 'control');
    const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const scale = platform.timeScale ?? 1;
      for (let attempt = 1; ; attempt++) {
        const release = await gate.acquire(Number.MAX_SAFE_INTEGER, signal);
        try {
          return await fn();
        } catch (e) {
          if (!(isAppError(e) && e.retryable) || attempt >= retry.attempts) throw e;
          events.publish(id, 'log', `${what}: ${errorMessage(e)}; retrying`);
        } finally {
          release();
        }
        await sleep(backoffDelay(attempt + 1, retry) * scale, signal);
      }
    };

    // What the database knows, plus what the platform says the deployment owns: nothing is left behind.
    const known = db
      .select()
      .from(resources)
      .where(eq(resources.deploymentId, id))
      .all()
      .filter((r) => r.state !== 'deleted');
    const owned = await call('list owned resources', () => platform.listOwned(id, { signal }));
    const machines = new Map<string, MachineRef>();
    const nets = new Map<string, NetworkRef>();
    for (const r of known)
      (r.kind === 'machine' ? machines : nets).set(r.name, { id: r.externalId ?? '', name: r.name });
    for (const o of owned) if (o.kind === 'machine') machines.set(o.name, { id: o.id, name: o.name });
    for (const o of owned) if (o.kind === 'network') nets.set(o.name, { id: o.id, name: o.name });

    const failures: string[] = [];
    const markDeleted = (name: string) =>
      db
        .update(resources)
        .set({ state: 'deleted', updatedAt: now() })
        .where(and(eq(resources.deploymentId, id), eq(resources.name, name)))
        .run();
    await Promise.all(
      [...machines.values()].map(async (ref) => {
        try {
          // A ref with no id was recorded before its create call returned: find it by name on the platform.
          const target = ref.id ? ref : owned.find((o) => o.name === ref.name);
          if (target)
            await call(`destroy ${ref.name}`, () =>
              platform.destroyMachine({ id: target.id, name: ref.name }, { signal }),
            );
          markDeleted(ref.name);
          events.publish(id, 'log', `destroyed machine ${ref.name}`);
        } catch (e) {
          failures.push(`${ref.name}: ${errorMessage(e)}`);
        }
      }),
    );
    await Promise.all(
      [...nets.values()].map(async (ref) => {
        try {
          await call(`delete network ${ref.name}`, () => platform.deleteNetwork(ref, { signal }));
          markDeleted(ref.name);
        } catch (e) {
          failures.push(`${ref.name}: ${errorMessage(e)}`);
        }
      }),
    );
    const left =
      failures.length === 0 ? await call('list owned resources', () => platform.listOwned(id, { signal })) : [];
    if (failures.length > 0 || left.length > 0) {
      setState(
        id,
        'destroy_failed',
        failures.length > 0 ? failures.join('; ') : `still present: ${left.map((l) => l.name).join(', ')}`,
      );
      return 'destroy_failed';
    }
    ipam.release(id);
    // Steps an interrupted run left pending or running will never run: the deployment is gone.
    db.update(steps)
      .set({ state: 'cancelled', endedAt: now() })
      .where(and(eq(steps.deploymentId, id), inArray(steps.state, ['pending', 'running'])))
      .run();
    setState(id, 'destroyed');
    return 'destroyed';
  }

  return { teardown };
}
