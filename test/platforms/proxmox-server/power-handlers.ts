// Power state and snapshot endpoints (relevant.md B6, B8): each action is a task; start/stop run under the flock.
import { dieError } from './pve-error.ts';
import { startNow, vmRow } from './qemu-handlers.ts';
import type { Handler, HandlerContext } from './sim.ts';
import { checkLock, checkSkiplock, flag, getVm, startTask, str, taskMs, withVmLock } from './sim.ts';
import { parseBool } from './schema.ts';
import { diskKey, diskVolid, findVolume, propertyValues, type VmState } from './state.ts';

export function agentEnabled(vm: VmState): boolean {
  const value = vm.config.agent;
  if (value === undefined) return false;
  const v = propertyValues(value);
  return parseBool(v.enabled ?? v._);
}

const current: Handler = (ctx) => {
  const vm = getVm(ctx);
  const row = vmRow(ctx, vm);
  return {
    ...row,
    qmpstatus: vm.status === 'paused' ? 'paused' : row.status,
    agent: agentEnabled(vm) ? 1 : 0,
    ha: { managed: 0 },
  };
};

/** A power task: runs the action under the VM's flock (10 s wait), like vm_start / vm_stop. */
function powerTask(
  ctx: HandlerContext,
  type: string,
  action: (vm: VmState, t: Parameters<Parameters<typeof startTask>[4]>[0]) => Promise<void> | void,
): string {
  checkSkiplock(ctx);
  const vm = getVm(ctx);
  return startTask(ctx, vm.node, type, String(vm.vmid), async (t) => {
    await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, async () => {
      await action(vm, t);
    });
  });
}

const start: Handler = (ctx) =>
  powerTask(ctx, 'qmstart', async (vm, t) => {
    if (vm.config.template === '1') throw dieError("you can't start a vm if it's a template");
    if (vm.config.lock !== undefined && vm.config.lock !== 'suspended' && !flag(ctx.params, 'skiplock'))
      throw dieError(`VM is locked (${vm.config.lock})`);
    if (vm.status !== 'stopped') throw dieError(`VM ${vm.vmid} already running`);
    // Every drive's volume must be there, a CD image too (a seed ISO deleted under the VM fails its start).
    for (const [k, v] of Object.entries({ ...vm.config, ...vm.pending })) {
      const volid = diskKey.test(k) ? diskVolid(v) : undefined;
      if (volid && !findVolume(ctx.sim.state, volid)) throw dieError(`volume '${volid}' does not exist`);
    }
    await t.work(taskMs(ctx.sim, 'qmstart'));
    startNow(vm);
  });

const stop: Handler = (ctx) =>
  powerTask(ctx, 'qmstop', async (vm, t) => {
    if (vm.status === 'stopped') return; // _do_vm_stop returns early
    checkLock(ctx, vm);
    await t.work(taskMs(ctx.sim, 'qmstop'));
    vm.status = 'stopped';
    vm.startedAt = undefined;
  });

const shutdown: Handler = (ctx) =>
  powerTask(ctx, 'qmshutdown', async (vm, t) => {
    if (vm.status === 'stopped') return;
    checkLock(ctx, vm);
    if (vm.status === 'paused') throw dieError('VM is paused - cannot shutdown');
    if (vm.guest.ignoresShutdown) {
      // The guest does not react: wait the (scaled) timeout, then fail or kill.
      await t.work(Math.min(Number(ctx.params.timeout ?? 60) * 1000, ctx.sim.timing.taskMs.shutdownTimeout ?? 1000));
      if (!flag(ctx.params, 'forceStop')) throw dieError('VM quit/powerdown failed - got timeout');
      t.log('VM still running - terminating now with SIGTERM');
    } else {
      await t.work(taskMs(ctx.sim, 'qmshutdown'));
    }
    vm.status = 'stopped';
    vm.startedAt = undefined;
  });

function restartLike(type: string): Handler {
  return (ctx) =>
    powerTask(ctx, type, async (vm, t) => {
      if (vm.status === 'stopped') throw dieError(`VM ${vm.vmid} not running`);
      checkLock(ctx, vm);
      await t.work(taskMs(ctx.sim, type));
      startNow(vm);
    });
}

const listSnapshots: Handler = (ctx) => {
  const vm = getVm(ctx);
  const rows: Array<Record<string, unknown>> = [...vm.snapshots.values()].map((s) => {
    const row: Record<string, unknown> = { name: s.name, description: s.description, snaptime: s.snaptime };
    if (s.parent !== undefined) row.parent = s.parent;
    if (s.vmstate) row.vmstate = 1;
    return row;
  });
  const cur: Record<string, unknown> = {
    name: 'current',
    description: 'You are here!',
    running: vm.status === 'stopped' ? 0 : 1,
  };
  if (vm.config.parent !== undefined) cur.parent = vm.config.parent;
  rows.push(cur);
  return rows;
};

const createSnapshot: Handler = (ctx) => {
  const vm = getVm(ctx);
  const name = str(ctx.params, 'snapname');
  if (vm.config.template === '1') throw dieError("you can't take a snapshot if it's a template");
  if (name === 'current' || name === 'pending') throw dieError(`invalid snapshot name '${name}'`);
  if (vm.snapshots.has(name)) throw dieError(`snapshot name '${name}' already used`);
  checkLock(ctx, vm);
  return startTask(ctx, vm.node, 'qmsnapshot', String(vm.vmid), async (t) => {
    await withVmLock(ctx.sim, vm.vmid, 'exclusive', ctx.sim.timing.lockTimeoutMs, () => {
      checkLock(ctx, vm);
      vm.config.lock = 'snapshot';
    });
    try {
      await t.work(taskMs(ctx.sim, 'qmsnapshot'));
      if (vm.snapshots.has(name)) throw dieError(`snapshot name '${name}' already used`);
      const config = { ...vm.config };
      delete config.lock;
      delete config.parent;
      vm.snapshots.set(name, {
        name,
        description: String(ctx.params.description ?? ''),
        snaptime: Math.floor(Date.now() / 1000),
        parent: vm.config.parent,
        vmstate: Boolean(flag(ctx.params, 'vmstate')) && vm.status !== 'stopped',
        config,
      });
      vm.config.parent = name;
    } finally {
      delete vm.config.lock;
    }
  });
};

function getSnapshot(ctx: HandlerContext, vm: VmState) {
  const name = str(ctx.params, 'snapname');
  const snap = vm.snapshots.get(name);
  if (!snap) throw dieError(`snapshot '${name}' does not exist`);
  return snap;
}

const deleteSnapshot: Handler = (ctx) => {
  const vm = getVm(ctx);
  const snap = getSnapshot(ctx, vm);
  checkLock(ctx, vm);
  return startTask(ctx, vm.node, 'qmdelsnapshot', String(vm.vmid), async (t) => {
    vm.config.lock = 'snapshot-delete';
    try {
      await t.work(taskMs(ctx.sim, 'qmdelsnapshot'));
      vm.snapshots.delete(snap.name);
      for (const s of vm.snapshots.values()) if (s.parent === snap.name) s.parent = snap.parent;
      if (vm.config.parent === snap.name) {
        if (snap.parent === undefined) delete vm.config.parent;
        else vm.config.parent = snap.parent;
      }
    } finally {
      delete vm.config.lock;
    }
  });
};

const rollback: Handler = (ctx) => {
  const vm = getVm(ctx);
  const snap = getSnapshot(ctx, vm);
  if (vm.config.template === '1') throw dieError("you can't rollback if it's a template");
  checkLock(ctx, vm);
  return startTask(ctx, vm.node, 'qmrollback', String(vm.vmid), async (t) => {
    // ZFSPoolPlugin's volume_rollback_is_possible, checked in the worker: a zvol rolls back only to its newest snapshot.
    const newer = [...vm.snapshots.keys()].slice([...vm.snapshots.keys()].indexOf(snap.name) + 1);
    if (newer.length > 0)
      for (const [key, value] of Object.entries(vm.config)) {
        if (!/^(scsi|virtio|sata|ide)\d+$/.test(key) || String(value).includes('media=cdrom')) continue;
        const volid = String(value).split(',')[0]!;
        if (ctx.sim.state.storages.get(volid.split(':')[0]!)?.type === 'zfspool')
          throw dieError(`can't rollback, '${snap.name}' is not most recent snapshot on '${volid}'`);
      }
    vm.config.lock = 'rollback';
    try {
      if (vm.status !== 'stopped') {
        vm.status = 'stopped';
        vm.startedAt = undefined;
      }
      await t.work(taskMs(ctx.sim, 'qmrollback'));
      vm.config = { ...snap.config, parent: snap.name, lock: 'rollback' };
      vm.pending = {};
      vm.pendingDelete = [];
    } finally {
      delete vm.config.lock;
    }
    if (flag(ctx.params, 'start') || snap.vmstate) startNow(vm);
  });
};

const snapshotConfig: Handler = (ctx) => ({ ...getSnapshot(ctx, getVm(ctx)).config });

const updateSnapshot: Handler = (ctx) => {
  const snap = getSnapshot(ctx, getVm(ctx));
  if (ctx.params.description !== undefined) snap.description = String(ctx.params.description);
  return null;
};

export const powerHandlers: Record<string, Handler> = {
  'GET /nodes/{node}/qemu/{vmid}/status/current': current,
  'POST /nodes/{node}/qemu/{vmid}/status/start': start,
  'POST /nodes/{node}/qemu/{vmid}/status/stop': stop,
  'POST /nodes/{node}/qemu/{vmid}/status/shutdown': shutdown,
  'POST /nodes/{node}/qemu/{vmid}/status/reboot': restartLike('qmreboot'),
  'POST /nodes/{node}/qemu/{vmid}/status/reset': restartLike('qmreset'),
  'GET /nodes/{node}/qemu/{vmid}/snapshot': listSnapshots,
  'POST /nodes/{node}/qemu/{vmid}/snapshot': createSnapshot,
  'DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}': deleteSnapshot,
  'GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config': snapshotConfig,
  'PUT /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config': updateSnapshot,
  'POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback': rollback,
};
