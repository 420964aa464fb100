// What a viewer may see of a deployment, shaped for the pages, the live stream and the API: a trainee sees only
// the instances assigned to them (machines, networks, addresses, events); everyone else sees all of it.
import { and, desc, eq, gt, sql } from 'drizzle-orm';
import type { Database } from 'better-sqlite3';
import { deployments as deploymentsTable, events as eventsTable } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { listDeployments, machineStatus, type DeploymentView, type StepView } from '../orchestrator/deployments.ts';
import type { Plan } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';
import type { DeploymentEvent } from '../model/events.ts';
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

// A plan never changes once its deployment is created: parse it once (it is the largest part of a page's data).
const planCache = new Map<string, Plan>();
const viewCache = new Map<string, { version: string; view: DeploymentView; db: Database }>();
const statements = new WeakMap<Database, { plan: ReturnType<Database['prepare']>; steps: ReturnType<Database['prepare']>; resources: ReturnType<Database['prepare']>; lastEvent: ReturnType<Database['prepare']> }>();

function prepared(web: WebDomain) {
  let st = statements.get(web.db.$client);
  if (!st) {
    const c = web.db.$client;
    st = {
      plan: c.prepare('SELECT plan FROM deployments WHERE id = ?'),
      lastEvent: c.prepare('SELECT max(id) AS id FROM events WHERE deployment_id = ?'),
      // Rows as arrays: a thousand-machine deployment has five thousand steps, and row objects cost twice as much.
      steps: c.prepare('SELECT key, kind, target, state, attempts, started_at, ended_at, error FROM steps WHERE deployment_id = ? ORDER BY key').raw(true),
      resources: c.prepare('SELECT key, kind, name, external_id, addresses, state, updated_at FROM resources WHERE deployment_id = ?').raw(true),
    };
    statements.set(web.db.$client, st);
  }
  return st;
}

/** What getDeployment returns, read lean for pages: the plan from a cache, steps and resources without the ORM. */
export function loadDeployment(web: WebDomain, id: string): DeploymentView {
  const d = web.db
    .select({
      id: deploymentsTable.id,
      scenarioName: deploymentsTable.scenarioName,
      scenarioFile: deploymentsTable.scenarioFile,
      platformId: deploymentsTable.platformId,
      instances: deploymentsTable.instances,
      state: deploymentsTable.state,
      error: deploymentsTable.error,
      leaseOwner: deploymentsTable.leaseOwner,
      leaseUntil: deploymentsTable.leaseUntil,
      createdAt: deploymentsTable.createdAt,
      updatedAt: deploymentsTable.updatedAt,
      finishedAt: deploymentsTable.finishedAt,
    })
    .from(deploymentsTable)
    .where(eq(deploymentsTable.id, id))
    .get();
  if (!d) throw new AppError('not_found', `Deployment ${id} does not exist`);
  const st = prepared(web);
  // Every step and resource change is followed by an event, so the newest event id (with the deployment's own
  // state) names a version of its steps and resources: pages of an unchanged deployment reuse the last read.
  const version = `${(st.lastEvent.get(id) as { id: number | null }).id ?? 0}|${d.state}|${d.updatedAt}`;
  const cached = viewCache.get(id);
  if (cached && cached.version === version && cached.db === web.db.$client) return { ...cached.view, ...d, state: d.state as DeploymentState };
  let plan = planCache.get(id);
  if (plan) planCache.delete(id);
  else plan = JSON.parse((st.plan.get(id) as { plan: string }).plan) as Plan;
  planCache.set(id, plan);
  if (planCache.size > 32) planCache.delete(planCache.keys().next().value!);
  type Cell = string | number | null;
  const steps = (st.steps.all(id) as Cell[][]).map(
    (r): StepView => ({ key: r[0] as string, kind: r[1] as string, target: r[2] as string, state: r[3] as StepView['state'], attempts: r[4] as number, startedAt: r[5] as string | null, endedAt: r[6] as string | null, error: r[7] as string | null }),
  );
  const resources = (st.resources.all(id) as Cell[][]).map((r) => ({
    deploymentId: id,
    key: r[0] as string,
    kind: r[1] as string,
    name: r[2] as string,
    externalId: r[3] as string | null,
    addresses: r[4] ? (JSON.parse(r[4] as string) as string[]) : null,
    state: r[5] as string,
    updatedAt: r[6] as string,
  }));
  const view = { ...d, state: d.state as DeploymentState, plan, steps, resources };
  viewCache.delete(id);
  viewCache.set(id, { version, view, db: web.db.$client });
  if (viewCache.size > 8) viewCache.delete(viewCache.keys().next().value!);
  return view;
}

export interface InstanceModel {
  instance: number;
  assignedTo: string | null;
  total: number;
  ready: number;
  failed: number;
}

/** Which machines a page shows: one instance, or a window of `limit` from `offset`. */
export interface MachineWindow {
  instance?: number | undefined;
  offset?: number;
  limit?: number;
}

export const pageSize = 250;

export function deploymentModel(web: WebDomain, id: string, scope: Scope, window?: MachineWindow) {
  const view = loadDeployment(web, id);
  const assigned = web.assignments.ofDeployment(id);
  const all: MachineModel[] = machineStatus(view)
    .filter((m) => inScope(scope, m.instance))
    .map((m) => ({ ...m, assignedTo: assigned.get(m.instance)?.username ?? null }));
  const byInstance = new Map<number, InstanceModel>();
  for (const m of all) {
    const i = byInstance.get(m.instance) ?? { instance: m.instance, assignedTo: m.assignedTo, total: 0, ready: 0, failed: 0 };
    i.total++;
    if (m.state === 'ready') i.ready++;
    if (m.state === 'failed') i.failed++;
    byInstance.set(m.instance, i);
  }
  const inWindow = window?.instance !== undefined ? all.filter((m) => m.instance === window.instance) : all;
  const offset = window?.offset ?? 0;
  const machines = window ? inWindow.slice(offset, offset + (window.limit ?? pageSize)) : inWindow;
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
      machinesTotal: all.length,
      machinesReady: all.filter((m) => m.state === 'ready').length,
      machinesFailed: all.filter((m) => m.state === 'failed').length,
    },
    machines,
    /** How many machines the window selects from (the page's "of N"), and where the window starts. */
    windowTotal: inWindow.length,
    windowOffset: offset,
    windowInstance: window?.instance,
    instances: [...byInstance.values()].sort((a, b) => a.instance - b.instance),
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
