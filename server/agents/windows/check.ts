// What a scenario's Windows machines need that a schema cannot say, as located issues naming the machine: domains
// with exactly one controller that members depend on, Windows Server for controllers, no apt packages, sizes the OS
// needs and, when the target platform is known, a template or image for each Windows OS.
import { osCatalog } from '../../model/catalog.ts';
import type { PlannedWindows } from '../../model/scenario.ts';
import type { PlatformKind } from '../../model/platform-kind.ts';
import type { ScenarioMachine } from '../../model/scenario.ts';
import { isServerOs } from './settings.ts';

/** A scenario machine as the check reads it: the normalized machine plus its parsed `windows` block. */
export type WindowsCheckMachine = Pick<
  ScenarioMachine,
  'name' | 'os' | 'count' | 'size' | 'dependsOn' | 'packages' | 'users'
> & {
  windows?: PlannedWindows;
  platform?: ScenarioMachine['platform'];
};

export interface WindowsCheckPlatform {
  kind: PlatformKind;
  /** The platform record's name, for the message. */
  name: string;
  /** Catalog OS keys the platform has a template or image mapped for. */
  osKeys: string[];
}

export interface WindowsCheckIssue {
  /** Field path in the scenario file: ['machines', 3, 'windows', 'domain']. */
  path: Array<string | number>;
  message: string;
}

export interface WindowsCheckOptions {
  /** Minimum memory and disk of the OS (checkScenario already checks the catalog minimums: pass false there). */
  sizes?: boolean;
  platform?: WindowsCheckPlatform;
}

// Where a per-machine override names the platform's template or image.
const overrideKey: Record<PlatformKind, string> = {
  simulator: '',
  proxmox: 'template',
  esxi: 'template',
  aws: 'ami',
  azure: 'image',
};

export function checkWindows(machines: WindowsCheckMachine[], o: WindowsCheckOptions = {}): WindowsCheckIssue[] {
  const issues: WindowsCheckIssue[] = [];
  const add = (path: Array<string | number>, message: string) => issues.push({ path, message });
  const controllers = new Map<string, { index: number; name: string; netbios: string }>();

  machines.forEach((m, i) => {
    const os = osCatalog[m.os];
    const windows = os?.family === 'windows';
    if (m.windows && os && !windows)
      add(
        ['machines', i, 'windows'],
        `machine "${m.name}": windows settings apply only to Windows machines, and its OS is ${os.title}`,
      );
    if (!windows || !os) return;

    m.users.forEach((u, j) => {
      if (u.name.length > 20)
        add(
          ['machines', i, 'users', j, 'name'],
          `machine "${m.name}": Windows user names are at most 20 characters; "${u.name}" has ${u.name.length}`,
        );
    });
    if (m.packages.length > 0)
      add(
        ['machines', i, 'packages'],
        `machine "${m.name}": packages are installed with apt and do not apply to ${os.title}; use run with PowerShell commands instead`,
      );
    if (o.sizes !== false) {
      if (m.size.memoryMb < os.minMemoryMb)
        add(
          ['machines', i, 'size'],
          `machine "${m.name}": ${os.title} needs at least ${os.minMemoryMb} MiB of memory; it has ${m.size.memoryMb}`,
        );
      if (m.size.diskGb < os.minDiskGb)
        add(
          ['machines', i, 'size'],
          `machine "${m.name}": ${os.title} needs a disk of at least ${os.minDiskGb} GiB; it has ${m.size.diskGb}`,
        );
    }
    const p = o.platform;
    if (p && p.kind !== 'simulator') {
      const override = (m.platform?.[p.kind] as Record<string, unknown> | undefined)?.[overrideKey[p.kind]];
      if (override === undefined && !p.osKeys.includes(m.os)) {
        add(
          ['machines', i, 'os'],
          `machine "${m.name}": platform "${p.name}" (${p.kind}) has no template or image for ${os.title} ("${m.os}"); build one (packer/README-windows.md) and map "${m.os}" to it in the platform's settings, or set platform.${p.kind}.${overrideKey[p.kind]} on the machine`,
        );
      }
    }

    const domain = m.windows?.domain;
    if (domain?.role !== 'dc') return;
    if (!isServerOs(m.os))
      add(
        ['machines', i, 'windows', 'domain', 'role'],
        `machine "${m.name}": only Windows Server can be a domain controller, and its OS is ${os.title}`,
      );
    if (m.count > 1)
      add(
        ['machines', i, 'count'],
        `machine "${m.name}": a domain controller is one machine; count ${m.count} would create ${m.count} forests named "${domain.name}"`,
      );
    if (m.users.length > 0 && !m.users.some((u) => u.sudo))
      add(
        ['machines', i, 'users'],
        `machine "${m.name}": a domain controller needs a user with sudo: true; that user becomes the domain's administrator`,
      );
    const first = controllers.get(domain.name);
    if (first)
      add(
        ['machines', i, 'windows', 'domain', 'name'],
        `machine "${m.name}": domain "${domain.name}" already has its controller "${first.name}" (machines[${first.index}]); a scenario creates one controller per domain`,
      );
    else controllers.set(domain.name, { index: i, name: m.name, netbios: domain.netbios });
  });

  machines.forEach((m, i) => {
    const domain = m.windows?.domain;
    if (domain?.role !== 'member' || osCatalog[m.os]?.family !== 'windows') return;
    const dc = controllers.get(domain.name);
    if (!dc) {
      add(
        ['machines', i, 'windows', 'domain', 'name'],
        `machine "${m.name}" joins domain "${domain.name}", but no machine in the scenario is its controller; give a Windows Server machine windows: { domain: { name: ${domain.name}, role: dc } }`,
      );
      return;
    }
    if (dc.netbios !== domain.netbios)
      add(
        ['machines', i, 'windows', 'domain', 'netbios'],
        `machine "${m.name}": domain "${domain.name}" has NetBIOS name ${dc.netbios} on its controller "${dc.name}", not ${domain.netbios}`,
      );
    if (!m.dependsOn.includes(dc.name))
      add(
        ['machines', i, 'dependsOn'],
        `machine "${m.name}" joins domain "${domain.name}" but does not depend on its controller "${dc.name}"; add dependsOn: [${dc.name}] so it starts once the domain exists`,
      );
  });
  return issues;
}
