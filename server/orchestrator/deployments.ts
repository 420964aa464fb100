// Deployments as the domain offers them to every entry point (pages, API, CLI): created from a scenario (validated,
// given its pools' subnets and VLANs, planned and stored with every step in one transaction, so a deployment either
// exists whole or not at all), read, cancelled, retried and destroyed, their instances given to other trainees, each
// change recorded in the audit log.
import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Assignments } from '../accounts/assignments.ts';
import { createVpnKeys } from '../access/vpn-keys.ts';
import type { Users } from '../accounts/users.ts';
import type { Db } from '../db/client.ts';
import { deployments } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Ipam } from '../ipam/pools.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { PackageCache, Plan } from '../model/plan.ts';
import type { InstanceAssignment, ReassignResult } from '../model/vpn.ts';
import { activeDeploymentStates, type DeploymentState, type StepState } from '../model/states.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SecretBox } from '../secret-box.ts';
import { createDeploymentReads } from './deployment-reads.ts';
import type { EventBus } from './event-bus.ts';
import { newSeed } from '../reaper/derive.ts';
import { checkPlanExposure } from '../reaper/ethics.ts';
import { allocationNeeds, planDeployment } from './planner.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Quotas } from './quotas.ts';
import type { Runner } from './run/runner.ts';
import { parseScenario } from './scenario/parse.ts';
import type { VpnPeers } from './vpn-peers.ts';

export interface CreateDeploymentInput {
  yaml: string;
  file: string;
  platform: string;
  /** Overrides the scenario's `instances`. */
  instances?: number;
  /** A per-trainee WireGuard VPN into each instance (on-premises platforms: it ends on the range router). */
  vpn?: boolean;
}

const idAlphabet = 'abcdefghijkmnpqrstuvwxyz23456789';

/** Short, lowercase, DNS-safe and unambiguous: it prefixes every resource name on the platform. */
export function newDeploymentId(): string {
  const bytes = crypto.randomBytes(8);
  return Array.from(bytes, (b) => idAlphabet[b % idAlphabet.length]).join('');
}

export function createDeployment(
  /** `packageCache`: the appliance's (config.packageCache), which machines without internet install from. */
  deps: { db: Db; ipam: Ipam; platforms: PlatformStore; box: SecretBox; packageCache?: PackageCache | undefined },
  input: CreateDeploymentInput,
  /** Run inside the transaction: `check` may refuse the plan (a quota), `stored` records more with the deployment. */
  hooks: { check?: (plan: Plan) => void; stored?: (id: string) => void } = {},
) {
  const { db, ipam, platforms, box } = deps;
  const scenario = parseScenario(input.yaml, input.file);
  const platform = platforms.get(input.platform);
  const instances = input.instances ?? scenario.instances;
  if (!Number.isInteger(instances) || instances < 1 || instances > 200)
    throw new AppError(
      'invalid_input',
      `Unable to deploy "${scenario.name}": instances must be from 1 to 200, not ${instances}`,
      { issues: [{ path: 'instances', message: 'expected 1..200' }] },
    );
  const id = newDeploymentId();
  const needs = allocationNeeds(scenario, platform.kind, instances);

  return db.$client
    .transaction(() => {
      const allocations = ipam.allocate({
        deploymentId: id,
        subnets: needs.subnets,
        vlans: needs.vlans,
        fixedVlans: scenario.networks
          .filter((n) => n.vlan !== undefined)
          .map((n) => ({ vlan: n.vlan!, label: `1/${n.name}` })),
        avoid: scenario.networks.flatMap((n) => (n.cidr ? [n.cidr] : [])),
      });
      const plan = planDeployment({
        deploymentId: id,
        scenario,
        platform: platform.kind,
        instances,
        allocations,
        seed: scenario.seed ?? newSeed(),
        ...(input.vpn ? { vpn: true } : {}),
        ...(deps.packageCache ? { packageCache: deps.packageCache } : {}),
        ...(platform.kind === 'aws' && platform.config.egress === 'nat-gateway' ? { cloudEgress: 'nat-gateway' } : {}),
      });
      // The ethics gate: no vulnerable machine on the appliance's own network or, unless the scenario says so, online.
      const refusals = checkPlanExposure(plan, {
        allowInternet: new Set(scenario.machines.filter((m) => m.vulnerableOnInternet).map((m) => m.name)),
      });
      if (refusals.length > 0)
        throw new AppError(
          'invalid_input',
          `Unable to deploy "${scenario.name}": ${refusals.map((r) => r.message).join('; ')}`,
          {
            issues: refusals.map((r) => ({ path: r.machine, message: r.message })),
            hint: 'Nothing was created.',
          },
        );
      hooks.check?.(plan);
      db.insert(deployments)
        .values({
          id,
          scenarioName: scenario.name,
          scenarioFile: input.file,
          scenarioYaml: input.yaml,
          platformId: platform.id,
          instances,
          state: 'pending' satisfies DeploymentState,
          plan,
          secret: box.seal(crypto.randomBytes(32).toString('base64url')),
        })
        .run();
      const insertStep = db.$client.prepare(
        'INSERT INTO steps (deployment_id, key, kind, target, state, depends_on) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const s of plan.steps)
        insertStep.run(id, s.key, s.kind, s.target, 'pending' satisfies StepState, JSON.stringify(s.dependsOn));
      if (plan.vpn) createVpnKeys(db, box, id, instances);
      hooks.stored?.(id);
      return { id, plan };
    })
    .immediate();
}

export interface DeploymentDeps {
  db: Db;
  ipam: Ipam;
  platforms: PlatformStore;
  box: SecretBox;
  runner: Runner;
  audit: AuditSink;
  assignments: Assignments;
  users: Users;
  lifecycle: Lifecycle;
  quotas: Quotas;
  events: EventBus;
  vpnPeers: VpnPeers;
  /** The appliance's package cache (config.packageCache): machines without internet install from it. */
  packageCache?: PackageCache | undefined;
}

export interface DestroyOptions {
  /** Destroying a deployment with trainees assigned ends their ranges: it needs this, said explicitly. */
  confirm?: boolean;
}

export interface StartInput extends CreateDeploymentInput {
  /** instance number -> id of an active trainee who works in it. */
  assignments?: Record<string, string>;
}

export function createDeployments(deps: DeploymentDeps) {
  const { db, runner, audit } = deps;
  const reads = createDeploymentReads(db);
  /** Who is assigned to the deployment's instances: what a destroy would take from them. */
  const assignedTrainees = (id: string): Array<{ instance: number; username: string }> =>
    [...deps.assignments.ofDeployment(id)]
      .map(([instance, a]) => ({ instance, username: a.username }))
      .sort((a, b) => a.instance - b.instance);
  const refuse = (id: string, s: DeploymentState, what: string) => {
    throw new AppError('conflict', `Deployment ${id} is ${s}; ${what}`);
  };
  return {
    ...reads,
    /**
     * Creates a deployment (nothing runs yet: the caller starts it here or in a worker) with its trainee assignments,
     * checked before anything is stored.
     */
    create(actor: Actor, input: StartInput): { id: string; plan: Plan } {
      const byInstance: Record<number, string> = {};
      const assignments = Object.entries(input.assignments ?? {}).filter(([, userId]) => userId);
      if (assignments.length > 0) {
        const instances = input.instances ?? parseScenario(input.yaml, input.file).instances;
        const trainees = new Set(
          deps.users
            .list()
            .filter((u) => u.role === 'trainee' && !u.disabled)
            .map((u) => u.id),
        );
        for (const [inst, userId] of assignments) {
          const i = Number(inst);
          if (!Number.isInteger(i) || i < 1 || i > instances)
            throw new AppError('invalid_input', `Instance ${inst} does not exist; there are ${instances}`, {
              issues: [{ path: `assign.${inst}`, message: 'no such instance' }],
            });
          if (!trainees.has(userId))
            throw new AppError('invalid_input', `User ${userId} is not an active trainee`, {
              issues: [{ path: `assign.${inst}`, message: 'not a trainee' }],
            });
          byInstance[i] = userId;
        }
      }
      // Its creator owns it: their quota is checked before it is stored, and it counts against them afterwards.
      const owner = actor.userId;
      const { id, plan } = createDeployment(deps, input, {
        check: (p) => deps.quotas.check(owner, p),
        stored: (newId) => deps.lifecycle.setOwner(newId, owner),
      });
      if (Object.keys(byInstance).length > 0) deps.assignments.assign(id, byInstance);
      const assigned = Object.keys(byInstance).length;
      audit.record(
        actor,
        'deployment.create',
        `deployment:${id}`,
        `${plan.scenario} on ${deps.platforms.get(input.platform).name}, ${plan.instances} instance(s)${assigned ? `, ${assigned} assigned` : ''}${plan.vpn ? ', with VPN' : ''}`,
      );
      return { id, plan };
    },
    /** Stops a deployment in progress; resolves with its state once stopped. */
    cancel(actor: Actor, id: string): Promise<DeploymentState> {
      const s = reads.get(id).state;
      if (s !== 'pending' && s !== 'deploying') refuse(id, s, 'only a deployment in progress can be cancelled');
      audit.record(actor, 'deployment.cancel', `deployment:${id}`);
      return runner.cancel(id);
    },
    /**
     * Runs failed, skipped and cancelled steps again; resolves with the final state. A deployment whose process died
     * (in progress, its claim expired) is resumed instead, which is what retrying it means.
     */
    retry(actor: Actor, id: string): Promise<DeploymentState> {
      const s = reads.get(id).state;
      const interrupted = activeDeploymentStates.includes(s) && !runner.heldElsewhere(id) && !runner.isRunning(id);
      if (s !== 'failed' && s !== 'cancelled' && !interrupted)
        refuse(
          id,
          s,
          activeDeploymentStates.includes(s)
            ? 'another Glassdome process is working on it; wait for it (or, should that process have died, retry once its claim has expired)'
            : 'only failed, cancelled or interrupted deployments can be retried',
        );
      audit.record(actor, 'deployment.retry', `deployment:${id}`, interrupted ? 'resumed after an interruption' : '');
      return interrupted ? runner.resume(id) : runner.retryFailed(id);
    },
    /** Deployments in progress whose process died: their claim expired. */
    interrupted: (): string[] => runner.interrupted(),
    /** Resumes a deployment whose process died, here; resolves with the final state. */
    resume(actor: Actor, id: string): Promise<DeploymentState> {
      audit.record(actor, 'deployment.resume', `deployment:${id}`);
      return runner.resume(id);
    },
    assignedTrainees,
    /** Who works in one instance, and its VPN seat. */
    assignment(id: string, instance: number): InstanceAssignment {
      const d = reads.get(id);
      if (!Number.isInteger(instance) || instance < 1 || instance > d.instances)
        throw new AppError('not_found', `Deployment ${id} has no instance ${instance}; it has ${d.instances}`);
      const a = deps.assignments.ofDeployment(id).get(instance);
      return {
        deploymentId: id,
        instance,
        trainee: a ? { id: a.userId, username: a.username } : null,
        vpn: deps.vpnPeers.state(id, instance),
      };
    },
    /**
     * Gives an instance to another trainee (a user id or username), or to nobody (null). When it leaves a trainee on
     * a deployment with a VPN, the seat's key is made anew and the router's peer replaced, so the configuration the
     * previous trainee downloaded stops connecting; where the router cannot be changed now, the result says so
     * (`vpn.router` pending, with why) and the health sweep holds the router to it. The same trainee again: nothing.
     */
    async reassign(actor: Actor, id: string, instance: number, trainee: string | null): Promise<ReassignResult> {
      const d = reads.get(id);
      if (d.state === 'destroying' || d.state === 'destroyed')
        refuse(id, d.state, 'its instances can no longer be given to anyone');
      if (!Number.isInteger(instance) || instance < 1 || instance > d.instances)
        throw new AppError('not_found', `Deployment ${id} has no instance ${instance}; it has ${d.instances}`);
      let next: { id: string; username: string } | null = null;
      if (trainee !== null) {
        const u =
          deps.users.list().find((x) => x.id === trainee) ?? deps.users.list().find((x) => x.username === trainee);
        if (!u || u.role !== 'trainee' || u.disabled)
          throw new AppError(
            'invalid_input',
            `${u ? `User ${u.username}` : `User "${trainee}"`} is not an active trainee`,
            {
              issues: [{ path: 'trainee', message: u ? 'not an active trainee' : 'no such user' }],
              hint: 'Only active users with the trainee role are given instances.',
            },
          );
        next = { id: u.id, username: u.username };
      }
      const before = deps.assignments.ofDeployment(id).get(instance);
      const previous = before ? { id: before.userId, username: before.username } : null;
      if ((previous?.id ?? null) === (next?.id ?? null))
        return { ...this.assignment(id, instance), changed: false, previous, rotated: false };
      // The assignment and the seat's new key are stored together: no moment where one changed and not the other.
      const keys = db.$client.transaction(() => {
        deps.assignments.setInstance(id, instance, next?.id ?? null);
        return previous ? deps.vpnPeers.rotateKey(actor, id, instance) : undefined;
      })();
      // Nobody held the seat's key (it was made anew when its last trainee left): a pending change is tried again.
      const pending = !keys && deps.vpnPeers.state(id, instance)?.router === 'pending';
      const vpn = keys || pending ? (await deps.vpnPeers.apply(id, instance)).state : deps.vpnPeers.state(id, instance);
      const who = (u: { username: string } | null) => u?.username ?? 'nobody';
      const vpnText = !vpn
        ? ''
        : keys
          ? `; VPN key ${keys.previous.slice(0, 10)}… replaced by ${keys.next.slice(0, 10)}…: router ${vpn.router} (${vpn.detail})`
          : pending
            ? `; VPN key change still on the way: router ${vpn.router} (${vpn.detail})`
            : '';
      audit.record(
        actor,
        'instance.assign',
        `instance:${id}/${instance}`,
        `${who(previous)} -> ${who(next)}${vpnText}`,
      );
      deps.events.publish(
        id,
        'overseer',
        `instance ${instance}: given to ${who(next)} by ${actor.username} (was ${who(previous)})${keys && vpn ? `; VPN key made anew, router ${vpn.router}` : ''}`,
      );
      return { deploymentId: id, instance, trainee: next, vpn, changed: true, previous, rotated: keys !== undefined };
    },
    /**
     * Removes everything the deployment created, stopping its run first; resolves with the final state. Refused
     * without `confirm` while trainees are assigned to it, naming them.
     */
    destroy(actor: Actor, id: string, opts: DestroyOptions = {}): Promise<DeploymentState> {
      const s = reads.get(id).state;
      if (s === 'destroyed') refuse(id, s, 'there is nothing left to destroy');
      const trainees = assignedTrainees(id);
      if (trainees.length > 0 && opts.confirm !== true)
        throw new AppError(
          'conflict',
          `Deployment ${id} has trainees assigned (${trainees.map((t) => `instance ${t.instance}: ${t.username}`).join(', ')}); destroying it ends their ranges`,
          {
            hint: 'Confirm it explicitly: `glassdome destroy ID --confirm`, `POST /api/v1/deployments/ID/destroy?confirm=true`, or type the id on its page.',
          },
        );
      audit.record(
        actor,
        'deployment.destroy',
        `deployment:${id}`,
        trainees.length > 0 ? `confirmed with ${trainees.length} trainee(s) assigned` : '',
      );
      return runner.destroy(id);
    },
    /** The scenario text a deployment was made from; it may hold lab passwords, so it is read only where needed. */
    scenarioYaml(id: string): string {
      const d = db.select({ yaml: deployments.scenarioYaml }).from(deployments).where(eq(deployments.id, id)).get();
      if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
      return d.yaml;
    },
  };
}

export type Deployments = ReturnType<typeof createDeployments>;
