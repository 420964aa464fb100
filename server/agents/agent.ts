// The one entry the orchestrator calls to get a machine's first-boot media: the OS entry's installer picks the
// agent. Agents are pure: a planned machine and its passwords in, boot media out; nothing is stored.
import { AppError } from '../errors.ts';
import { osCatalog, type OsEntry } from '../model/catalog.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { RenderedVulnerability } from '../reaper/render.ts';
import {
  buildCloudInit,
  qemuGuestAgent,
  vmwareTools,
  type CloudInitContext,
  type CloudInitMedia,
} from './cloud-init.ts';

export interface BootContext {
  /** The deployment's secret: crypt salts derive from it, so the same deployment gives the same media. */
  secret: string;
  /** User name -> plain password, for every user of the machine. */
  passwords: Record<string, string>;
  /** The machine's vulnerability modules, rendered (reaper/cloud-init-merge.ts renderMachineVulnerabilities). */
  vulnerabilities?: RenderedVulnerability[];
}

export type BootMedia = { kind: 'cloud-init' } & CloudInitMedia;
export type Installer = (machine: PlannedMachine, ctx: CloudInitContext) => BootMedia;

export const installers: Record<OsEntry['installer'], Installer> = {
  'cloud-init': (machine, ctx) => ({ kind: 'cloud-init', ...buildCloudInit(machine, ctx) }),
  'windows-unattend': (machine) => {
    throw new AppError(
      'invalid_input',
      `Windows installs arrive with the Windows issue; machine "${machine.key}" (${machine.os}) cannot be installed yet`,
      {
        hint: 'Give this machine a Linux OS (ubuntu, debian or kali) for now.',
      },
    );
  },
};

/** The first-boot media of one planned machine, built by its OS's installer. */
export function buildBootMedia(plan: Plan, machine: PlannedMachine, ctx: BootContext): BootMedia {
  const os = osCatalog[machine.os];
  if (!os)
    throw new AppError(
      'invalid_input',
      `Unable to build boot media for machine "${machine.key}": unknown OS "${machine.os}"`,
      { hint: `Use one of ${Object.keys(osCatalog).join(', ')}.` },
    );
  return installers[os.installer](machine, {
    networks: plan.networks,
    passwords: ctx.passwords,
    instanceId: `${plan.deploymentId}-${machine.key}`,
    secret: ctx.secret,
    // ESXi sees guests through VMware Tools; Proxmox (and the simulator, which models it) through QEMU's agent.
    guestAgent: plan.platform === 'esxi' ? vmwareTools : qemuGuestAgent,
    ...(ctx.vulnerabilities ? { vulnerabilities: ctx.vulnerabilities } : {}),
  });
}
