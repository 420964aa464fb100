// IPv4 address arithmetic for VPCs and security groups: CIDRs as integer intervals and back, and the CIDR blocks a
// lab instance's VPC gets so that every one of its networks fits (EC2 takes blocks from /16 to /28, five per VPC).
export type Interval = [number, number];

const max = 0xffffffff;

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return undefined;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A CIDR (or a bare address, as /32) as its first and last address; host bits are ignored. */
export function cidrInterval(cidr: string): Interval {
  const [ip, bits] = cidr.split('/');
  const prefix = bits === undefined ? 32 : Number(bits);
  const addr = ipToInt(ip ?? '');
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    throw new Error(`"${cidr}" is not an IPv4 CIDR`);
  const size = 2 ** (32 - prefix);
  const lo = Math.floor(addr / size) * size;
  return [lo, lo + size - 1];
}

export function prefixOf(cidr: string): number {
  return Number(cidr.split('/')[1] ?? 32);
}

/** The fewest CIDRs that cover exactly the interval. */
export function intervalCidrs([lo, hi]: Interval): string[] {
  const out: string[] = [];
  let at = lo;
  while (at <= hi) {
    let size = at === 0 ? 2 ** 32 : 2 ** Math.min(32, ctz(at));
    while (at + size - 1 > hi) size /= 2;
    out.push(`${intToIp(at)}/${32 - Math.log2(size)}`);
    at += size;
    if (at > max) break;
  }
  return out;
}

function ctz(n: number): number {
  let c = 0;
  while (c < 32 && n % 2 === 0) {
    n /= 2;
    c++;
  }
  return c;
}

/** The smallest CIDR that covers every interval. */
export function coveringCidr(intervals: Interval[]): string {
  const lo = Math.min(...intervals.map((i) => i[0]));
  const hi = Math.max(...intervals.map((i) => i[1]));
  let prefix = 32;
  while (prefix > 0 && Math.floor(lo / 2 ** (32 - prefix)) !== Math.floor(hi / 2 ** (32 - prefix))) prefix--;
  const size = 2 ** (32 - prefix);
  return `${intToIp(Math.floor(lo / size) * size)}/${prefix}`;
}

export function containsInterval(outer: Interval, inner: Interval): boolean {
  return outer[0] <= inner[0] && inner[1] <= outer[1];
}

/** The blocks EC2 allows per VPC without a quota increase. */
export const maxVpcBlocks = 5;

/**
 * The CIDR blocks of a lab instance's VPC: one block covering every network when that block is /16 or narrower,
 * else one per /16 that networks fall in (the first is the VPC's primary block). Each network must itself be a valid
 * EC2 subnet, /16 to /28.
 */
export function vpcBlocks(cidrs: string[]): { blocks: string[] } | { error: string } {
  for (const c of cidrs) {
    const p = prefixOf(c);
    if (p < 16 || p > 28) return { error: `network ${c} is /${p}; EC2 subnets are /16 to /28` };
  }
  const all = cidrs.map(cidrInterval);
  const one = coveringCidr(all);
  if (prefixOf(one) >= 16) return { blocks: [one] };
  const groups = new Map<number, Interval[]>();
  for (const i of all) groups.set(Math.floor(i[0] / 65536), [...(groups.get(Math.floor(i[0] / 65536)) ?? []), i]);
  const blocks = [...groups.values()].map((g) => coveringCidr(g));
  if (blocks.length > maxVpcBlocks)
    return {
      error: `the networks span ${blocks.length} different /16 blocks; a VPC holds ${maxVpcBlocks} without a quota increase`,
    };
  return { blocks };
}
