// Quotas per user (instructor): machines, vCPUs, memory and deployments, counted over the deployments they own that
// are not destroyed. Set by an admin (audited); checked before a deployment is stored and again by the executor
// before it creates anything, each refusal naming the limit, the use and what was asked.
import { and, eq, ne } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deploymentSettings, deployments, quotas, users } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { Quota, QuotaUsage } from '../model/overseer.ts';
import type { Plan } from '../model/plan.ts';

export type QuotaLimits = Omit<Quota, 'userId'>;

/** What a plan takes against a quota. */
export function planNeeds(plan: Pick<Plan, 'machines'>): QuotaUsage {
  return {
    machines: plan.machines.length,
    vcpus: plan.machines.reduce((n, m) => n + m.size.cpus, 0),
    memoryMb: plan.machines.reduce((n, m) => n + m.size.memoryMb, 0),
    deployments: 1,
  };
}

const labels: Record<keyof QuotaUsage, (n: number) => string> = {
  machines: (n) => `${n} machine${n === 1 ? '' : 's'}`,
  vcpus: (n) => `${n} vCPU${n === 1 ? '' : 's'}`,
  memoryMb: (n) => `${n} MiB of memory`,
  deployments: (n) => `${n} deployment${n === 1 ? '' : 's'}`,
};

/** Each limit the request would pass, as `<limit> (<used> in use + <asked> asked)`; empty when it fits. */
export function quotaRefusals(limits: QuotaLimits, used: QuotaUsage, need: QuotaUsage): string[] {
  return (Object.keys(labels) as Array<keyof QuotaUsage>).flatMap((k) => {
    const limit = limits[k];
    if (limit === null || used[k] + need[k] <= limit) return [];
    return [`${labels[k](limit)} at most (${used[k]} in use + ${need[k]} asked)`];
  });
}

/** The quota a deployment's owner has and what their other deployments use; undefined when none applies. */
export function quotaOfDeployment(
  db: Db,
  deploymentId: string,
): { owner: string; limits: QuotaLimits; used: QuotaUsage } | undefined {
  const owner = db
    .select({ id: deploymentSettings.ownerId, username: users.username })
    .from(deploymentSettings)
    .innerJoin(users, eq(users.id, deploymentSettings.ownerId))
    .where(eq(deploymentSettings.deploymentId, deploymentId))
    .get();
  if (!owner?.id) return undefined;
  const q = createQuotas({ db, audit: { record() {} } });
  const limits = q.get(owner.id);
  return limits ? { owner: owner.username, limits, used: q.usage(owner.id, deploymentId) } : undefined;
}

export function createQuotas(deps: { db: Db; audit: AuditSink }) {
  const { db, audit } = deps;

  function get(userId: string): Quota | undefined {
    const r = db.select().from(quotas).where(eq(quotas.userId, userId)).get();
    return r
      ? { userId, machines: r.machines, vcpus: r.vcpus, memoryMb: r.memoryMb, deployments: r.deployments }
      : undefined;
  }

  /** What a user's deployments that are not destroyed take, leaving out `except` (the one being checked). */
  function usage(userId: string, except?: string): QuotaUsage {
    const rows = db
      .select({ id: deployments.id, plan: deployments.plan })
      .from(deployments)
      .innerJoin(deploymentSettings, eq(deploymentSettings.deploymentId, deployments.id))
      .where(and(eq(deploymentSettings.ownerId, userId), ne(deployments.state, 'destroyed')))
      .all()
      .filter((r) => r.id !== except);
    const total: QuotaUsage = { machines: 0, vcpus: 0, memoryMb: 0, deployments: 0 };
    for (const r of rows) {
      const n = planNeeds(r.plan as Plan);
      for (const k of Object.keys(total) as Array<keyof QuotaUsage>) total[k] += n[k];
    }
    return total;
  }

  return {
    get,
    usage,
    list(): Array<Quota & { username: string; usage: QuotaUsage }> {
      return db
        .select({ q: quotas, username: users.username })
        .from(quotas)
        .innerJoin(users, eq(users.id, quotas.userId))
        .all()
        .map((r) => ({
          userId: r.q.userId,
          username: r.username,
          machines: r.q.machines,
          vcpus: r.q.vcpus,
          memoryMb: r.q.memoryMb,
          deployments: r.q.deployments,
          usage: usage(r.q.userId),
        }));
    },
    set(actor: Actor, userId: string, limits: QuotaLimits): Quota {
      const u = db.select({ username: users.username }).from(users).where(eq(users.id, userId)).get();
      if (!u) throw new AppError('not_found', `User ${userId} does not exist`);
      for (const [k, v] of Object.entries(limits))
        if (v !== null && (!Number.isInteger(v) || v < 0))
          throw new AppError('invalid_input', `The ${k} limit must be a whole number of at least 0, or none`, {
            issues: [{ path: k, message: 'expected a whole number >= 0' }],
          });
      const values = { ...limits, updatedAt: new Date().toISOString() };
      db.insert(quotas)
        .values({ userId, ...values })
        .onConflictDoUpdate({ target: quotas.userId, set: values })
        .run();
      audit.record(
        actor,
        'quota.set',
        `user:${u.username}`,
        (Object.keys(labels) as Array<keyof QuotaUsage>).map((k) => `${k} ${limits[k] ?? 'unlimited'}`).join(', '),
      );
      return get(userId)!;
    },
    clear(actor: Actor, userId: string): void {
      const gone = db.delete(quotas).where(eq(quotas.userId, userId)).run().changes;
      if (gone > 0) audit.record(actor, 'quota.clear', `user:${userId}`);
    },
    /**
     * Throws AppError('forbidden') naming each limit the plan would pass for its owner (nothing for a deployment
     * without an owner, such as one started from the local command line, or an owner without a quota).
     */
    check(ownerId: string | null, plan: Pick<Plan, 'machines' | 'scenario'>, except?: string): void {
      if (!ownerId) return;
      const limits = get(ownerId);
      if (!limits) return;
      const refusals = quotaRefusals(limits, usage(ownerId, except), planNeeds(plan));
      if (refusals.length === 0) return;
      const who = db.select({ username: users.username }).from(users).where(eq(users.id, ownerId)).get()?.username;
      throw new AppError(
        'forbidden',
        `Unable to deploy "${plan.scenario}": it would pass the quota of ${who ?? ownerId}: ${refusals.join('; ')}`,
        {
          hint: 'Nothing was created. Destroy a deployment you no longer need, deploy fewer instances, or ask an admin to raise the quota.',
        },
      );
    },
  };
}

export type Quotas = ReturnType<typeof createQuotas>;
