// The Proxmox inventory in one cluster/resources call: every VM tagged `gd-<deployment>` (or named `gd-<deployment>-`)
// with its power, vCPUs, memory and load. The guest agent's answer and addresses, and the NICs, are not in that list:
// asked for, they cost one agent call per running VM and one config read per VM, a few at a time.
import { AppError } from '../../errors.ts';
import { deploymentOfName, isUsableGuestAddress, type InventoryMachine, type InventoryOptions } from '../platform.ts';
import { mapLimit, withRetry } from '../shared/retry.ts';
import { causeText, type CallOpts, type PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import { usableAddresses } from './guest.ts';
import { networkId, parseTags, tagPrefix } from './vm-config.ts';

interface ResourceRow {
  type: string;
  vmid: number | string;
  node: string;
  name?: string;
  status: string;
  template?: number | boolean;
  tags?: string;
  maxmem?: number;
  maxcpu?: number;
  cpu?: number;
}

/** Per-VM follow-up calls in flight at once: enough to finish a few hundred VMs in seconds, few enough for pveproxy. */
const followUps = 8;

/** `virtio=AA:BB:..,bridge=vmbr0,tag=101` -> the network id the driver gave the NIC, its VLAN and MAC. */
export function parseNic(value: string): { network: string; vlan?: number; mac?: string } | undefined {
  const fields = new Map(
    value.split(',').map((kv) => {
      const i = kv.indexOf('=');
      return [i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1)] as const;
    }),
  );
  const bridge = fields.get('bridge');
  if (!bridge) return undefined;
  const tag = fields.get('tag') ? Number(fields.get('tag')) : undefined;
  const model = [...fields.keys()].find((k) => /^(virtio|e1000e?|rtl8139|vmxnet3)$/.test(k));
  const mac = model ? fields.get(model) : fields.get('macaddr');
  return {
    network: networkId(bridge, tag),
    ...(tag === undefined ? {} : { vlan: tag }),
    ...(mac ? { mac: mac.toLowerCase() } : {}),
  };
}

export async function readInventory(
  api: PveClient,
  config: ProxmoxConfig,
  opts: InventoryOptions = {},
): Promise<InventoryMachine[]> {
  const o: CallOpts = opts.signal ? { signal: opts.signal } : {};
  const rows = await withRetry(config.retry, () => api.get<ResourceRow[]>('/cluster/resources', { type: 'vm' }, o), o);
  const wanted = opts.deploymentIds ? new Set(opts.deploymentIds) : undefined;
  const ours: Array<{ row: ResourceRow; machine: InventoryMachine }> = [];
  for (const r of rows) {
    if (r.type !== 'qemu' || r.template === 1 || r.template === true) continue;
    const tag = parseTags(r.tags).find((t) => t.startsWith(tagPrefix));
    const name = r.name ?? `VM ${r.vmid}`;
    const deploymentId = tag ? tag.slice(tagPrefix.length) : deploymentOfName(name);
    if (!deploymentId || (wanted && !wanted.has(deploymentId))) continue;
    ours.push({
      row: r,
      machine: {
        id: String(r.vmid),
        name,
        deploymentId,
        owner: tag ? 'tag' : 'name',
        power: r.status === 'running' ? 'running' : r.status === 'paused' ? 'paused' : 'stopped',
        ...(r.maxcpu !== undefined ? { cpus: Number(r.maxcpu) } : {}),
        ...(r.maxmem !== undefined ? { memoryMb: Math.round(Number(r.maxmem) / 1024 ** 2) } : {}),
        ...(r.cpu !== undefined ? { cpuLoad: Number(r.cpu) } : {}),
      },
    });
  }
  const vmPath = (r: ResourceRow) => `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
  if (opts.guest)
    await mapLimit(ours, followUps, async ({ row, machine }) => {
      if (machine.power !== 'running') {
        Object.assign(machine, { agent: false, addresses: [] });
        return;
      }
      try {
        const r = await api.get<{ result?: Parameters<typeof usableAddresses>[0] }>(
          `${vmPath(row)}/agent/network-get-interfaces`,
          {},
          o,
        );
        Object.assign(machine, {
          agent: true,
          addresses: usableAddresses(r.result ?? []).filter(isUsableGuestAddress),
        });
      } catch (e) {
        opts.signal?.throwIfAborted();
        // "QEMU guest agent is not running" (or not configured): the agent does not answer. Anything else (a VM that
        // vanished, a proxy error) says nothing about the agent, which stays unknown.
        if (e instanceof AppError && /guest agent|not running/i.test(causeText(e)))
          Object.assign(machine, { agent: false, addresses: [] });
      }
    });
  if (opts.config)
    await mapLimit(ours, followUps, async ({ row, machine }) => {
      try {
        const cfg = await api.get<Record<string, unknown>>(`${vmPath(row)}/config`, {}, o);
        machine.nics = Object.keys(cfg)
          .filter((k) => /^net\d+$/.test(k))
          .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
          .flatMap((k) => {
            const nic = parseNic(String(cfg[k]));
            return nic ? [nic] : [];
          });
      } catch (e) {
        opts.signal?.throwIfAborted();
        if (!(e instanceof AppError && e.code === 'not_found')) throw e;
      }
    });
  return ours.map((x) => x.machine);
}
