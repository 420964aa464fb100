import { describe, expect, it } from 'vitest';
import {
  containsIp,
  intToIp,
  ipToInt,
  isUsableHost,
  lastAddress,
  netmask,
  nthHost,
  overlaps,
  parseSubnet,
  subnetSize,
  type Subnet,
} from '../../server/ipam/cidr.ts';

function subnet(text: string): Subnet {
  const s = parseSubnet(text);
  if ('error' in s) throw new Error(s.error);
  return s;
}
const ip = (text: string) => {
  const n = ipToInt(text);
  if (n === undefined) throw new Error(`not an address: ${text}`);
  return n;
};
const host = (s: Subnet, n: number) => {
  const h = nthHost(s, n);
  return h === undefined ? undefined : intToIp(h);
};

describe('ipToInt and intToIp', () => {
  it('convert both ways as unsigned 32-bit integers, including the top of the range', () => {
    expect(ipToInt('0.0.0.0')).toBe(0);
    expect(ipToInt('10.0.1.2')).toBe(10 * 2 ** 24 + 1 * 2 ** 8 + 2);
    expect(ipToInt('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(ipToInt('128.0.0.1')).toBe(2 ** 31 + 1);
    for (const text of ['0.0.0.0', '10.0.1.2', '128.0.0.1', '192.168.255.254', '255.255.255.255'])
      expect(intToIp(ip(text))).toBe(text);
  });

  it.each(['10.0.1', '10.0.1.2.3', '256.0.0.1', '010.0.0.1', ' 10.0.0.1', '10.0.0.1/24', 'localhost', ''])(
    'rejects %j',
    (text) => {
      expect(ipToInt(text)).toBeUndefined();
    },
  );
});

describe('parseSubnet', () => {
  it('parses a CIDR to its base, prefix and canonical text', () => {
    expect(parseSubnet('10.0.1.0/24')).toEqual({ base: ip('10.0.1.0'), prefix: 24, cidr: '10.0.1.0/24' });
    expect(parseSubnet(' 172.16.0.0/12 ')).toEqual({ base: ip('172.16.0.0'), prefix: 12, cidr: '172.16.0.0/12' });
    expect(parseSubnet('0.0.0.0/0')).toEqual({ base: 0, prefix: 0, cidr: '0.0.0.0/0' });
    expect(parseSubnet('255.255.255.255/32')).toEqual({ base: 2 ** 32 - 1, prefix: 32, cidr: '255.255.255.255/32' });
  });

  it('rejects host bits set, naming the network that was probably meant', () => {
    expect(parseSubnet('10.0.1.5/24')).toEqual({
      error: '"10.0.1.5/24" has host bits set; the network is 10.0.1.0/24',
    });
    expect(parseSubnet('10.0.1.7/31')).toEqual({
      error: '"10.0.1.7/31" has host bits set; the network is 10.0.1.6/31',
    });
    expect(parseSubnet('192.168.1.0/16')).toEqual({
      error: '"192.168.1.0/16" has host bits set; the network is 192.168.0.0/16',
    });
  });

  it.each(['10.0.1.0', '10.0.1.0/33', '10.0.1/24', '300.0.0.0/8', '10.0.1.0/-1', 'ten/8', ''])(
    'rejects %j as not a CIDR',
    (text) => {
      expect(parseSubnet(text)).toEqual({ error: `"${text}" is not an IPv4 CIDR such as 10.0.1.0/24` });
    },
  );
});

describe('subnet size, last address and containment', () => {
  it('measures subnets from /0 to /32', () => {
    expect(subnetSize(subnet('0.0.0.0/0'))).toBe(2 ** 32);
    expect(subnetSize(subnet('10.0.0.0/24'))).toBe(256);
    expect(subnetSize(subnet('10.0.0.6/31'))).toBe(2);
    expect(subnetSize(subnet('10.0.0.7/32'))).toBe(1);
    expect(intToIp(lastAddress(subnet('10.0.0.0/24')))).toBe('10.0.0.255');
    expect(intToIp(lastAddress(subnet('255.255.255.0/24')))).toBe('255.255.255.255');
    expect(intToIp(lastAddress(subnet('0.0.0.0/0')))).toBe('255.255.255.255');
    expect(lastAddress(subnet('10.0.0.7/32'))).toBe(ip('10.0.0.7'));
  });

  it('contains exactly the addresses from base to last', () => {
    const s = subnet('10.0.1.0/24');
    expect(containsIp(s, ip('10.0.0.255'))).toBe(false);
    expect(containsIp(s, ip('10.0.1.0'))).toBe(true);
    expect(containsIp(s, ip('10.0.1.255'))).toBe(true);
    expect(containsIp(s, ip('10.0.2.0'))).toBe(false);
  });
});

describe('isUsableHost', () => {
  it('excludes the network and broadcast addresses of /30 and wider', () => {
    const s = subnet('10.0.1.0/30');
    expect([0, 1, 2, 3].map((o) => isUsableHost(s, s.base + o))).toEqual([false, true, true, false]);
    const wide = subnet('10.0.0.0/8');
    expect(isUsableHost(wide, ip('10.0.0.0'))).toBe(false);
    expect(isUsableHost(wide, ip('10.255.255.255'))).toBe(false);
    expect(isUsableHost(wide, ip('10.128.0.0'))).toBe(true);
  });

  it('counts both addresses of a /31 (point-to-point) and the one address of a /32 as usable', () => {
    const p2p = subnet('10.0.1.6/31');
    expect([ip('10.0.1.5'), ip('10.0.1.6'), ip('10.0.1.7'), ip('10.0.1.8')].map((a) => isUsableHost(p2p, a))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    const single = subnet('10.0.1.7/32');
    expect([ip('10.0.1.6'), ip('10.0.1.7'), ip('10.0.1.8')].map((a) => isUsableHost(single, a))).toEqual([
      false,
      true,
      false,
    ]);
  });
});

describe('overlaps', () => {
  it.each([
    ['10.0.0.0/24', '10.0.0.0/24', true],
    ['10.0.0.0/16', '10.0.5.0/24', true],
    ['10.0.5.0/24', '10.0.0.0/16', true],
    ['10.0.0.0/25', '10.0.0.128/25', false],
    ['10.0.0.0/24', '10.0.1.0/24', false],
    ['10.0.0.255/32', '10.0.0.0/24', true],
    ['10.0.1.0/32', '10.0.0.0/24', false],
    ['0.0.0.0/0', '192.168.1.0/24', true],
    ['255.255.255.254/31', '255.255.255.255/32', true],
  ] as const)('%s and %s overlap: %s', (a, b, expected) => {
    expect(overlaps(subnet(a), subnet(b))).toBe(expected);
    expect(overlaps(subnet(b), subnet(a))).toBe(expected);
  });
});

describe('nthHost', () => {
  it('counts usable hosts from 1, skipping the network address, up to the last before broadcast', () => {
    const s = subnet('10.0.1.0/24');
    expect([host(s, 1), host(s, 10), host(s, 254)]).toEqual(['10.0.1.1', '10.0.1.10', '10.0.1.254']);
    expect([host(s, 0), host(s, 255), host(s, -1)]).toEqual([undefined, undefined, undefined]);
  });

  it('gives a /30 two hosts', () => {
    const s = subnet('10.0.1.4/30');
    expect([host(s, 1), host(s, 2), host(s, 3)]).toEqual(['10.0.1.5', '10.0.1.6', undefined]);
  });

  it('gives a /31 both of its addresses and a /32 its only one', () => {
    const p2p = subnet('10.0.1.6/31');
    expect([host(p2p, 0), host(p2p, 1), host(p2p, 2), host(p2p, 3)]).toEqual([
      undefined,
      '10.0.1.6',
      '10.0.1.7',
      undefined,
    ]);
    const single = subnet('10.0.1.7/32');
    expect([host(single, 0), host(single, 1), host(single, 2)]).toEqual([undefined, '10.0.1.7', undefined]);
  });

  it('works at the top of the address space without wrapping', () => {
    const s = subnet('255.255.255.0/24');
    expect([host(s, 254), host(s, 255)]).toEqual(['255.255.255.254', undefined]);
  });
});

describe('netmask', () => {
  it.each([
    [0, '0.0.0.0'],
    [1, '128.0.0.0'],
    [8, '255.0.0.0'],
    [23, '255.255.254.0'],
    [24, '255.255.255.0'],
    [31, '255.255.255.254'],
    [32, '255.255.255.255'],
  ] as const)('of /%i is %s', (prefix, mask) => {
    expect(netmask(prefix)).toBe(mask);
  });
});
