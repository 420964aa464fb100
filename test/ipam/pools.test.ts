import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../server/db/client.ts';
import { createIpam } from '../../server/ipam/pools.ts';
import { systemActor } from '../../server/model/audit.ts';

const fresh = () => {
  const ipam = createIpam(openDb(':memory:'), { record() {} });
  ipam.addCidrPool(systemActor, '10.50.0.0/22', 24);
  ipam.addVlanPool(systemActor, 100, 103);
  return ipam;
};

describe('address and VLAN pools', () => {
  it('gives each deployment its own subnets and VLANs, and the same ones when asked again', () => {
    const ipam = fresh();
    const a = ipam.allocate({ deploymentId: 'a', subnets: ['lan', 'dmz'], vlans: ['1/lan', '1/dmz'] });
    expect(a).toEqual({ subnets: { lan: '10.50.0.0/24', dmz: '10.50.1.0/24' }, vlans: { '1/lan': 100, '1/dmz': 101 } });
    expect(ipam.allocate({ deploymentId: 'a', subnets: ['lan', 'dmz'], vlans: ['1/lan', '1/dmz'] })).toEqual(a);
    const b = ipam.allocate({ deploymentId: 'b', subnets: ['lan'], vlans: ['1/lan'] });
    expect(b).toEqual({ subnets: { lan: '10.50.2.0/24' }, vlans: { '1/lan': 102 } });
  });

  it('skips subnets that overlap what the scenario uses itself', () => {
    const ipam = fresh();
    expect(ipam.allocate({ deploymentId: 'a', subnets: ['lan'], vlans: [], avoid: ['10.50.0.0/23'] }).subnets).toEqual({
      lan: '10.50.2.0/24',
    });
  });

  it('fails whole when a pool runs out, naming the network, and allocates nothing', () => {
    const ipam = fresh();
    expect(() => ipam.allocate({ deploymentId: 'a', subnets: [], vlans: ['1/a', '1/b', '1/c', '1/d', '1/e'] })).toThrow(
      /Unable to allocate a VLAN for "1\/e": every VLAN pool is full/,
    );
    expect(ipam.forDeployment('a')).toEqual({ subnets: {}, vlans: {} });
    expect(() => ipam.allocate({ deploymentId: 'b', subnets: ['a', 'b', 'c', 'd', 'e'], vlans: [] })).toThrow(
      /subnet for network "e": every address pool is full/,
    );
    expect(ipam.forDeployment('b')).toEqual({ subnets: {}, vlans: {} });
  });

  it('reserves a fixed VLAN and refuses it to a second deployment', () => {
    const ipam = fresh();
    ipam.allocate({ deploymentId: 'a', subnets: [], vlans: [], fixedVlans: [{ vlan: 42, label: '1/lan' }] });
    expect(() =>
      ipam.allocate({ deploymentId: 'b', subnets: [], vlans: [], fixedVlans: [{ vlan: 42, label: '1/lan' }] }),
    ).toThrow(/Unable to reserve VLAN 42 for network "1\/lan": another deployment uses it/);
  });

  it('returns released subnets and VLANs to the pool', () => {
    const ipam = fresh();
    ipam.allocate({ deploymentId: 'a', subnets: ['lan'], vlans: ['1/lan'] });
    ipam.release('a');
    ipam.release('a');
    expect(ipam.allocate({ deploymentId: 'b', subnets: ['lan'], vlans: ['1/lan'] })).toEqual({
      subnets: { lan: '10.50.0.0/24' },
      vlans: { '1/lan': 100 },
    });
  });

  it('rejects pools that overlap, are malformed or out of range, naming the field', () => {
    const ipam = fresh();
    expect(() => ipam.addCidrPool(systemActor, '10.50.2.0/24')).toThrow(/overlaps pool 10.50.0.0\/22/);
    expect(() => ipam.addCidrPool(systemActor, '10.60.0.1/16')).toThrow(/host bits set/);
    expect(() => ipam.addVlanPool(systemActor, 4000, 4095)).toThrow(/1 <= first <= last <= 4094/);
    expect(() => ipam.addVlanPool(systemActor, 103, 110)).toThrow(/overlaps pool 100-103/);
  });

  it('never hands the same subnet or VLAN to deployments allocating at once from several processes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-ipam-'));
    const file = path.join(dir, 'db.sqlite');
    const ipam = createIpam(openDb(file), { record() {} });
    ipam.addCidrPool(systemActor, '10.60.0.0/16', 24);
    ipam.addVlanPool(systemActor, 1000, 1999);
    const script = `
      import { openDb } from ${JSON.stringify(path.resolve('server/db/client.ts'))};
      import { createIpam } from ${JSON.stringify(path.resolve('server/ipam/pools.ts'))};
      const ipam = createIpam(openDb(process.argv[1]));
      const worker = process.argv[2];
      for (let i = 0; i < 25; i++) ipam.allocate({ deploymentId: worker + '-' + i, subnets: ['lan', 'dmz'], vlans: ['1/lan', '1/dmz', '2/lan', '2/dmz'] });
    `;
    const workers = ['w1', 'w2', 'w3', 'w4'].map(
      (w) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file, w], {
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          child.on('exit', resolve);
        }),
    );
    expect(await Promise.all(workers)).toEqual([0, 0, 0, 0]);
    const db = openDb(file).$client;
    const subnets = db.prepare('SELECT cidr FROM subnet_allocations').all() as Array<{ cidr: string }>;
    const vlans = db.prepare('SELECT vlan FROM vlan_allocations').all() as Array<{ vlan: number }>;
    expect(subnets).toHaveLength(4 * 25 * 2);
    expect(new Set(subnets.map((s) => s.cidr)).size).toBe(subnets.length);
    expect(vlans).toHaveLength(4 * 25 * 4);
    expect(new Set(vlans.map((v) => v.vlan)).size).toBe(vlans.length);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
