// What the database says should exist, read once per sweep: the deployments to watch with their plans (parsed once,
// a plan never changes), the machines they created with their platform ids, and the networks' platform ids.
import type { Db } from '../db/client.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';

export interface WatchedMachine {
  machine: PlannedMachine;
  resourceName: string;
  externalId: string | null;
  /** Created and not deleted: the platform should have it. */
  created: boolean;
}

export interface WatchedDeployment {
  id: string;
  platformId: string;
  state: DeploymentState;
  finishedAt: string | null;
  plan: Plan;
  machines: WatchedMachine[];
  /** Network plan key -> the platform's id for it. */
  networkIds: Map<string, string>;
}

export function createWatch(db: Db) {
  const plans = new Map<string, Plan>();
  const st = {
    heads: db.$client.prepare<[], { id: string; platformId: string; state: string; finishedAt: string | null }>(
      "SELECT id, platform_id AS platformId, state, finished_at AS finishedAt FROM deployments WHERE state != 'destroyed'",
    ),
    plan: db.$client.prepare<[string], string>('SELECT plan FROM deployments WHERE id = ?').pluck(),
    states: db.$client.prepare<[], { id: string; state: string }>('SELECT id, state FROM deployments'),
    resources: db.$client.prepare<
      [],
      { deploymentId: string; key: string; kind: string; name: string; externalId: string | null; state: string }
    >(
      "SELECT r.deployment_id AS deploymentId, r.key, r.kind, r.name, r.external_id AS externalId, r.state FROM resources r JOIN deployments d ON d.id = r.deployment_id WHERE d.state != 'destroyed'",
    ),
  };

  return {
    /** Deployments that are not destroyed (narrowed to `states` when given), with their plans and resources. */
    load(states?: readonly DeploymentState[]): WatchedDeployment[] {
      const all = st.heads.all();
      // Plans of destroyed deployments are not needed again.
      const live = new Set(all.map((h) => h.id));
      for (const id of plans.keys()) if (!live.has(id)) plans.delete(id);
      const heads = all.filter((h) => !states || states.includes(h.state as DeploymentState));
      const ids = new Set(heads.map((h) => h.id));
      const byDeployment = new Map<string, Array<ReturnType<typeof st.resources.all>[number]>>();
      for (const r of st.resources.all()) {
        if (!ids.has(r.deploymentId)) continue;
        const list = byDeployment.get(r.deploymentId);
        if (list) list.push(r);
        else byDeployment.set(r.deploymentId, [r]);
      }
      return heads.map((h) => {
        let plan = plans.get(h.id);
        if (!plan) plans.set(h.id, (plan = JSON.parse(st.plan.get(h.id)!) as Plan));
        const rows = byDeployment.get(h.id) ?? [];
        const machineRows = new Map(rows.filter((r) => r.kind === 'machine').map((r) => [r.key, r]));
        return {
          id: h.id,
          platformId: h.platformId,
          state: h.state as DeploymentState,
          finishedAt: h.finishedAt,
          plan,
          machines: plan.machines.map((m) => {
            const r = machineRows.get(m.key);
            return {
              machine: m,
              resourceName: r?.name ?? m.resourceName,
              externalId: r?.externalId ?? null,
              created: r !== undefined && r.externalId !== null && r.state !== 'deleted',
            };
          }),
          networkIds: new Map(
            rows.filter((r) => r.kind === 'network' && r.externalId).map((r) => [r.key, r.externalId!]),
          ),
        };
      });
    },
    /** Every deployment id this appliance knows, with its state (destroyed ones included). */
    states(): Map<string, DeploymentState> {
      return new Map(st.states.all().map((r) => [r.id, r.state as DeploymentState]));
    },
    plan(id: string): Plan | undefined {
      const cached = plans.get(id);
      if (cached) return cached;
      const text = st.plan.get(id);
      return text ? (JSON.parse(text) as Plan) : undefined;
    },
  };
}

export type Watch = ReturnType<typeof createWatch>;
