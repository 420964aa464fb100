// Installer agents: the lifecycle an agent run goes through, and the registry that picks the agent building a
// machine's first-boot media from its OS entry's installer. Agents are pure: machine spec in, boot media out.
import { AppError } from '../errors.ts';
import { osCatalog, type OsEntry } from '../orchestrator/catalog.ts';
import type { PlannedMachine } from '../orchestrator/plan.ts';
import { buildCloudInit, type CloudInitContext, type CloudInitMedia } from './ubuntu.ts';

export type AgentState = 'idle' | 'validating' | 'running' | 'completed' | 'failed';

/** Completed and failed are final: a retry is a new agent run. */
export const agentTransitions: Record<AgentState, AgentState[]> = {
  idle: ['validating'],
  validating: ['running', 'failed'],
  running: ['completed', 'failed'],
  completed: [],
  failed: [],
};

export function transition(from: AgentState, to: AgentState): AgentState {
  if (!agentTransitions[from].includes(to)) {
    const allowed = agentTransitions[from];
    throw new AppError('internal', `Unable to move an agent from "${from}" to "${to}": ${allowed.length > 0 ? `from "${from}" it may go only to ${allowed.map((s) => `"${s}"`).join(', ')}` : `"${from}" is final`}`);
  }
  return to;
}

export type InstallContext = CloudInitContext;
export type BootMedia = { kind: 'cloud-init' } & CloudInitMedia;
export type Installer = (machine: PlannedMachine, ctx: InstallContext) => BootMedia;

export const installers: Record<OsEntry['installer'], Installer> = {
  'cloud-init': (machine, ctx) => ({ kind: 'cloud-init', ...buildCloudInit(machine, ctx) }),
  'windows-unattend': (machine) => {
    throw new AppError('invalid_input', `Windows installs arrive with the Windows issue; machine "${machine.key}" (${machine.os}) cannot be installed yet`, {
      hint: 'Give this machine a Linux OS (ubuntu, debian or kali) for now.',
    });
  },
};

export function buildBootMedia(machine: PlannedMachine, ctx: InstallContext): BootMedia {
  const os = osCatalog[machine.os];
  if (!os) throw new AppError('invalid_input', `Unable to build boot media for machine "${machine.key}": unknown OS "${machine.os}"`, { hint: `Use one of ${Object.keys(osCatalog).join(', ')}.` });
  return installers[os.installer](machine, ctx);
}
