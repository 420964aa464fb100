// The OVA packaging and its checker on a tiny disk image (the CI-sized stand-in for the full appliance image), and
// vcsim's ImportVApp accepting it through `govc import.ova`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOva, listTar, packageOva, parseManifest, writeTar } from '../../appliance/ova.ts';
import { checkOvf, networkProperties, ovfDescriptor, type OvfSpec } from '../../appliance/ovf.ts';
import { locateVcsim, startVcsim } from '../platforms/vcsim.ts';
import { locateGovc } from './govc.ts';

const run = promisify(execFile);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-ova-'));
const hasQemuImg = fs.existsSync('/usr/bin/qemu-img');
if (!hasQemuImg) console.log('skipped: OVA packaging needs qemu-img (apt-get install -y qemu-utils)');

const spec: OvfSpec = {
  name: 'glassdome',
  product: { name: 'Glassdome', vendor: 'Glassdome', version: '1.2.3', fullVersion: '1.2.3+abc' },
  annotation: 'a & b <c>',
  cpus: 2,
  memoryMb: 4096,
  disk: { href: 'glassdome-disk1.vmdk', fileBytes: 1000, capacityBytes: 64 * 2 ** 20 },
  network: { name: 'VM Network', description: 'lan' },
  hardware: 'vmx-14',
  guest: { cimOsId: 96, vmwOsType: 'debian11_64Guest', description: 'Debian 12' },
  properties: networkProperties,
};

describe('OVF descriptor', () => {
  it('describes two vCPUs, the memory, one disk on a SCSI controller, one vmxnet3 NIC and the network properties', () => {
    const { summary, problems } = checkOvf(ovfDescriptor(spec));
    expect(problems).toEqual([]);
    expect(summary).toMatchObject({
      name: 'glassdome',
      cpus: 2,
      memoryMb: 4096,
      files: [{ id: 'file1', href: 'glassdome-disk1.vmdk', size: 1000 }],
      disks: [{ id: 'vmdisk1', fileRef: 'file1', capacityBytes: 64 * 2 ** 20 }],
      networks: ['VM Network'],
      nics: [{ connection: 'VM Network', type: 'VmxNet3' }],
      product: { name: 'Glassdome', version: '1.2.3' },
      transport: 'com.vmware.guestInfo',
    });
    expect(summary!.properties.map((p) => p.key)).toEqual(['hostname', 'ip', 'netmask', 'gateway', 'dns']);
    expect(summary!.properties.every((p) => p.value === '')).toBe(true);
  });

  it('keeps rasd elements in alphabetical order and escapes text', () => {
    const xml = ovfDescriptor(spec);
    expect(xml).toContain('<Annotation>a &amp; b &lt;c&gt;</Annotation>');
    for (const it of xml.split('<Item>').slice(1)) {
      const names = [...it.matchAll(/<rasd:(\w+)>/g)].map((m) => m[1]!);
      expect(names).toEqual([...names].sort());
    }
  });

  it('reports a NIC on an undeclared network, a disk naming no file and a malformed document', () => {
    const wrongNet = ovfDescriptor(spec).replace(
      '<rasd:Connection>VM Network</rasd:Connection>',
      '<rasd:Connection>Lab</rasd:Connection>',
    );
    expect(checkOvf(wrongNet).problems).toEqual(['network adapter 5: Connection "Lab" is not in NetworkSection']);
    const wrongRef = ovfDescriptor(spec).replace('ovf:fileRef="file1"', 'ovf:fileRef="file9"');
    expect(checkOvf(wrongRef).problems).toEqual(['Disk vmdisk1: fileRef "file9" is not in References']);
    const broken = ovfDescriptor(spec).replace('</DiskSection>', '');
    expect(checkOvf(broken).problems[0]).toMatch(
      /^descriptor does not parse: line \d+: <\/Envelope> does not close <DiskSection>/,
    );
  });
});

describe.skipIf(!hasQemuImg)('OVA packaging', () => {
  let ova = '';
  beforeAll(async () => {
    const disk = path.join(work, 'tiny.raw');
    fs.writeFileSync(disk, Buffer.alloc(0));
    fs.truncateSync(disk, 64 * 2 ** 20);
    const fd = fs.openSync(disk, 'r+');
    fs.writeSync(fd, Buffer.from('glassdome test disk'), 0, 19, 2 ** 20);
    fs.closeSync(fd);
    ova = (
      await packageOva({
        disk,
        out: path.join(work, 'glassdome-test.ova'),
        name: 'glassdome-test',
        version: '0.0.1',
        cpus: 1,
        memoryMb: 512,
      })
    ).ova;
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('writes the descriptor first, then the manifest, then a streamOptimized disk, and passes the check', async () => {
    expect(listTar(ova).map((e) => e.name)).toEqual([
      'glassdome-test.ovf',
      'glassdome-test.mf',
      'glassdome-test-disk1.vmdk',
    ]);
    // GNU tar reads it back the same way.
    const { stdout } = await run('tar', ['-tf', ova]);
    expect(stdout.trim().split('\n')).toEqual(['glassdome-test.ovf', 'glassdome-test.mf', 'glassdome-test-disk1.vmdk']);
    const r = await checkOva(ova);
    expect(r.problems).toEqual([]);
    expect(r.summary).toMatchObject({ cpus: 1, memoryMb: 512, disks: [{ capacityBytes: 64 * 2 ** 20 }] });
    const { entries } = parseManifest(fs.readFileSync(`${ova}.d/glassdome-test.mf`, 'utf8'));
    expect([...entries.keys()]).toEqual(['glassdome-test.ovf', 'glassdome-test-disk1.vmdk']);
    expect([...entries.values()].every((e) => e.algo === 'sha256' && e.hex.length === 64)).toBe(true);
    const { stdout: info } = await run('qemu-img', ['info', '--output=json', `${ova}.d/glassdome-test-disk1.vmdk`]);
    expect(JSON.parse(info)).toMatchObject({
      format: 'vmdk',
      'virtual-size': 64 * 2 ** 20,
      'format-specific': { data: { 'create-type': 'streamOptimized' } },
    });
  });

  it('names the file whose bytes differ from the manifest', async () => {
    const bad = path.join(work, 'corrupt.ova');
    fs.copyFileSync(ova, bad);
    const disk = listTar(bad).find((e) => e.name.endsWith('.vmdk'))!;
    const fd = fs.openSync(bad, 'r+');
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, disk.offset + disk.size - 10);
    fs.closeSync(fd);
    const r = await checkOva(bad);
    expect(r.ok).toBe(false);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^glassdome-test-disk1\.vmdk: SHA256 [0-9a-f]{64} does not match the manifest/);
  });

  it('refuses an archive whose descriptor is not first, or that lacks a referenced file', async () => {
    const d = `${ova}.d`;
    const reordered = path.join(work, 'reordered.ova');
    await writeTar(reordered, [
      { name: 'glassdome-test.mf', path: path.join(d, 'glassdome-test.mf') },
      { name: 'glassdome-test.ovf', path: path.join(d, 'glassdome-test.ovf') },
      { name: 'glassdome-test-disk1.vmdk', path: path.join(d, 'glassdome-test-disk1.vmdk') },
    ]);
    expect((await checkOva(reordered)).problems).toEqual([
      'the first member is glassdome-test.mf, not the OVF descriptor',
      'glassdome-test.mf should follow the descriptor',
    ]);
    const missing = path.join(work, 'missing.ova');
    await writeTar(missing, [
      { name: 'glassdome-test.ovf', path: path.join(d, 'glassdome-test.ovf') },
      { name: 'glassdome-test.mf', path: path.join(d, 'glassdome-test.mf') },
    ]);
    expect((await checkOva(missing)).problems).toEqual([
      'glassdome-test.mf lists glassdome-test-disk1.vmdk, which is not in the archive',
      'glassdome-test-disk1.vmdk: referenced by the descriptor but not in the archive',
    ]);
  });

  it(
    'is accepted by vcsim through govc import.ova, with the hardware the descriptor asks for',
    { timeout: 600_000 },
    async (ctx) => {
      const [vcsim, govc] = await Promise.all([locateVcsim(), locateGovc()]);
      if ('skip' in vcsim) return ctx.skip(`skipped: ${vcsim.skip}`);
      if ('skip' in govc) return ctx.skip(`skipped: ${govc.skip}`);
      const sim = await startVcsim(vcsim.binary, { args: ['-vm', '0'] });
      try {
        const env = {
          ...process.env,
          GOVC_URL: `https://${sim.host}:${sim.port}/sdk`,
          GOVC_USERNAME: sim.username,
          GOVC_PASSWORD: sim.password,
          GOVC_TLS_CA_CERTS: sim.certFile,
          GOVC_DATASTORE: Object.keys(sim.datastores)[0] ?? 'datastore1',
        };
        // The import spec offers the network settings as properties (ESXi's Deploy OVF Template asks for these).
        const { stdout: specJson } = await run(govc.binary, ['import.spec', ova], { env, timeout: 60_000 });
        const importSpec = JSON.parse(specJson) as {
          PropertyMapping: Array<{ Key: string; Value: string }>;
          NetworkMapping: Array<{ Name: string }>;
        };
        expect(importSpec.PropertyMapping.map((p) => p.Key)).toEqual(['hostname', 'ip', 'netmask', 'gateway', 'dns']);
        expect(importSpec.NetworkMapping.map((n) => n.Name)).toEqual(['VM Network']);
        await run(govc.binary, ['import.ova', '-name', 'glassdome-imported', ova], { env, timeout: 120_000 });
        const { stdout } = await run(govc.binary, ['vm.info', '-json', 'glassdome-imported'], { env, timeout: 60_000 });
        const vm = (
          JSON.parse(stdout) as {
            VirtualMachines: Array<{ Config: { Hardware: { NumCPU: number; MemoryMB: number } } }>;
          }
        ).VirtualMachines[0]!;
        expect(vm.Config.Hardware.NumCPU).toBe(1);
        expect(vm.Config.Hardware.MemoryMB).toBe(512);
        const { stdout: devices } = await run(govc.binary, ['device.ls', '-vm', 'glassdome-imported'], {
          env,
          timeout: 60_000,
        });
        expect(devices).toMatch(/VirtualLsiLogicController/);
        expect(devices).toMatch(/VirtualDisk\s+65,536 KB/);
        expect(devices).toMatch(/VirtualVmxnet3\s+VM Network/);
        // The disk was uploaded into the VM's folder on the datastore.
        const ds = Object.values(sim.datastores)[0]!;
        expect(
          fs.readdirSync(path.join(ds, 'glassdome-imported')).filter((f) => f.endsWith('.vmdk')).length,
        ).toBeGreaterThan(0);
      } finally {
        await sim.stop();
      }
    },
  );
});
