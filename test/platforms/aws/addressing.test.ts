import { describe, expect, it } from 'vitest';
import { cidrInterval, coveringCidr, intervalCidrs, vpcBlocks } from '../../../server/platforms/aws/addressing.ts';

describe('VPC address blocks', () => {
  it('covers the networks of an instance with one block when it can', () => {
    expect(vpcBlocks(['10.30.1.0/24', '10.30.2.0/24', '10.30.66.0/24'])).toEqual({ blocks: ['10.30.0.0/17'] });
    expect(vpcBlocks(['10.77.0.0/24'])).toEqual({ blocks: ['10.77.0.0/24'] });
  });

  it('takes one block per /16 when a single block would be wider than EC2 allows', () => {
    expect(vpcBlocks(['10.30.1.0/24', '10.31.0.0/24', '10.31.9.0/24'])).toEqual({
      blocks: ['10.30.1.0/24', '10.31.0.0/20'],
    });
    expect(
      vpcBlocks(['10.1.0.0/24', '10.2.0.0/24', '10.3.0.0/24', '10.4.0.0/24', '10.5.0.0/24', '10.6.0.0/24']),
    ).toEqual({ error: expect.stringMatching(/6 different \/16 blocks/) });
  });

  it('refuses networks EC2 cannot make subnets of', () => {
    expect(vpcBlocks(['10.30.1.0/29'])).toEqual({ error: 'network 10.30.1.0/29 is /29; EC2 subnets are /16 to /28' });
    expect(vpcBlocks(['10.0.0.0/15'])).toEqual({ error: expect.stringMatching(/is \/15/) });
  });

  it('turns intervals into the fewest CIDRs and back', () => {
    expect(intervalCidrs(cidrInterval('10.30.1.20/31'))).toEqual(['10.30.1.20/31']);
    expect(intervalCidrs([cidrInterval('10.0.0.1')[0], cidrInterval('10.0.0.6')[0]])).toEqual([
      '10.0.0.1/32',
      '10.0.0.2/31',
      '10.0.0.4/31',
      '10.0.0.6/32',
    ]);
    expect(intervalCidrs([0, 0xffffffff])).toEqual(['0.0.0.0/0']);
    expect(coveringCidr([cidrInterval('192.168.1.0/24'), cidrInterval('192.168.2.0/24')])).toBe('192.168.0.0/22');
  });
});
