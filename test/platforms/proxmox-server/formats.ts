// Checks for the registered PVE string formats and property strings that a lab driver touches
// (pve-common JSONSchema.pm and qemu-server's own formats). Unknown formats accept any string, as relevant.md allows.
import { isIP } from 'node:net';

/** A property-string sub-key schema: the `format` object of a parameter. */
export interface SubSchema {
  type?: string;
  enum?: string[] | null;
  optional?: number;
  default_key?: number;
  alias?: string;
  keyAlias?: string;
  format?: string | Record<string, SubSchema>;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minLength?: number;
}

const configId = /^[a-z][a-z0-9_-]+$/i;
const dnsLabel = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const dnsName = new RegExp(`^${dnsLabel}(?:\\.${dnsLabel})*$`);
const storageId = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;

function cidr(value: string, family: 4 | 6): boolean {
  const [ip, len, extra] = value.split('/');
  if (extra !== undefined || ip === undefined || len === undefined || !/^\d+$/.test(len)) return false;
  return isIP(ip) === family && Number(len) <= (family === 4 ? 32 : 128);
}

/** Splits a comma-separated property string, honouring double-quoted values. */
export function splitPropertyString(value: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/** `ip=dhcp,gw=...`: qemu-server's pve-qm-ipconfig. Returns an error message or undefined. */
function checkIpconfig(value: string): string | undefined {
  for (const part of splitPropertyString(value)) {
    const eq = part.indexOf('=');
    if (eq < 0) return `invalid key in comma-separated list property: ${part}`;
    const k = part.slice(0, eq);
    const v = part.slice(eq + 1);
    if (k === 'ip' && v !== 'dhcp' && !cidr(v, 4))
      return 'format error\nip: invalid format - value does not look like a valid IPv4 network configuration';
    else if (k === 'ip6' && v !== 'dhcp' && v !== 'auto' && !cidr(v, 6))
      return 'format error\nip6: invalid format - value does not look like a valid IPv6 network configuration';
    else if (k === 'gw' && isIP(v) !== 4)
      return `format error\ngw: invalid format - value does not look like a valid IPv4 address`;
    else if (k === 'gw6' && isIP(v) !== 6)
      return `format error\ngw6: invalid format - value does not look like a valid IPv6 address`;
    else if (!['ip', 'ip6', 'gw', 'gw6'].includes(k)) return `invalid key in comma-separated list property: ${k}`;
  }
  return undefined;
}

function list(value: string): string[] {
  return value.split(/[,;\s]+/).filter((x) => x.length > 0);
}

/** Returns the error text (without the `invalid format - ` prefix) or undefined when the value fits the format. */
export function checkStringFormat(format: string, value: string): string | undefined {
  switch (format) {
    case 'pve-vmid':
      return /^[1-9][0-9]{2,8}$/.test(value) ? undefined : 'value does not look like a valid VM ID';
    case 'pve-node':
      return /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(value)
        ? undefined
        : 'value does not look like a valid node name';
    case 'pve-storage-id':
      return storageId.test(value) ? undefined : `storage ID '${value}' contains illegal characters`;
    case 'pve-configid':
      return configId.test(value) ? undefined : `invalid configuration ID '${value}'`;
    case 'pve-configid-list': {
      const bad = list(value).find((x) => !configId.test(x));
      return bad === undefined ? undefined : `invalid configuration ID '${bad}'`;
    }
    case 'dns-name':
      return dnsName.test(value) ? undefined : 'value does not look like a valid DNS name';
    case 'urlencoded':
      // pve-common: only unreserved characters and %XX escapes; a raw key (space, '+', '/') fails here.
      return /^[-%a-zA-Z0-9_.!~*'()]*$/.test(value) ? undefined : `invalid urlencoded string: ${value}`;
    case 'pve-tag-list': {
      const bad = list(value).find((x) => !/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(x));
      return bad === undefined ? undefined : `invalid tag '${bad}'`;
    }
    case 'mac-addr':
      if (!/^[a-f0-9]{2}(?::[a-f0-9]{2}){5}$/i.test(value)) return 'value does not look like a valid MAC address';
      return (parseInt(value.slice(0, 2), 16) & 1) === 0
        ? undefined
        : 'value does not look like a valid unicast MAC address';
    case 'pve-bridge-id':
      return /^[-_.\w\d]+$/.test(value) ? undefined : 'invalid bridge ID';
    case 'pve-poolid':
      return /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+){0,2}$/.test(value) ? undefined : `invalid pool ID '${value}'`;
    case 'pve-userid':
      return /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$/.test(value)
        ? undefined
        : `value '${value}' does not look like a valid user name`;
    case 'pve-iface':
      return /^[a-zA-Z][a-zA-Z0-9_.-]*[a-zA-Z0-9]$/.test(value)
        ? undefined
        : `invalid network interface name '${value}'`;
    case 'pve-sdn-zone-id':
    case 'pve-sdn-vnet-id':
      return /^[a-z][a-z0-9]*[a-z0-9]$/i.test(value) && value.length <= 8
        ? undefined
        : `${format.endsWith('zone-id') ? 'zone' : 'vnet'} ID '${value}' contains illegal characters`;
    case 'ipv4':
    case 'ipv4mask':
      return isIP(value) === 4 ? undefined : 'value does not look like a valid IPv4 address';
    case 'ipv6':
      return isIP(value) === 6 ? undefined : 'value does not look like a valid IPv6 address';
    case 'ip':
    case 'address':
      return isIP(value) !== 0 ? undefined : 'value does not look like a valid IP address';
    case 'CIDRv4':
      return cidr(value, 4) ? undefined : 'value does not look like a valid IPv4 CIDR network';
    case 'CIDRv6':
      return cidr(value, 6) ? undefined : 'value does not look like a valid IPv6 CIDR network';
    case 'CIDR':
      return cidr(value, 4) || cidr(value, 6) ? undefined : 'value does not look like a valid CIDR network';
    case 'address-list':
    case 'ip-list': {
      const bad = list(value).find((x) => isIP(x) === 0);
      return bad === undefined ? undefined : `value '${bad}' does not look like a valid IP address`;
    }
    case 'pve-qm-ipconfig':
      return checkIpconfig(value);
    case 'disk-size':
      return /^\d+(\.\d+)?[KMGT]?$/.test(value) ? undefined : `unable to parse size '${value}'`;
    case 'pve-volume-id-or-qm-path':
    case 'pve-volume-id-or-absolute-path':
      // `storage:volname`, `storage:size` (allocation), an absolute path, or the special `none`/`cdrom`.
      return /^(?:none|cdrom|\/.+|[a-z][a-z0-9\-_.]*[a-z0-9]:.+)$/i.test(value)
        ? undefined
        : `unable to parse volume ID '${value}'`;
    case 'pve-volume-id':
      return /^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$/i.test(value) ? undefined : `unable to parse volume ID '${value}'`;
    default:
      return undefined;
  }
}

/** Perl `(?^:...)` / `(?^i:...)` into a JS RegExp anchored like JSONSchema.pm's `m/^$pattern$/`. */
export function perlPattern(pattern: string): RegExp | undefined {
  const insensitive = pattern.includes('(?^i:');
  const js = pattern.replaceAll('(?^i:', '(?:').replaceAll('(?^:', '(?:').replaceAll('\\A', '^').replaceAll('\\z', '$');
  try {
    return new RegExp(`^(?:${js})$`, insensitive ? 'i' : '');
  } catch {
    return undefined;
  }
}

/**
 * Parses a property string against its format object (JSONSchema.pm parse_property_string): the default key
 * may be written bare, `keyAlias` keys (`virtio=MAC`) set two keys, unknown and duplicate keys are errors.
 */
export function parsePropertyString(
  format: Record<string, SubSchema>,
  value: string,
): { values: Record<string, string>; error?: string } {
  const values: Record<string, string> = {};
  const defaultKey = Object.entries(format).find(([, s]) => s.default_key)?.[0];
  for (const part of splitPropertyString(value)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key = eq < 0 ? undefined : part.slice(0, eq);
    const v = eq < 0 ? part : part.slice(eq + 1);
    if (key === undefined) {
      if (defaultKey === undefined)
        return { values, error: `value without key, but schema does not define a default key` };
      key = defaultKey;
    }
    const sub = format[key];
    if (sub === undefined) return { values, error: `invalid key in comma-separated list property: ${key}` };
    if (sub.keyAlias !== undefined && sub.alias !== undefined) {
      if (values[sub.keyAlias] !== undefined)
        return { values, error: `duplicate key in comma-separated list property: ${sub.keyAlias}` };
      values[sub.keyAlias] = key;
      values[sub.alias] = v;
      continue;
    }
    const target = sub.alias ?? key;
    if (values[target] !== undefined)
      return { values, error: `duplicate key in comma-separated list property: ${target}` };
    values[target] = v;
  }
  return { values };
}

/** Formats a property string back with the default key first and bare, like PVE's canonical read-back. */
export function printPropertyString(values: Record<string, string>, first?: string): string {
  const keys = Object.keys(values);
  const ordered = first !== undefined && keys.includes(first) ? [first, ...keys.filter((k) => k !== first)] : keys;
  return ordered.map((k) => (k === first ? values[k] : `${k}=${values[k]}`)).join(',');
}
