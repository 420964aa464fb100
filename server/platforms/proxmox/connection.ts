// The connection check behind testConnection and the setup wizard: version, nodes, storages, the bridge,
// the privileges the driver needs (each missing one named with its path), the mapped templates and how first-boot
// data reaches guests (snippets or a seed ISO, first-boot.ts). It reports what it found; never throws for a bad target.
import { AppError, errorMessage } from '../../errors.ts';
import type { ConnectionReport } from '../../model/connection-report.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import type { FirstBoot } from './first-boot.ts';
import {
  consolePrivilege,
  hasPrivilege,
  missingPrivileges,
  requiredPrivileges,
  type Permissions,
} from './privileges.ts';
import { listTemplates } from './templates.ts';
import { describeTrust } from '../shared/tls-trust.ts';

export async function checkConnection(
  api: PveClient,
  config: ProxmoxConfig,
  firstBoot: FirstBoot,
  o: CallOpts = {},
): Promise<ConnectionReport> {
  const details = [
    describeTrust(config.tls),
    config.auth.mode === 'token' ? `API token ${config.auth.tokenId}` : `user ${config.auth.username} (tickets)`,
  ];
  const problems: string[] = [];
  let product = 'Proxmox VE';
  let version: string | undefined;
  try {
    const v = await api.get<{ version: string; release?: string }>('/version', {}, o);
    version = v.version;
    product = `Proxmox VE ${v.version}`;
  } catch (e) {
    const hint = e instanceof AppError && e.hint ? ` (${e.hint})` : '';
    return {
      ok: false,
      product,
      details: [...details, `Unable to reach the API at ${config.url}: ${errorMessage(e)}${hint}`],
    };
  }
  const major = Number(version.split('.')[0]);
  if (major < 8) problems.push(`Proxmox VE ${version} is older than 8.0, which this driver needs`);
  const choices: NonNullable<ConnectionReport['choices']> = {};

  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`Unable to ${what}: ${errorMessage(e)}`);
    }
  };

  await step('list nodes', async () => {
    const nodes = await api.get<Array<{ node: string; status: string }>>('/nodes', {}, o);
    choices.nodes = nodes.map((n) => n.node).sort();
    details.push(`nodes: ${nodes.map((n) => `${n.node} (${n.status})`).join(', ')}`);
    for (const want of new Set([config.node, ...config.nodes])) {
      const n = nodes.find((x) => x.node === want);
      if (!n) problems.push(`node "${want}" is not in the cluster`);
      else if (n.status !== 'online') problems.push(`node "${want}" is ${n.status}`);
    }
  });

  await step('list storages', async () => {
    const storages = await api.get<Array<{ storage: string; type: string; content: string; active?: number }>>(
      `/nodes/${encodeURIComponent(config.node)}/storage`,
      {},
      o,
    );
    choices.storages = storages.filter((s) => s.content.split(',').includes('images')).map((s) => s.storage);
    const main = storages.find((s) => s.storage === config.storage);
    if (!main) problems.push(`storage "${config.storage}" does not exist on node ${config.node}`);
    else if (!main.content.split(',').includes('images'))
      problems.push(`storage "${config.storage}" does not hold VM disks (content: ${main.content})`);
    else
      details.push(
        `storage ${config.storage} (${main.type}), ${config.cloneSlotsPerStorage} clone(s) at a time, ${config.fullClone ? 'full' : 'linked'} clones`,
      );
  });

  await step(`read bridge ${config.bridge}`, async () => {
    const nets = await api.get<Array<{ iface: string; type: string; bridge_vlan_aware?: number }>>(
      `/nodes/${encodeURIComponent(config.node)}/network`,
      {},
      o,
    );
    choices.networks = nets.filter((n) => /bridge/i.test(n.type)).map((n) => n.iface);
    const br = nets.find((n) => n.iface === config.bridge);
    if (!br) problems.push(`bridge "${config.bridge}" does not exist on node ${config.node}`);
    else if (config.network.mode === 'vlan' && !Number(br.bridge_vlan_aware))
      problems.push(`bridge "${config.bridge}" is not VLAN aware (check "VLAN aware" in its settings)`);
    else
      details.push(
        config.network.mode === 'vlan'
          ? `networks: VLAN tags on ${config.bridge}`
          : `networks: SDN VNets in VLAN zone ${config.network.zone} on ${config.bridge}`,
      );
  });

  await step('read the privileges', async () => {
    const perms = await api.get<Permissions>('/access/permissions', {}, o);
    const missing = missingPrivileges(perms, requiredPrivileges(config, major));
    if (missing.length > 0)
      problems.push(`missing privileges: ${missing.map(([p, at]) => `${p} on ${at}`).join(', ')}`);
    else details.push('privileges: all the driver needs');
    // Consoles are optional: without VM.Console deployments work and only opening a console is refused.
    details.push(
      hasPrivilege(perms, consolePrivilege[0], consolePrivilege[1])
        ? 'consoles: VM.Console granted, browser consoles available'
        : 'consoles: VM.Console is not granted on /vms, so browser consoles will be refused (the terminal still works)',
    );
  });

  await step('list templates', async () => {
    const templates = await listTemplates(api, config, o);
    choices.templates = templates;
    details.push(
      `templates: ${templates.map((t) => `${t.id} ${t.name}${t.os ? ` (${t.os})` : ''}`).join(', ') || 'none'}`,
    );
    for (const [os, vmid] of Object.entries(config.templates))
      if (!templates.some((t) => t.id === String(vmid)))
        problems.push(`template ${vmid} mapped to ${os} is not a template on the cluster`);
  });

  // The same check deploys make before creating anything: which way first-boot data goes, and why not snippets.
  await step('check how first-boot data reaches the guests', async () => {
    const d = await firstBoot.check(o);
    details.push(`first boot: ${d.method}: ${d.detail}`);
    if (d.kind !== 'snippets') problems.push(...d.snippetsProblems);
    if (d.kind === 'none') problems.push('first boot: no way to deliver the full user-data (see above)');
  });

  return {
    ok: problems.length === 0,
    product,
    version,
    details: [...details, ...problems],
    ...(Object.keys(choices).length > 0 ? { choices } : {}),
  };
}
