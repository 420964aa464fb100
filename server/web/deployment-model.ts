// What a viewer may see of a deployment, shaped for the pages, the live stream and the API: a trainee sees only
// the instances assigned to them (machines, networks, addresses, events); everyone else sees all of it. No SQL here:
// the domain's reads (orchestrator/deployment-reads.ts) do the reading and caching.
import { AppError } from '../errors.ts';
import type { MachineStatus } from '../model/deployment.ts';
import type { DeploymentEvent } from '../model/events.ts';
import type { Plan } from '../model/plan.ts';
import {
  machinePageSize,
  type DashboardRow,
  type DeploymentModel,
  type InstanceModel,
  type MachineModel,
  type MachinePowerModel,
  type NetworkModel,
} from '../../views/props.ts';
import type { Viewer, WebDomain } from './context.ts';

/** `all`, or what a trainee may see: their instance numbers, and the machines whose failure texts are withheld. */
export type Scope = 'all' | TraineeScope;

export interface TraineeScope extends ReadonlySet<number> {
  /**
   * Machines of the trainee's instances that carry vulnerability modules: their step errors and failure events are
   * replaced by `concealedError`, since they name modules, packages and files (the way in). Module ids, parameters
   * and flags are for instructors only.
   */
  readonly concealed: ReadonlySet<string>;
}

export const concealedError = 'failed; the reason is shown to your instructor';

export const scopeKey = (s: Scope) => (s === 'all' ? 'all' : [...s].sort((a, b) => a - b).join(','));
export const inScope = (s: Scope, instance: number) => s === 'all' || s.has(instance);

/** The viewer's scope in a deployment; a trainee with no instance in it gets not_found, as if it did not exist. */
export function scopeFor(web: WebDomain, viewer: Viewer, deploymentId: string): Scope {
  if (viewer.user.role !== 'trainee') return 'all';
  const mine = web.assignments.instancesOf(viewer.user.id, deploymentId);
  if (mine.length === 0) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
  const instances = new Set(mine);
  const concealed = new Set(
    web.deployments
      .get(deploymentId)
      .plan.machines.filter((m) => instances.has(m.instance) && m.vulnerabilities.length > 0)
      .map((m) => m.key),
  );
  return Object.assign(instances, { concealed });
}

/** A plan as a trainee's pages may hold it: their instances only, without modules, seed, files or commands. */
function planForScope(plan: Plan, scope: Scope): Plan {
  if (scope === 'all') return plan;
  return {
    ...plan,
    seed: '',
    networks: plan.networks.filter((n) => n.instance === 0 || scope.has(n.instance)),
    machines: plan.machines
      .filter((m) => scope.has(m.instance))
      .map((m) => ({ ...m, vulnerabilities: [], files: [], run: [] })),
  };
}

export function instanceOfStep(stepKey: string | null): number | undefined {
  const m = stepKey ? /^(?:net:)?i(\d+)\./.exec(stepKey) : null;
  return m ? Number(m[1]) : undefined;
}

/** An event as this scope may see it, or undefined. Deployment-wide messages show trainees only the state. */
export function eventForScope(e: DeploymentEvent, scope: Scope): DeploymentEvent | undefined {
  if (scope === 'all') return e;
  const inst = instanceOfStep(e.stepKey);
  if (inst !== undefined) {
    if (!scope.has(inst)) return undefined;
    // Started and finished say only that; anything else about a vulnerable machine may name what it carries.
    const concealed =
      scope.concealed.has(e.stepKey!.split(':')[0]!) && e.type !== 'step.started' && e.type !== 'step.finished';
    return concealed ? { ...e, message: concealedError } : e;
  }
  if (e.type === 'deployment') return { ...e, message: e.message.split(':')[0]! };
  return undefined;
}

/** Power is shown for machines that exist on the platform: built (ready), or failed after they were created. */
function powerOf(
  state: string,
  seen: { power: string; checkedAt: string } | undefined,
  desired: 'running' | 'stopped' | undefined,
): MachinePowerModel | undefined {
  if (state !== 'ready' && !(state === 'failed' && seen)) return undefined;
  const asked = desired === 'stopped';
  if (seen) return { state: seen.power, asked: asked && seen.power !== 'running', checkedAt: seen.checkedAt };
  return { state: asked ? 'stopped' : 'unknown', asked, checkedAt: null };
}

/** Which machines a page shows: one instance, or a window of `limit` from `offset`. */
export interface MachineWindow {
  instance?: number | undefined;
  offset?: number;
  limit?: number;
}

// One model per machine state and trainee, shared by every read of the same version of a deployment: the rows
// rendered from it are rendered once (MachineRow in views/partials/deployment-rows). Dropped with the version.
// Its key holds what the model adds to the shared state: the trainee, whether failure texts are withheld, the power.
const machineModels = new WeakMap<MachineStatus, { key: string; model: MachineModel }>();

function machineModel(
  m: MachineStatus,
  assignedTo: string | null,
  concealed: boolean,
  power: MachinePowerModel | undefined,
): MachineModel {
  const key = `${assignedTo}|${concealed}|${power ? `${power.state}|${power.asked}|${power.checkedAt}` : ''}`;
  const known = machineModels.get(m);
  if (known?.key === key) return known.model;
  const model: MachineModel = {
    ...m,
    ...(concealed ? { steps: m.steps.map((s) => (s.error ? { ...s, error: concealedError } : s)) } : {}),
    assignedTo,
    power,
  };
  machineModels.set(m, { key, model });
  return model;
}

export function deploymentModel(web: WebDomain, id: string, scope: Scope, window?: MachineWindow): DeploymentModel {
  // The machines' states are shared by every read of this version of the deployment; only the rows the page shows
  // are copied (with their trainee), so a page of 250 rows out of thousands of machines builds 250.
  const { view, machines: statuses } = web.deployments.withMachines(id);
  const assigned = web.assignments.ofDeployment(id);
  const health = new Map(web.overseer.health(id).map((h) => [h.key, h]));
  const desired = web.lifecycle.desiredPower(id);
  const byInstance = new Map<number, InstanceModel>();
  const inWindow: MachineStatus[] = [];
  let machinesTotal = 0;
  let machinesReady = 0;
  let machinesFailed = 0;
  let machinesDestroyed = 0;
  for (const m of statuses) {
    if (!inScope(scope, m.instance)) continue;
    let i = byInstance.get(m.instance);
    if (!i) {
      i = {
        instance: m.instance,
        assignedTo: assigned.get(m.instance)?.username ?? null,
        total: 0,
        ready: 0,
        failed: 0,
      };
      byInstance.set(m.instance, i);
    }
    i.total++;
    machinesTotal++;
    if (m.state === 'ready') (i.ready++, machinesReady++);
    else if (m.state === 'failed') (i.failed++, machinesFailed++);
    else if (m.state === 'destroyed') machinesDestroyed++;
    if (window?.instance === undefined || m.instance === window.instance) inWindow.push(m);
  }
  const offset = window?.offset ?? 0;
  const machines: MachineModel[] = (
    window ? inWindow.slice(offset, offset + (window.limit ?? machinePageSize)) : inWindow
  ).map((m) =>
    machineModel(
      m,
      assigned.get(m.instance)?.username ?? null,
      scope !== 'all' && scope.concealed.has(m.key),
      powerOf(m.state, health.get(m.key), desired.get(m.key)),
    ),
  );
  const networkState = new Map<string, string>();
  let stepsTotal = 0;
  let stepsDone = 0;
  let stepsFailed = 0;
  for (const s of view.steps) {
    if (s.key.startsWith('net:')) networkState.set(s.key, s.state);
    if (scope !== 'all') {
      const i = instanceOfStep(s.key);
      if (i !== undefined && !scope.has(i)) continue;
    }
    stepsTotal++;
    if (s.state === 'done') stepsDone++;
    else if (s.state === 'failed') stepsFailed++;
  }
  const deleted = new Set<string>();
  for (const r of view.resources) if (r.state === 'deleted') deleted.add(r.key);
  const networks: NetworkModel[] = view.plan.networks
    .filter((n) => n.instance === 0 || inScope(scope, n.instance))
    .map((n) => ({
      key: n.key,
      instance: n.instance,
      name: n.name,
      cidr: n.cidr,
      gateway: n.gateway,
      ...(n.vlan === undefined ? {} : { vlan: n.vlan }),
      internet: n.internet,
      ...(n.egress && n.egress !== 'gateway' ? { egress: n.egress } : {}),
      state: deleted.has(n.key) ? 'destroyed' : (networkState.get(`net:${n.key}`) ?? 'pending'),
    }));
  const platform = web.platforms.list().find((p) => p.id === view.platformId);
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
      ...(view.plan.vpn ? { vpn: true } : {}),
    },
    counts: { stepsTotal, stepsDone, stepsFailed, machinesTotal, machinesReady, machinesFailed, machinesDestroyed },
    machines,
    windowTotal: inWindow.length,
    windowOffset: offset,
    windowInstance: window?.instance,
    instances: [...byInstance.values()].sort((a, b) => a.instance - b.instance),
    networks,
    plan: planForScope(view.plan, scope),
    assigned,
    lastEventId: web.deployments.lastEventId(id),
  };
}

/** The latest `limit` events the scope may see, oldest first. */
export function recentEvents(web: WebDomain, id: string, scope: Scope, limit = 200): DeploymentEvent[] {
  return web.deployments
    .latestEvents(id, scope === 'all' ? limit : limit * 20)
    .map((e) => eventForScope(e, scope))
    .filter((e): e is DeploymentEvent => e !== undefined)
    .slice(0, limit)
    .reverse();
}

/** Events after `afterId` the scope may see, oldest first (reconnects replay these). */
export function eventsAfter(web: WebDomain, id: string, afterId: number, scope: Scope): DeploymentEvent[] {
  return web.deployments
    .eventsAfter(id, afterId)
    .map((e) => eventForScope(e, scope))
    .filter((e): e is DeploymentEvent => e !== undefined);
}

/** Deployments the viewer may see, newest first. */
export function visibleDeployments(web: WebDomain, viewer: Viewer, limit = 100) {
  const all = web.deployments.list(viewer.user.role === 'trainee' ? 10_000 : limit);
  if (viewer.user.role !== 'trainee') return all;
  const mine = new Set(web.assignments.deploymentsOf(viewer.user.id));
  // A deployment's failure reason names every instance's machines (and their modules): staff only, as on its page.
  return all
    .filter((d) => mine.has(d.id))
    .slice(0, limit)
    .map((d) => ({ ...d, error: null }));
}

/** The rows of the dashboard and the deployments list. A trainee's counts are of their own instances only. */
export function deploymentRows(web: WebDomain, viewer: Viewer, limit = 100): DashboardRow[] {
  const names = new Map(web.platforms.list().map((p) => [p.id, p.name]));
  const visible = visibleDeployments(web, viewer, limit);
  const counts = viewer.user.role === 'trainee' ? undefined : web.deployments.machineCounts();
  return visible.map((d) => {
    let c = counts?.get(d.id);
    if (!counts) {
      const m = deploymentModel(web, d.id, scopeFor(web, viewer, d.id));
      c = { machines: m.counts.machinesTotal, ready: m.counts.machinesReady };
    }
    return {
      ...d,
      platformName: names.get(d.platformId) ?? d.platformId,
      machines: c?.machines ?? 0,
      ready: c?.ready ?? 0,
    };
  });
}
