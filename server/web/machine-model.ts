// One machine as a viewer may see it: the page's and the API's machine detail (live state, credentials for those
// allowed, snapshots for instructors and admins where the platform has them).
import { AppError } from '../errors.ts';
import type { MachineModel } from '../../views/props.ts';
import { isRole, type Viewer, type WebDomain } from './context.ts';
import { deploymentModel, scopeFor } from './deployment-model.ts';

/** The machine as the viewer may see it, or not_found (also for another trainee's machine). */
export function visibleMachine(web: WebDomain, viewer: Viewer, deploymentId: string, key: string): MachineModel {
  const scope = scopeFor(web, viewer, deploymentId);
  const m = deploymentModel(web, deploymentId, scope).machines.find((x) => x.key === key);
  if (!m) throw new AppError('not_found', `Machine "${key}" is not part of deployment ${deploymentId}`);
  return m;
}

/** Everything the machine view shows; also the API's machine detail. */
export async function machineDetail(web: WebDomain, viewer: Viewer, deploymentId: string, key: string) {
  const m = visibleMachine(web, viewer, deploymentId, key);
  const [state, supportsSnapshots, remote] = await Promise.all([
    web.machines.state(deploymentId, key),
    web.machines.supportsSnapshots(deploymentId),
    web.access.capabilities(deploymentId, key),
  ]);
  const canSnapshot = supportsSnapshots && isRole(viewer, 'admin', 'instructor');
  const snapshots =
    canSnapshot && state.power !== 'missing' ? await web.machines.snapshots(deploymentId, key).catch(() => []) : [];
  // A trainee gets no shell on the router, and not its password either: it holds the firewall that isolates their
  // instance, and its SSH answers on the classroom side.
  const shell = m.role !== 'router' || isRole(viewer, 'admin', 'instructor');
  const credentials =
    m.state === 'destroyed' || !shell
      ? []
      : Object.entries(web.machines.credentials(deploymentId, key)).map(([user, password]) => ({ user, password }));
  return {
    m,
    state,
    supportsSnapshots,
    canSnapshot,
    snapshots,
    credentials,
    remote: shell ? remote : { console: false, terminal: false },
  };
}
