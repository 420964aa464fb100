// The scenario's `windows` block of a machine (a zod fragment for the scenario schema) and what the plan makes of
// it: which machine is a domain's controller in an instance, whom members join with, and the address they use.
//
//   machines:
//     - name: dc01
//       os: windows-server-2022
//       windows: { domain: { name: corp.lab, role: dc } }          # netbios defaults to CORP
//     - name: ws
//       os: windows-11
//       dependsOn: [dc01]                                           # members start once the domain exists
//       windows: { domain: { name: corp.lab, role: member }, remote: [rdp] }
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import type { Plan, PlannedMachine } from '../../model/plan.ts';
import type { PlannedWindows, WindowsRemoteAccess } from '../../model/scenario.ts';

const domainName = z
  .string()
  .regex(
    /^(?=.{3,64}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i,
    'expected a DNS domain name with at least two labels, such as corp.lab',
  );
const netbiosName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9-]{0,14}$/, 'expected a NetBIOS name: a letter, then up to 14 letters, digits or dashes');

export const defaultWindowsRemote: WindowsRemoteAccess[] = ['ssh', 'winrm', 'rdp'];

/** The fragment to put under a machine's `windows` key (optional there). Its output is the plan's PlannedWindows. */
export const windowsSettingsSchema = z
  .strictObject({
    domain: z
      .strictObject({
        name: domainName,
        /** Default: the first label of `name`, upper-cased and cut to 15 characters. */
        netbios: netbiosName.optional(),
        role: z.enum(['dc', 'member']),
      })
      .optional(),
    /** Opened on the lab's networks only (firewall rules scoped to their CIDRs). Default: ssh, winrm and rdp. */
    remote: z.array(z.enum(['ssh', 'winrm', 'rdp'])).default(defaultWindowsRemote),
  })
  .transform((w): PlannedWindows => ({
    ...(w.domain
      ? {
          domain: {
            name: w.domain.name.toLowerCase(),
            netbios: (w.domain.netbios ?? defaultNetbios(w.domain.name)).toUpperCase(),
            role: w.domain.role,
          },
        }
      : {}),
    remote: [...new Set(w.remote)],
  }));

export type WindowsSettingsInput = z.input<typeof windowsSettingsSchema>;

export function defaultNetbios(domain: string): string {
  return domain
    .split('.')[0]!
    .toUpperCase()
    .replace(/[^A-Z0-9-]/g, '')
    .slice(0, 15);
}

export function windowsOf(machine: PlannedMachine): PlannedWindows {
  return machine.windows ?? { remote: defaultWindowsRemote };
}

/** Only Windows Server editions can be domain controllers. */
export function isServerOs(os: string): boolean {
  return os.startsWith('windows-server-');
}

export interface DomainController {
  machine: PlannedMachine;
  /** The controller's address members reach it at (DNS server, join target): on a network they share, else its first. */
  address: string;
  /** The account that becomes the domain's administrator: the controller's first sudo user (else its first). */
  adminUser: string;
}

/** The controller of `machine`'s domain in its instance; undefined for a machine outside any domain. */
export function domainController(plan: Plan, machine: PlannedMachine): DomainController | undefined {
  const domain = machine.windows?.domain;
  if (!domain) return undefined;
  const dc =
    domain.role === 'dc'
      ? machine
      : plan.machines.find(
          (m) =>
            m.instance === machine.instance &&
            m.windows?.domain?.role === 'dc' &&
            m.windows.domain.name === domain.name,
        );
  if (!dc) {
    throw new AppError(
      'invalid_input',
      `Unable to build first boot for machine "${machine.key}": domain "${domain.name}" has no controller in instance ${machine.instance}`,
      {
        hint: `Give one Windows Server machine windows: { domain: { name: ${domain.name}, role: dc } }.`,
      },
    );
  }
  const shared = dc.nics.find((n) => n.ip !== undefined && machine.nics.some((m) => m.networkKey === n.networkKey));
  const address = (shared ?? dc.nics.find((n) => n.ip !== undefined))?.ip;
  const admin = dc.users.find((u) => u.sudo) ?? dc.users[0];
  if (!address || !admin)
    throw new AppError(
      'invalid_input',
      `Unable to build first boot for machine "${machine.key}": its domain controller "${dc.key}" has ${address ? 'no user' : 'no static address'}`,
    );
  return { machine: dc, address, adminUser: admin.name };
}

/**
 * For a domain member: the controller's machine key and the user whose password the executor must pass as
 * BootContext.domainAdminPassword (machinePasswords(controller)[user]). Undefined for every other machine.
 */
export function domainJoinAccount(
  plan: Plan,
  machine: PlannedMachine,
): { controllerKey: string; user: string } | undefined {
  if (machine.windows?.domain?.role !== 'member') return undefined;
  const dc = domainController(plan, machine)!;
  return { controllerKey: dc.machine.key, user: dc.adminUser };
}
