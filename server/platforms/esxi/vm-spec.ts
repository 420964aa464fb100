// The ESXi driver's requests as data: VM config specs, device edits, and readers for what the host returns.
// Pure functions, tested by value. Derived-type fields are written in XSD order (node-soap cannot sort them).
import { isUsableGuestAddress, type SnapshotInfo } from '../platform.ts';
import { anyValue, asArray, typed, xsdString, xsiType } from './soap.ts';

export const ownerKey = 'guestinfo.glassdome.deployment';
/** Set by the last step of createMachine; a VM without it is half-created and gets replaced. */
export const stateKey = 'guestinfo.glassdome.state';

export const namePrefix = (deploymentId: string) => `gd-${deploymentId}-`;
export const vmDir = (datastore: string, name: string) => `[${datastore}] ${name}`;
export const seedIsoPath = (name: string) => `${name}/${name}-seed.iso`;

export interface Device {
  attributes?: Record<string, unknown>;
  key: number;
  controllerKey?: number;
  backing?: { fileName?: string; [k: string]: unknown };
  capacityInKB?: number;
  [k: string]: unknown;
}

export const devicesOf = (v: unknown): Device[] => asArray(v as Device[] | undefined);

/** The last value of an extraConfig key (vcsim appends duplicates instead of replacing). */
export function extraConfigValue(extraConfig: unknown, key: string): string | undefined {
  const hit = asArray(extraConfig as Array<{ key: string; value: unknown }> | undefined)
    .filter((o) => o.key === key)
    .pop();
  const v = hit ? anyValue(hit.value) : undefined;
  return v == null ? undefined : String(v);
}

/** Turns a device as parsed back into something node-soap can send: literal `*:type` attributes become xsi_type. */
export function retype<T>(value: T): T {
  if (Array.isArray(value)) return value.map(retype) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'attributes') {
      const t = xsiType(value);
      const rest = Object.fromEntries(Object.entries(v as object).filter(([a]) => !a.endsWith(':type')));
      if (t && !t.startsWith('xsd:')) rest.xsi_type = { type: t, xmlns: 'urn:vim25' };
      if (Object.keys(rest).length) out.attributes = rest;
    } else out[k] = retype(v);
  }
  return out as T;
}

const scsiTypes = /SCSI|LsiLogic/;

/** guestId for a VM built from a cloud image (a template brings its own); ids that ESXi 7.0 and later know. */
export function guestIdForOs(os: string): string {
  if (os.startsWith('ubuntu')) return 'ubuntu64Guest';
  if (os.startsWith('debian')) return 'debian11_64Guest';
  if (/^(rocky|alma|centos|rhel)/.test(os)) return 'rhel8_64Guest';
  return 'otherLinux64Guest';
}

export interface CreateVmInput {
  name: string;
  deploymentId: string;
  datastore: string;
  guestId: string;
  version?: string;
  firmware?: string;
  cpus: number;
  memoryMb: number;
  /** The template's boot-disk controller type (ParaVirtualSCSIController, VirtualLsiLogicController, VirtualAHCIController...). */
  controllerType: string;
  diskFile: string;
  diskCapacityKb: number;
  nics: Array<{ portGroup: string; mac: string }>;
  /** Datastore path of the seed ISO, when there is first-boot data. */
  isoFile?: string;
}

/** VirtualMachineConfigSpec for CreateVM_Task: the copied disk, vmxnet3 NICs with manual MACs, the seed on IDE 0. */
export function createVmConfig(i: CreateVmInput): Record<string, unknown> {
  const ctrlKey = -100;
  const controller = typed(
    i.controllerType,
    scsiTypes.test(i.controllerType)
      ? { key: ctrlKey, busNumber: 0, sharedBus: 'noSharing' }
      : { key: ctrlKey, busNumber: 0 },
  );
  const disk = typed('VirtualDisk', {
    key: -101,
    backing: typed('VirtualDiskFlatVer2BackingInfo', {
      fileName: i.diskFile,
      diskMode: 'persistent',
      thinProvisioned: true,
    }),
    controllerKey: ctrlKey,
    unitNumber: 0,
    capacityInKB: i.diskCapacityKb,
  });
  const nics = i.nics.map((n, idx) =>
    typed('VirtualVmxnet3', {
      key: -200 - idx,
      backing: typed('VirtualEthernetCardNetworkBackingInfo', { deviceName: n.portGroup }),
      connectable: { startConnected: true, allowGuestControl: true, connected: true },
      addressType: 'manual',
      macAddress: n.mac,
    }),
  );
  // ESXi creates IDE 0 and 1 (keys 200, 201) on every VM, so the CD-ROM goes on 200 without adding a controller.
  const cdrom = i.isoFile
    ? [
        typed('VirtualCdrom', {
          key: -300,
          backing: typed('VirtualCdromIsoBackingInfo', { fileName: i.isoFile }),
          connectable: { startConnected: true, allowGuestControl: true, connected: false },
          controllerKey: 200,
          unitNumber: 0,
        }),
      ]
    : [];
  const spec: Record<string, unknown> = {
    name: i.name,
    ...(i.version ? { version: i.version } : {}),
    guestId: i.guestId,
    annotation: `Glassdome deployment ${i.deploymentId}. Managed by Glassdome: do not edit.`,
    files: { vmPathName: `${vmDir(i.datastore, i.name)}/${i.name}.vmx` },
    numCPUs: i.cpus,
    memoryMB: i.memoryMb,
    deviceChange: [controller, disk, ...nics, ...cdrom].map((device) => ({ operation: 'add', device })),
    extraConfig: [{ key: ownerKey, value: xsdString(i.deploymentId) }],
    ...(i.firmware ? { firmware: i.firmware } : {}),
  };
  return spec;
}

/** ReconfigVM spec that grows the boot disk (never shrinks) and marks creation complete. */
export function finishVmConfig(devices: Device[], diskGb: number): Record<string, unknown> {
  const want = diskGb * 1024 * 1024;
  const disk = devices.find((d) => xsiType(d) === 'VirtualDisk');
  // The disk is sent as retrieved (with deviceInfo): an edit without it crashes vcsim and real ESXi accepts it.
  // Spreading keeps the retrieved (schema) key order; capacityInBytes, when the host sent it, must agree.
  const grown = disk && {
    ...retype(disk),
    capacityInKB: want,
    ...('capacityInBytes' in disk ? { capacityInBytes: want * 1024 } : {}),
  };
  const deviceChange = grown && (disk.capacityInKB ?? 0) < want ? [{ operation: 'edit', device: grown }] : [];
  return { deviceChange, extraConfig: [{ key: stateKey, value: xsdString('created') }] };
}

/** The CD-ROM holding the seed ISO, if it is still attached. */
export function seedCdrom(devices: Device[]): Device | undefined {
  return devices.find(
    (d) =>
      xsiType(d) === 'VirtualCdrom' &&
      xsiType(d.backing) === 'VirtualCdromIsoBackingInfo' &&
      (d.backing?.fileName ?? '').endsWith('-seed.iso'),
  );
}

/** ReconfigVM spec that empties the CD-ROM (client-device passthrough, disconnected). */
export function detachCdromConfig(cdrom: Device): Record<string, unknown> {
  const { backing: _backing, connectable: _connectable, ...rest } = retype(cdrom);
  const device = {
    ...rest,
    backing: typed('VirtualCdromRemotePassthroughBackingInfo', { deviceName: '', exclusive: false }),
    connectable: { startConnected: false, allowGuestControl: true, connected: false },
  };
  // Keep VirtualDevice's field order: key, deviceInfo, backing, connectable, controllerKey, unitNumber.
  const ordered: Record<string, unknown> = {};
  for (const k of [
    'attributes',
    'key',
    'deviceInfo',
    'backing',
    'connectable',
    'slotInfo',
    'controllerKey',
    'unitNumber',
  ]) {
    if (k in device) ordered[k] = (device as Record<string, unknown>)[k];
  }
  return { deviceChange: [{ operation: 'edit', device: ordered }] };
}

/** Usable guest addresses from guest.net (and guest.ipAddress), deduplicated. */
export function guestAddresses(net: unknown, primary: unknown): string[] {
  const all = asArray(net as Array<{ ipAddress?: string | string[] }> | undefined).flatMap((n) => asArray(n.ipAddress));
  if (typeof primary === 'string') all.push(primary);
  return [...new Set(all.filter(isUsableGuestAddress))];
}

export interface SnapshotNode {
  snapshot: unknown;
  name: string;
  createTime?: Date | string;
  childSnapshotList?: SnapshotNode | SnapshotNode[];
}

export function flattenSnapshots(roots: unknown): SnapshotNode[] {
  return asArray(roots as SnapshotNode[] | undefined).flatMap((n) => [n, ...flattenSnapshots(n.childSnapshotList)]);
}

export function snapshotInfos(roots: unknown): SnapshotInfo[] {
  return flattenSnapshots(roots).map((n) => ({
    name: n.name,
    ...(n.createTime ? { createdAt: new Date(n.createTime).toISOString() } : {}),
  }));
}

export const powerStates = { poweredOn: 'running', poweredOff: 'stopped', suspended: 'paused' } as const;
