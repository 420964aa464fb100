// The one entry the orchestrator calls to get a machine's first-boot media: the OS entry's installer picks the
// agent. Agents are pure: a planned machine and its passwords in, boot media out; nothing is stored.
import { AppError } from '../errors.ts';
import { osCatalog, type OsEntry } from '../model/catalog.ts';
import type { Plan, PlannedMachine } from '../model/plan.ts';
import type { RenderedVulnerability } from '../model/vulnerability.ts';
import type { RouterVpnKeys } from '../model/vpn.ts';
import { buildCloudInit, qemuGuestAgent, vmwareTools, type CloudInitMedia } from './cloud-init.ts';
import { buildWindowsMedia, type WindowsMedia } from './windows/installer.ts';

export interface BootContext {
  /** The deployment's secret: crypt salts derive from it, so the same deployment gives the same media. */
  secret: string;
  /** User name -> plain password, for every user of the machine. */
  passwords: Record<string, string>;
  /**
   * Windows domain members only: the password of the account they join with, on their controller. The executor gets
   * both from domainJoinAccount(plan, machine) (agents/windows/settings.ts) and machinePasswords() of the controller.
   */
  domainAdminPassword?: string;
  /** The machine's vulnerability modules, rendered by the reaper (reaper/render.ts renderMachineVulnerabilities). */
  vulnerabilities?: RenderedVulnerability[];
  /** A router of a deployment with a VPN: its keys (server/access/vpn-keys.ts routerVpnKeys). */
  vpnKeys?: RouterVpnKeys;
}

/** Every variant carries the three NoCloud documents, so a driver that only knows cloud-init still gets them. */
export type BootMedia = ({ kind: 'cloud-init' } & CloudInitMedia) | WindowsMedia;
export type Installer = (plan: Plan, machine: PlannedMachine, ctx: BootContext) => BootMedia;

export const installers: Record<OsEntry['installer'], Installer> = {
  'cloud-init': (plan, machine, ctx) => ({
    kind: 'cloud-init',
    ...buildCloudInit(machine, {
      networks: plan.networks,
      passwords: ctx.passwords,
      instanceId: instanceId(plan, machine),
      secret: ctx.secret,
      // ESXi sees guests through VMware Tools; Proxmox (and the simulator, which models it) through QEMU's agent;
      // clouds have no guest channel (their console carries the first-boot line).
      guestAgent:
        plan.platform === 'esxi'
          ? vmwareTools
          : plan.platform === 'aws' || plan.platform === 'azure'
            ? null
            : qemuGuestAgent,
      ...(ctx.vulnerabilities ? { vulnerabilities: ctx.vulnerabilities } : {}),
      ...(ctx.vpnKeys ? { vpnKeys: ctx.vpnKeys } : {}),
      ...(plan.packageCache ? { packageCache: plan.packageCache } : {}),
    }),
  }),
  'windows-unattend': (plan, machine, ctx) =>
    buildWindowsMedia(plan, machine, {
      passwords: ctx.passwords,
      secret: ctx.secret,
      instanceId: instanceId(plan, machine),
      ...(ctx.domainAdminPassword !== undefined ? { domainAdminPassword: ctx.domainAdminPassword } : {}),
      ...(ctx.vulnerabilities ? { vulnerabilities: ctx.vulnerabilities } : {}),
    }),
};

function instanceId(plan: Plan, machine: PlannedMachine): string {
  return `${plan.deploymentId}-${machine.key}`;
}

/** The first-boot media of one planned machine, built by its OS's installer. */
export function buildBootMedia(plan: Plan, machine: PlannedMachine, ctx: BootContext): BootMedia {
  const os = osCatalog[machine.os];
  if (!os)
    throw new AppError(
      'invalid_input',
      `Unable to build boot media for machine "${machine.key}": unknown OS "${machine.os}"`,
      { hint: `Use one of ${Object.keys(osCatalog).join(', ')}.` },
    );
  return installers[os.installer](plan, machine, ctx);
}
