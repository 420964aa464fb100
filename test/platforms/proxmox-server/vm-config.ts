// Reading and writing a VM's config like qemu-server: disk allocation (`local-lvm:32`), `delete`/`revert`,
// digest checks, pending changes on running VMs, the sshkeys encoding check, MACs for new NICs.
import { createHash } from 'node:crypto';
import { dieError, paramError, PveError } from './pve-error.ts';
import type { HandlerContext, Sim } from './sim.ts';
import { flag } from './sim.ts';
import {
  addVolume,
  configDigest,
  diskKey,
  diskVolid,
  findVolume,
  isCdrom,
  nextDiskName,
  parseNic,
  printNic,
  propertyValues,
  randomMac,
  type VmState,
} from './state.ts';

/** Parameters that steer the update rather than being config keys. */
const controlKeys = new Set([
  'node',
  'vmid',
  'delete',
  'revert',
  'digest',
  'skiplock',
  'force',
  'background_delay',
  'start',
  'storage',
  'pool',
  'unique',
  'archive',
  'bwlimit',
  'live-restore',
]);

/** Keys a running VM takes at once (hotplug `network,disk,usb` and plain metadata); the rest wait in [PENDING]. */
const hotKeys =
  /^(net\d+|(scsi|virtio|sata)\d+|ide[013]|unused\d+|name|description|tags|onboot|protection|startup|lock)$/;

const sshKeyLine =
  /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) ([A-Za-z0-9+/]+={0,2})(\s.*)?$/;

/** `uri_unescape` (no `+` to space), then every line must parse as an OpenSSH public key (`ssh-keygen -l`). */
export function checkSshKeys(encoded: string): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw dieError('SSH public key validation error');
  }
  for (const line of decoded.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const m = sshKeyLine.exec(line);
    if (!m || m[1] === undefined || m[5] === undefined) throw dieError('SSH public key validation error');
    // The blob must start with the key type it claims, as ssh-keygen checks.
    const blob = Buffer.from(m[5], 'base64');
    const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    if (len <= 0 || blob.subarray(4, 4 + len).toString() !== m[1]) throw dieError('SSH public key validation error');
  }
}

/** `STORAGE:SIZE` (GiB) asks for a new volume; `STORAGE:0,import-from=` imports. */
function allocationRequest(value: string): { storage: string; gb: number } | undefined {
  const v = propertyValues(value);
  const file = v.file ?? v._ ?? '';
  const m = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)$/i.exec(file);
  return m && m[1] !== undefined ? { storage: m[1], gb: Number(m[2]) } : undefined;
}

export function storageForImages(sim: Sim, id: string) {
  const storage = sim.state.storages.get(id);
  if (!storage) throw dieError(`storage '${id}' does not exist`);
  if (!storage.content.includes('images')) throw paramError({ storage: `storage '${id}' does not support vm images` });
  return storage;
}

/** Turns a requested value into what the config file stores (allocated volid, generated MAC, hashed password). */
function storedValue(ctx: HandlerContext, vm: VmState, key: string, value: string): string {
  if (diskKey.test(key) && !isCdrom(value)) {
    const alloc = allocationRequest(value);
    if (alloc) {
      const storage = storageForImages(ctx.sim, alloc.storage);
      const size = Math.round(alloc.gb * 1024 ** 3);
      const vol = addVolume(storage, { name: nextDiskName(storage, vm.vmid), vmid: vm.vmid, size });
      const rest = value
        .split(',')
        .slice(1)
        .filter((p) => !p.startsWith('size='));
      return [vol.volid, ...rest, `size=${alloc.gb}G`].join(',');
    }
    const volid = diskVolid(value);
    if (volid && !volid.startsWith('/') && !findVolume(ctx.sim.state, volid))
      throw dieError(`volume '${volid}' does not exist`);
  }
  if (diskKey.test(key) && isCdrom(value)) {
    // A CD with an image: VM.Config.CDROM on the VM, read access to the image's storage, and the image must exist.
    const volid = diskVolid(value);
    if (volid && !/cloudinit/.test(volid)) {
      if (!ctx.privs.has('VM.Config.CDROM'))
        throw new PveError(403, `Permission check failed (/vms/${vm.vmid}, VM.Config.CDROM)`);
      const sid = volid.split(':')[0] ?? '';
      if (!ctx.privs.has('Datastore.AllocateSpace') && !ctx.privs.has('Datastore.Audit'))
        throw new PveError(403, `Permission check failed (/storage/${sid}, Datastore.AllocateSpace|Datastore.Audit)`);
      if (!findVolume(ctx.sim.state, volid)) throw dieError(`volume '${volid}' does not exist`);
    }
  }
  if (/^net\d+$/.test(key)) {
    const nic = parseNic(value);
    return printNic(nic.model, nic.mac ?? randomMac(ctx.sim.state, ctx.sim.random), nic.rest);
  }
  if (key === 'sshkeys') checkSshKeys(value);
  if (key === 'cipassword' && !value.startsWith('$')) {
    return `$5$${createHash('sha256').update(value).digest('base64').slice(0, 43)}`;
  }
  return value;
}

function nextUnused(config: Record<string, string>): string {
  for (let n = 0; ; n++) if (config[`unused${n}`] === undefined) return `unused${n}`;
}

/** Applies an update (create, PUT or POST config). The caller holds the flock and has checked the lock. */
export function applyConfigUpdate(ctx: HandlerContext, vm: VmState, opts: { creating?: boolean } = {}): void {
  const p = ctx.params;
  if (!opts.creating) {
    if (p.digest !== undefined && String(p.digest) !== configDigest(vm.config)) {
      throw dieError('checksum mismatch (file change by other user?)');
    }
  }
  const sets = Object.entries(p).filter(([k]) => !controlKeys.has(k)) as Array<[string, string | number | boolean]>;
  const deletes =
    p.delete === undefined
      ? []
      : String(p.delete)
          .split(/[,;\s]+/)
          .filter(Boolean);
  const reverts =
    p.revert === undefined
      ? []
      : String(p.revert)
          .split(/[,;\s]+/)
          .filter(Boolean);
  if (!opts.creating && sets.length === 0 && deletes.length === 0 && reverts.length === 0)
    throw dieError('no options specified');
  for (const k of deletes) {
    if (sets.some(([s]) => s === k)) throw paramError({ delete: `unable to delete '${k}' - conflicts with update` });
  }
  const running = vm.status !== 'stopped';
  for (const k of reverts) {
    delete vm.pending[k];
    vm.pendingDelete = vm.pendingDelete.filter((d) => d !== k);
  }
  for (const k of deletes) {
    const current = vm.config[k];
    if (current === undefined && vm.pending[k] === undefined) continue; // PVE only warns: not set in current configuration
    if (running && !hotKeys.test(k)) {
      if (!vm.pendingDelete.includes(k)) vm.pendingDelete.push(k);
      continue;
    }
    delete vm.pending[k];
    if (current !== undefined && diskKey.test(k) && !isCdrom(current) && !flag(p, 'force')) {
      vm.config[nextUnused(vm.config)] = diskVolid(current) ?? current;
    } else if (current !== undefined && /cloudinit/.test(current)) {
      // A cloud-init drive is freed, never kept as unused (vmconfig_register_unused_drive).
      const volid = diskVolid(current);
      const found = volid ? findVolume(ctx.sim.state, volid) : undefined;
      found?.storage.volumes.delete(found.volume.volid);
    } else if (current !== undefined && flag(p, 'force')) {
      const volid = diskVolid(current);
      const found = volid ? findVolume(ctx.sim.state, volid) : undefined;
      found?.storage.volumes.delete(found.volume.volid);
    }
    delete vm.config[k];
  }
  for (const [k, raw] of sets) {
    const value = storedValue(ctx, vm, k, typeof raw === 'boolean' ? (raw ? '1' : '0') : String(raw));
    if (running && !hotKeys.test(k)) vm.pending[k] = value;
    else vm.config[k] = value;
  }
}

/** Pending values take effect (VM start, or an update of a stopped VM). */
export function applyPending(vm: VmState): void {
  for (const [k, v] of Object.entries(vm.pending)) vm.config[k] = v;
  for (const k of vm.pendingDelete) delete vm.config[k];
  vm.pending = {};
  vm.pendingDelete = [];
}

/** GET config: pending applied unless `current`, integers and booleans as numbers, password masked, digest added. */
export function readConfig(ctx: HandlerContext, config: Record<string, string>, vm?: VmState): Record<string, unknown> {
  const merged: Record<string, string> = { ...config };
  if (vm && !flag(ctx.params, 'current')) {
    Object.assign(merged, vm.pending);
    for (const k of vm.pendingDelete) delete merged[k];
  }
  const returns =
    (ctx.info.returns as { properties?: Record<string, { type?: string }> } | undefined)?.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(merged)) {
    const generic = k.replace(/\d+$/, '[n]');
    const type = returns[k]?.type ?? returns[generic]?.type;
    if (k === 'cipassword') out[k] = '**********';
    else if ((type === 'integer' || type === 'boolean' || type === 'number') && /^-?\d+(\.\d+)?$/.test(v))
      out[k] = Number(v);
    else out[k] = v;
  }
  out.digest = configDigest(config);
  return out;
}

/** GET pending: one row per key with value, pending and delete markers. */
export function pendingRows(vm: VmState): Array<Record<string, unknown>> {
  const keys = new Set([...Object.keys(vm.config), ...Object.keys(vm.pending), ...vm.pendingDelete]);
  return [...keys].sort().map((key) => {
    const row: Record<string, unknown> = { key };
    if (vm.config[key] !== undefined) row.value = key === 'cipassword' ? '**********' : vm.config[key];
    if (vm.pending[key] !== undefined) row.pending = key === 'cipassword' ? '**********' : vm.pending[key];
    if (vm.pendingDelete.includes(key)) row.delete = 1;
    return row;
  });
}
