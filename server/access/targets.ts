// Which machine a console, terminal or VPN is about, read from the deployment: its plan entry, its platform record
// and id, its recorded addresses, and whether it can be reached at all (created, not destroyed). Also the range
// router's uplink address: the only way into an instance's isolated networks from the appliance or the classroom.
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, resources } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { containsIp, ipToInt, parseSubnet } from '../ipam/cidr.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { DeploymentState } from '../model/states.ts';
import type { MachineRef } from '../platforms/platform.ts';

export interface AccessTarget {
  deploymentId: string;
  state: DeploymentState;
  plan: Plan;
  platformId: string;
  machine: PlannedMachine;
  /** The platform's machine, once created and until destroyed. */
  ref?: MachineRef;
  /** What the address step recorded (static lab addresses and, on a router, its uplink lease). */
  addresses: string[];
}

const gone: DeploymentState[] = ['destroying', 'destroyed', 'destroy_failed'];

export function findTarget(db: Db, deploymentId: string, key: string): AccessTarget {
  const d = db
    .select({ plan: deployments.plan, platformId: deployments.platformId, state: deployments.state })
    .from(deployments)
    .where(eq(deployments.id, deploymentId))
    .get();
  if (!d) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
  const plan = d.plan as Plan;
  const machine = plan.machines.find((m) => m.key === key);
  if (!machine) throw new AppError('not_found', `Machine "${key}" is not part of deployment ${deploymentId}`);
  const r = db
    .select()
    .from(resources)
    .where(and(eq(resources.deploymentId, deploymentId), eq(resources.key, key)))
    .get();
  const present = r?.externalId && r.state !== 'deleted';
  return {
    deploymentId,
    state: d.state as DeploymentState,
    plan,
    platformId: d.platformId,
    machine,
    ...(present ? { ref: { id: r.externalId!, name: r.name } } : {}),
    addresses: present ? (r.addresses ?? []) : [],
  };
}

/** Why nothing can be opened on this machine now (destroyed, never created), or undefined. */
export function unreachableReason(t: AccessTarget): string | undefined {
  if (gone.includes(t.state))
    return `deployment ${t.deploymentId} is ${t.state === 'destroying' ? 'being destroyed' : 'destroyed'}`;
  if (!t.ref) return `machine "${t.machine.key}" has not been created (or was destroyed)`;
  return undefined;
}

export function requireReachable(t: AccessTarget, what: string): MachineRef {
  const why = unreachableReason(t);
  if (why)
    throw new AppError('conflict', `Unable to open the ${what} of "${t.machine.key}": ${why}`, {
      ...(t.ref ? {} : { hint: 'Wait for its create step, or retry the deployment.' }),
    });
  return t.ref!;
}

/** The router of the machine's instance, if the plan has one. */
export function routerOf(plan: Plan, instance: number): PlannedMachine | undefined {
  return plan.machines.find((m) => m.instance === instance && m.role === 'router');
}

/** A router's uplink address among the addresses it reports: the IPv4 one outside every lab network it routes. */
export function uplinkAddress(router: PlannedMachine, addresses: string[]): string | undefined {
  const cloud = router.router?.cloud;
  const lans = [
    ...(router.router?.lans ?? []).map((l) => l.cidr),
    ...(cloud ? [...cloud.labCidrs, cloud.edgeCidr] : []),
  ].map((c) => parseSubnet(c));
  return addresses.find((a) => {
    const ip = ipToInt(a);
    return ip !== undefined && !lans.some((s) => !('error' in s) && containsIp(s, ip));
  });
}
