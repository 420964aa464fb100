// The OVF 1.0 descriptor of the appliance (virtual hardware, one disk, one NIC, the product and the network settings
// ESXi asks for at import) and its checker, which reads a descriptor back and reports every problem at once.
import { attr, escapeXml, find, findAll, parseXml, XmlError, type XmlElement } from './guest/xml.ts';

export const ns = {
  ovf: 'http://schemas.dmtf.org/ovf/envelope/1',
  rasd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData',
  vssd: 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData',
  vmw: 'http://www.vmware.com/schema/ovf',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
} as const;

export const streamOptimizedFormat = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/** CIM resource types used in VirtualHardwareSection items. */
export const resourceType = { cpu: 3, memory: 4, scsi: 6, ethernet: 10, cdrom: 15, disk: 17 } as const;

export interface OvfProperty {
  key: string;
  label: string;
  description: string;
  value?: string;
}

export interface OvfSpec {
  /** VM name and VirtualSystem id. */
  name: string;
  product: { name: string; vendor: string; version: string; fullVersion: string; productUrl?: string };
  annotation: string;
  cpus: number;
  memoryMb: number;
  disk: { href: string; fileBytes: number; capacityBytes: number; populatedBytes?: number };
  network: { name: string; description: string };
  /** VMware hardware version, e.g. vmx-14 (ESXi 6.7 and later). */
  hardware: string;
  guest: { cimOsId: number; vmwOsType: string; description: string };
  properties: OvfProperty[];
}

/**
 * The network settings ESXi's Deploy OVF Template asks for; empty means DHCP (and the name given by DHCP or the
 * default). The guest reads them from the OVF environment (appliance/guest/ovf-network.ts).
 */
export const networkProperties: OvfProperty[] = [
  { key: 'hostname', label: 'Hostname', description: 'Host name of the appliance (empty: glassdome).' },
  {
    key: 'ip',
    label: 'IPv4 address',
    description: 'Static IPv4 address, e.g. 192.0.2.10 (empty: DHCP; the other network fields are then ignored).',
  },
  {
    key: 'netmask',
    label: 'Netmask',
    description: 'Netmask or prefix length for the static address, e.g. 255.255.255.0 or 24.',
  },
  { key: 'gateway', label: 'Default gateway', description: 'IPv4 default gateway for the static address.' },
  { key: 'dns', label: 'DNS servers', description: 'Comma-separated DNS server addresses for the static address.' },
];

interface Item {
  fields: Array<[string, string]>;
}

function item(fields: Record<string, string | number | undefined>): Item {
  // CIM's schema is a sequence in alphabetical order; ovftool and ESXi refuse items whose elements are out of order.
  return {
    fields: Object.entries(fields)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, String(v)]),
  };
}

export function ovfDescriptor(s: OvfSpec): string {
  const x = escapeXml;
  const items: Item[] = [
    item({
      AllocationUnits: 'hertz * 10^6',
      Description: 'Number of Virtual CPUs',
      ElementName: `${s.cpus} virtual CPU(s)`,
      InstanceID: 1,
      ResourceType: resourceType.cpu,
      VirtualQuantity: s.cpus,
    }),
    item({
      AllocationUnits: 'byte * 2^20',
      Description: 'Memory Size',
      ElementName: `${s.memoryMb}MB of memory`,
      InstanceID: 2,
      ResourceType: resourceType.memory,
      VirtualQuantity: s.memoryMb,
    }),
    item({
      Address: 0,
      Description: 'SCSI Controller',
      ElementName: 'SCSI Controller 0',
      InstanceID: 3,
      ResourceSubType: 'lsilogic',
      ResourceType: resourceType.scsi,
    }),
    item({
      AddressOnParent: 0,
      ElementName: 'Hard Disk 1',
      HostResource: 'ovf:/disk/vmdisk1',
      InstanceID: 4,
      Parent: 3,
      ResourceType: resourceType.disk,
    }),
    item({
      AddressOnParent: 7,
      AutomaticAllocation: 'true',
      Connection: s.network.name,
      Description: `VmxNet3 ethernet adapter on "${s.network.name}"`,
      ElementName: 'Network adapter 1',
      InstanceID: 5,
      ResourceSubType: 'VmxNet3',
      ResourceType: resourceType.ethernet,
    }),
  ];
  const itemXml = items
    .map(
      (it) =>
        `      <Item>\n${it.fields.map(([k, v]) => `        <rasd:${k}>${x(v)}</rasd:${k}>`).join('\n')}\n      </Item>`,
    )
    .join('\n');
  const props = s.properties
    .map(
      (p) =>
        `      <Property ovf:key="${x(p.key)}" ovf:type="string" ovf:userConfigurable="true" ovf:value="${x(p.value ?? '')}">\n` +
        `        <Label>${x(p.label)}</Label>\n        <Description>${x(p.description)}</Description>\n      </Property>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="${ns.ovf}" xmlns:ovf="${ns.ovf}" xmlns:rasd="${ns.rasd}" xmlns:vssd="${ns.vssd}" xmlns:vmw="${ns.vmw}" xmlns:xsi="${ns.xsi}">
  <References>
    <File ovf:href="${x(s.disk.href)}" ovf:id="file1" ovf:size="${s.disk.fileBytes}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="${s.disk.capacityBytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="${streamOptimizedFormat}"${s.disk.populatedBytes === undefined ? '' : ` ovf:populatedSize="${s.disk.populatedBytes}"`}/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="${x(s.network.name)}">
      <Description>${x(s.network.description)}</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${x(s.name)}">
    <Info>A virtual machine</Info>
    <Name>${x(s.name)}</Name>
    <AnnotationSection>
      <Info>A human-readable annotation</Info>
      <Annotation>${x(s.annotation)}</Annotation>
    </AnnotationSection>
    <OperatingSystemSection ovf:id="${s.guest.cimOsId}" vmw:osType="${x(s.guest.vmwOsType)}">
      <Info>The kind of installed guest operating system</Info>
      <Description>${x(s.guest.description)}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${x(s.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>${x(s.hardware)}</vssd:VirtualSystemType>
      </System>
${itemXml}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
      <vmw:Config ovf:required="false" vmw:key="tools.syncTimeWithHost" vmw:value="false"/>
    </VirtualHardwareSection>
    <ProductSection ovf:required="false">
      <Info>Information about the installed software</Info>
      <Product>${x(s.product.name)}</Product>
      <Vendor>${x(s.product.vendor)}</Vendor>
      <Version>${x(s.product.version)}</Version>
      <FullVersion>${x(s.product.fullVersion)}</FullVersion>
${s.product.productUrl ? `      <ProductUrl>${x(s.product.productUrl)}</ProductUrl>\n` : ''}      <Category>Network settings (leave empty for DHCP)</Category>
${props}
    </ProductSection>
  </VirtualSystem>
</Envelope>
`;
}

/** What a descriptor says, as the checker reads it back. */
export interface OvfSummary {
  name: string;
  files: Array<{ id: string; href: string; size?: number }>;
  disks: Array<{ id: string; fileRef?: string; capacityBytes: number; format?: string }>;
  networks: string[];
  cpus?: number;
  memoryMb?: number;
  nics: Array<{ connection: string; type?: string }>;
  properties: Array<{ key: string; value: string; label?: string }>;
  product?: { name?: string; version?: string };
  transport?: string;
}

const units: Record<string, number> = {
  byte: 1,
  'byte * 2^10': 1024,
  'byte * 2^20': 1024 ** 2,
  'byte * 2^30': 1024 ** 3,
};

/** Parses `xml` and checks its internal references; returns what it found and every problem (empty when valid). */
export function checkOvf(xml: string): { summary?: OvfSummary; problems: string[] } {
  const problems: string[] = [];
  let env: XmlElement;
  try {
    env = parseXml(xml);
  } catch (e) {
    return { problems: [`descriptor does not parse: ${e instanceof XmlError ? e.message : String(e)}`] };
  }
  const o = ns.ovf;
  if (env.ns !== o || env.local !== 'Envelope')
    return { problems: [`root element is {${env.ns}}${env.local}, not the OVF 1.x Envelope`] };
  const refs = find(env, o, 'References');
  const files = refs
    ? findAll(refs, o, 'File').map((f) => {
        const size = attr(f, o, 'size');
        return {
          id: attr(f, o, 'id') ?? '',
          href: attr(f, o, 'href') ?? '',
          ...(size === undefined ? {} : { size: Number(size) }),
        };
      })
    : [];
  if (!refs) problems.push('no References section');
  for (const f of files) {
    if (!f.id || !f.href) problems.push(`File at line ${refs!.line} lacks ovf:id or ovf:href`);
    if (f.href.includes('/') || f.href.includes('\\') || f.href.startsWith('.'))
      problems.push(`File ${f.id}: href "${f.href}" is not a plain file name`);
    if (f.size !== undefined && !(Number.isSafeInteger(f.size) && f.size >= 0))
      problems.push(`File ${f.id}: bad ovf:size`);
  }
  const ids = new Set(files.map((f) => f.id));
  if (ids.size !== files.length) problems.push('duplicate File ids');
  const diskSection = find(env, o, 'DiskSection');
  const disks = (diskSection ? findAll(diskSection, o, 'Disk') : []).map((d) => {
    const cap = Number(attr(d, o, 'capacity'));
    const unit = attr(d, o, 'capacityAllocationUnits') ?? 'byte';
    const mult = units[unit.replace(/\s+/g, ' ')];
    if (!Number.isFinite(cap) || cap <= 0) problems.push(`Disk ${attr(d, o, 'diskId')}: bad ovf:capacity`);
    if (mult === undefined) problems.push(`Disk ${attr(d, o, 'diskId')}: unknown capacityAllocationUnits "${unit}"`);
    const fileRef = attr(d, o, 'fileRef');
    if (fileRef !== undefined && !ids.has(fileRef))
      problems.push(`Disk ${attr(d, o, 'diskId')}: fileRef "${fileRef}" is not in References`);
    const format = attr(d, o, 'format');
    return {
      id: attr(d, o, 'diskId') ?? '',
      capacityBytes: cap * (mult ?? 1),
      ...(fileRef === undefined ? {} : { fileRef }),
      ...(format === undefined ? {} : { format }),
    };
  });
  const netSection = find(env, o, 'NetworkSection');
  const networks = (netSection ? findAll(netSection, o, 'Network') : []).map((n) => attr(n, o, 'name') ?? '');
  const vs = find(env, o, 'VirtualSystem');
  if (!vs) {
    problems.push('no VirtualSystem (a VirtualSystemCollection is not what Glassdome builds)');
    return { problems };
  }
  const hw = find(vs, o, 'VirtualHardwareSection');
  const summary: OvfSummary = {
    name: find(vs, o, 'Name')?.text.trim() ?? attr(vs, o, 'id') ?? '',
    files,
    disks,
    networks,
    nics: [],
    properties: [],
  };
  if (!hw) problems.push('no VirtualHardwareSection');
  else {
    const transport = attr(hw, o, 'transport');
    if (transport !== undefined) summary.transport = transport;
    const instanceIds = new Set<string>();
    const items = findAll(hw, o, 'Item');
    const r = (it: XmlElement, name: string) => find(it, ns.rasd, name)?.text.trim();
    for (const it of items) {
      const id = r(it, 'InstanceID');
      const type = Number(r(it, 'ResourceType'));
      if (!id) problems.push(`Item at line ${it.line} has no InstanceID`);
      else if (instanceIds.has(id)) problems.push(`duplicate Item InstanceID ${id}`);
      else instanceIds.add(id);
      if (type === resourceType.cpu) summary.cpus = Number(r(it, 'VirtualQuantity'));
      if (type === resourceType.memory) {
        const mult = units[(r(it, 'AllocationUnits') ?? 'byte * 2^20').replace(/\s+/g, ' ')] ?? 0;
        summary.memoryMb = (Number(r(it, 'VirtualQuantity')) * mult) / 1024 ** 2;
      }
      if (type === resourceType.ethernet) {
        const connection = r(it, 'Connection') ?? '';
        const sub = r(it, 'ResourceSubType');
        summary.nics.push({ connection, ...(sub === undefined ? {} : { type: sub }) });
        if (!networks.includes(connection))
          problems.push(`network adapter ${id}: Connection "${connection}" is not in NetworkSection`);
      }
      if (type === resourceType.disk) {
        const host = r(it, 'HostResource') ?? '';
        const m = /^ovf:\/disk\/(.+)$/.exec(host);
        if (!m || !disks.some((d) => d.id === m[1]))
          problems.push(`disk item ${id}: HostResource "${host}" names no Disk`);
      }
    }
    for (const it of items) {
      const parent = r(it, 'Parent');
      if (parent !== undefined && !instanceIds.has(parent))
        problems.push(`Item ${r(it, 'InstanceID')}: Parent ${parent} is no Item`);
    }
    if (!summary.cpus || summary.cpus < 1) problems.push('no CPU item');
    if (!summary.memoryMb || summary.memoryMb < 1) problems.push('no memory item');
  }
  const product = find(vs, o, 'ProductSection');
  if (product) {
    const pname = find(product, o, 'Product')?.text.trim();
    const pversion = find(product, o, 'Version')?.text.trim();
    summary.product = {
      ...(pname === undefined ? {} : { name: pname }),
      ...(pversion === undefined ? {} : { version: pversion }),
    };
    const keys = new Set<string>();
    for (const p of findAll(product, o, 'Property')) {
      const key = attr(p, o, 'key') ?? '';
      if (!key) problems.push(`Property at line ${p.line} has no ovf:key`);
      if (keys.has(key)) problems.push(`duplicate Property ${key}`);
      keys.add(key);
      const label = find(p, o, 'Label')?.text.trim();
      summary.properties.push({ key, value: attr(p, o, 'value') ?? '', ...(label === undefined ? {} : { label }) });
    }
  }
  if (disks.length === 0) problems.push('no Disk in DiskSection');
  return { summary, problems };
}
