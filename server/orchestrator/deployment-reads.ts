// Reading deployments for the pages, the API, the live stream and the CLI: lean (prepared statements, rows as arrays)
// and cached, because a page of a thousand-machine deployment reads five thousand steps. A plan never changes once
// its deployment exists, so it is parsed once; steps, resources and machine states are rebuilt only when the
// deployment changed. The caches are bounded by what they hold (machines and steps), not by entries: memory stays
// the same whether the deployments read are small or have thousands of machines.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db/client.ts';
import { AppError } from '../errors.ts';
import type { DeploymentSummary, DeploymentView, MachineStatus, ResourceView, StepView } from '../model/deployment.ts';
import type { DeploymentEvent } from '../model/events.ts';
import type { Plan } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';

type Cell = string | number | null;

/** A cached read of one version of a deployment, with its machines' states once asked for. */
interface ViewEntry {
  version: string;
  view: DeploymentView;
  machines?: MachineStatus[];
}

export function createDeploymentReads(db: Db) {
  const c = db.$client;
  const st = {
    head: c.prepare<[string], Omit<DeploymentView, 'plan' | 'steps' | 'resources'>>(
      'SELECT id, scenario_name AS scenarioName, scenario_file AS scenarioFile, platform_id AS platformId, instances, state, error, lease_owner AS leaseOwner, ' +
        'lease_until AS leaseUntil, created_at AS createdAt, updated_at AS updatedAt, finished_at AS finishedAt FROM deployments WHERE id = ?',
    ),
    plan: c.prepare<[string], string>('SELECT plan FROM deployments WHERE id = ?').pluck(),
    lastEvent: c.prepare<[string], number | null>('SELECT max(id) FROM events WHERE deployment_id = ?').pluck(),
    // Rows as arrays: a thousand-machine deployment has five thousand steps, and row objects cost twice as much.
    steps: c
      .prepare(
        'SELECT key, kind, target, state, attempts, started_at, ended_at, error FROM steps WHERE deployment_id = ? ORDER BY key',
      )
      .raw(true) as Statement<[string], Cell[]>,
    resources: c
      .prepare(
        'SELECT key, kind, name, external_id, addresses, state, updated_at FROM resources WHERE deployment_id = ?',
      )
      .raw(true) as Statement<[string], Cell[]>,
    list: c.prepare<[number], DeploymentSummary>(
      'SELECT id, scenario_name AS scenarioName, platform_id AS platformId, instances, state, error, created_at AS createdAt, finished_at AS finishedAt FROM deployments ORDER BY created_at DESC LIMIT ?',
    ),
    machineCounts: c.prepare<[], { id: string; machines: number; ready: number | null }>(
      "SELECT deployment_id AS id, count(*) AS machines, sum(state = 'done') AS ready FROM steps WHERE kind = 'ready' GROUP BY deployment_id",
    ),
    eventsAfter: c.prepare<[string, number, number], DeploymentEvent>(
      'SELECT id, deployment_id AS deploymentId, at, type, step_key AS stepKey, message FROM events WHERE deployment_id = ? AND id > ? ORDER BY id LIMIT ?',
    ),
    latestEvents: c.prepare<[string, number], DeploymentEvent>(
      'SELECT id, deployment_id AS deploymentId, at, type, step_key AS stepKey, message FROM events WHERE deployment_id = ? ORDER BY id DESC LIMIT ?',
    ),
  };
  // Weights: a plan's machines and steps; a view's steps and resources.
  const plans = new BoundedCache<Plan>(planCacheWeight);
  const views = new BoundedCache<ViewEntry>(viewCacheWeight);

  function read(id: string): { entry: ViewEntry; view: DeploymentView } {
    const head = st.head.get(id);
    if (!head)
      throw new AppError('not_found', `Deployment ${id} does not exist`, {
        hint: 'List deployments with `glassdome list` or on the Deployments page.',
      });
    const d = { ...head, state: head.state as DeploymentState };
    // Every step and resource change is followed by an event, so the newest event id (with the deployment's own
    // state) names a version of its steps and resources: reads of an unchanged deployment reuse the last one.
    const version = `${st.lastEvent.get(id) ?? 0}|${d.state}|${d.updatedAt}`;
    const cached = views.get(id);
    if (cached && cached.version === version) return { entry: cached, view: { ...cached.view, ...d } };
    let plan = plans.get(id);
    if (!plan) {
      plan = JSON.parse(st.plan.get(id)!) as Plan;
      plans.set(id, plan, plan.machines.length + plan.steps.length);
    }
    const steps = st.steps.all(id).map((r): StepView => ({
      key: r[0] as string,
      kind: r[1] as string,
      target: r[2] as string,
      state: r[3] as StepView['state'],
      attempts: r[4] as number,
      startedAt: r[5] as string | null,
      endedAt: r[6] as string | null,
      error: r[7] as string | null,
    }));
    const resources = st.resources.all(id).map((r): ResourceView => ({
      key: r[0] as string,
      kind: r[1] as string,
      name: r[2] as string,
      externalId: r[3] as string | null,
      addresses: r[4] ? (JSON.parse(r[4] as string) as string[]) : null,
      state: r[5] as string,
      updatedAt: r[6] as string,
    }));
    const view = { ...d, plan, steps, resources };
    const entry: ViewEntry = { version, view };
    views.set(id, entry, steps.length + resources.length);
    return { entry, view };
  }

  return {
    /** A deployment with its plan, steps and resources; not_found when it does not exist. */
    get(id: string): DeploymentView {
      return read(id).view;
    },
    /**
     * A deployment and the state of each of its machines (machineStatus), built once per change of the deployment:
     * a page read a hundred times between two events sorts its thousand machines' steps once. Shared: read-only.
     */
    withMachines(id: string): { view: DeploymentView; machines: readonly MachineStatus[] } {
      const { entry, view } = read(id);
      entry.machines ??= machineStatus(entry.view);
      return { view, machines: entry.machines };
    },
    /** Newest first. */
    list(limit = 100): DeploymentSummary[] {
      return st.list.all(limit).map((r) => ({ ...r, state: r.state as DeploymentState }));
    },
    /** Machines and ready machines per deployment, from the `ready` steps: one grouped query, no plan parsing. */
    machineCounts(): Map<string, { machines: number; ready: number }> {
      return new Map(st.machineCounts.all().map((r) => [r.id, { machines: r.machines, ready: r.ready ?? 0 }]));
    },
    lastEventId(id: string): number {
      return st.lastEvent.get(id) ?? 0;
    },
    /** Events after `afterId`, oldest first (a reconnecting page replays these). */
    eventsAfter(id: string, afterId: number, limit = 10_000): DeploymentEvent[] {
      return st.eventsAfter.all(id, afterId, limit);
    },
    /** The newest `limit` events, newest first. */
    latestEvents(id: string, limit: number): DeploymentEvent[] {
      return st.latestEvents.all(id, limit);
    },
  };
}

export type DeploymentReads = ReturnType<typeof createDeploymentReads>;

// What the read caches may hold, measured on a 1,000-machine deployment: a parsed plan takes about 340 bytes per
// machine and step (1.7 MB), a view about 300 per step and resource plus 680 per machine for their states (2.5 MB).
// So about 8 MB of plans and 10 MB of views: four deployments of 1,000 machines, or twenty of 200. (Before, 32 plans
// and 8 views whatever their size: over 100 MB with deployments of 2,000 machines.)
const planCacheWeight = 24_000;
const viewCacheWeight = 24_000;

/**
 * Least recently used first out, once the weights of the entries pass `capacity`. One entry heavier than the whole
 * capacity is still kept (alone): the deployment being read is always cached.
 */
export class BoundedCache<T> {
  private readonly entries = new Map<string, { value: T; weight: number }>();
  private total = 0;
  constructor(private readonly capacity: number) {}

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, value: T, weight: number): void {
    const old = this.entries.get(key);
    if (old) {
      this.total -= old.weight;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, weight });
    this.total += weight;
    for (const [k, e] of this.entries) {
      if (this.total <= this.capacity || k === key) break;
      this.entries.delete(k);
      this.total -= e.weight;
    }
  }
}

const stepOrder = ['network', 'create', 'start', 'address', 'ready'];

/** Per machine: its steps in order, its platform id and addresses; what `status --json` and the pages show. */
export function machineStatus(view: DeploymentView): MachineStatus[] {
  const stepsByTarget = new Map<string, StepView[]>();
  for (const s of view.steps) {
    const list = stepsByTarget.get(s.target);
    if (list) list.push(s);
    else stepsByTarget.set(s.target, [s]);
  }
  const resourceOf = new Map(view.resources.map((r) => [r.key, r]));
  return view.plan.machines.map((m) => {
    const ms = (stepsByTarget.get(m.key) ?? []).sort((a, b) => stepOrder.indexOf(a.kind) - stepOrder.indexOf(b.kind));
    const r = resourceOf.get(m.key);
    const running = ms.find((s) => s.state === 'running');
    const state =
      r?.state === 'deleted'
        ? 'destroyed'
        : ms.some((s) => s.state === 'failed')
          ? 'failed'
          : ms.every((s) => s.state === 'done')
            ? 'ready'
            : running
              ? running.kind
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
      addresses: r?.state === 'deleted' ? [] : (r?.addresses ?? []),
      plannedAddresses: m.nics.flatMap((n) => (n.ip ? [n.ip] : [])),
      steps: ms.map((s) => ({
        kind: s.kind,
        state: s.state,
        attempts: s.attempts,
        startedAt: s.startedAt,
        endedAt: s.endedAt,
        error: s.error,
      })),
    };
  });
}
