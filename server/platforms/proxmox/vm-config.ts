// Pure translation between Glassdome's specs and Proxmox config values: tags, NIC strings, network ids,
// disk sizes, the config update a clone receives. Tested by value, no I/O.
import { createHash } from 'node:crypto';
import type { MachineSpec } from '../platform.ts';
import { cloudInitFields } from './cloud-init.ts';

export const tagPrefix = 'gd-';

export function deploymentTag(deploymentId: string): string {
  return `${tagPrefix}${deploymentId}`;
}

export function parseTags(tags: string | undefined): string[] {
  return (tags ?? '').split(/[;,\s]+/).filter(Boolean);
}

/** `vmbr0:3001` (bridge and VLAN tag), or a bare bridge or SDN VNet name. */
export function networkId(bridge: string, vlan?: number): string {
  return vlan === undefined ? bridge : `${bridge}:${vlan}`;
}

export function parseNetworkId(id: string): { bridge: string; tag?: number } {
  const m = /^(.+):(\d+)$/.exec(id);
  return m ? { bridge: m[1]!, tag: Number(m[2]) } : { bridge: id };
}

/** `virtio=<mac>,bridge=<bridge>[,tag=<vlan>]`: the planned MAC is kept so first-boot network config matches it. */
export function nicValue(nic: MachineSpec['nics'][number]): string {
  const { bridge, tag } = parseNetworkId(nic.network.id);
  return `virtio=${nic.mac.toUpperCase()},bridge=${bridge}${tag === undefined ? '' : `,tag=${tag}`}`;
}

/** SDN VNet ids are at most 8 characters: `g` and 7 of a hash of the network's name (the name goes in the alias). */
export function vnetId(networkName: string): string {
  const h = BigInt(`0x${createHash('sha256').update(networkName).digest('hex').slice(0, 16)}`).toString(36);
  return `g${h.padStart(7, '0').slice(-7)}`;
}

/** Size in GiB of a disk value's `size=` (K, M, G, T suffixes; bare bytes). */
export function diskSizeGb(value: string): number | undefined {
  const m = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT])?(?:,|$)/.exec(value);
  if (!m) return undefined;
  const factor = { K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[m[2] as 'K' | 'M' | 'G' | 'T'] ?? 1 / 1024 ** 3;
  return Number(m[1]) * factor;
}

const diskKey = /^(scsi|virtio|sata|ide)\d+$/;
const isCdrom = (v: string) => /(^|,)media=cdrom(,|$)/.test(v) || /^(none|cdrom)(,|$)/.test(v) || /cloudinit/.test(v);

/** The boot disk: the first disk of `boot: order=...`, else the first non-CD-ROM disk. */
export function bootDisk(config: Record<string, unknown>): string | undefined {
  const order = /order=([^,]+)/.exec(String(config.boot ?? ''))?.[1]?.split(';') ?? [];
  const disks = Object.keys(config).filter((k) => diskKey.test(k) && !isCdrom(String(config[k])));
  return order.find((k) => disks.includes(k)) ?? disks.sort()[0];
}

export interface ConfigUpdate {
  params: Record<string, string | number>;
  /** Keys to remove, e.g. template NICs beyond the spec's. */
  remove: string[];
}

/** What a fresh clone is told: CPU, memory, NICs, agent, cloud-init fields, `cicustom`, and the deployment tag. */
export function machineConfig(spec: MachineSpec, current: Record<string, unknown>, cicustom?: string): ConfigUpdate {
  const params: Record<string, string | number> = {
    cores: spec.cpus,
    sockets: 1,
    memory: String(spec.memoryMb),
    agent: 'enabled=1',
    ...cloudInitFields(spec),
  };
  spec.nics.forEach((nic, i) => (params[`net${i}`] = nicValue(nic)));
  if (cicustom) params.cicustom = cicustom;
  // The tag comes last in meaning: a VM carrying it has been fully configured (see machines.ts).
  params.tags = [
    ...new Set([
      ...parseTags(String(current.tags ?? '')).filter((t) => !t.startsWith(tagPrefix)),
      deploymentTag(spec.deploymentId),
    ]),
  ].join(';');
  const remove = Object.keys(current).filter((k) => {
    const m = /^(net|ipconfig)(\d+)$/.exec(k);
    return m !== null && Number(m[2]) >= spec.nics.length;
  });
  return { params, remove };
}
