// IPv4 subnet arithmetic over ipaddr.js: parse, containment, overlap, the n-th host.
// Addresses are handled as 32-bit unsigned integers so subnets can be walked and compared cheaply.
import ipaddr from 'ipaddr.js';

export interface Subnet {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
  /** Canonical text, e.g. 10.0.1.0/24. */
  cidr: string;
}

export function ipToInt(ip: string): number | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return undefined;
  const b = ipaddr.IPv4.parse(ip).octets;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv4 CIDR; a CIDR with host bits set (10.0.1.5/24) is rejected, since it is almost always a typo. */
export function parseSubnet(text: string): Subnet | { error: string } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text.trim());
  if (!m) return { error: `"${text}" is not an IPv4 CIDR such as 10.0.1.0/24` };
  const addr = ipToInt(m[1]!);
  const prefix = Number(m[2]);
  if (addr === undefined || prefix > 32) return { error: `"${text}" is not an IPv4 CIDR such as 10.0.1.0/24` };
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (addr & mask) >>> 0;
  if (base !== addr) return { error: `"${text}" has host bits set; the network is ${intToIp(base)}/${prefix}` };
  return { base, prefix, cidr: `${intToIp(base)}/${prefix}` };
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function lastAddress(s: Subnet): number {
  return s.base + subnetSize(s) - 1;
}

export function containsIp(s: Subnet, ip: number): boolean {
  return ip >= s.base && ip <= lastAddress(s);
}

/** A usable host address: inside the subnet and neither its network nor its broadcast address (for /30 and wider). */
export function isUsableHost(s: Subnet, ip: number): boolean {
  if (!containsIp(s, ip)) return false;
  if (s.prefix >= 31) return true;
  return ip !== s.base && ip !== lastAddress(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/** The n-th usable host (1 = first), or undefined when the subnet is too small. */
export function nthHost(s: Subnet, n: number): number | undefined {
  const offset = s.prefix >= 31 ? n - 1 : n;
  const ip = s.base + offset;
  return isUsableHost(s, ip) ? ip : undefined;
}

export function netmask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}
