// The drift check, as data: the platform's inventory against the database, by the tag and name convention. Machines
// the database has created that the platform no longer lists (missing), machines marked as Glassdome's that no
// deployment owns (orphans), and machines whose size or NICs differ from the plan (drift); power is checked as in
// the health sweep, since a change made outside the appliance is drift too.
import type { PlannedMachine } from '../../model/plan.ts';
import type { DeploymentState } from '../../model/states.ts';
import type { InventoryMachine } from '../../platforms/platform.ts';
import type { FindingDraft } from '../findings.ts';
import { draftFor, powerFindings, type MachineSubject } from './power.ts';

export interface KnownMachine extends MachineSubject {
  state: DeploymentState;
  /** The resource row: created (with a platform id) or not, deleted or not. */
  created: boolean;
  /** Per NIC in plan order, the platform network id it should be on and the VLAN that network carries. */
  nics: Array<{ network: string | undefined; vlan: number | undefined }>;
}

/** Deployment states whose machines the drift and health checks hold to the plan. */
export const builtStates: readonly DeploymentState[] = ['ready', 'failed'];

export function configDrift(machine: PlannedMachine, expected: KnownMachine['nics'], seen: InventoryMachine): string[] {
  const out: string[] = [];
  // A cloud machine runs as the smallest named size that holds its plan: more than planned is that size, not drift.
  const differs = (have: number, planned: number) => (seen.size === undefined ? have !== planned : have < planned);
  const as = seen.size === undefined ? '' : ` (${seen.size})`;
  if (seen.memoryMb !== undefined && differs(seen.memoryMb, machine.size.memoryMb))
    out.push(`memory ${seen.memoryMb} MiB${as}, planned ${machine.size.memoryMb} MiB`);
  if (seen.cpus !== undefined && differs(seen.cpus, machine.size.cpus))
    out.push(`${seen.cpus} vCPUs${as}, planned ${machine.size.cpus}`);
  if (seen.nics !== undefined) {
    if (seen.nics.length !== expected.length) out.push(`${seen.nics.length} NICs, planned ${expected.length}`);
    seen.nics.forEach((nic, i) => {
      const want = expected[i];
      if (!want) return;
      if (want.network !== undefined && nic.network !== want.network)
        out.push(`NIC ${i} on network ${nic.network}, planned ${want.network}`);
      else if (want.vlan !== undefined && nic.vlan !== undefined && nic.vlan !== want.vlan)
        out.push(`NIC ${i} on VLAN ${nic.vlan}, planned ${want.vlan}`);
    });
  }
  return out;
}

export function driftFindings(
  platformId: string,
  inventory: InventoryMachine[],
  known: Map<string, KnownMachine>,
  deploymentStates: Map<string, DeploymentState>,
): FindingDraft[] {
  const drafts: FindingDraft[] = [];
  const listed = new Set<string>();
  for (const seen of inventory) {
    listed.add(seen.name);
    const k = known.get(seen.name);
    const owner = deploymentStates.get(seen.deploymentId);
    if (!k || k.platformId !== platformId || k.deploymentId !== seen.deploymentId || k.state === 'destroyed') {
      const why =
        owner === undefined
          ? `deployment ${seen.deploymentId}, which this appliance does not know`
          : owner === 'destroyed'
            ? `deployment ${seen.deploymentId}, which was destroyed`
            : `deployment ${seen.deploymentId}, whose plan has no machine of that name on this platform`;
      drafts.push({
        kind: 'orphan',
        platformId,
        deploymentId: seen.deploymentId,
        machineKey: null,
        resourceName: seen.name,
        externalId: seen.id,
        message: `VM "${seen.name}" (${seen.id}) is marked by its ${seen.owner} as ${why}; no deployment owns it`,
      });
      continue;
    }
    if (!builtStates.includes(k.state) || !k.created) continue;
    drafts.push(...powerFindings(k, seen.power));
    const drift = configDrift(k.machine, k.nics, seen);
    if (drift.length > 0)
      drafts.push(
        draftFor(
          k,
          'config-drift',
          `machine ${k.machine.key} ("${k.resourceName}") differs from its plan: ${drift.join('; ')}`,
        ),
      );
  }
  for (const k of known.values()) {
    if (k.platformId !== platformId || !builtStates.includes(k.state) || !k.created || listed.has(k.resourceName))
      continue;
    drafts.push(
      draftFor(
        k,
        'machine-missing',
        `machine ${k.machine.key} ("${k.resourceName}", ${k.externalId}) is no longer on the platform`,
      ),
    );
  }
  return drafts;
}
