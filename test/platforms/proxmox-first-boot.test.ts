// How first-boot data reaches a Proxmox guest, against the schema-checking test server: a NoCloud seed ISO uploaded
// through the API and attached as a CD when snippets are not configured or do not work, removed with the machine;
// and nothing created at all when neither way delivers the whole user-data.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import type { MachineSpec } from '../../server/platforms/platform.ts';
import { driver, server, spec, useCleanups } from './proxmox-harness.ts';
import { callPve, schemaMissingReason } from './proxmox-server/index.ts';

const missing = schemaMissingReason('9.1');
if (missing) console.warn(`skipping Proxmox first-boot tests: ${missing}`);
const has = (tool: string) => ['/usr/bin', '/usr/local/bin', '/bin'].some((d) => existsSync(path.join(d, tool)));

const { cleanups, track } = useCleanups();

const userData = '#cloud-config\npackages: [nftables, dnsmasq]\nruncmd: [[nft, -f, /etc/nftables.conf]]\n';
const withCloudInit = (deploymentId: string, name: string, extra: Partial<MachineSpec> = {}): MachineSpec =>
  spec(deploymentId, name, {
    cloudInit: {
      userData,
      networkConfig:
        'version: 2\nethernets:\n  eth0:\n    match: {macaddress: "02:00:00:00:00:01"}\n    addresses: [10.77.0.10/24]\n',
      metaData: `instance-id: gd-${deploymentId}-i1-${name}\n`,
    },
    ...extra,
  });

describe.skipIf(missing !== undefined)('proxmox first boot', () => {
  it('without snippets, puts the whole user-data on a cidata seed ISO uploaded to an iso storage, attached in place of the cloud-init drive, removed on destroy', async () => {
    const s = track(await server());
    const p = track(driver(s));
    expect(await p.firstBootDelivery!()).toEqual({
      method: 'NoCloud seed ISO on storage local',
      complete: true,
      detail: expect.stringMatching(/seed ISO \(volume cidata\) uploaded to storage local and attached as a CD/),
    });
    const report = await p.testConnection();
    expect(report.ok, report.details.join('\n')).toBe(true);
    expect(report.details).toContainEqual(expect.stringMatching(/^first boot: NoCloud seed ISO on storage local: /));

    const ref = await p.createMachine(withCloudInit('iso', 'web'));
    const vm = s.state.vms.get(Number(ref.id))!;
    const volid = 'local:iso/gd-iso-i1-web-seed.iso';
    // Proxmox's own cloud-init drive is a cidata volume too: it is gone, volume and all, and the seed is on a CD.
    expect(Object.values(vm.config).filter((v) => /cloudinit/.test(v))).toEqual([]);
    expect(s.state.storages.get('local-lvm')!.volumes.has(`local-lvm:vm-${ref.id}-cloudinit`)).toBe(false);
    expect(Object.entries(vm.config).filter(([, v]) => v.startsWith(volid))).toEqual([
      ['ide3', `${volid},media=cdrom`],
    ]);
    expect(vm.config.cicustom).toBeUndefined();
    const iso = s.state.storages.get('local')!.volumes.get(volid)!;
    expect(iso).toMatchObject({ content: 'iso', format: 'iso' });
    expect(iso.data!.subarray(16 * 2048 + 40, 16 * 2048 + 46).toString()).toBe('cidata');
    expect(iso.data!.includes(Buffer.from(userData))).toBe(true);
    if (has('isoinfo')) {
      const dir = mkdtempSync(path.join(tmpdir(), 'gd-pve-iso-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(path.join(dir, 'seed.iso'), iso.data!);
      const read = (name: string) =>
        execFileSync('isoinfo', ['-J', '-x', `/${name}`, '-i', path.join(dir, 'seed.iso')]).toString();
      expect(read('user-data')).toBe(userData);
      expect(read('network-config')).toMatch(/addresses: \[10\.77\.0\.10\/24\]/);
    } else console.warn('[proxmox] seed ISO read-back with isoinfo skipped: genisoimage is not installed');
    const uploads = s.requests.filter((r) => r.endpoint === '/nodes/{node}/storage/{storage}/upload');
    expect(uploads.map((r) => [r.status, r.params.content, r.params.filename, r.params['checksum-algorithm']])).toEqual(
      [[200, 'iso', 'gd-iso-i1-web-seed.iso', 'sha256']],
    );

    // A repeated create finds the configured VM and uploads nothing again; the machine starts from its CD.
    expect(await p.createMachine(withCloudInit('iso', 'web'))).toEqual(ref);
    await p.startMachine(ref);
    expect((await p.getMachineState(ref)).power).toBe('running');
    expect(await p.listOwned('iso')).toEqual([{ kind: 'machine', id: ref.id, name: 'gd-iso-i1-web' }]);

    await p.destroyMachine(ref);
    expect(s.state.vms.has(Number(ref.id))).toBe(false);
    expect(s.state.storages.get('local')!.volumes.has(volid)).toBe(false);
    expect(await p.listOwned('iso')).toEqual([]);
    await p.destroyMachine(ref);
    await s.idle();
    expect(s.stats().invalid).toEqual([]);
    expect(s.stats().unmodelled).toEqual([]);
  });

  it('lists a seed ISO whose VM is gone, and destroying the machine removes it', async () => {
    const s = track(await server());
    const p = track(driver(s));
    const ref = await p.createMachine(withCloudInit('orph', 'db'));
    // A destroy interrupted after the VM went: Proxmox keeps the CD image.
    const upid = await callPve(s, 'DELETE', `/nodes/pve/qemu/${ref.id}`, {
      headers: { Authorization: s.tokenHeader() },
    });
    await s.idle();
    expect(upid.status).toBe(200);
    expect(await p.listOwned('orph')).toEqual([
      { kind: 'other', id: 'local:iso/gd-orph-i1-db-seed.iso', name: 'gd-orph-i1-db-seed.iso' },
    ]);
    await p.destroyMachine(ref);
    expect(await p.listOwned('orph')).toEqual([]);
  });

  it('takes the ISO path when the snippets setting does not work, never a cicustom the node cannot read', async () => {
    const s = track(
      await server({
        storages: [{ id: 'nfs-sn', type: 'nfs', content: ['images', 'vztmpl'], shared: true }],
      }),
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'gd-snippets-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // `local` holds snippets, but nothing this appliance writes to `dir` ever shows up in it (a wrong path).
    const unseen = track(driver(s, { snippets: { storage: 'local', path: dir }, timeouts: { probeMs: 100 } }));
    const d = await unseen.firstBootDelivery!();
    expect(d).toMatchObject({ method: 'NoCloud seed ISO on storage local', complete: true });
    expect(d.detail).toMatch(
      /snippets\.storage "local" is configured but does not work: snippets\.path: a file written to .* does not appear in storage local on node pve/,
    );
    const report = await unseen.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details).toContainEqual(expect.stringMatching(/^snippets\.path: a file written to /));
    const ref = await unseen.createMachine(withCloudInit('bad', 'web'));
    const cfg = s.state.vms.get(Number(ref.id))!.config;
    expect(cfg.cicustom).toBeUndefined();
    expect(cfg.ide3).toBe('local:iso/gd-bad-i1-web-seed.iso,media=cdrom');

    // A storage without the Snippets content type is refused without a probe.
    const noContent = track(driver(s, { snippets: { storage: 'nfs-sn', path: dir } }));
    expect((await noContent.firstBootDelivery!()).detail).toMatch(
      /snippets\.storage "nfs-sn" does not hold snippets \(content: images,vztmpl\): enable the Snippets content type/,
    );
    expect(s.requests.filter((r) => r.path === '/nodes/pve/storage/nfs-sn/content')).toEqual([]);
  });

  it('refuses before cloning anything when neither snippets nor an iso storage works, naming the settings', async () => {
    const s = track(await server({ storages: [{ id: 'local', content: ['vztmpl', 'backup'] }] }));
    const p = track(driver(s));
    const d = await p.firstBootDelivery!();
    expect(d.complete).toBe(false);
    expect(d.method).toBe('Proxmox cloud-init fields only');
    expect(d.detail).toMatch(/no storage on node pve has the ISO image content type \(isoStorage\)/);
    expect(d.detail).toMatch(/Fix snippets\.storage and snippets\.path, or set isoStorage/);
    const e = await p.createMachine(withCloudInit('none', 'web')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({
      code: 'platform_error',
      message: expect.stringMatching(
        /^\[proxmox\] Unable to clone VM "gd-none-i1-web": its first-boot data cannot reach it: /,
      ),
      hint: expect.stringMatching(/isoStorage/),
    });
    expect(s.stats().byEndpoint['POST /nodes/{node}/qemu/{vmid}/clone']).toBeUndefined();
    expect(await p.listOwned('none')).toEqual([]);
    const report = await p.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details).toContain('first boot: no way to deliver the full user-data (see above)');

    // A configured isoStorage that does not exist is named as such.
    const named = track(driver(s, { isoStorage: 'isos' }));
    expect((await named.firstBootDelivery!()).detail).toMatch(/isoStorage "isos": not available on node pve/);
  });

  it('does not choose an iso storage the token may not upload to or delete from', async () => {
    const privs = ['VM.Audit', 'VM.Clone', 'VM.Allocate', 'Datastore.Audit', 'Datastore.AllocateSpace', 'Sys.Audit'];
    const s = track(await server({ auth: { tokens: [{ tokenid: 'gd@pve!t', secret: 'x', privs }] } }));
    const p = track(driver(s, { auth: { mode: 'token', tokenId: 'gd@pve!t' } }, 'x'));
    const d = await p.firstBootDelivery!();
    expect(d.complete).toBe(false);
    expect(d.detail).toMatch(
      /iso storage "local": missing privileges Datastore\.AllocateTemplate on \/storage\/local, Datastore\.Allocate on \/storage\/local, VM\.Config\.CDROM on \/vms/,
    );
  });
});
