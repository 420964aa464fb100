// The Proxmox privileges the driver needs, and how /access/permissions answers whether a user or token has one.
import type { ProxmoxConfig } from './config.ts';

export type Permissions = Record<string, Record<string, number | boolean>>;

/** (privilege, path) pairs the driver uses, for this cluster version and network mode. */
export function requiredPrivileges(config: ProxmoxConfig, major: number): Array<[string, string]> {
  const vm = [
    'VM.Audit',
    'VM.Clone',
    'VM.Allocate',
    'VM.Config.CPU',
    'VM.Config.Memory',
    'VM.Config.Network',
    'VM.Config.Disk',
    'VM.Config.Cloudinit',
    'VM.Config.Options',
    'VM.PowerMgmt',
    'VM.Snapshot',
    'VM.Snapshot.Rollback',
  ];
  // Guest agent calls needed VM.Monitor until PVE 9 split it into VM.GuestAgent.*; agent/exec (readiness, guestExec)
  // needs VM.GuestAgent.Unrestricted there.
  vm.push(...(major >= 9 ? ['VM.GuestAgent.Audit', 'VM.GuestAgent.Unrestricted'] : ['VM.Monitor']));
  const out: Array<[string, string]> = vm.map((p) => [p, '/vms']);
  out.push(
    ['Datastore.AllocateSpace', `/storage/${config.storage}`],
    ['Datastore.Audit', `/storage/${config.storage}`],
  );
  if (config.snippets) out.push(['Datastore.Audit', `/storage/${config.snippets.storage}`]);
  // The pool that marks an SDN zone as Glassdome's, or one pool per network in VLAN mode.
  out.push(['Pool.Allocate', '/pool'], ['Pool.Audit', '/pool']);
  if (config.network.mode === 'vlan') {
    out.push(['SDN.Use', `/sdn/zones/localnetwork/${config.bridge}`]);
  } else {
    out.push(
      ['SDN.Allocate', '/sdn/zones'],
      ['SDN.Audit', `/sdn/zones/${config.network.zone}`],
      ['SDN.Use', `/sdn/zones/${config.network.zone}`],
    );
  }
  return out;
}

/** Optional: browser consoles (vncproxy, vncwebsocket) need this; without it only the Console button is refused. */
export const consolePrivilege: [string, string] = ['VM.Console', '/vms'];

/** What the seed-ISO path needs on its storage: upload it, attach it as a CD, delete it with the machine. */
export function isoPrivileges(storage: string): Array<[string, string]> {
  return [
    ['Datastore.AllocateTemplate', `/storage/${storage}`],
    ['Datastore.Allocate', `/storage/${storage}`],
    ['VM.Config.CDROM', '/vms'],
  ];
}

/** The privileges at the most specific listed path that contains `target` (what /access/permissions computed there). */
export function hasPrivilege(perms: Permissions, priv: string, target: string): boolean {
  const ancestors = Object.keys(perms).filter(
    (p) => p === '/' || target === p || target.startsWith(`${p.replace(/\/$/, '')}/`),
  );
  const best = ancestors.sort((a, b) => b.length - a.length)[0];
  return best !== undefined && Boolean(perms[best]?.[priv]);
}

export function missingPrivileges(perms: Permissions, needed: Array<[string, string]>): Array<[string, string]> {
  return needed.filter(([priv, at]) => !hasPrivilege(perms, priv, at));
}
