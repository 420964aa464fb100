// A trainee seat's VPN key made anew when its instance changes hands, and the instance's range router changed to it:
// the new key sealed beside the others, the router's WireGuard peers replaced through the guest channel (or SSH) and
// read back. What could not be applied stays recorded as pending, with why, until a later apply or the health sweep's
// read-back finds the router holding the new key: until then the previous trainee's configuration still connects.
import { and, eq } from 'drizzle-orm';
import { peerPublicKeys, rotateTraineeKey, routerVpnKeys } from '../access/vpn-keys.ts';
import { routerChangeScript, checkVpnPeers, vpnPeersChange, vpnPeersReadback } from '../agents/lab-router.ts';
import type { Db } from '../db/client.ts';
import { deployments, resources, vpnKeys, vpnRotations } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { TraineeVpnState } from '../model/vpn.ts';
import type { SecretBox } from '../secret-box.ts';
import type { EventBus } from './event-bus.ts';
import type { GuestChannel } from './guest-channel.ts';

const execMs = 60_000;

export function createVpnPeers(deps: {
  db: Db;
  box: SecretBox;
  audit: AuditSink;
  events: EventBus;
  channel: GuestChannel;
}) {
  const { db, box, audit, events, channel } = deps;

  function planOf(id: string): Plan {
    const d = db.select({ plan: deployments.plan }).from(deployments).where(eq(deployments.id, id)).get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return d.plan as Plan;
  }

  function routerOf(plan: Plan, id: string, instance: number): PlannedMachine {
    const router = plan.machines.find((m) => m.role === 'router' && m.instance === instance && m.router?.vpn);
    if (!router) throw new AppError('internal', `Deployment ${id} has no VPN router in instance ${instance}`);
    return router;
  }

  /** Records what the router holds of `publicKey`; a row about an older key (a newer rotation since) is left alone. */
  function mark(id: string, instance: number, publicKey: string, router: 'applied' | 'pending', detail: string) {
    db.update(vpnRotations)
      .set({ router, detail, checkedAt: new Date().toISOString() })
      .where(
        and(
          eq(vpnRotations.deploymentId, id),
          eq(vpnRotations.instance, instance),
          eq(vpnRotations.publicKey, publicKey),
        ),
      )
      .run();
  }

  function state(id: string, instance: number): TraineeVpnState | null {
    const key = db
      .select({ publicKey: vpnKeys.publicKey })
      .from(vpnKeys)
      .where(and(eq(vpnKeys.deploymentId, id), eq(vpnKeys.instance, instance), eq(vpnKeys.role, 'trainee')))
      .get();
    if (!key) return null;
    const r = db
      .select()
      .from(vpnRotations)
      .where(and(eq(vpnRotations.deploymentId, id), eq(vpnRotations.instance, instance)))
      .get();
    if (!r || r.publicKey !== key.publicKey)
      return {
        deploymentId: id,
        instance,
        publicKey: key.publicKey,
        router: 'first-boot',
        detail: 'the key the router got at its first boot; never changed',
        rotatedAt: null,
        rotatedBy: null,
        checkedAt: null,
      };
    return {
      deploymentId: id,
      instance,
      publicKey: r.publicKey,
      router: r.router as 'applied' | 'pending',
      detail: r.detail,
      rotatedAt: r.rotatedAt,
      rotatedBy: r.rotatedBy,
      checkedAt: r.checkedAt,
    };
  }

  /**
   * Replaces the router's WireGuard peers with the seat keys the appliance holds and reads them back. Never throws
   * for the router: `ok` says whether the router now holds them, `detail` how it was read back or what went wrong,
   * and a rotated seat's state records it (pending with why, or applied).
   */
  async function apply(id: string, instance: number): Promise<{ ok: boolean; detail: string; state: TraineeVpnState }> {
    const router = routerOf(planOf(id), id, instance);
    const keys = routerVpnKeys(db, box, id, instance);
    const trainee = keys.peers.trainee!;
    const made = db
      .select({ externalId: resources.externalId, state: resources.state })
      .from(resources)
      .where(and(eq(resources.deploymentId, id), eq(resources.key, router.key)))
      .get();
    if (!made?.externalId || made.state === 'deleted') {
      // Its first boot reads the seat keys when the router is created: the new one. The sweep confirms it once it runs.
      const detail = `router "${router.key}" is not created yet: its first boot takes the new key`;
      mark(id, instance, trainee, 'pending', detail);
      return { ok: false, detail, state: state(id, instance)! };
    }
    let ok = false;
    let detail: string;
    try {
      const change = vpnPeersChange(router, keys);
      const signal = AbortSignal.timeout(execMs * 2);
      const applied = await channel.run(id, router.key, ['sh', '-c', routerChangeScript(change)], {
        timeoutMs: execMs,
        signal,
      });
      if (applied.exitCode !== 0)
        throw new AppError(
          'platform_error',
          `the change exited ${applied.exitCode}: ${(applied.stderr || applied.stdout).trim().slice(-400)}`,
        );
      const readback = vpnPeersReadback(router);
      const back = await channel.run(id, router.key, readback, { timeoutMs: execMs, signal });
      if (back.exitCode !== 0)
        throw new AppError(
          'platform_error',
          `\`${readback.join(' ')}\` exited ${back.exitCode}: ${(back.stderr || back.stdout).trim().slice(-400)}`,
        );
      const problems = checkVpnPeers(router, keys.peers, back.stdout);
      if (problems.length > 0) throw new AppError('platform_error', `read back: ${problems.join('; ')}`);
      detail = `${change.note}; peers read back through ${applied.via === 'ssh' ? 'SSH' : 'the guest agent'} and match`;
      ok = true;
      mark(id, instance, trainee, 'applied', detail);
    } catch (e) {
      detail = `not applied: ${errorMessage(e)}. Until it is, the key it replaced still works on router "${router.key}"`;
      mark(id, instance, trainee, 'pending', detail);
    }
    return { ok, detail, state: state(id, instance)! };
  }

  return {
    state,
    apply,
    /**
     * Makes the trainee seat of an instance a new key, sealed, and records it as not yet on the router. Synchronous,
     * so the caller runs it in the transaction that changes the assignment; `apply` then takes it to the router.
     * Undefined when the deployment has no VPN.
     */
    rotateKey(actor: Actor, id: string, instance: number): { previous: string; next: string } | undefined {
      if (!planOf(id).vpn) return undefined;
      const keys = rotateTraineeKey(db, box, id, instance);
      const row = {
        publicKey: keys.next,
        router: 'pending',
        detail: 'not applied to the router yet',
        rotatedAt: new Date().toISOString(),
        rotatedBy: actor.username,
        checkedAt: null,
      };
      db.insert(vpnRotations)
        .values({ deploymentId: id, instance, ...row })
        .onConflictDoUpdate({ target: [vpnRotations.deploymentId, vpnRotations.instance], set: row })
        .run();
      return keys;
    },
    /** Applies the seat keys to the router again, by hand (a pending change, the router back up): audited. */
    async reapply(actor: Actor, id: string, instance: number): Promise<TraineeVpnState> {
      if (!planOf(id).vpn)
        throw new AppError('invalid_input', `Deployment ${id} has no VPN: it was deployed without one`);
      const r = await apply(id, instance);
      audit.record(
        actor,
        'vpn.peers.apply',
        `instance:${id}/${instance}`,
        `${r.ok ? 'applied' : 'failed'}: ${r.detail}`,
      );
      events.publish(
        id,
        'overseer',
        `instance ${instance}: VPN peers ${r.ok ? 'applied' : 'not applied'} (${r.detail})`,
      );
      return r.state;
    },
    /** The public keys router `instance` must hold as its peers (what the health sweep checks it against). */
    expectedPeers: (id: string, instance: number) => peerPublicKeys(db, id, instance),
    /**
     * What the health sweep read back: a pending rotation whose key the router holds is applied; one the router does
     * not hold (not yet, or no longer: a snapshot reverted, a file changed by hand) is pending, with what was wrong.
     */
    observed(id: string, instance: number, publicKey: string, problems: string[]): void {
      const s = state(id, instance);
      if (!s || s.router === 'first-boot' || s.publicKey !== publicKey) return;
      if (problems.length === 0 && s.router === 'pending')
        mark(id, instance, publicKey, 'applied', 'peers read back by the health sweep and match');
      if (problems.length > 0)
        mark(id, instance, publicKey, 'pending', `the health sweep read back: ${problems.join('; ')}`);
    },
  };
}

export type VpnPeers = ReturnType<typeof createVpnPeers>;
