// What a Proxmox cluster can still hold, for the executor's check before it creates anything: vCPUs (each clone
// node's logical CPUs times cpuOvercommit, less the vCPUs of its running VMs), available memory and the free space of
// the clone storage.
import type { PlatformCapacity } from '../platform.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';

interface NodeStatus {
  cpuinfo?: { cpus?: number };
  memory?: { total?: number; free?: number; available?: number };
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

export async function readCapacity(api: PveClient, config: ProxmoxConfig, o: CallOpts): Promise<PlatformCapacity> {
  const nodes = [...new Set([config.node, ...config.nodes])];
  const [statuses, rows, storage] = await Promise.all([
    Promise.all(nodes.map((n) => api.get<NodeStatus>(`/nodes/${encodeURIComponent(n)}/status`, {}, o))),
    api.get<Array<{ type: string; node?: string; status?: string; maxcpu?: number; cpus?: number }>>(
      '/cluster/resources',
      { type: 'vm' },
      o,
    ),
    api.get<{ avail?: number; total?: number }>(
      `/nodes/${encodeURIComponent(config.node)}/storage/${encodeURIComponent(config.storage)}/status`,
      {},
      o,
    ),
  ]);
  const running = rows
    .filter((r) => r.type === 'qemu' && r.status === 'running' && r.node !== undefined && nodes.includes(r.node))
    .reduce((sum, r) => sum + Number(r.maxcpu ?? r.cpus ?? 0), 0);
  const logical = statuses.reduce((sum, s) => sum + Number(s.cpuinfo?.cpus ?? 0), 0);
  // `available` counts reclaimable cache (PVE 8+); older nodes report `free` only.
  const memory = statuses.reduce((sum, s) => sum + Number(s.memory?.available ?? s.memory?.free ?? 0), 0);
  const cpus = Math.max(0, Math.floor(logical * config.cpuOvercommit) - running);
  const memoryMb = Math.floor(memory / MiB);
  const storageGb = storage.avail === undefined ? undefined : Math.floor(storage.avail / GiB);
  return {
    cpus,
    memoryMb,
    ...(storageGb === undefined ? {} : { storageGb }),
    detail:
      `node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')}: ${logical} logical CPUs x ${config.cpuOvercommit} (cpuOvercommit) - ${running} vCPUs of running VMs = ${cpus} vCPUs; ` +
      `${(memory / GiB).toFixed(1)} GiB memory available; ` +
      `storage ${config.storage}: ${storageGb === undefined ? 'free space unknown' : `${storageGb} GiB free`} (full clones go there; linked clones stay on their template's storage)`,
  };
}
