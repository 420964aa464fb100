// The fake cluster's state: nodes with their bridges, storages with volumes, VMs (config as the config file's
// key/value strings), SDN objects with pending changes, pools. Tests may read and change it directly.
import { createHash } from 'node:crypto';
import { splitPropertyString } from './formats.ts';

export interface Volume {
  volid: string;
  content: 'images' | 'iso' | 'snippets' | 'vztmpl' | 'import' | 'rootdir';
  format: 'raw' | 'qcow2' | 'iso';
  size: number;
  vmid?: number;
  /** The template's base volume a linked clone depends on. */
  base?: string;
  ctime: number;
  /** The bytes of an uploaded file (seed ISOs), so tests can read back what a driver sent. */
  data?: Buffer;
}

export interface StorageState {
  id: string;
  type: 'lvmthin' | 'lvm' | 'dir' | 'zfspool' | 'nfs';
  content: string[];
  shared: boolean;
  /** LVM-thin, ZFS and qcow2 on dir can do linked clones; thick LVM cannot. */
  linkedClones: boolean;
  /** How many clones may hold the storage lock at once; the rest wait `storageLockTimeoutMs` and fail. */
  cloneSlots: number;
  total: number;
  volumes: Map<string, Volume>;
}

export interface Iface {
  iface: string;
  type: string;
  [key: string]: string | number | boolean | undefined;
}

export interface NodeState {
  name: string;
  status: 'online' | 'offline';
  /** Live interfaces, and the staged /etc/network/interfaces.new when changes are pending. */
  network: Map<string, Iface>;
  stagedNetwork?: Map<string, Iface>;
}

/** How the simulated guest behaves once started. Times are from power-on. */
export interface GuestBehaviour {
  /** The QEMU guest agent answers after this long. */
  agentDelayMs: number;
  /** NICs get their IPv4 address after this long (before: loopback and link-local only). */
  addressDelayMs: number;
  /** `cloud-init status` says `running` until then, then `done` or `error`. */
  cloudInitMs: number;
  cloudInit: 'done' | 'error';
  /** The guest ignores ACPI shutdown: shutdown times out. */
  ignoresShutdown: boolean;
  /** Whether the agent process runs in the guest (default: always, once `agentDelayMs` has passed). */
  agentRunning?: (vm: VmState) => boolean;
  /** The IPv4 address of NIC n; default: ipconfig[n] ip, else 10.<tag>.<vmid/256>.<vmid%256>. */
  address?: (vm: VmState, nic: number) => string | undefined;
  /** What a program run through agent/exec does; undefined falls back to the few modelled commands. */
  exec?: (vm: VmState, argv: string[], input: string | undefined) => GuestProgram | undefined;
  /** The agent refuses guest-exec and guest-exec-status (qemu-ga --block-rpcs). */
  execDisabled?: boolean;
  /** Bytes of stdout/stderr the agent keeps (QGA: 16 MiB); more is cut and flagged `out-truncated`. */
  execOutputLimit?: number;
}

/** A program's outcome in the simulated guest: text as the guest writes it (UTF-8). */
export interface GuestProgram {
  exitcode?: number;
  /** Killed by this signal: exec-status then reports `signal` and no exit code. */
  signal?: number;
  out?: string;
  err?: string;
  durationMs?: number;
}

export interface Snapshot {
  name: string;
  description: string;
  snaptime: number;
  parent?: string;
  vmstate: boolean;
  config: Record<string, string>;
}

export interface VmState {
  vmid: number;
  node: string;
  /** The config file, values as strings, like `qm config`. `lock` lives here too. */
  config: Record<string, string>;
  /** [PENDING] section: values set while running that take effect on next start; `delete` keys. */
  pending: Record<string, string>;
  pendingDelete: string[];
  status: 'running' | 'stopped' | 'paused';
  startedAt?: number;
  snapshots: Map<string, Snapshot>;
  guest: GuestBehaviour;
  pool?: string;
}

export interface SdnObject {
  /** Applied values; undefined while the object is only pending (state `new`). */
  running?: Record<string, string | number>;
  /** Staged values; undefined when nothing is pending for it. */
  pending?: Record<string, string | number>;
  deleted?: boolean;
}

export interface SdnState {
  zones: Map<string, SdnObject>;
  vnets: Map<string, SdnObject>;
  /** Keyed `<vnet>/<subnet-id>` where subnet-id is `<zone>-<ip>-<mask>`. */
  subnets: Map<string, SdnObject>;
}

export interface ClusterState {
  nodes: Map<string, NodeState>;
  storages: Map<string, StorageState>;
  vms: Map<number, VmState>;
  sdn: SdnState;
  pools: Map<string, { comment?: string }>;
  /** Counter for MAC addresses and UUIDs, advanced by the seeded RNG. */
  macPrefix: string;
}

export interface TemplateSeed {
  vmid: number;
  name: string;
  storage?: string;
  diskGb?: number;
  agent?: boolean;
  node?: string;
}

export interface StateOptions {
  nodes?: string[];
  templates?: TemplateSeed[];
  /** Extra or replacement storages; defaults are `local-lvm` (lvmthin, images) and `local` (dir: iso, snippets, vztmpl, images). */
  storages?: Array<Partial<StorageState> & { id: string }>;
  guest?: Partial<GuestBehaviour>;
}

export const defaultGuest: GuestBehaviour = {
  agentDelayMs: 200,
  addressDelayMs: 400,
  cloudInitMs: 600,
  cloudInit: 'done',
  ignoresShutdown: false,
};

const GiB = 1024 ** 3;

export function createState(opts: StateOptions, random: () => number): ClusterState {
  const nodes = new Map<string, NodeState>();
  for (const name of opts.nodes ?? ['pve']) {
    nodes.set(name, {
      name,
      status: 'online',
      network: new Map<string, Iface>([
        ['eno1', { iface: 'eno1', type: 'eth', active: 1, autostart: 1, method: 'manual', families: 'inet' }],
        [
          'vmbr0',
          {
            iface: 'vmbr0',
            type: 'bridge',
            active: 1,
            autostart: 1,
            bridge_ports: 'eno1',
            bridge_vlan_aware: 1,
            bridge_vids: '2-4094',
            method: 'static',
            cidr: '192.168.1.10/24',
            address: '192.168.1.10',
            netmask: '24',
            gateway: '192.168.1.1',
            families: 'inet',
          },
        ],
      ]),
    });
  }
  const storages = new Map<string, StorageState>();
  const base: StorageState[] = [
    {
      id: 'local-lvm',
      type: 'lvmthin',
      content: ['images', 'rootdir'],
      shared: false,
      linkedClones: true,
      cloneSlots: 2,
      total: 500 * GiB,
      volumes: new Map(),
    },
    {
      id: 'local',
      type: 'dir',
      content: ['iso', 'vztmpl', 'snippets', 'backup', 'import'],
      shared: false,
      linkedClones: true,
      cloneSlots: 2,
      total: 100 * GiB,
      volumes: new Map(),
    },
  ];
  for (const s of base) storages.set(s.id, s);
  for (const s of opts.storages ?? []) {
    const prev = storages.get(s.id);
    storages.set(s.id, {
      ...(prev ?? {
        type: 'dir',
        content: ['images'],
        shared: false,
        linkedClones: true,
        cloneSlots: 2,
        total: 100 * GiB,
      }),
      volumes: new Map(),
      ...s,
    } as StorageState);
  }
  const state: ClusterState = {
    nodes,
    storages,
    vms: new Map(),
    sdn: { zones: new Map(), vnets: new Map(), subnets: new Map() },
    pools: new Map(),
    macPrefix: 'BC:24:11',
  };
  const guest = { ...defaultGuest, ...opts.guest };
  const firstNode = [...nodes.keys()][0] ?? 'pve';
  for (const t of opts.templates ?? [{ vmid: 9000, name: 'ubuntu-2204-template' }]) {
    seedTemplate(state, { node: firstNode, ...t }, guest, random);
  }
  return state;
}

function seedTemplate(
  state: ClusterState,
  t: TemplateSeed & { node: string },
  guest: GuestBehaviour,
  random: () => number,
): void {
  const storageId = t.storage ?? 'local-lvm';
  const storage = state.storages.get(storageId);
  if (!storage) throw new Error(`[proxmox-server] template ${t.vmid} names unknown storage ${storageId}`);
  const disk = addVolume(storage, { name: `base-${t.vmid}-disk-0`, vmid: t.vmid, size: (t.diskGb ?? 10) * GiB });
  const ci = addVolume(storage, { name: `vm-${t.vmid}-cloudinit`, vmid: t.vmid, size: 4 * 1024 * 1024 });
  const config: Record<string, string> = {
    name: t.name,
    template: '1',
    memory: '2048',
    cores: '2',
    sockets: '1',
    ostype: 'l26',
    scsihw: 'virtio-scsi-single',
    scsi0: `${disk.volid},iothread=1,size=${t.diskGb ?? 10}G`,
    ide2: `${ci.volid},media=cdrom`,
    net0: `virtio=${randomMac(state, random)},bridge=vmbr0`,
    boot: 'order=scsi0',
    serial0: 'socket',
    vga: 'serial0',
    smbios1: `uuid=${randomUuid(random)}`,
    vmgenid: randomUuid(random),
  };
  if (t.agent !== false) config.agent = '1';
  state.vms.set(t.vmid, newVm(t.vmid, t.node, config, guest));
}

export function newVm(vmid: number, node: string, config: Record<string, string>, guest: GuestBehaviour): VmState {
  return {
    vmid,
    node,
    config,
    pending: {},
    pendingDelete: [],
    status: 'stopped',
    snapshots: new Map(),
    guest: { ...guest },
  };
}

export function addVolume(
  storage: StorageState,
  v: { name: string; vmid?: number; size: number; base?: string; content?: Volume['content'] },
): Volume {
  const format = storage.type === 'dir' || storage.type === 'nfs' ? 'qcow2' : 'raw';
  const volname = storage.type === 'dir' || storage.type === 'nfs' ? `${v.vmid ?? 0}/${v.name}.${format}` : v.name;
  const vol: Volume = {
    volid: `${storage.id}:${volname}`,
    content: v.content ?? 'images',
    format,
    size: v.size,
    vmid: v.vmid,
    base: v.base,
    ctime: Math.floor(Date.now() / 1000),
  };
  storage.volumes.set(vol.volid, vol);
  return vol;
}

/** The next free `vm-<vmid>-disk-N` name on a storage. */
export function nextDiskName(storage: StorageState, vmid: number): string {
  for (let n = 0; ; n++) {
    const name = `vm-${vmid}-disk-${n}`;
    if (![...storage.volumes.values()].some((v) => v.volid.endsWith(`${name}`) || v.volid.endsWith(`${name}.qcow2`)))
      return name;
  }
}

export function findVolume(state: ClusterState, volid: string): { storage: StorageState; volume: Volume } | undefined {
  const storage = state.storages.get(volid.split(':')[0] ?? '');
  const volume = storage?.volumes.get(volid);
  return storage && volume ? { storage, volume } : undefined;
}

export function randomMac(state: ClusterState, random: () => number): string {
  const b = () =>
    Math.floor(random() * 256)
      .toString(16)
      .padStart(2, '0')
      .toUpperCase();
  return `${state.macPrefix}:${b()}:${b()}:${b()}`;
}

export function randomUuid(random: () => number): string {
  const h = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** SHA-1 of the config, like the `digest` PVE returns and checks. */
export function configDigest(config: Record<string, string>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}`)
    .join('\n');
  return createHash('sha1').update(text).digest('hex');
}

/** Keys of a property string value (`virtio=MAC,bridge=vmbr0` -> {virtio: MAC, bridge: vmbr0}); bare parts under `_`. */
export function propertyValues(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of splitPropertyString(value)) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) out._ ??= part;
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export const nicModels = [
  'e1000',
  'e1000-82540em',
  'e1000-82544gc',
  'e1000-82545em',
  'e1000e',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_isa',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
  'virtio',
  'vmxnet3',
];

/** A net[n] value: its model, MAC (model=MAC or macaddr=) and the other keys. */
export function parseNic(value: string): {
  model: string;
  mac?: string;
  bridge?: string;
  tag?: number;
  rest: Record<string, string>;
} {
  const v = propertyValues(value);
  let model = v.model ?? v._ ?? 'virtio';
  let mac = v.macaddr;
  for (const m of nicModels) {
    if (v[m] !== undefined) {
      model = m;
      mac = v[m];
    }
  }
  const rest: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (!['model', 'macaddr', '_', ...nicModels].includes(k)) rest[k] = x;
  return { model, mac, bridge: v.bridge, tag: v.tag === undefined ? undefined : Number(v.tag), rest };
}

/** The canonical read-back of a NIC: `virtio=BC:24:11:..,bridge=vmbr0,tag=20`. */
export function printNic(model: string, mac: string, rest: Record<string, string>): string {
  return [`${model}=${mac}`, ...Object.entries(rest).map(([k, x]) => `${k}=${x}`)].join(',');
}

export const diskKey = /^(ide|sata|scsi|virtio)\d+$|^(efidisk0|tpmstate0)$/;

export function isCdrom(value: string): boolean {
  const v = propertyValues(value);
  return v.media === 'cdrom' || v._ === 'cdrom' || v._ === 'none';
}

/** The volume id of a disk value (`local-lvm:vm-100-disk-0,size=10G` -> `local-lvm:vm-100-disk-0`). */
export function diskVolid(value: string): string | undefined {
  const v = propertyValues(value);
  const file = v.file ?? v.volume ?? v._;
  return file && file.includes(':') ? file : undefined;
}

export function parseSize(size: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(size);
  if (!m) return NaN;
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as 'K' | 'M' | 'G' | 'T'] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

export function formatSize(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}G`;
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}M`;
  return `${Math.ceil(bytes / 1024)}K`;
}
