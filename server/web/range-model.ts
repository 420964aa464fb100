// What a viewer may see and do on a deployment's range page and its API: staff everything (giving an instance to
// another trainee too); a trainee only their own instances, resetting them, and switching testing mode where the
// deployment allows trainees to. No SQL here.
import { AppError } from '../errors.ts';
import type { RangeInstance } from '../../views/props.ts';
import { isRole, type Viewer, type WebDomain } from './context.ts';
import { inScope, scopeFor } from './deployment-model.ts';

export interface InstanceRights {
  staff: boolean;
  canReset: boolean;
  canTest: boolean;
}

/** The viewer's rights on one instance; not_found when it does not exist or is not theirs to see. */
export function instanceRights(web: WebDomain, viewer: Viewer, deploymentId: string, instance: number): InstanceRights {
  const scope = scopeFor(web, viewer, deploymentId);
  const d = web.deployments.get(deploymentId);
  if (!Number.isInteger(instance) || instance < 1 || instance > d.instances || !inScope(scope, instance))
    throw new AppError('not_found', `Deployment ${deploymentId} has no instance ${instance} you may see`);
  const staff = isRole(viewer, 'admin', 'instructor');
  return { staff, canReset: true, canTest: staff || web.lifecycle.get(deploymentId).traineeTestingMode };
}

/** Refuses what the viewer's rights do not allow, naming it. */
export function need(rights: InstanceRights, what: 'staff' | 'reset' | 'test'): void {
  const ok = what === 'staff' ? rights.staff : what === 'reset' ? rights.canReset : rights.canTest;
  if (!ok)
    throw new AppError(
      'forbidden',
      what === 'test'
        ? 'Trainees may switch testing mode only where the deployment allows it'
        : 'Only instructors and admins may do that',
    );
}

export async function rangeModel(web: WebDomain, viewer: Viewer, id: string) {
  const scope = scopeFor(web, viewer, id);
  const d = web.deployments.get(id);
  const platform = web.platforms.get(d.platformId);
  const assigned = web.assignments.ofDeployment(id);
  const staff = isRole(viewer, 'admin', 'instructor');
  const lifecycle = web.lifecycle.get(id);
  let supportsSnapshots = false;
  try {
    supportsSnapshots = (await web.platforms.instance(d.platformId)).supports.snapshots;
  } catch {
    supportsSnapshots = false;
  }
  const instances: RangeInstance[] = [];
  for (let i = 1; i <= d.instances; i++) {
    if (!inScope(scope, i)) continue;
    instances.push({
      instance: i,
      assignedTo: assigned.get(i)?.username ?? null,
      vpn: staff ? web.vpnPeers.state(id, i) : null,
      snapshots: web.snapshots.list(id, i),
      testing: web.testing.state(id, i),
      canReset: true,
      canTest: staff || lifecycle.traineeTestingMode,
    });
  }
  const visible = (key: string | null) =>
    scope === 'all' || (key !== null && instances.some((i) => key.startsWith(`i${i.instance}.`)));
  return {
    deploymentId: id,
    scenarioName: d.scenarioName,
    state: d.state,
    platformKind: platform.kind,
    supportsSnapshots,
    lifecycle,
    health: web.overseer.health(id).filter((h) => visible(h.key)),
    findings: web.overseer.findings.list({ state: 'open', deploymentId: id }).filter((f) => visible(f.machineKey)),
    instances,
    canManage: staff,
    // Whom staff may give an instance to: active trainees.
    trainees: staff
      ? web.users
          .list()
          .filter((u) => u.role === 'trainee' && !u.disabled)
          .map((u) => ({ id: u.id, username: u.username }))
      : [],
  };
}
