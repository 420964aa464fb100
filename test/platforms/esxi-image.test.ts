import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEsxiPlatform, type EsxiDeps } from '../../server/platforms/esxi/driver.ts';
import { createImageCache } from '../../server/platforms/esxi/images.ts';
import { imageFolder } from '../../server/platforms/esxi/machines.ts';
import { connectVim, moRef, type VimClient } from '../../server/platforms/esxi/soap.ts';
import type { MachineSpec, Platform } from '../../server/platforms/platform.ts';
import { localWsdl, locateVcsim, startVcsim, type Vcsim } from './vcsim.ts';

const qemuImg = ['/usr/bin', '/usr/local/bin', '/bin'].map((d) => path.join(d, 'qemu-img')).find((f) => existsSync(f));
const located = await locateVcsim();
const wsdl = localWsdl();
const unavailable = !qemuImg
  ? 'qemu-img is not installed (Debian: qemu-utils)'
  : 'skip' in located
    ? located.skip
    : wsdl
      ? undefined
      : 'the vim25 WSDL was not found (set GLASSDOME_VIM25_WSDL)';
if (unavailable) console.warn(`[esxi] cloud-image tests skipped: ${unavailable}`);

const info = (file: string) =>
  JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file]).toString()) as {
    format: string;
    'virtual-size': number;
    'format-specific'?: { data?: { 'create-type'?: string } };
  };

/** A small real qcow2 image: 64 MiB virtual, its first 4 MiB random (so conversion and upload move real data). */
function makeImage(dir: string): string {
  const raw = path.join(dir, 'disk.raw');
  execFileSync('qemu-img', ['create', '-f', 'raw', raw, '64M'], { stdio: 'ignore' });
  const buf = readFileSync(raw);
  randomBytes(4 * 2 ** 20).copy(buf);
  writeFileSync(raw, buf);
  const img = path.join(dir, 'ubuntu-22.04-server-cloudimg-amd64.img');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, img], { stdio: 'ignore' });
  rmSync(raw);
  return img;
}

describe.skipIf(unavailable !== undefined)('esxi machines from a cloud image (vcsim)', () => {
  let sim: Vcsim;
  let admin: VimClient;
  let work: string;
  let image: string;
  let cacheDir: string;
  const events: Array<{ step: string; key: string; ms: number; bytes: number }> = [];
  const drivers: Platform[] = [];
  const dep = 'im1';
  const dsDir = () => sim.datastores.datastore1!;

  const driver = (extra: Partial<EsxiDeps> = {}) => {
    const deps: EsxiDeps = {
      wsdl: wsdl!,
      secret: sim.password,
      cacheDir,
      onImage: (e) => {
        events.push(e);
        // vcsim's CopyVirtualDisk copies a descriptor + "-flat" pair and faults when the -flat file is missing; a
        // monolithicSparse VMDK is one file, so give vcsim an empty companion (real ESXi reads the one file).
        if (e.step === 'converted') {
          mkdirSync(path.join(dsDir(), imageFolder), { recursive: true });
          writeFileSync(path.join(dsDir(), imageFolder, `${e.key}-flat.vmdk`), '');
        }
      },
      ...extra,
    };
    const p = createEsxiPlatform(
      {
        host: sim.host,
        port: sim.port,
        username: sim.username,
        tls: { fingerprint: sim.fingerprint256 },
        images: { 'ubuntu-22.04': image },
        timeouts: { shutdownMs: 2000 },
      },
      deps,
    );
    drivers.push(p);
    return p;
  };
  const machine = (suffix: string, k: number): MachineSpec => ({
    deploymentId: dep,
    name: `gd-${dep}-i1-${suffix}`,
    hostname: suffix,
    os: 'ubuntu-22.04',
    cpus: 1,
    memoryMb: 1024,
    diskGb: 10,
    nics: [{ network: { id: 'VM Network', name: 'VM Network' }, mac: `00:50:56:00:09:0${k}` }],
    cloudInit: { userData: '#cloud-config\n', metaData: `instance-id: ${suffix}\n`, networkConfig: 'version: 2\n' },
  });

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'gd-esxi-image-'));
    image = makeImage(work);
    cacheDir = path.join(work, 'cache');
    sim = await startVcsim((located as { binary: string }).binary, { guestIp: '10.79.0.0/24' });
    admin = await connectVim({
      host: sim.host,
      port: sim.port,
      username: sim.username,
      password: sim.password,
      tls: { caFile: sim.certFile },
      wsdl: wsdl!,
      callTimeoutMs: 10_000,
    });
  });

  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await admin?.logout();
    await sim?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('connection test names the image and qemu-img, and fails for a missing image file', async () => {
    const ok = await driver().testConnection();
    expect(ok.ok, ok.details.join('\n')).toBe(true);
    expect(ok.details.join('\n')).toContain(`Image for ubuntu-22.04: ${image}`);
    expect(ok.details.join('\n')).toMatch(/qemu-img version \d/);
    const missing = createEsxiPlatform(
      {
        host: sim.host,
        port: sim.port,
        username: sim.username,
        tls: { fingerprint: sim.fingerprint256 },
        images: { 'debian-12': '/nonexistent.img' },
      },
      { wsdl: wsdl!, secret: sim.password },
    );
    drivers.push(missing);
    const r = await missing.testConnection();
    expect(r.ok).toBe(false);
    expect(r.details.join('\n')).toContain('Image file /nonexistent.img for debian-12 not found on the appliance');
  });

  let web: { id: string; name: string };
  let db: { id: string; name: string };

  it('creates two VMs at once from one image: one conversion, one upload, each VM with its own copy of the disk', async () => {
    const p = driver();
    [web, db] = await Promise.all([p.createMachine(machine('web', 1)), p.createMachine(machine('db', 2))]);
    expect(events.map((e) => e.step)).toEqual(['converted', 'uploaded']);
    const { key, bytes } = events[0]!;
    for (const e of events) console.log(`[esxi] image ${e.step}: ${(e.bytes / 2 ** 20).toFixed(2)} MiB in ${e.ms} ms`);

    // The cached conversion is a real monolithicSparse (hosted) VMDK of the image's virtual size.
    const cached = path.join(cacheDir, 'esxi-images', `${key}.vmdk`);
    expect(info(cached)).toMatchObject({
      format: 'vmdk',
      'virtual-size': 64 * 2 ** 20,
      'format-specific': { data: { 'create-type': 'monolithicSparse' } },
    });
    expect(statSync(cached).size).toBe(bytes);
    // Uploaded once into the shared folder, byte for byte.
    const uploaded = path.join(dsDir(), imageFolder, `${key}.vmdk`);
    expect(readFileSync(uploaded).equals(readFileSync(cached))).toBe(true);
    expect(readdirSync(path.join(dsDir(), imageFolder)).filter((f) => !f.endsWith('-flat.vmdk'))).toEqual([
      `${key}.vmdk`,
    ]);

    for (const m of [web, db]) {
      // vcsim copies the file as is; ESXi would write a thin host disk here.
      const disk = path.join(dsDir(), m.name, `${m.name}.vmdk`);
      expect(info(disk)['virtual-size']).toBe(64 * 2 ** 20);
      const [v] = await admin.retrieve([moRef('VirtualMachine', m.id)], 'VirtualMachine', [
        'config.hardware.device',
        'config.guestId',
        'config.extraConfig',
      ]);
      const devices = v!.props['config.hardware.device'] as Array<Record<string, any>>;
      const vdisk = devices.find((d) => Object.values(d.attributes ?? {}).includes('VirtualDisk'))!;
      expect(vdisk.backing.fileName).toBe(`[datastore1] ${m.name}/${m.name}.vmdk`);
      expect(vdisk.capacityInKB).toBe(10 * 2 ** 20);
      expect(v!.props['config.guestId']).toBe('ubuntu64Guest');
    }
  });

  it('a restarted driver reuses the cached conversion and the uploaded file', async () => {
    const before = events.length;
    const p = driver();
    const again = await p.createMachine(machine('app', 3));
    expect(events.length).toBe(before);
    expect(existsSync(path.join(dsDir(), again.name, `${again.name}.vmdk`))).toBe(true);
    await p.destroyMachine(again);
  });

  it('powers on a VM built from the image and reports its address', async () => {
    const p = drivers[0]!;
    await p.startMachine(web);
    expect((await p.waitForAddress(web, { timeoutMs: 10_000 }))[0]).toMatch(/^10\.79\.0\.\d+$/);
  });

  it('destroy removes the VM folders but keeps the shared image folder and the appliance cache; nothing of it is owned', async () => {
    const p = drivers[0]!;
    await p.destroyMachine(web);
    await p.destroyMachine(db);
    expect(readdirSync(dsDir()).filter((f) => f.startsWith(`gd-${dep}-`))).toEqual([]);
    expect(readdirSync(path.join(dsDir(), imageFolder)).some((f) => f === `${events[0]!.key}.vmdk`)).toBe(true);
    expect(existsSync(path.join(cacheDir, 'esxi-images', `${events[0]!.key}.vmdk`))).toBe(true);
    expect(await p.listOwned(dep)).toEqual([]);
  });

  it('names both options when an OS has neither a template nor an image', async () => {
    await expect(drivers[0]!.createMachine({ ...machine('x', 4), os: 'plan9' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: '[esxi] Unable to create VM "gd-im1-i1-x": no template or image for OS plan9',
      hint: expect.stringMatching(/templates\.plan9 .*images\.plan9/),
    });
  });

  it('says how to install qemu-img when it is missing', async () => {
    const path0 = process.env.PATH;
    process.env.PATH = path.join(work, 'empty-bin');
    try {
      const cache = createImageCache({ dir: path.join(work, 'cache2'), timeoutMs: 10_000 });
      await expect(cache.prepare(image)).rejects.toMatchObject({
        message: '[esxi] qemu-img is not installed on the appliance',
        hint: expect.stringMatching(/apt-get install qemu-utils/),
      });
    } finally {
      process.env.PATH = path0;
    }
  });
});
