// VMs on Proxmox: found by name and deployment tag among the cluster's resources, cloned from a template with a
// VMID claimed safely under concurrency, configured with their first-boot data (snippets or a seed ISO, first-boot.ts),
// and destroyed with their disks and seed ISO. Clones are limited per storage and lock timeouts or 595/596 answers are
// retried without holding a clone slot; a half-made VM left by a killed process is completed, not copied.
import { AppError } from '../../errors.ts';
import type { MachineRef, MachineSpec } from '../platform.ts';
import { buildSeedIso } from '../shared/seed-iso.ts';
import { removeSnippets, writeSnippets } from './cloud-init.ts';
import { causeText, isUpid, type CallOpts, type PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import type { Delivery, FirstBoot } from './first-boot.ts';
import { createSemaphore, withRetry, type Semaphore } from '../shared/retry.ts';
import { pollUntil } from '../shared/wait.ts';
import { unable as unableTo } from '../shared/unable.ts';
import {
  bootDisk,
  deploymentTag,
  diskSizeGb,
  machineConfig,
  parseTags,
  seedIsoName,
  tagPrefix,
  type FirstBootConfig,
} from './vm-config.ts';

export interface VmRow {
  vmid: number;
  node: string;
  name?: string;
  status: string;
  template?: number | boolean;
  tags?: string;
  lock?: string;
}

interface TemplateInfo {
  vmid: number;
  node: string;
  storage: string;
  linkable: boolean;
  /** The template's disks are on shared storage, so clones may be made on another node. */
  shared: boolean;
}

/** `[proxmox] Unable to <action> VM "<name>": <cause>`, keeping the code (transient, not_found...), hint and cause. */
export function unable(action: string, name: string, e: unknown, resource = 'VM'): unknown {
  if (!(e instanceof AppError) || e.message.startsWith('[proxmox] Unable to')) return e;
  return unableTo('proxmox', action, resource, name, e, { cause: causeText(e) });
}

// Storage types whose images can be linked clones of a template's base volume (thick LVM and iSCSI LUNs cannot).
const linkedTypes = new Set(['lvmthin', 'zfspool', 'zfs', 'rbd', 'dir', 'nfs', 'cifs', 'glusterfs', 'btrfs', 'cephfs']);

const isTemplate = (r: VmRow) => r.template === 1 || r.template === true;

export interface SeedIso {
  node: string;
  storage: string;
  volid: string;
  /** The file name, `<machine>-seed.iso`. */
  file: string;
}

export function createMachines(api: PveClient, config: ProxmoxConfig, firstBoot: FirstBoot) {
  const snippets = config.snippets ? { storage: config.snippets.storage, dir: config.snippets.path } : undefined;
  const cloneNodes = [...new Set([config.node, ...config.nodes])];
  const slots = new Map<string, Semaphore>();
  const claimed = new Set<number>();
  let floor = 0;
  let allocating: Promise<unknown> = Promise.resolve();
  const storageTypes = new Map<string, Promise<Map<string, { type: string; shared: boolean }>>>();
  let retries = 0;
  const retry = <T>(fn: () => Promise<T>, o: CallOpts) =>
    withRetry(config.retry, fn, { ...o, onRetry: () => void retries++ });
  const vmPath = (r: { node: string; vmid: number }) => `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
  const task = async (result: Promise<unknown>, o: CallOpts) => api.settle(await result, o);

  async function resources(o: CallOpts): Promise<VmRow[]> {
    const rows = await retry(
      () => api.get<Array<VmRow & { type: string }>>('/cluster/resources', { type: 'vm' }, o),
      o,
    );
    return rows.filter((r) => r.type === 'qemu').map((r) => ({ ...r, vmid: Number(r.vmid) }));
  }

  /** The VM a ref points at: its VMID while the name still matches (VMIDs are reused), else the VM of that name. */
  async function locate(ref: MachineRef, o: CallOpts): Promise<VmRow | undefined> {
    const rows = (await resources(o)).filter((r) => !isTemplate(r));
    const byId = rows.find((r) => String(r.vmid) === ref.id);
    if (byId && (byId.name === ref.name || (byId.name === undefined && byId.lock !== undefined))) return byId;
    return rows.find((r) => r.name === ref.name && r.name.startsWith(tagPrefix));
  }

  /** Waits until the VM has no config lock (a clone or create in progress); undefined when it disappeared. */
  async function waitUnlocked(vmid: number, o: CallOpts): Promise<VmRow | undefined> {
    const deadline = Date.now() + config.timeouts.taskMs;
    const found = await pollUntil(
      async () => {
        const r = (await resources(o)).find((x) => x.vmid === vmid);
        if (!r) return { gone: true as const };
        return r.lock === undefined ? { row: r } : undefined;
      },
      { deadline, minMs: config.poll.minMs, maxMs: config.poll.maxMs, ...(o.signal ? { signal: o.signal } : {}) },
    );
    if (!found)
      throw new AppError(
        'timeout',
        `[proxmox] VM ${vmid} stayed locked for ${Math.round(config.timeouts.taskMs / 1000)} s`,
      );
    return 'row' in found ? found.row : undefined;
  }

  /**
   * Nextid reserves nothing: ids are handed out one at a time in this process (never twice while a clone runs),
   * each checked free with nextid?vmid=N; another client taking one makes the clone fail with "already exists".
   */
  function allocateVmid(o: CallOpts): Promise<number> {
    const next = allocating.then(async () => {
      if (claimed.size === 0) floor = 0;
      let id = Math.max(Number(await api.get<string | number>('/cluster/nextid', {}, o)), floor);
      for (;;) {
        while (claimed.has(id)) id++;
        try {
          await api.get('/cluster/nextid', { vmid: id }, o);
          break;
        } catch (e) {
          if (!(e instanceof AppError && e.code === 'invalid_input')) throw e;
          id++;
        }
      }
      claimed.add(id);
      floor = id + 1;
      return id;
    });
    allocating = next.catch(() => undefined);
    return next;
  }

  async function storageInfo(
    node: string,
    storage: string,
    o: CallOpts,
  ): Promise<{ type: string; shared: boolean } | undefined> {
    let p = storageTypes.get(node);
    if (!p) {
      p = api
        .get<Array<{ storage: string; type: string; shared?: number | boolean }>>(
          `/nodes/${encodeURIComponent(node)}/storage`,
          {},
          o,
        )
        .then(
          (rows) => new Map(rows.map((r) => [r.storage, { type: r.type, shared: Boolean(Number(r.shared ?? 0)) }])),
        );
      p.catch(() => storageTypes.delete(node));
      storageTypes.set(node, p);
    }
    return (await p).get(storage);
  }

  async function resolveTemplate(spec: MachineSpec, o: CallOpts): Promise<TemplateInfo> {
    const rows = (await resources(o)).filter(isTemplate);
    const wanted =
      spec.template ?? (config.templates[spec.os] === undefined ? undefined : String(config.templates[spec.os]));
    const row = wanted === undefined ? undefined : rows.find((r) => String(r.vmid) === wanted || r.name === wanted);
    if (!row) {
      const offered = rows.map((r) => `${r.vmid} (${r.name ?? 'unnamed'})`).join(', ') || 'none';
      throw new AppError(
        'invalid_input',
        `[proxmox] Unable to clone VM "${spec.name}": ${wanted === undefined ? `no template is mapped for OS "${spec.os}"` : `template "${wanted}" is not a template on the cluster`}`,
        {
          hint: `Map the OS to a template VMID in the platform's templates setting. Templates found: ${offered}.`,
        },
      );
    }
    const cfg = await retry(() => api.get<Record<string, unknown>>(`${vmPath(row)}/config`, {}, o), o);
    const disk = bootDisk(cfg);
    const volid = disk ? String(cfg[disk]).split(',')[0]! : '';
    const storage = volid.split(':')[0] ?? '';
    const info = await storageInfo(row.node, storage, o);
    const type = info?.type;
    // File storages link only qcow2 images; block storages link their base volumes.
    const linkable =
      type !== undefined &&
      linkedTypes.has(type) &&
      (!['dir', 'nfs', 'cifs', 'glusterfs', 'btrfs', 'cephfs'].includes(type) || /\.qcow2$/.test(volid));
    return { vmid: row.vmid, node: row.node, storage, linkable, shared: info?.shared ?? false };
  }

  /** Another node for the clone: the scenario's choice, or spread over `nodes` by name; only from shared storage. */
  function placement(spec: MachineSpec, tmpl: TemplateInfo): string | undefined {
    const asked = typeof spec.options?.node === 'string' ? spec.options.node : undefined;
    if (asked !== undefined && asked !== tmpl.node && !tmpl.shared)
      throw new AppError(
        'invalid_input',
        `[proxmox] Unable to clone VM "${spec.name}" to node ${asked}: template ${tmpl.vmid} is on local storage ${tmpl.storage} of node ${tmpl.node}`,
        { hint: 'Put the template on shared storage, or leave the node to Glassdome.' },
      );
    const candidates = [...new Set([tmpl.node, ...config.nodes])];
    const chosen =
      asked ??
      (tmpl.shared && candidates.length > 1
        ? candidates[[...spec.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % candidates.length]
        : undefined);
    return chosen === tmpl.node ? undefined : chosen;
  }

  /** Clones the template into a new VMID and waits for the task; lock errors are retried with a fresh VMID. */
  async function cloneFrom(spec: MachineSpec, tmpl: TemplateInfo, o: CallOpts): Promise<VmRow> {
    const full = config.fullClone || spec.options?.fullClone === true || !tmpl.linkable;
    const storage = full
      ? typeof spec.options?.storage === 'string'
        ? spec.options.storage
        : config.storage
      : tmpl.storage;
    const target = placement(spec, tmpl);
    let sem = slots.get(storage);
    if (!sem) slots.set(storage, (sem = createSemaphore(config.cloneSlotsPerStorage)));
    const slot = sem;
    // Each attempt takes a slot and gives it back before the backoff: a clone waiting to retry blocks no other clone.
    return retry(async () => {
      const release = await slot.acquire(o.signal);
      try {
        const newid = await allocateVmid(o);
        try {
          let upid: unknown;
          try {
            upid = await api.post(
              `${vmPath(tmpl)}/clone`,
              {
                newid,
                name: spec.name,
                full: full ? 1 : 0,
                ...(full ? { storage } : {}),
                ...(target ? { target } : {}),
              },
              o,
            );
          } catch (e) {
            if (e instanceof AppError && /config file already exists/.test(e.message))
              throw new AppError('transient', e.message, { cause: e });
            if (!(e instanceof AppError && /^59[56] /.test(causeText(e)))) throw e;
            // The proxy gave up waiting; the daemon may still have started the clone: follow it if it did.
            const after = await waitUnlocked(newid, o);
            if (after?.name === spec.name) return after;
            throw e;
          }
          if (!isUpid(upid))
            throw new AppError(
              'platform_error',
              `[proxmox] clone answered ${JSON.stringify(upid)} instead of a task id`,
            );
          await api.waitTask(upid, o);
          return { vmid: newid, node: target ?? tmpl.node, name: spec.name, status: 'stopped' };
        } finally {
          claimed.delete(newid);
        }
      } finally {
        release();
      }
    }, o);
  }

  /** Uploads the machine's NoCloud seed to the ISO storage on its node (pveproxy copies it there) and waits. */
  async function uploadSeed(vm: VmRow, spec: MachineSpec, storage: string, o: CallOpts): Promise<string> {
    const file = seedIsoName(spec.name);
    const data = buildSeedIso(spec.cloudInit!);
    const path = `/nodes/${encodeURIComponent(vm.node)}/storage/${encodeURIComponent(storage)}/upload`;
    await retry(() => task(api.upload(path, 'iso', { name: file, data }, o), o), o);
    return `${storage}:iso/${file}`;
  }

  /**
   * Seed ISOs on the ISO storages of `nodes` whose file name passes `match` (a shared storage is read once). A node
   * that cannot be read is skipped unless it is in `required` (an offline spare node must not block every destroy).
   */
  async function seedIsos(
    nodes: string[],
    match: (file: string) => boolean,
    o: CallOpts,
    required: string[] = nodes,
  ): Promise<SeedIso[]> {
    const out: SeedIso[] = [];
    const seen = new Set<string>();
    for (const node of nodes) {
      let storages: Array<{ storage: string; shared?: number | boolean; active?: number | boolean }>;
      try {
        storages = await retry(() => api.get(`/nodes/${encodeURIComponent(node)}/storage`, { content: 'iso' }, o), o);
      } catch (e) {
        if (required.includes(node) || o.signal?.aborted) throw e;
        continue;
      }
      for (const s of storages) {
        const key = Number(s.shared ?? 0) === 1 || s.shared === true ? s.storage : `${node}/${s.storage}`;
        if (seen.has(key) || s.active === 0 || s.active === false) continue;
        seen.add(key);
        const items = await retry(
          () =>
            api.get<Array<{ volid: string }>>(
              `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(s.storage)}/content`,
              { content: 'iso' },
              o,
            ),
          o,
        );
        for (const it of items) {
          const file = it.volid.slice(it.volid.indexOf(':') + 1).replace(/^iso\//, '');
          if (file.endsWith('-seed.iso') && match(file)) out.push({ node, storage: s.storage, volid: it.volid, file });
        }
      }
    }
    return out;
  }

  async function removeSeedIsos(name: string, nodes: string[], required: string[], o: CallOpts): Promise<void> {
    for (const iso of await seedIsos(nodes, (f) => f === seedIsoName(name), o, required)) {
      await retry(async () => {
        try {
          await task(
            api.del(
              `/nodes/${encodeURIComponent(iso.node)}/storage/${encodeURIComponent(iso.storage)}/content/${encodeURIComponent(iso.volid)}`,
              {},
              o,
            ),
            o,
          );
        } catch (e) {
          if (!(e instanceof AppError && /does not exist/.test(causeText(e)))) throw e; // gone: done
        }
      }, o);
    }
  }

  /** How this machine's first-boot data travels; refuses, before anything is cloned, when none delivers all of it. */
  async function deliveryFor(spec: MachineSpec, o: CallOpts): Promise<Delivery | undefined> {
    if (!spec.cloudInit) return undefined;
    const d = await firstBoot.resolve(o);
    if (d.kind === 'none')
      throw new AppError(
        'platform_error',
        `[proxmox] Unable to clone VM "${spec.name}": its first-boot data cannot reach it: ${d.detail}`,
        { hint: 'Fix snippets.storage and snippets.path, or set isoStorage (see the Proxmox README, "First boot").' },
      );
    return d;
  }

  /** Disk size, first-boot data (snippets or seed ISO), then one config update that ends with the deployment tag. */
  async function configure(vm: VmRow, spec: MachineSpec, delivery: Delivery | undefined, o: CallOpts): Promise<void> {
    const current = await retry(() => api.get<Record<string, unknown>>(`${vmPath(vm)}/config`, {}, o), o);
    const disk = bootDisk(current);
    const size = disk ? diskSizeGb(String(current[disk])) : undefined;
    if (disk && size !== undefined && size < spec.diskGb) {
      // PVE >= 8 answers a UPID, 7.x null; shrinking is refused, so only ever grow.
      await retry(() => task(api.put(`${vmPath(vm)}/resize`, { disk, size: `${spec.diskGb}G` }, o), o), o);
    }
    let firstBootConfig: FirstBootConfig | undefined;
    if (delivery?.kind === 'snippets') {
      const cicustom = await writeSnippets(delivery.store, spec);
      if (cicustom) firstBootConfig = { cicustom };
    } else if (delivery?.kind === 'iso') {
      firstBootConfig = { cdrom: await uploadSeed(vm, spec, delivery.storage, o) };
    }
    const { params, remove } = machineConfig(spec, current, firstBootConfig);
    await retry(
      () =>
        task(
          api.post(
            `${vmPath(vm)}/config`,
            { ...params, ...(remove.length > 0 ? { delete: remove.join(',') } : {}) },
            o,
          ),
          o,
        ),
      o,
    );
  }

  async function destroyRow(vm: VmRow, o: CallOpts): Promise<void> {
    if (isTemplate(vm))
      throw new AppError('platform_error', `[proxmox] VM ${vm.vmid} is a template; Glassdome never deletes templates`);
    let row: VmRow | undefined = vm;
    if (row.lock === 'clone' || row.lock === 'create') row = await waitUnlocked(vm.vmid, o);
    if (!row) return;
    await retry(async () => {
      try {
        const st = await api.get<{ status: string }>(`${vmPath(vm)}/status/current`, {}, o);
        if (st.status !== 'stopped') await task(api.post(`${vmPath(vm)}/status/stop`, {}, o), o);
        await task(api.del(vmPath(vm), { purge: 1, 'destroy-unreferenced-disks': 1 }, o), o);
      } catch (e) {
        if (e instanceof AppError && /does not exist/.test(causeText(e))) return; // gone: done
        throw e;
      }
    }, o);
  }

  return {
    resources,
    locate,
    seedIsos: (prefix: string, o: CallOpts) => seedIsos(cloneNodes, (f) => f.startsWith(prefix), o),
    get retries() {
      return retries;
    },

    async create(spec: MachineSpec, o: CallOpts): Promise<MachineRef> {
      try {
        const tag = deploymentTag(spec.deploymentId);
        let rows = (await resources(o)).filter((r) => !isTemplate(r));
        let same = rows.filter((r) => r.name === spec.name);
        if (same.length === 0) {
          // Clones in flight that this process did not start show no name yet; one may be this machine, started by
          // a process that was killed. Wait for them (bounded) before cloning, so the machine is not made twice.
          const foreign = rows.filter((r) => r.lock === 'clone' && r.name === undefined && !claimed.has(r.vmid));
          if (foreign.length > 0) {
            await Promise.all(foreign.map((r) => waitUnlocked(r.vmid, o)));
            rows = (await resources(o)).filter((r) => !isTemplate(r));
            same = rows.filter((r) => r.name === spec.name);
          }
        }
        const other = same.find((r) => parseTags(r.tags).some((t) => t.startsWith(tagPrefix) && t !== tag));
        if (other)
          throw new AppError(
            'conflict',
            `[proxmox] Unable to clone VM "${spec.name}": VM ${other.vmid} of that name belongs to another deployment (${other.tags})`,
          );
        const settled = (await Promise.all(same.map((r) => (r.lock ? waitUnlocked(r.vmid, o) : r))))
          .filter((r): r is VmRow => r !== undefined)
          .sort((a, b) => a.vmid - b.vmid);
        let vm = settled.find((r) => parseTags(r.tags).includes(tag)) ?? settled[0];
        for (const r of settled) if (r !== vm) await destroyRow(r, o); // a duplicate from an interrupted run: keep one
        if (vm && parseTags(vm.tags).includes(tag)) return { id: String(vm.vmid), name: spec.name };
        // Not there, or cloned but never configured (the tag is set last): clone and/or configure it now.
        const delivery = await deliveryFor(spec, o);
        vm ??= await cloneFrom(spec, await resolveTemplate(spec, o), o);
        await configure(vm, spec, delivery, o);
        return { id: String(vm.vmid), name: spec.name };
      } catch (e) {
        throw unable('clone', spec.name, e);
      }
    },

    async destroy(ref: MachineRef, o: CallOpts): Promise<void> {
      try {
        const vm = await locate(ref, o);
        if (vm) await destroyRow(vm, o);
        if (snippets) await removeSnippets(snippets, ref.name);
        // Proxmox keeps an ISO when the VM that used it goes: the seed is removed here, wherever it was uploaded.
        const where = [...new Set([...(vm ? [vm.node] : []), config.node])];
        await removeSeedIsos(ref.name, [...new Set([...where, ...cloneNodes])], where, o);
      } catch (e) {
        throw unable('destroy', ref.name, e);
      }
    },

    async start(ref: MachineRef, o: CallOpts): Promise<void> {
      try {
        let vm = await locate(ref, o);
        if (vm?.lock) vm = await waitUnlocked(vm.vmid, o);
        if (!vm) throw new AppError('not_found', `[proxmox] Unable to start VM "${ref.name}": it does not exist`);
        if (vm.status === 'running') return;
        const row = vm;
        await retry(async () => {
          try {
            await task(api.post(`${vmPath(row)}/status/start`, {}, o), o);
          } catch (e) {
            if (!(e instanceof AppError && /already running/.test(e.message))) throw e;
          }
        }, o);
      } catch (e) {
        throw unable('start', ref.name, e);
      }
    },

    async stop(ref: MachineRef, force: boolean, o: CallOpts): Promise<void> {
      try {
        const vm = await locate(ref, o);
        if (!vm || vm.status === 'stopped') return;
        if (!force) {
          try {
            // ACPI (or the guest agent) first; a guest that ignores it is stopped hard below.
            await task(api.post(`${vmPath(vm)}/status/shutdown`, { timeout: config.timeouts.shutdownSec }, o), o);
            return;
          } catch (e) {
            if (o.signal?.aborted) throw e;
          }
        }
        await retry(() => task(api.post(`${vmPath(vm)}/status/stop`, {}, o), o), o);
      } catch (e) {
        throw unable('stop', ref.name, e);
      }
    },
  };
}

export type Machines = ReturnType<typeof createMachines>;
