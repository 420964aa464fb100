// Cluster-wide, node, task, storage and pool endpoints (relevant.md sections 3, B2 nextid, B11-B13).
import { createHash } from 'node:crypto';
import { dieError, paramError, PveError } from './pve-error.ts';
import { vmRow } from './qemu-handlers.ts';
import type { Handler, HandlerContext } from './sim.ts';
import { checkNode, Envelope, num, startTask, str, taskMs } from './sim.ts';
import { addVolume, findVolume, parseSize, type StorageState } from './state.ts';
import { parseUpid, type Task } from './tasks.ts';

const versions = {
  '9.1': { version: '9.1.2', release: '9.1', repoid: 'a8736b6d' },
  '8.4': { version: '8.4.1', release: '8.4', repoid: 'ae1bf37e' },
};

const version: Handler = (ctx) => ({ ...versions[ctx.sim.version], console: 'html5' });

const nodes: Handler = (ctx) =>
  [...ctx.sim.state.nodes.values()].map((n) => ({
    node: n.name,
    status: n.status,
    type: 'node',
    id: `node/${n.name}`,
    level: '',
    maxcpu: 16,
    cpu: 0.05,
    maxmem: nodeMemory(ctx, n.name).total,
    mem: nodeMemory(ctx, n.name).used,
    uptime: 86_400,
    ssl_fingerprint: ctx.sim.fingerprint,
  }));

/** Memory of a node: the host's own 8 GiB plus what its running VMs were given. */
function nodeMemory(ctx: HandlerContext, node: string): { total: number; used: number } {
  const total = ctx.sim.nodeMemoryGb * 1024 ** 3;
  let used = 8 * 1024 ** 3;
  for (const vm of ctx.sim.state.vms.values())
    if (vm.node === node && vm.status !== 'stopped')
      used += Number((vm.config.memory ?? '512').replace(/^current=/, '').split(',')[0]) * 1024 ** 2;
  return { total, used: Math.min(used, total) };
}

const nodeStatus: Handler = (ctx) => {
  const node = checkNode(ctx);
  const v = versions[ctx.sim.version];
  const mem = nodeMemory(ctx, node);
  return {
    cpu: 0.05,
    loadavg: ['0.10', '0.20', '0.30'],
    pveversion: `pve-manager/${v.version}/${v.repoid}`,
    memory: { total: mem.total, used: mem.used, free: mem.total - mem.used, available: mem.total - mem.used },
    rootfs: { total: 100 * 1024 ** 3, used: 10 * 1024 ** 3, free: 90 * 1024 ** 3, avail: 90 * 1024 ** 3 },
    cpuinfo: { cores: 8, cpus: 16, sockets: 1, model: 'Simulated CPU' },
    'boot-info': { mode: 'efi' },
    'current-kernel': {
      sysname: 'Linux',
      release: '6.8.12-1-pve',
      machine: 'x86_64',
      version: '#1 SMP PREEMPT_DYNAMIC',
    },
  };
};

function storageUsed(s: StorageState): number {
  return [...s.volumes.values()].reduce((a, v) => a + v.size, 0);
}

function storageRow(s: StorageState): Record<string, unknown> {
  const used = storageUsed(s);
  return {
    storage: s.id,
    type: s.type,
    content: s.content.join(','),
    shared: s.shared ? 1 : 0,
    active: 1,
    enabled: 1,
    total: s.total,
    used,
    avail: s.total - used,
    used_fraction: used / s.total,
  };
}

const resources: Handler = (ctx) => {
  const type = ctx.params.type === undefined ? undefined : String(ctx.params.type);
  const rows: unknown[] = [];
  if (type === undefined || type === 'vm') {
    for (const vm of ctx.sim.state.vms.values()) {
      rows.push({
        ...vmRow(ctx, vm),
        id: `qemu/${vm.vmid}`,
        type: 'qemu',
        node: vm.node,
        maxcpu: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
        template: vm.config.template === '1' ? 1 : 0,
        ...(vm.pool ? { pool: vm.pool } : {}),
      });
    }
  }
  if (type === undefined || type === 'node') {
    for (const n of ctx.sim.state.nodes.values())
      rows.push({
        id: `node/${n.name}`,
        type: 'node',
        node: n.name,
        status: n.status,
        maxcpu: 16,
        maxmem: nodeMemory(ctx, n.name).total,
        level: '',
      });
  }
  if (type === undefined || type === 'storage') {
    for (const n of ctx.sim.state.nodes.values()) {
      for (const s of ctx.sim.state.storages.values()) {
        const used = storageUsed(s);
        rows.push({
          id: `storage/${n.name}/${s.id}`,
          type: 'storage',
          node: n.name,
          storage: s.id,
          status: 'available',
          content: s.content.join(','),
          plugintype: s.type,
          shared: s.shared ? 1 : 0,
          maxdisk: s.total,
          disk: used,
        });
      }
    }
  }
  if (type === undefined || type === 'sdn') {
    for (const n of ctx.sim.state.nodes.values()) {
      for (const [zone, z] of ctx.sim.state.sdn.zones)
        if (z.running) rows.push({ id: `sdn/${n.name}/${zone}`, type: 'sdn', sdn: zone, node: n.name, status: 'ok' });
    }
  }
  if (type === undefined)
    for (const p of ctx.sim.state.pools.keys()) rows.push({ id: `/pool/${p}`, type: 'pool', pool: p });
  return rows;
};

/** Lowest free VMID from 100; not a reservation, so concurrent callers get the same answer. */
const nextid: Handler = (ctx) => {
  const vms = ctx.sim.state.vms;
  if (ctx.params.vmid !== undefined) {
    const vmid = num(ctx.params, 'vmid');
    if (vms.has(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
    return String(vmid);
  }
  for (let id = 100; id < 1_000_000; id++) if (!vms.has(id)) return String(id);
  throw dieError('unable to get any free VMID in range [100, 1000000)');
};

const clusterStatus: Handler = (ctx) => [
  ...[...ctx.sim.state.nodes.values()].map((n, i) => ({
    type: 'node',
    id: `node/${n.name}`,
    name: n.name,
    nodeid: i + 1,
    online: n.status === 'online' ? 1 : 0,
    local: i === 0 ? 1 : 0,
    ip: `192.168.1.${10 + i}`,
    level: '',
  })),
];

function taskRow(t: Task): Record<string, unknown> {
  const row: Record<string, unknown> = {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    user: t.user,
  };
  if (t.status === 'stopped') {
    row.status = t.exitstatus;
    row.endtime = t.endtime;
  }
  return row;
}

const clusterTasks: Handler = (ctx) => ctx.sim.tasks.list().map(taskRow);

const nodeTasks: Handler = (ctx) => {
  const node = checkNode(ctx);
  const p = ctx.params;
  const source = String(p.source ?? 'archive');
  let tasks = ctx.sim.tasks
    .list()
    .filter((t) => t.node === node)
    .reverse();
  if (source === 'archive') tasks = tasks.filter((t) => t.status === 'stopped');
  if (source === 'active') tasks = tasks.filter((t) => t.status === 'running');
  if (p.vmid !== undefined) tasks = tasks.filter((t) => t.id === String(p.vmid));
  if (p.typefilter !== undefined) tasks = tasks.filter((t) => t.type === String(p.typefilter));
  if (p.userfilter !== undefined) tasks = tasks.filter((t) => t.user.includes(String(p.userfilter)));
  if (p.errors === true) tasks = tasks.filter((t) => t.status === 'stopped' && t.exitstatus !== 'OK');
  const start = Number(p.start ?? 0);
  return tasks.slice(start, start + Number(p.limit ?? 50)).map(taskRow);
};

function findTask(ctx: HandlerContext): Task {
  const upid = str(ctx.params, 'upid');
  if (!parseUpid(upid)) throw paramError({ upid: 'unable to parse worker upid' });
  const task = ctx.sim.tasks.get(upid);
  if (!task || task.node !== str(ctx.params, 'node')) throw paramError({ upid: 'no such task' });
  return task;
}

const taskStatus: Handler = (ctx) => {
  const t = findTask(ctx);
  const row: Record<string, unknown> = {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    user: t.user,
    status: t.status,
  };
  if (t.status === 'stopped') row.exitstatus = t.exitstatus;
  return row;
};

const taskLog: Handler = (ctx) => {
  const t = findTask(ctx);
  const start = Number(ctx.params.start ?? 0);
  const limit = Number(ctx.params.limit ?? 50);
  const lines = t.log.length === 0 ? ['no content'] : t.log;
  const data = lines.slice(start, start + limit).map((text, i) => ({ n: start + i + 1, t: text }));
  return new Envelope(data, { total: lines.length });
};

const taskStop: Handler = (ctx) => {
  const t = findTask(ctx);
  if (t.status === 'running') t.abort.abort();
  return null;
};

const taskIndex: Handler = (ctx) => {
  findTask(ctx);
  return [{ name: 'log' }, { name: 'status' }];
};

function getStorage(ctx: HandlerContext): StorageState {
  checkNode(ctx);
  const id = str(ctx.params, 'storage');
  const s = ctx.sim.state.storages.get(id);
  if (!s) throw dieError(`storage '${id}' does not exist`);
  return s;
}

const storageIndex: Handler = (ctx) => {
  const type = ctx.params.type;
  return [...ctx.sim.state.storages.values()]
    .filter((s) => type === undefined || s.type === type)
    .map((s) => ({ storage: s.id, type: s.type, content: s.content.join(','), shared: s.shared ? 1 : 0 }));
};

const nodeStorage: Handler = (ctx) => {
  checkNode(ctx);
  const p = ctx.params;
  return [...ctx.sim.state.storages.values()]
    .filter((s) => p.storage === undefined || s.id === p.storage)
    .filter(
      (s) =>
        p.content === undefined ||
        String(p.content)
          .split(',')
          .some((c) => s.content.includes(c)),
    )
    .map(storageRow);
};

const storageStatus: Handler = (ctx) => storageRow(getStorage(ctx));

const contentList: Handler = (ctx) => {
  const s = getStorage(ctx);
  return [...s.volumes.values()]
    .filter((v) => ctx.params.content === undefined || v.content === ctx.params.content)
    .filter((v) => ctx.params.vmid === undefined || v.vmid === Number(ctx.params.vmid))
    .map((v) => ({
      volid: v.volid,
      content: v.content,
      format: v.format,
      size: v.size,
      ctime: v.ctime,
      ...(v.vmid ? { vmid: v.vmid } : {}),
      ...(v.base ? { parent: v.base } : {}),
    }));
};

const contentCreate: Handler = (ctx) => {
  const s = getStorage(ctx);
  if (!s.content.includes('images')) throw paramError({ storage: `storage '${s.id}' does not support vm images` });
  const filename = str(ctx.params, 'filename');
  const size = str(ctx.params, 'size');
  const kib = parseSize(size.replace(/[MG]$/, (u) => (u === 'M' ? 'K' : 'M'))) / 1024;
  return addVolume(s, {
    name: filename.replace(/\.(raw|qcow2)$/, ''),
    vmid: num(ctx.params, 'vmid'),
    size: kib * 1024 * 1024,
  }).volid;
};

const contentGet: Handler = (ctx) => {
  const s = getStorage(ctx);
  const volume = str(ctx.params, 'volume');
  const volid = volume.includes(':') ? volume : `${s.id}:${volume}`;
  const v = findVolume(ctx.sim.state, volid)?.volume;
  if (!v) throw dieError(`volume '${volid}' does not exist`);
  return { format: v.format, size: v.size, used: v.size, path: `/dev/pve/${volid.split(':')[1] ?? ''}` };
};

const contentDelete: Handler = (ctx) => {
  const s = getStorage(ctx);
  const volume = str(ctx.params, 'volume');
  const volid = volume.includes(':') ? volume : `${s.id}:${volume}`;
  // The schema says user=all; the handler checks Datastore.Allocate itself (AllocateSpace only for backups).
  if (!ctx.privs.has('Datastore.Allocate'))
    throw new PveError(403, `Permission check failed (/storage/${s.id}, Datastore.Allocate)`);
  if (!findVolume(ctx.sim.state, volid)) throw dieError(`volume '${volid}' does not exist`);
  // The worker has no id (fork_worker('imgdel', undef, ...)): a volid's slash cannot go into a UPID.
  return startTask(ctx, str(ctx.params, 'node'), 'imgdel', '', async (t) => {
    await t.work(taskMs(ctx.sim, 'imgdel'));
    s.volumes.delete(volid);
  });
};

const downloadUrl: Handler = (ctx) => {
  const s = getStorage(ctx);
  const content = str(ctx.params, 'content');
  if (!s.content.includes(content))
    throw paramError({ content: `storage '${s.id}' does not support content-type '${content}'` });
  const filename = str(ctx.params, 'filename');
  return startTask(ctx, str(ctx.params, 'node'), 'download', s.id, async (t) => {
    t.log(`downloading ${str(ctx.params, 'url')} to ${filename}`);
    await t.work(taskMs(ctx.sim, 'download'));
    const sub = content === 'iso' ? 'iso' : content === 'vztmpl' ? 'vztmpl' : 'import';
    const volid = `${s.id}:${sub}/${filename}`;
    s.volumes.set(volid, {
      volid,
      content: content as 'iso',
      format: 'iso',
      size: 1024 ** 2,
      ctime: Math.floor(Date.now() / 1000),
    });
  });
};

/** pve-storage Status.pm upload: the file pveproxy stored is copied to the storage's iso (or vztmpl, import) dir. */
const upload: Handler = (ctx) => {
  const s = getStorage(ctx);
  const content = str(ctx.params, 'content');
  const file = ctx.upload?.data;
  if (!file || ctx.params.tmpfilename === undefined) throw dieError('missing temporary file name');
  if (!['dir', 'nfs'].includes(s.type)) throw dieError(`can't upload to storage type '${s.type}'`);
  // normalize_content_filename: anything but letters, digits, - _ . becomes _.
  const filename = str(ctx.params, 'filename').replace(/[^-_.a-zA-Z0-9]/g, '_');
  if (content === 'iso' && !/[^/]+\.(iso|img)$/i.test(filename)) throw paramError({ filename: 'wrong file extension' });
  if (!s.content.includes(content)) throw dieError(`storage '${s.id}' does not support '${content}' content`);
  const algorithm = ctx.params['checksum-algorithm'];
  const expected = ctx.params.checksum;
  return startTask(ctx, str(ctx.params, 'node'), 'imgcopy', '', async (t) => {
    t.log(`starting file import from: ${String(ctx.params.tmpfilename)}`);
    if (algorithm !== undefined && expected !== undefined) {
      const got = createHash(String(algorithm)).update(file).digest('hex');
      if (got !== String(expected).toLowerCase())
        throw dieError(`checksum mismatch: got '${got}' != expect '${String(expected)}'`);
      t.log(`calculating checksum... OK, checksum verified`);
    }
    await t.work(taskMs(ctx.sim, 'imgcopy'));
    const sub = content === 'iso' ? 'iso' : content === 'vztmpl' ? 'vztmpl' : 'import';
    const volid = `${s.id}:${sub}/${filename}`;
    // `cp` over an existing file: a repeated upload replaces it.
    s.volumes.set(volid, {
      volid,
      content: content as 'iso',
      format: 'iso',
      size: file.length,
      ctime: Math.floor(Date.now() / 1000),
      data: file,
    });
    t.log(`target file: /var/lib/vz/template/${sub}/${filename}`);
    t.log(`file size is: ${file.length}`);
    t.log('finished file import successfully');
  });
};

const pools: Handler = (ctx) => {
  const only = ctx.params.poolid;
  return [...ctx.sim.state.pools.entries()]
    .filter(([id]) => only === undefined || id === only)
    .map(([poolid, p]) => ({
      poolid,
      ...(p.comment ? { comment: p.comment } : {}),
      ...(only !== undefined ? { members: poolMembers(ctx, poolid) } : {}),
    }));
};

function poolMembers(ctx: HandlerContext, poolid: string): unknown[] {
  return [...ctx.sim.state.vms.values()]
    .filter((vm) => vm.pool === poolid)
    .map((vm) => ({ ...vmRow(ctx, vm), id: `qemu/${vm.vmid}`, type: 'qemu', node: vm.node }));
}

const poolCreate: Handler = (ctx) => {
  const id = str(ctx.params, 'poolid');
  if (ctx.sim.state.pools.has(id)) throw dieError(`pool '${id}' already exists`);
  ctx.sim.state.pools.set(id, { comment: ctx.params.comment === undefined ? undefined : String(ctx.params.comment) });
  return null;
};

const poolGet: Handler = (ctx) => {
  const id = str(ctx.params, 'poolid');
  const p = ctx.sim.state.pools.get(id);
  if (!p) throw dieError(`pool '${id}' does not exist`);
  return { ...(p.comment ? { comment: p.comment } : {}), members: poolMembers(ctx, id) };
};

const poolUpdate: Handler = (ctx) => {
  const id = str(ctx.params, 'poolid');
  const p = ctx.sim.state.pools.get(id);
  if (!p) throw dieError(`pool '${id}' does not exist`);
  if (ctx.params.comment !== undefined) p.comment = String(ctx.params.comment);
  const remove = ctx.params.delete === true;
  for (const v of String(ctx.params.vms ?? '')
    .split(/[,;\s]+/)
    .filter(Boolean)) {
    const vm = ctx.sim.state.vms.get(Number(v));
    if (!vm) throw dieError(`VM ${v} does not exist`);
    if (remove) {
      if (vm.pool !== id) throw dieError(`VM ${v} is not a pool member`);
      vm.pool = undefined;
    } else {
      if (vm.pool === id) throw dieError(`VM ${v} is already a pool member`);
      if (vm.pool !== undefined && ctx.params['allow-move'] !== true)
        throw dieError(`VM ${v} belongs already to pool '${vm.pool}' and 'allow-move' is not set`);
      vm.pool = id;
    }
  }
  return null;
};

const poolDelete: Handler = (ctx) => {
  const id = str(ctx.params, 'poolid');
  if (!ctx.sim.state.pools.has(id)) throw dieError(`pool '${id}' does not exist`);
  if ([...ctx.sim.state.vms.values()].some((vm) => vm.pool === id))
    throw dieError('pool is not empty (VMs or storage)');
  ctx.sim.state.pools.delete(id);
  return null;
};

export const clusterHandlers: Record<string, Handler> = {
  'GET /version': version,
  'GET /nodes': nodes,
  'GET /nodes/{node}/status': nodeStatus,
  'GET /cluster/resources': resources,
  'GET /cluster/nextid': nextid,
  'GET /cluster/status': clusterStatus,
  'GET /cluster/tasks': clusterTasks,
  'GET /nodes/{node}/tasks': nodeTasks,
  'GET /nodes/{node}/tasks/{upid}': taskIndex,
  'DELETE /nodes/{node}/tasks/{upid}': taskStop,
  'GET /nodes/{node}/tasks/{upid}/status': taskStatus,
  'GET /nodes/{node}/tasks/{upid}/log': taskLog,
  'GET /storage': storageIndex,
  'GET /nodes/{node}/storage': nodeStorage,
  'GET /nodes/{node}/storage/{storage}/status': storageStatus,
  'GET /nodes/{node}/storage/{storage}/content': contentList,
  'POST /nodes/{node}/storage/{storage}/content': contentCreate,
  'GET /nodes/{node}/storage/{storage}/content/{volume}': contentGet,
  'DELETE /nodes/{node}/storage/{storage}/content/{volume}': contentDelete,
  'POST /nodes/{node}/storage/{storage}/download-url': downloadUrl,
  'POST /nodes/{node}/storage/{storage}/upload': upload,
  'GET /pools': pools,
  'POST /pools': poolCreate,
  'PUT /pools': poolUpdate,
  'DELETE /pools': poolDelete,
  'GET /pools/{poolid}': poolGet,
  'PUT /pools/{poolid}': poolUpdate,
  'DELETE /pools/{poolid}': poolDelete,
};
