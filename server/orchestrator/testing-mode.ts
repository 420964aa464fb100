// Testing mode, per instance (as Ludus has it for a whole range): the instance's machines are snapshotted, its router
// lets out only an allow-list of addresses and names (pinned by dnsmasq into an nftables set as they resolve), and
// leaving can revert to the snapshot. Every switch is audited with who, the allow-list, and how the router's firewall
// was verified (read back through the guest channel or SSH and compared, like the executor's readiness check).
import { and, eq } from 'drizzle-orm';
import {
  checkRuleset,
  checkTestingRuleset,
  leaveTestingModeChange,
  normalizeAllowList,
  routerChangeScript,
  rulesetReadback,
  testingModeChange,
  type RouterChange,
} from '../agents/lab-router.ts';
import type { Db } from '../db/client.ts';
import { deployments, testingModes } from '../db/schema.ts';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { TestingAllowList, TestingModeState } from '../model/overseer.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { EventBus } from './event-bus.ts';
import type { GuestChannel } from './guest-channel.ts';
import type { InstanceSnapshots } from './instance-snapshots.ts';

const execMs = 60_000;

export function createTestingMode(deps: {
  db: Db;
  platforms: PlatformStore;
  audit: AuditSink;
  events: EventBus;
  snapshots: InstanceSnapshots;
  channel: GuestChannel;
}) {
  const { db, platforms, audit, events, snapshots, channel } = deps;

  function plan(id: string): { plan: Plan; platformId: string; state: string } {
    const d = db
      .select({ plan: deployments.plan, platformId: deployments.platformId, state: deployments.state })
      .from(deployments)
      .where(eq(deployments.id, id))
      .get();
    if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
    return { plan: d.plan as Plan, platformId: d.platformId, state: d.state };
  }

  function routerOf(p: Plan, id: string, instance: number): PlannedMachine | undefined {
    if (!p.machines.some((m) => m.instance === instance))
      throw new AppError('not_found', `Deployment ${id} has no instance ${instance}; it has ${p.instances}`);
    return p.machines.find((m) => m.role === 'router' && m.instance === instance);
  }

  function state(id: string, instance: number): TestingModeState {
    const r = db
      .select()
      .from(testingModes)
      .where(and(eq(testingModes.deploymentId, id), eq(testingModes.instance, instance)))
      .get();
    if (!r)
      return {
        deploymentId: id,
        instance,
        state: 'off',
        allow: { addresses: [], domains: [] },
        snapshot: null,
        switchedBy: '',
        switchedAt: '',
        verified: null,
      };
    return {
      deploymentId: id,
      instance,
      state: r.state as 'on' | 'off',
      allow: { addresses: r.allowAddresses, domains: r.allowDomains },
      snapshot: r.snapshot,
      switchedBy: r.switchedBy,
      switchedAt: r.switchedAt,
      verified: r.verified,
    };
  }

  /** Applies a change to the router and reads its firewall back; returns how it was verified, or throws naming why. */
  async function applyAndVerify(
    id: string,
    router: PlannedMachine,
    change: RouterChange,
    expect: TestingAllowList | null,
  ): Promise<string> {
    if (change.files.length === 0 && change.commands.length === 0) return change.note;
    const signal = AbortSignal.timeout(execMs * 2);
    const applied = await channel.run(id, router.key, ['sh', '-c', routerChangeScript(change)], {
      timeoutMs: execMs,
      signal,
    });
    if (applied.exitCode !== 0)
      throw new AppError(
        'platform_error',
        `Unable to change the firewall of router "${router.key}": the change exited ${applied.exitCode}: ${(applied.stderr || applied.stdout).trim().slice(-400)}`,
      );
    const back = await channel.run(id, router.key, rulesetReadback, { timeoutMs: execMs, signal });
    if (back.exitCode !== 0)
      throw new AppError(
        'platform_error',
        `Unable to read the firewall of router "${router.key}" back: \`${rulesetReadback.join(' ')}\` exited ${back.exitCode}: ${back.stderr.trim()}`,
      );
    const problems = [...checkRuleset(router, back.stdout), ...checkTestingRuleset(router, expect, back.stdout)];
    if (problems.length > 0)
      throw new AppError(
        'platform_error',
        `The firewall of router "${router.key}" is not what testing mode set: ${problems.join('; ')}`,
      );
    return `${change.note}; firewall read back through ${applied.via === 'ssh' ? 'SSH' : 'the guest agent'} and matches`;
  }

  function save(
    id: string,
    instance: number,
    row: Omit<typeof testingModes.$inferInsert, 'deploymentId' | 'instance'>,
  ) {
    db.insert(testingModes)
      .values({ deploymentId: id, instance, ...row })
      .onConflictDoUpdate({ target: [testingModes.deploymentId, testingModes.instance], set: row })
      .run();
  }

  const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

  return {
    state,
    list(id: string): TestingModeState[] {
      const { plan: p } = plan(id);
      return Array.from({ length: p.instances }, (_, i) => state(id, i + 1));
    },
    /** Instances in testing mode with their allow-lists, for the health sweep to check routers against. */
    active(): TestingModeState[] {
      return db
        .select({ id: testingModes.deploymentId, instance: testingModes.instance })
        .from(testingModes)
        .where(eq(testingModes.state, 'on'))
        .all()
        .map((r) => state(r.id, r.instance));
    },
    /**
     * Switches an instance into testing mode (or changes its allow-list when it is in it already): snapshots its
     * machines first (where the platform can), then limits the router's egress and verifies it.
     */
    async enter(actor: Actor, id: string, instance: number, allowList: TestingAllowList): Promise<TestingModeState> {
      const { plan: p, platformId, state: dState } = plan(id);
      if (dState !== 'ready')
        throw new AppError('conflict', `Deployment ${id} is ${dState}; testing mode needs it ready`);
      const allow = normalizeAllowList(allowList);
      const router = routerOf(p, id, instance);
      const current = state(id, instance);
      let snapshot = current.state === 'on' ? current.snapshot : null;
      const notes: string[] = [];
      if (current.state !== 'on') {
        const platform = await platforms.instance(platformId);
        if (platform.supports.snapshots) {
          snapshot = `testing-${stamp(new Date())}`;
          await snapshots.take(actor, id, instance, snapshot, 'testing');
        } else notes.push(`${platform.kind} takes no snapshots: leaving testing mode cannot revert`);
      }
      let verified = 'this instance has no router: its networks have no way out';
      if (router) {
        try {
          verified = await applyAndVerify(id, router, testingModeChange(router, allow), allow);
        } catch (e) {
          // Nothing half-done is left behind: the router goes back to the scenario's rules, the snapshot is dropped.
          await applyAndVerify(id, router, leaveTestingModeChange(router), null).catch(() => undefined);
          if (snapshot && current.state !== 'on')
            await snapshots.remove(actor, id, instance, snapshot).catch(() => undefined);
          audit.record(actor, 'instance.testing.failed', `instance:${id}/${instance}`, errorMessage(e));
          throw e;
        }
      }
      const at = new Date().toISOString();
      save(id, instance, {
        state: 'on',
        allowAddresses: allow.addresses,
        allowDomains: allow.domains,
        snapshot,
        switchedBy: actor.username,
        switchedAt: at,
        verified: [verified, ...notes].join('; '),
      });
      const what = `allow ${allow.addresses.join(', ') || 'no addresses'}; names ${allow.domains.join(', ') || 'none'}`;
      audit.record(
        actor,
        current.state === 'on' ? 'instance.testing.allow' : 'instance.testing.on',
        `instance:${id}/${instance}`,
        `${what}${snapshot ? `; snapshot ${snapshot}` : ''}`,
      );
      events.publish(
        id,
        'overseer',
        `instance ${instance}: testing mode ${current.state === 'on' ? 'allow-list changed' : 'on'} by ${actor.username} (${what})`,
      );
      return state(id, instance);
    },
    /**
     * Leaves testing mode: the router's egress goes back to the scenario's rules (verified), then, with `revert`,
     * every machine of the instance goes back to the snapshot taken on entering. That snapshot is deleted afterwards.
     */
    async leave(actor: Actor, id: string, instance: number, opts: { revert: boolean }): Promise<TestingModeState> {
      const { plan: p } = plan(id);
      const current = state(id, instance);
      if (current.state !== 'on')
        throw new AppError('conflict', `Instance ${instance} of deployment ${id} is not in testing mode`);
      const router = routerOf(p, id, instance);
      const verified = router
        ? await applyAndVerify(id, router, leaveTestingModeChange(router), null)
        : 'this instance has no router';
      if (opts.revert && !current.snapshot)
        throw new AppError('conflict', `Instance ${instance} of deployment ${id} has no testing snapshot to revert to`);
      if (opts.revert) await snapshots.reset(actor, id, instance, current.snapshot!);
      if (current.snapshot) await snapshots.remove(actor, id, instance, current.snapshot).catch(() => undefined);
      save(id, instance, {
        state: 'off',
        allowAddresses: [],
        allowDomains: [],
        snapshot: null,
        switchedBy: actor.username,
        switchedAt: new Date().toISOString(),
        verified,
      });
      audit.record(
        actor,
        'instance.testing.off',
        `instance:${id}/${instance}`,
        opts.revert ? `reverted to ${current.snapshot}` : 'kept as it is',
      );
      events.publish(
        id,
        'overseer',
        `instance ${instance}: testing mode off by ${actor.username}${opts.revert ? `, reverted to ${current.snapshot}` : ''}`,
      );
      return state(id, instance);
    },
    /** Loads the instance's testing-mode change on its router again (it rebooted and lost it): the overseer's fix. */
    async reapply(id: string, instance: number): Promise<string> {
      const current = state(id, instance);
      if (current.state !== 'on') return 'testing mode is off: nothing to load';
      const router = routerOf(plan(id).plan, id, instance);
      if (!router) return 'no router';
      const verified = await applyAndVerify(id, router, testingModeChange(router, current.allow), current.allow);
      db.update(testingModes)
        .set({ verified })
        .where(and(eq(testingModes.deploymentId, id), eq(testingModes.instance, instance)))
        .run();
      return verified;
    },
  };
}

export type TestingMode = ReturnType<typeof createTestingMode>;
