// How first-boot data reaches a Proxmox guest, checked against the cluster: snippets (cicustom) when the configured
// snippets storage really works (present on every clone node, Snippets content, shared when there are several nodes,
// and a probe file written to snippets.path shows up in it), else a NoCloud seed ISO on an iso storage the token may
// upload to, else nothing complete: only Proxmox's ci* fields would arrive, and the executor refuses to deploy.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../errors.ts';
import type { FirstBootDelivery } from '../platform.ts';
import { pollUntil } from '../shared/wait.ts';
import type { SnippetStore } from './cloud-init.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import { isoPrivileges, missingPrivileges, type Permissions } from './privileges.ts';

export type Delivery =
  | { kind: 'snippets'; store: SnippetStore; method: string; detail: string }
  | { kind: 'iso'; storage: string; method: string; detail: string; snippetsProblems: string[] }
  | { kind: 'none'; method: string; detail: string; snippetsProblems: string[] };

interface StorageRow {
  storage: string;
  type: string;
  content: string;
  shared?: number | boolean;
  active?: number | boolean;
  enabled?: number | boolean;
}

const on = (v: number | boolean | undefined) => v === undefined || v === true || Number(v) === 1;
const holds = (s: StorageRow, content: string) => s.content.split(',').includes(content);

export function describeDelivery(d: Delivery): FirstBootDelivery {
  return { method: d.method, complete: d.kind !== 'none', detail: d.detail };
}

export function createFirstBoot(api: PveClient, config: ProxmoxConfig) {
  // The nodes a clone may be made on: first-boot data must be readable on each.
  const nodes = [...new Set([config.node, ...config.nodes])];
  let cached: { at: number; p: Promise<Delivery> } | undefined;

  const storagesOn = (node: string, o: CallOpts) =>
    api.get<StorageRow[]>(`/nodes/${encodeURIComponent(node)}/storage`, {}, o);

  /** Why the configured snippets storage cannot carry user-data; [] when it works. What "Test connection" reports. */
  async function checkSnippets(o: CallOpts): Promise<string[]> {
    const sn = config.snippets;
    if (!sn) return [];
    const problems: string[] = [];
    const rows = await Promise.all(nodes.map(async (n) => [n, await storagesOn(n, o)] as const));
    for (const [node, storages] of rows) {
      const s = storages.find((x) => x.storage === sn.storage);
      if (!s) problems.push(`snippets.storage "${sn.storage}" is not available on node ${node}`);
      else if (!holds(s, 'snippets'))
        problems.push(
          `snippets.storage "${sn.storage}" does not hold snippets (content: ${s.content}): enable the Snippets content type`,
        );
      else if (!on(s.active) || !on(s.enabled))
        problems.push(`snippets.storage "${sn.storage}" is not active on node ${node}`);
      else if (nodes.length > 1 && !on(s.shared ?? 0))
        problems.push(
          `snippets.storage "${sn.storage}" is not shared, but clones are made on nodes ${nodes.join(', ')}`,
        );
    }
    if (problems.length > 0) return problems;
    const name = `gd-probe-${randomBytes(4).toString('hex')}.yaml`;
    const dir = path.join(sn.path, 'snippets');
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, name), '# Glassdome snippets probe\n');
    } catch (e) {
      return [`snippets.path: this appliance cannot write to ${dir} (${errorMessage(e)})`];
    }
    try {
      const volid = `${sn.storage}:snippets/${name}`;
      // A shared mount may show a new file to a node a little later (attribute caches): look for a few seconds.
      const unseen = await Promise.all(
        nodes.map(async (node) => {
          const listing = `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(sn.storage)}/content`;
          const seen = await pollUntil(
            async () =>
              (await api.get<Array<{ volid: string }>>(listing, { content: 'snippets' }, o)).some(
                (c) => c.volid === volid,
              )
                ? true
                : undefined,
            {
              deadline: Date.now() + config.timeouts.probeMs,
              minMs: config.poll.minMs,
              maxMs: config.poll.maxMs,
              ...(o.signal ? { signal: o.signal } : {}),
            },
          );
          return seen ? undefined : node;
        }),
      );
      for (const node of unseen.filter((n) => n !== undefined))
        problems.push(
          `snippets.path: a file written to ${dir} does not appear in storage ${sn.storage} on node ${node}; snippets.path must be where this appliance mounts that storage's directory`,
        );
    } finally {
      await rm(path.join(dir, name), { force: true });
    }
    return problems;
  }

  /** The storage seed ISOs go to, or why none can take them. */
  async function pickIsoStorage(o: CallOpts): Promise<{ storage: string } | { problems: string[] }> {
    const perNode = new Map(await Promise.all(nodes.map(async (n) => [n, await storagesOn(n, o)] as const)));
    let perms: Permissions | undefined;
    try {
      perms = await api.get<Permissions>('/access/permissions', {}, o);
    } catch {
      perms = undefined; // unreadable: the upload itself will say what is missing
    }
    const first = perNode.get(config.node) ?? [];
    const candidates = config.isoStorage
      ? [config.isoStorage]
      : first
          .filter((s) => holds(s, 'iso') && on(s.active) && on(s.enabled))
          .sort((a, b) => Number(on(b.shared ?? 0)) - Number(on(a.shared ?? 0)) || a.storage.localeCompare(b.storage))
          .map((s) => s.storage);
    if (candidates.length === 0)
      return { problems: [`no storage on node ${config.node} has the ISO image content type (isoStorage)`] };
    const problems: string[] = [];
    for (const id of candidates) {
      const why: string[] = [];
      for (const node of nodes) {
        const s = perNode.get(node)?.find((x) => x.storage === id);
        if (!s) why.push(`not available on node ${node}`);
        else if (!holds(s, 'iso')) why.push(`no ISO image content type (content: ${s.content})`);
        else if (!on(s.active) || !on(s.enabled)) why.push(`not active on node ${node}`);
      }
      const missing = perms ? missingPrivileges(perms, isoPrivileges(id)) : [];
      if (missing.length > 0) why.push(`missing privileges ${missing.map(([p, at]) => `${p} on ${at}`).join(', ')}`);
      if (why.length === 0) return { storage: id };
      problems.push(`${config.isoStorage ? 'isoStorage ' : 'iso storage '}"${id}": ${[...new Set(why)].join('; ')}`);
    }
    return { problems };
  }

  async function resolveNow(o: CallOpts): Promise<Delivery> {
    const sn = config.snippets;
    const snippetsProblems = await checkSnippets(o);
    if (sn && snippetsProblems.length === 0)
      return {
        kind: 'snippets',
        store: { storage: sn.storage, dir: sn.path },
        method: `snippets on storage ${sn.storage}`,
        detail: `full user-data through cicustom snippets in storage ${sn.storage}, written to ${sn.path}/snippets on this appliance and seen by node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')}`,
      };
    const iso = await pickIsoStorage(o);
    const instead = sn
      ? ` (snippets.storage "${sn.storage}" is configured but does not work: ${snippetsProblems.join('; ')})`
      : '';
    if ('storage' in iso)
      return {
        kind: 'iso',
        storage: iso.storage,
        snippetsProblems,
        method: `NoCloud seed ISO on storage ${iso.storage}`,
        detail: `full user-data on a NoCloud seed ISO (volume cidata) uploaded to storage ${iso.storage} and attached as a CD, removed with its machine${instead}`,
      };
    return {
      kind: 'none',
      snippetsProblems,
      method: 'Proxmox cloud-init fields only',
      detail: `only the user, password hash, SSH keys, addresses and DNS would reach the guests, not packages, files, commands or a router's firewall: ${[...snippetsProblems, ...iso.problems].join('; ')}. Fix snippets.storage and snippets.path, or set isoStorage to a storage with the ISO image content type that the token may upload to (Datastore.AllocateTemplate) and delete from (Datastore.Allocate)`,
    };
  }

  /** Checked now, and remembered for `resolve`. */
  function check(o: CallOpts): Promise<Delivery> {
    const p = resolveNow(o);
    cached = { at: Date.now(), p };
    p.catch(() => (cached = cached?.p === p ? undefined : cached));
    return p;
  }

  return {
    checkSnippets,
    check,
    /** The delivery machine creation uses: one check shared by concurrent creates, repeated after `maxAgeMs`. */
    resolve(o: CallOpts, maxAgeMs = 5 * 60_000): Promise<Delivery> {
      return cached && Date.now() - cached.at < maxAgeMs ? cached.p : check(o);
    },
  };
}

export type FirstBoot = ReturnType<typeof createFirstBoot>;
