// The connection check behind testConnection and the setup wizard: version, nodes, storages, the bridge,
// the privileges the driver needs (each missing one named with its path), the mapped templates and the snippets
// directory. It reports what it found; it never throws for a bad target.
import { randomBytes } from 'node:crypto';
import { rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { AppError, errorMessage } from '../../errors.ts';
import type { ConnectionReport } from '../../model/connection-report.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import { pollUntil } from '../shared/wait.ts';
import { listTemplates } from './templates.ts';
import { describeTrust } from '../shared/tls-trust.ts';

type Permissions = Record<string, Record<string, number | boolean>>;

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
  // Guest agent calls needed VM.Monitor until PVE 9 split it into VM.GuestAgent.*.
  vm.push(...(major >= 9 ? ['VM.GuestAgent.Audit', 'VM.GuestAgent.Unrestricted'] : ['VM.Monitor']));
  const out: Array<[string, string]> = vm.map((p) => [p, '/vms']);
  out.push(
    ['Datastore.AllocateSpace', `/storage/${config.storage}`],
    ['Datastore.Audit', `/storage/${config.storage}`],
  );
  if (config.snippets) out.push(['Datastore.Audit', `/storage/${config.snippets.storage}`]);
  if (config.network.mode === 'vlan') {
    out.push(
      ['SDN.Use', `/sdn/zones/localnetwork/${config.bridge}`],
      ['Pool.Allocate', '/pool'],
      ['Pool.Audit', '/pool'],
    );
  } else {
    out.push(
      ['SDN.Allocate', '/sdn/zones'],
      ['SDN.Audit', `/sdn/zones/${config.network.zone}`],
      ['SDN.Use', `/sdn/zones/${config.network.zone}`],
    );
  }
  return out;
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

export async function checkConnection(
  api: PveClient,
  config: ProxmoxConfig,
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
    if (config.snippets) {
      const sn = storages.find((s) => s.storage === config.snippets!.storage);
      if (!sn || !sn.content.split(',').includes('snippets'))
        problems.push(
          `storage "${config.snippets.storage}" does not exist or does not hold snippets (enable the Snippets content type)`,
        );
    }
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

  if (config.snippets) {
    await step('check the snippets directory', async () => {
      const name = `gd-probe-${randomBytes(4).toString('hex')}.yaml`;
      const dir = path.join(config.snippets!.path, 'snippets');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, name), '# Glassdome snippets probe\n');
      try {
        // A shared mount may show a new file to the node a little later (attribute caches): look for a few seconds.
        const volid = `${config.snippets!.storage}:snippets/${name}`;
        const listing = `/nodes/${encodeURIComponent(config.node)}/storage/${encodeURIComponent(config.snippets!.storage)}/content`;
        const seen = await pollUntil(
          async () =>
            (await api.get<Array<{ volid: string }>>(listing, { content: 'snippets' }, o)).some(
              (c) => c.volid === volid,
            )
              ? true
              : undefined,
          {
            deadline: Date.now() + 10_000,
            minMs: config.poll.minMs,
            maxMs: config.poll.maxMs,
            ...(o.signal ? { signal: o.signal } : {}),
          },
        );
        if (!seen)
          problems.push(
            `a file written to ${dir} does not appear in storage ${config.snippets!.storage} on node ${config.node}: snippets.path must be that storage's directory`,
          );
        else details.push(`cloud-init: full user-data via snippets in ${config.snippets!.storage}`);
      } finally {
        await rm(path.join(dir, name), { force: true });
      }
    });
  } else
    details.push(
      'cloud-init: API fields only (user, password hash, SSH keys, addresses, DNS); packages, files and commands need snippets',
    );

  return {
    ok: problems.length === 0,
    product,
    version,
    details: [...details, ...problems],
    ...(Object.keys(choices).length > 0 ? { choices } : {}),
  };
}
