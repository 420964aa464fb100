// QEMU VM lifecycle endpoints: list, create, clone, template, delete, config, pending, resize
// (qemu-server API2/Qemu.pm as described in relevant.md B1-B4, B9).
import { configMissing, dieError, PveError, storageLockTimeout } from './pve-error.ts';
import type { Handler, HandlerContext } from './sim.ts';
import { checkLock, checkNode, checkSkiplock, flag, getVm, num, startTask, str, taskMs, withVmLock } from './sim.ts';
import {
  addVolume,
  diskKey,
  diskVolid,
  findVolume,
  formatSize,
  isCdrom,
  newVm,
  nextDiskName,
  parseNic,
  parseSize,
  printNic,
  randomMac,
  randomUuid,
  type VmState,
  type Volume,
} from './state.ts';
import { applyConfigUpdate, applyPending, pendingRows, readConfig, storageForImages } from './vm-config.ts';

function checkPool(ctx: HandlerContext): string | undefined {
  const pool = ctx.params.pool === undefined ? undefined : String(ctx.params.pool);
  if (pool !== undefined && !ctx.sim.state.pools.has(pool))
    throw new PveError(403, `Permission check failed (pool '${pool}' does not exist)`);
  return pool;
}

function vmMaxDisk(ctx: HandlerContext, vm: VmState): number {
  let total = 0;
  for (const [k, v] of Object.entries(vm.config)) {
    if (!diskKey.test(k) || isCdrom(v)) continue;
    const volid = diskVolid(v);
    total += (volid && findVolume(ctx.sim.state, volid)?.volume.size) || 0;
  }
  return total;
}

export function vmRow(ctx: HandlerContext, vm: VmState): Record<string, unknown> {
  const mem = Number((vm.config.memory ?? '512').replace(/^current=/, '').split(',')[0]);
  const uptime = vm.startedAt === undefined ? 0 : Math.floor((Date.now() - vm.startedAt) / 1000);
  const row: Record<string, unknown> = {
    vmid: vm.vmid,
    name: vm.config.name,
    status: vm.status === 'stopped' ? 'stopped' : 'running',
    maxmem: mem * 1024 * 1024,
    maxdisk: vmMaxDisk(ctx, vm),
    cpus: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
    uptime,
    mem: vm.status === 'stopped' ? 0 : Math.floor(mem * 1024 * 1024 * 0.4),
    cpu: 0,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
  };
  if (vm.config.template === '1') row.template = 1;
  if (vm.config.lock !== undefined) row.lock = vm.config.lock;
  if (vm.config.tags !== undefined) row.tags = vm.config.tags;
  if (vm.status !== 'stopped') row.pid = 10_000 + vm.vmid;
  return row;
}

const list: Handler = (ctx) => {
  const node = checkNode(ctx);
  return [...ctx.sim.state.vms.values()].filter((vm) => vm.node === node).map((vm) => vmRow(ctx, vm));
};

const create: Handler = (ctx) => {
  const node = checkNode(ctx);
  const vmid = num(ctx.params, 'vmid');
  if (ctx.params.archive !== undefined) throw dieError('restore from archive is not modelled by the test server');
  if (ctx.sim.state.vms.has(vmid)) throw dieError(`unable to create VM ${vmid} - config file already exists`);
  const pool = checkPool(ctx);
  // The config exists (locked `create`) from here on, so a second create of the same id fails at once.
  const vm = newVm(vmid, node, { lock: 'create' }, ctx.sim.guest);
  ctx.sim.state.vms.set(vmid, vm);
  const allocated: Volume[] = [];
  return startTask(ctx, node, 'qmcreate', String(vmid), async (t) => {
    try {
      await t.work(taskMs(ctx.sim, 'qmcreate'));
      const before = snapshotVolumes(ctx);
      applyConfigUpdate(ctx, vm, { creating: true });
      allocated.push(...newVolumes(ctx, before));
      vm.config.smbios1 ??= `uuid=${randomUuid(ctx.sim.random)}`;
      vm.config.vmgenid ??= randomUuid(ctx.sim.random);
      delete vm.config.lock;
      if (pool) vm.pool = pool;
      if (flag(ctx.params, 'start')) startNow(vm);
    } catch (e) {
      for (const v of allocated) findVolume(ctx.sim.state, v.volid)?.storage.volumes.delete(v.volid);
      ctx.sim.state.vms.delete(vmid);
      throw e;
    }
  });
};

function snapshotVolumes(ctx: HandlerContext): Set<string> {
  return new Set([...ctx.sim.state.storages.values()].flatMap((s) => [...s.volumes.keys()]));
}

function newVolumes(ctx: HandlerContext, before: Set<string>): Volume[] {
  return [...ctx.sim.state.storages.values()]
    .flatMap((s) => [...s.volumes.values()])
    .filter((v) => !before.has(v.volid));
}

export function startNow(vm: VmState): void {
  applyPending(vm);
  vm.status = 'running';
  vm.startedAt = Date.now();
}

const clone: Handler = (ctx) => {
  const { sim, params } = ctx;
  const src = getVm(ctx);
  const node = src.node;
  const newid = num(params, 'newid');
  checkLock(ctx, src);
  if (params.snapname !== undefined && !src.snapshots.has(String(params.snapname)))
    throw dieError(`snapshot '${String(params.snapname)}' does not exist`);
  if (sim.state.vms.has(newid)) throw dieError(`unable to create VM ${newid}: config file already exists`);
  const isTemplate = src.config.template === '1';
  const full = flag(params, 'full') ?? !isTemplate;
  if (!full && params.storage !== undefined) throw dieError("parameter 'storage' not allowed for linked clones");
  if (!full && params.format !== undefined) throw dieError("parameter 'format' not allowed for linked clones");
  if (params.target !== undefined && String(params.target) !== node)
    throw dieError(`can't clone VM to node '${String(params.target)}' (VM uses local storage)`);
  const targetStorage = params.storage === undefined ? undefined : storageForImages(sim, String(params.storage));
  const pool = checkPool(ctx);

  // Which disks are copied how; the linked-clone feature check runs before the task starts.
  const disks: Array<{ key: string; volid: string; linked: boolean; storageId: string }> = [];
  for (const [key, value] of Object.entries(src.config)) {
    if (!diskKey.test(key)) continue;
    const volid = diskVolid(value);
    if (!volid) continue;
    const isCloudinit = volid.includes('cloudinit');
    if (isCdrom(value) && !isCloudinit) continue;
    const srcStorage = sim.state.storages.get(volid.split(':')[0] ?? '');
    const linked = !full && !isCloudinit;
    if (linked && (!isTemplate || !srcStorage?.linkedClones))
      throw dieError(`Linked clone feature is not supported for '${volid}' (${key})`);
    disks.push({ key, volid, linked, storageId: linked || !targetStorage ? (srcStorage?.id ?? '') : targetStorage.id });
  }

  // The new VM exists at once, locked `clone` (qmclone temporary file), visible in /cluster/resources.
  const vm = newVm(newid, node, { lock: 'clone' }, src.guest);
  sim.state.vms.set(newid, vm);
  const allocated: string[] = [];
  return startTask(ctx, node, 'qmclone', String(src.vmid), async (t) => {
    const releases: Array<() => void> = [];
    try {
      t.log(`create ${full ? 'full' : 'linked'} clone of drive(s) ${disks.map((d) => d.key).join(', ')}`);
      // Source: shared flock (exclusive if running), 1 s wait; several clones of a stopped template run together.
      const mode = src.status === 'running' ? 'exclusive' : 'shared';
      releases.push(
        await sim.locks.acquire(`vm:${src.vmid}`, mode, sim.timing.cloneLockTimeoutMs, () =>
          dieError(`can't lock file '/var/lock/qemu-server/lock-${src.vmid}.conf' - got timeout`),
        ),
      );
      // Disk copies serialize on the storage lock; past the storage's slots they wait and time out.
      for (const storageId of new Set(disks.map((d) => d.storageId))) {
        const storage = sim.state.storages.get(storageId);
        releases.push(
          await sim.locks.acquire(
            `storage:${storageId}`,
            'exclusive',
            sim.timing.storageLockTimeoutMs,
            () => storageLockTimeout(storageId),
            storage?.cloneSlots ?? 1,
          ),
        );
      }
      await t.work(taskMs(sim, 'qmclone'));
      const config: Record<string, string> = {};
      const source =
        params.snapname !== undefined ? (src.snapshots.get(String(params.snapname))?.config ?? src.config) : src.config;
      for (const [k, v] of Object.entries(source)) {
        if (/^(template|lock|parent|vmstate|snaptime|unused\d+|meta)$/.test(k)) continue;
        config[k] = v;
      }
      for (const d of disks) {
        const from = findVolume(sim.state, d.volid);
        const storage = sim.state.storages.get(d.storageId);
        if (!from || !storage) throw dieError(`volume '${d.volid}' does not exist`);
        const name = d.volid.includes('cloudinit') ? `vm-${newid}-cloudinit` : nextDiskName(storage, newid);
        const vol = addVolume(storage, {
          name,
          vmid: newid,
          size: from.volume.size,
          base: d.linked ? d.volid : undefined,
        });
        allocated.push(vol.volid);
        config[d.key] = [vol.volid, ...(source[d.key] ?? '').split(',').slice(1)].join(',');
        t.log(`${d.linked ? 'create linked clone' : 'drive mirror / copy'} of ${d.key} (${d.volid}) to ${vol.volid}`);
      }
      for (const [k, v] of Object.entries(config)) {
        if (!/^net\d+$/.test(k)) continue;
        const nic = parseNic(v);
        config[k] = printNic(nic.model, randomMac(sim.state, sim.random), nic.rest);
      }
      config.smbios1 = `uuid=${randomUuid(sim.random)}`;
      if (config.vmgenid !== undefined) config.vmgenid = randomUuid(sim.random);
      config.name = params.name === undefined ? `Copy-of-VM-${src.config.name ?? src.vmid}` : String(params.name);
      if (params.description !== undefined) config.description = String(params.description);
      vm.config = config;
      if (pool) vm.pool = pool;
    } catch (e) {
      // On failure the new volumes are freed and the config deleted: the VMID disappears.
      for (const volid of allocated) findVolume(sim.state, volid)?.storage.volumes.delete(volid);
      sim.state.vms.delete(newid);
      throw new Error(`clone failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      for (const r of releases.reverse()) r();
    }
  });
};

const template: Handler = (ctx) => {
  const vm = getVm(ctx);
  if (vm.status !== 'stopped') throw dieError("you can't convert a VM to template if VM is running");
  if (vm.config.template === '1') throw dieError("you can't convert a template to a template");
  if (vm.snapshots.size > 0) throw dieError('unable to create template, because VM contains snapshots');
  checkLock(ctx, vm);
  return startTask(ctx, vm.node, 'qmtemplate', String(vm.vmid), async (t) => {
    await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, async () => {
      await t.work(taskMs(ctx.sim, 'qmtemplate'));
      for (const [k, v] of Object.entries(vm.config)) {
        if (!diskKey.test(k) || isCdrom(v)) continue;
        const volid = diskVolid(v);
        const found = volid ? findVolume(ctx.sim.state, volid) : undefined;
        if (!volid || !found || !volid.includes(`vm-${vm.vmid}-disk-`)) continue;
        const renamed = volid.replace(`vm-${vm.vmid}-disk-`, `base-${vm.vmid}-disk-`);
        found.storage.volumes.delete(volid);
        found.storage.volumes.set(renamed, { ...found.volume, volid: renamed });
        vm.config[k] = v.replace(volid, renamed);
      }
      vm.config.template = '1';
    });
  });
};

const destroy: Handler = (ctx) => {
  checkSkiplock(ctx);
  const vm = getVm(ctx);
  if (vm.status !== 'stopped') throw dieError(`VM ${vm.vmid} is running - destroy failed`);
  if (vm.config.protection === '1') throw dieError(`can't remove VM ${vm.vmid} - protection mode enabled`);
  checkLock(ctx, vm);
  return startTask(ctx, vm.node, 'qmdestroy', String(vm.vmid), async (t) => {
    await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, async () => {
      await t.work(taskMs(ctx.sim, 'qmdestroy'));
      if (ctx.sim.state.vms.get(vm.vmid) !== vm) throw configMissing(vm.node, vm.vmid);
      const volids = Object.entries(vm.config)
        .filter(([k, v]) => (diskKey.test(k) || /^unused\d+$/.test(k)) && (!isCdrom(v) || v.includes('cloudinit')))
        .map(([, v]) => diskVolid(v))
        .filter((x): x is string => x !== undefined);
      for (const volid of volids) {
        const users = [...ctx.sim.state.storages.values()]
          .flatMap((s) => [...s.volumes.values()])
          .filter((x) => x.base === volid);
        if (users.length > 0) throw dieError(`base volume '${volid}' is still in use by linked cloned`);
      }
      vm.config.lock = 'destroyed';
      for (const volid of volids) findVolume(ctx.sim.state, volid)?.storage.volumes.delete(volid);
      ctx.sim.state.vms.delete(vm.vmid);
      t.log(`destroyed VM ${vm.vmid}`);
    });
  });
};

const getConfig: Handler = (ctx) => {
  const vm = getVm(ctx);
  if (ctx.params.snapshot !== undefined) {
    const snap = vm.snapshots.get(String(ctx.params.snapshot));
    if (!snap) throw dieError(`snapshot '${String(ctx.params.snapshot)}' does not exist`);
    return readConfig(ctx, snap.config);
  }
  return readConfig(ctx, vm.config, vm);
};

async function updateConfig(ctx: HandlerContext, vm: VmState): Promise<void> {
  await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, () => {
    if (ctx.sim.state.vms.get(vm.vmid) !== vm) throw configMissing(vm.node, vm.vmid);
    checkLock(ctx, vm);
    applyConfigUpdate(ctx, vm);
    if (vm.status === 'stopped') applyPending(vm);
  });
}

const putConfig: Handler = async (ctx) => {
  checkSkiplock(ctx);
  await updateConfig(ctx, getVm(ctx));
  return null;
};

const postConfig: Handler = async (ctx) => {
  checkSkiplock(ctx);
  const vm = getVm(ctx);
  const upid = startTask(ctx, vm.node, 'qmconfig', String(vm.vmid), async (t) => {
    await t.work(taskMs(ctx.sim, 'qmconfig'));
    await updateConfig(ctx, vm);
  });
  const delay = ctx.params.background_delay;
  if (delay === undefined) return upid;
  const task = ctx.sim.tasks.get(upid);
  if (!task) return upid;
  const finished = await Promise.race([
    task.done.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), Number(delay) * 1000)),
  ]);
  if (!finished) return upid;
  if (task.exitstatus !== 'OK')
    throw dieError(`failed to update VM ${vm.vmid}: ${task.exitstatus ?? 'unexpected status'}`);
  return null;
};

const pending: Handler = (ctx) => pendingRows(getVm(ctx));

const resize: Handler = async (ctx) => {
  checkSkiplock(ctx);
  const vm = getVm(ctx);
  const disk = str(ctx.params, 'disk');
  const sizeArg = str(ctx.params, 'size');
  // The early checks run synchronously under the flock; the resize itself is a task since PVE 8.
  const plan = await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, () => {
    checkLock(ctx, vm);
    const value = vm.config[disk];
    if (value === undefined) throw dieError(`disk '${disk}' does not exist`);
    if (isCdrom(value)) throw dieError("you can't resize a cdrom");
    const volid = diskVolid(value);
    const found = volid ? findVolume(ctx.sim.state, volid) : undefined;
    if (!found) throw dieError(`disk '${disk}' does not exist`);
    const add = sizeArg.startsWith('+');
    const bytes = parseSize(sizeArg.replace(/^\+/, ''));
    const target = add ? found.volume.size + bytes : bytes;
    if (target < found.volume.size) throw dieError('shrinking disks is not supported');
    return { found, target, value };
  });
  return startTask(ctx, vm.node, 'resize', String(vm.vmid), async (t) => {
    await t.work(taskMs(ctx.sim, 'resize'));
    plan.found.volume.size = plan.target;
    const parts = plan.value.split(',').filter((p) => !p.startsWith('size='));
    vm.config[disk] = [...parts, `size=${formatSize(plan.target)}`].join(',');
  });
};

export const qemuHandlers: Record<string, Handler> = {
  'GET /nodes/{node}/qemu': list,
  'POST /nodes/{node}/qemu': create,
  'POST /nodes/{node}/qemu/{vmid}/clone': clone,
  'POST /nodes/{node}/qemu/{vmid}/template': template,
  'DELETE /nodes/{node}/qemu/{vmid}': destroy,
  'GET /nodes/{node}/qemu/{vmid}/config': getConfig,
  'PUT /nodes/{node}/qemu/{vmid}/config': putConfig,
  'POST /nodes/{node}/qemu/{vmid}/config': postConfig,
  'GET /nodes/{node}/qemu/{vmid}/pending': pending,
  'PUT /nodes/{node}/qemu/{vmid}/resize': resize,
};
