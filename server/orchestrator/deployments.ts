// Creating and reading deployments: a scenario is validated, given its pools' subnets and VLANs, planned,
// and stored with every step in one transaction, so a deployment either exists whole or not at all.
import crypto from 'node:crypto';
import { asc, desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, resources, steps } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { Ipam } from '../ipam/pools.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SecretBox } from '../secret-box.ts';
import { allocationNeeds, planDeployment } from './plan.ts';
import type { Plan } from '../model/plan.ts';
import { parseScenario } from './scenario/parse.ts';
import type { DeploymentState, StepState } from '../model/states.ts';

export interface CreateDeploymentInput {
  yaml: string;
  file: string;
  platform: string;
  /** Overrides the scenario's `instances`. */
  instances?: number;
}

const idAlphabet = 'abcdefghijkmnpqrstuvwxyz23456789';

/** Short, lowercase, DNS-safe and unambiguous: it prefixes every resource name on the platform. */
export function newDeploymentId(): string {
  const bytes = crypto.randomBytes(8);
  return Array.from(bytes, (b) => idAlphabet[b % idAlphabet.length]).join('');
}

export function createDeployment(deps: { db: Db; ipam: Ipam; platforms: PlatformStore; box: SecretBox }, input: CreateDeploymentInput) {
  const { db, ipam, platforms, box } = deps;
  const scenario = parseScenario(input.yaml, input.file);
  const platform = platforms.get(input.platform);
  const instances = input.instances ?? scenario.instances;
  if (!Number.isInteger(instances) || instances < 1 || instances > 200)
    throw new AppError('invalid_input', `Unable to deploy "${scenario.name}": instances must be from 1 to 200, not ${instances}`, { issues: [{ path: 'instances', message: 'expected 1..200' }] });
  const id = newDeploymentId();
  const needs = allocationNeeds(scenario, platform.kind, instances);

  return db.$client.transaction(() => {
    const allocations = ipam.allocate({
      deploymentId: id,
      subnets: needs.subnets,
      vlans: needs.vlans,
      fixedVlans: scenario.networks.filter((n) => n.vlan !== undefined).map((n) => ({ vlan: n.vlan!, label: `1/${n.name}` })),
      avoid: scenario.networks.flatMap((n) => (n.cidr ? [n.cidr] : [])),
    });
    const plan = planDeployment({ deploymentId: id, scenario, platform: platform.kind, instances, allocations });
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
    const insertStep = db.$client.prepare('INSERT INTO steps (deployment_id, key, kind, target, state, depends_on) VALUES (?, ?, ?, ?, ?, ?)');
    for (const s of plan.steps) insertStep.run(id, s.key, s.kind, s.target, 'pending' satisfies StepState, JSON.stringify(s.dependsOn));
    return { id, plan };
  }).immediate();
}

export interface StepView {
  key: string;
  kind: string;
  target: string;
  state: StepState;
  attempts: number;
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
}

export function getDeployment(db: Db, id: string) {
  const d = db.select().from(deployments).where(eq(deployments.id, id)).get();
  if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`, { hint: 'List deployments with `glassdome list`.' });
  const stepRows = db.select().from(steps).where(eq(steps.deploymentId, id)).orderBy(asc(steps.key)).all();
  const resourceRows = db.select().from(resources).where(eq(resources.deploymentId, id)).all();
  // The secret and the scenario text (which may hold lab passwords) never leave through a view.
  const { secret: _secret, scenarioYaml: _yaml, plan, ...rest } = d;
  return {
    ...rest,
    state: d.state as DeploymentState,
    plan: plan as Plan,
    steps: stepRows.map(({ deploymentId: _d, dependsOn: _deps, ...s }) => ({ ...s, state: s.state as StepState })) as StepView[],
    resources: resourceRows,
  };
}

export type DeploymentView = ReturnType<typeof getDeployment>;

/** The scenario text a deployment was made from; it may hold lab passwords, so it is read only where needed. */
export function deploymentScenarioYaml(db: Db, id: string): string {
  const d = db.select({ yaml: deployments.scenarioYaml }).from(deployments).where(eq(deployments.id, id)).get();
  if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
  return d.yaml;
}

export function listDeployments(db: Db, limit = 100) {
  return db
    .select({
      id: deployments.id,
      scenarioName: deployments.scenarioName,
      platformId: deployments.platformId,
      instances: deployments.instances,
      state: deployments.state,
      error: deployments.error,
      createdAt: deployments.createdAt,
      finishedAt: deployments.finishedAt,
    })
    .from(deployments)
    .orderBy(desc(deployments.createdAt))
    .limit(limit)
    .all();
}

/** Per machine: its steps in order, its platform id and addresses; what `status --json` and the pages show. */
export function machineStatus(view: DeploymentView) {
  const stepsByTarget = new Map<string, StepView[]>();
  for (const s of view.steps) stepsByTarget.set(s.target, [...(stepsByTarget.get(s.target) ?? []), s]);
  const order = ['network', 'create', 'start', 'address', 'ready'];
  const resourceOf = new Map(view.resources.map((r) => [r.key, r]));
  return view.plan.machines.map((m) => {
    const ms = (stepsByTarget.get(m.key) ?? []).sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
    const r = resourceOf.get(m.key);
    const state = ms.find((s) => s.state === 'failed')
      ? 'failed'
      : ms.every((s) => s.state === 'done')
        ? 'ready'
        : ms.some((s) => s.state === 'running')
          ? (ms.find((s) => s.state === 'running')!.kind as string)
          : ms.some((s) => s.state === 'skipped' || s.state === 'cancelled')
            ? 'skipped'
            : 'pending';
    return {
      key: m.key,
      hostname: m.hostname,
      instance: m.instance,
      role: m.role,
      os: m.os,
      state,
      platformId: r?.externalId ?? null,
      resourceName: m.resourceName,
      addresses: r?.addresses ?? [],
      plannedAddresses: m.nics.flatMap((n) => (n.ip ? [n.ip] : [])),
      steps: ms.map((s) => ({ kind: s.kind, state: s.state, attempts: s.attempts, startedAt: s.startedAt, endedAt: s.endedAt, error: s.error })),
    };
  });
}
