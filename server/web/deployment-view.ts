// What a viewer may see of a deployment, shaped for the pages, the live stream and the API: a trainee sees only
// the instances assigned to them (machines, networks, addresses, events); everyone else sees all of it.
import { and, desc, eq, gt, sql } from 'drizzle-orm';
import { events as eventsTable } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { getDeployment, listDeployments, machineStatus } from '../orchestrator/deployments.ts';
import type { DeploymentEvent } from '../orchestrator/events.ts';
import type { Viewer, WebDomain } from './context.ts';

/** `all`, or the instance numbers a trainee may see. */
export type Scope = 'all' | ReadonlySet<number>;

export const scopeKey = (s: Scope) => (s === 'all' ? 'all' : [...s].sort((a, b) => a - b).join(','));
export const inScope = (s: Scope, instance: number) => s === 'all' || s.has(instance);

/** The viewer's scope in a deployment; a trainee with no instance in it gets not_found, as if it did not exist. */
export function scopeFor(web: WebDomain, viewer: Viewer, deploymentId: string): Scope {
  if (viewer.user.role !== 'trainee') return 'all';
  const mine = web.assignments.instancesOf(viewer.user.id, deploymentId);
  if (mine.length === 0) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
  return new Set(mine);
}

export function instanceOfStep(stepKey: string | null): number | undefined {
  const m = stepKey ? /^(?:net:)?i(\d+)\./.exec(stepKey) : null;
  return m ? Number(m[1]) : undefined;
}

/** An event as this scope may see it, or undefined. Deployment-wide messages show trainees only the state. */
export function eventForScope(e: DeploymentEvent, scope: Scope): DeploymentEvent | undefined {
  if (scope === 'all') return e;
  const inst = instanceOfStep(e.stepKey);
  if (inst !== undefined) return scope.has(inst) ? e : undefined;
  if (e.type === 'deployment') return { ...e, message: e.message.split(':')[0]! };
  return undefined;
}

export type MachineModel = ReturnType<typeof machineStatus>[number] & { assignedTo: string | null };

export interface NetworkModel {
  key: string;
  instance: number;
  name: string;
  cidr: string;
  gateway: string;
  vlan?: number;
  internet: boolean;
  state: string;
}

export function deploymentModel(web: WebDomain, id: string, scope: Scope) {
  const view = getDeployment(web.db, id);
  const assigned = web.assignments.ofDeployment(id);
  const machines: MachineModel[] = machineStatus(view)
    .filter((m) => inScope(scope, m.instance))
    .map((m) => ({ ...m, assignedTo: assigned.get(m.instance)?.username ?? null }));
  const stepState = new Map(view.steps.map((s) => [s.key, s.state]));
  const networks: NetworkModel[] = view.plan.networks
    .filter((n) => n.instance === 0 || inScope(scope, n.instance))
    .map((n) => ({ key: n.key, instance: n.instance, name: n.name, cidr: n.cidr, gateway: n.gateway, ...(n.vlan === undefined ? {} : { vlan: n.vlan }), internet: n.internet, state: stepState.get(`net:${n.key}`) ?? 'pending' }));
  const visibleSteps = scope === 'all' ? view.steps : view.steps.filter((s) => { const i = instanceOfStep(s.key); return i === undefined || scope.has(i); });
  const platform = web.platforms.list().find((p) => p.id === view.platformId);
  const lastEventId = (web.db.select({ id: sql<number>`max(${eventsTable.id})` }).from(eventsTable).where(eq(eventsTable.deploymentId, id)).get()?.id ?? 0) as number;
  return {
    head: {
      id: view.id,
      scenarioName: view.scenarioName,
      platformId: view.platformId,
      platformName: platform?.name ?? view.platformId,
      platformKind: platform?.kind ?? 'simulator',
      instances: view.instances,
      state: view.state,
      error: scope === 'all' ? view.error : null,
      createdAt: view.createdAt,
      finishedAt: view.finishedAt,
    },
    counts: {
      stepsTotal: visibleSteps.length,
      stepsDone: visibleSteps.filter((s) => s.state === 'done').length,
      stepsFailed: visibleSteps.filter((s) => s.state === 'failed').length,
      machinesTotal: machines.length,
      machinesReady: machines.filter((m) => m.state === 'ready').length,
      machinesFailed: machines.filter((m) => m.state === 'failed').length,
    },
    machines,
    networks,
    plan: view.plan,
    assigned,
    scope,
    lastEventId,
  };
}

export type DeploymentModel = ReturnType<typeof deploymentModel>;

/** The latest `limit` events the scope may see, oldest first. */
export function recentEvents(web: WebDomain, id: string, scope: Scope, limit = 200): DeploymentEvent[] {
  const rows = web.db
    .select()
    .from(eventsTable)
    .where(eq(eventsTable.deploymentId, id))
    .orderBy(desc(eventsTable.id))
    .limit(scope === 'all' ? limit : limit * 20)
    .all() as DeploymentEvent[];
  return rows
    .map((e) => eventForScope(e, scope))
    .filter((e): e is DeploymentEvent => e !== undefined)
    .slice(0, limit)
    .reverse();
}

/** Events after `afterId` the scope may see, oldest first (reconnects replay these). */
export function eventsAfter(web: WebDomain, id: string, afterId: number, scope: Scope): DeploymentEvent[] {
  return (web.db.select().from(eventsTable).where(and(eq(eventsTable.deploymentId, id), gt(eventsTable.id, afterId))).orderBy(eventsTable.id).limit(10_000).all() as DeploymentEvent[])
    .map((e) => eventForScope(e, scope))
    .filter((e): e is DeploymentEvent => e !== undefined);
}

/** Deployments the viewer may see, newest first. */
export function visibleDeployments(web: WebDomain, viewer: Viewer, limit = 100) {
  const all = listDeployments(web.db, viewer.user.role === 'trainee' ? 10_000 : limit);
  if (viewer.user.role !== 'trainee') return all;
  const mine = new Set(web.assignments.deploymentsOf(viewer.user.id));
  return all.filter((d) => mine.has(d.id)).slice(0, limit);
}
