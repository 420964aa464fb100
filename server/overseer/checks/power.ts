// Power as the appliance wants it against power as the platform reports it: a change made outside the appliance.
import type { PlannedMachine } from '../../model/plan.ts';
import type { FindingDraft } from '../findings.ts';

export interface MachineSubject {
  deploymentId: string;
  platformId: string;
  machine: PlannedMachine;
  resourceName: string;
  externalId: string | null;
  /**
   * What the appliance last asked for this machine: running unless someone or the overseer stopped it; `any` where
   * nothing can be held against its power (a failed deployment, whose machines the executor may never have started).
   */
  desired: 'running' | 'stopped' | 'any';
}

export function draftFor(s: MachineSubject, kind: FindingDraft['kind'], message: string): FindingDraft {
  return {
    kind,
    platformId: s.platformId,
    deploymentId: s.deploymentId,
    machineKey: s.machine.key,
    resourceName: s.resourceName,
    externalId: s.externalId,
    message,
  };
}

/** `power-off` for a machine that should run and does not, `power-on` for one stopped on purpose that runs. */
export function powerFindings(s: MachineSubject, power: string): FindingDraft[] {
  const who = `machine ${s.machine.key} ("${s.resourceName}")`;
  if (s.desired === 'running' && (power === 'stopped' || power === 'paused'))
    return [draftFor(s, 'power-off', `${who} is ${power} on the platform although it should be running`)];
  if (s.desired === 'stopped' && power === 'running')
    return [draftFor(s, 'power-on', `${who} is running on the platform although it was stopped on purpose`)];
  return [];
}
