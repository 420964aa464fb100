// Pure translation between Glassdome's specs and Proxmox config values: tags, NIC strings, network ids,
// disk sizes, the config update a clone receives. Tested by value, no I/O.
import { createHash } from 'node:crypto';
import { AppError } from '../../errors.ts';
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

/** How the clone gets its first-boot data: `cicustom` snippets, or a seed ISO volume attached as a CD. */
export type FirstBootConfig = { cicustom: string } | { cdrom: string };

/** The file name of a machine's NoCloud seed ISO on an ISO storage; the machine name carries the deployment id. */
export function seedIsoName(machineName: string): string {
  return `${machineName}-seed.iso`;
}

// Where the seed CD goes: IDE first (every guest kernel reads it), then SATA.
const cdromSlots = ['ide2', 'ide3', 'ide1', 'ide0', 'sata0', 'sata1', 'sata2', 'sata3', 'sata4', 'sata5'];

const isCloudinitDrive = (k: string, v: unknown) => diskKey.test(k) && /(^|[:/])vm-\d+-cloudinit/.test(String(v));

/**
 * The CD slot for the seed volume and the cloud-init drives to remove: Proxmox's own drive is a NoCloud `cidata`
 * volume too, and with two of them cloud-init reads whichever it finds first.
 */
export function seedCdrom(current: Record<string, unknown>, volid: string): { key: string; remove: string[] } {
  const remove = Object.keys(current).filter((k) => isCloudinitDrive(k, current[k]));
  const attached = Object.keys(current).find((k) => diskKey.test(k) && String(current[k]).split(',')[0] === volid);
  const key = attached ?? cdromSlots.find((k) => current[k] === undefined);
  if (!key)
    throw new AppError(
      'platform_error',
      `[proxmox] no free IDE or SATA slot for the seed CD (${cdromSlots.join(', ')} are all in use)`,
    );
  return { key, remove };
}

/** What a fresh clone is told: CPU, memory, NICs, agent, first-boot data, and the deployment tag. */
export function machineConfig(
  spec: MachineSpec,
  current: Record<string, unknown>,
  firstBoot?: FirstBootConfig,
): ConfigUpdate {
  const params: Record<string, string | number> = {
    cores: spec.cpus,
    sockets: 1,
    memory: String(spec.memoryMb),
    agent: 'enabled=1',
    // Kept in every case: they show in the VM's Cloud-Init tab; the snippets or the seed carry the whole documents.
    ...cloudInitFields(spec),
  };
  const remove: string[] = [];
  if (firstBoot && 'cdrom' in firstBoot) {
    const cd = seedCdrom(current, firstBoot.cdrom);
    params[cd.key] = `${firstBoot.cdrom},media=cdrom`;
    remove.push(...cd.remove);
  } else if (firstBoot) params.cicustom = firstBoot.cicustom;
  spec.nics.forEach((nic, i) => (params[`net${i}`] = nicValue(nic)));
  // The tag comes last in meaning: a VM carrying it has been fully configured (see machines.ts).
  params.tags = [
    ...new Set([
      ...parseTags(String(current.tags ?? '')).filter((t) => !t.startsWith(tagPrefix)),
      deploymentTag(spec.deploymentId),
    ]),
  ].join(';');
  remove.push(
    ...Object.keys(current).filter((k) => {
      const m = /^(net|ipconfig)(\d+)$/.exec(k);
      return m !== null && Number(m[2]) >= spec.nics.length;
    }),
  );
  return { params, remove };
}
