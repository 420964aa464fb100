// The Proxmox driver against the schema-validating Proxmox test server (PVE 9.1 and 8.4): the shared conformance
// suite in both network modes, then what only Proxmox has: schema-valid deployments, lock storms, orphans from a
// killed process, ticket renewal, TLS pinning, privilege reports and the sshkeys encoding.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { AppError } from '../../server/errors.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { classify } from '../../server/platforms/proxmox/client.ts';
import { cloudInitFields, encodeSshKeys } from '../../server/platforms/proxmox/cloud-init.ts';
import { proxmoxConfigSchema, type ProxmoxConfigInput } from '../../server/platforms/proxmox/config.ts';
import { createServices } from '../../server/services.ts';
import { testPlatform } from './conformance.ts';
import {
  driver,
  driverConfig,
  mirrorSnippets,
  server,
  spec,
  sshKey,
  templates,
  useCleanups,
  waitTask,
} from './proxmox-harness.ts';
import { callPve, schemaMissingReason } from './proxmox-server/index.ts';
import { systemActor } from '../../server/model/audit.ts';

const missing = schemaMissingReason('9.1') ?? schemaMissingReason('8.4');
if (missing) console.warn(`skipping Proxmox driver tests: ${missing}`);

const conformance = (version: '9.1' | '8.4', network: ProxmoxConfigInput['network']) => async () => {
  const reason = schemaMissingReason(version);
  if (reason) return { skip: reason };
  const s = await server({ version });
  return {
    platform: driver(s, { network }),
    deploymentId: 'conf1',
    machine: { os: 'ubuntu-22.04' },
    waitMs: 10_000,
    cleanup: () => s.close(),
  };
};

testPlatform('proxmox 9.1 (VLAN tags)', conformance('9.1', { mode: 'vlan' }));
testPlatform('proxmox 8.4 (VLAN tags)', conformance('8.4', { mode: 'vlan' }));
testPlatform('proxmox 9.1 (SDN VNets)', conformance('9.1', { mode: 'sdn', zone: 'gdlab', applyDebounceMs: 20 }));

const { cleanups, track } = useCleanups();

describe('proxmox driver: pure parts', () => {
  it('classifies lock timeouts and proxy pseudo-statuses as transient, and the rest by what they say', () => {
    expect(classify(500, "can't lock file '/var/lock/qemu-server/lock-104.conf' - got timeout")).toBe('transient');
    expect(classify(500, 'VM is locked (clone)')).toBe('transient');
    expect(classify(500, "cfs-lock 'storage-ceph' error: got lock request timeout")).toBe('transient');
    expect(classify(596, '')).toBe('transient');
    expect(classify(595, '')).toBe('transient');
    expect(classify(403, 'Permission check failed (/vms/100, VM.Clone)')).toBe('forbidden');
    expect(classify(500, "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist")).toBe('not_found');
    expect(classify(500, "storage 'x' does not exist")).toBe('not_found');
    expect(classify(500, 'unable to create VM 100: config file already exists')).toBe('platform_error');
  });

  it('reads the Proxmox cloud-init fields from the NoCloud documents, matching NICs by MAC', () => {
    const fields = cloudInitFields({
      nics: [
        { network: { id: 'vmbr0:10', name: 'a' }, mac: '02:00:00:00:00:01' },
        { network: { id: 'vmbr0:11', name: 'b' }, mac: '02:00:00:00:00:02' },
      ],
      cloudInit: {
        userData: `#cloud-config\nusers:\n  - name: lab\n    passwd: $6$salt$hash\n    ssh_authorized_keys: ["${sshKey}"]\n`,
        networkConfig:
          'version: 2\nethernets:\n  eth1:\n    match: {macaddress: "02:00:00:00:00:02"}\n    dhcp4: true\n  eth0:\n    match: {macaddress: "02:00:00:00:00:01"}\n    addresses: [10.1.0.5/24]\n    routes: [{to: 0.0.0.0/0, via: 10.1.0.1}]\n    nameservers: {addresses: [10.1.0.1], search: [lab.test]}\n',
        metaData: 'instance-id: x\n',
      },
    });
    expect(fields).toEqual({
      ciuser: 'lab',
      cipassword: '$6$salt$hash',
      sshkeys: encodeURIComponent(sshKey),
      ipconfig0: 'ip=10.1.0.5/24,gw=10.1.0.1',
      ipconfig1: 'ip=dhcp',
      nameserver: '10.1.0.1',
      searchdomain: 'lab.test',
    });
    expect(encodeSshKeys([sshKey, sshKey])).toMatch(/^ssh-ed25519%20[^ +/=]+%0Assh-ed25519/);
  });

  it('refuses a configuration with no or two TLS trusts', () => {
    const base = { url: 'https://pve:8006', auth: { mode: 'token', tokenId: 'a@pve!b' }, node: 'pve' };
    expect(proxmoxConfigSchema.safeParse({ ...base, tls: {} }).success).toBe(false);
    expect(proxmoxConfigSchema.safeParse({ ...base, tls: { insecure: true, caFile: '/x' } }).success).toBe(false);
    expect(proxmoxConfigSchema.parse({ ...base, tls: { insecure: true } })).toMatchObject({
      storage: 'local-lvm',
      cloneSlotsPerStorage: 2,
      fullClone: false,
      network: { mode: 'vlan' },
    });
  });
});

describe.skipIf(missing !== undefined)('proxmox driver against the test server', () => {
  it('deploys a whole scenario with requests that are all valid per the 9.1 schema, then tears it down', async () => {
    const s = track(await server());
    const dir = mkdtempSync(path.join(tmpdir(), 'gd-snippets-'));
    cleanups.push(mirrorSnippets(s, dir), () => rmSync(dir, { recursive: true, force: true }));
    const services = createServices({
      config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir' }),
      db: openDb(':memory:'),
      runner: { retry: { attempts: 8, baseMs: 50, maxMs: 500 }, leaseMs: 2000 },
    });
    cleanups.push(() => services.close());
    services.platforms.add(systemActor, {
      name: 'pve',
      kind: 'proxmox',
      config: driverConfig(s, { snippets: { storage: 'local', path: dir } }),
      secret: s.tokens[0]!.secret,
    });
    const platform = await services.platforms.instance('pve');
    const report = await platform.testConnection();
    expect(report.ok, report.details.join('\n')).toBe(true);
    expect(report.details).toContainEqual(
      expect.stringMatching(/^first boot: snippets on storage local: full user-data through cicustom snippets/),
    );

    const yaml = `glassdome: 1\nname: two-tier\ntitle: Two tiers\nnetworks:\n  - name: lan\n    cidr: 10.1.0.0/24\n  - name: dmz\n    internet: true\nmachines:\n  - name: db\n    networks: [lan]\n    users: [{ name: lab, sudo: true, sshKeys: ["${sshKey}"] }]\n  - name: web\n    count: 2\n    networks: [dmz, lan]\n    dependsOn: [db]\n  - name: kali\n    os: kali-rolling\n    networks: [dmz]\n`;
    const { id } = createDeployment(services, { yaml, file: 'two-tier.yaml', platform: 'pve', instances: 1 });
    const outcome = await services.runner.run(id);
    expect(
      outcome,
      JSON.stringify([
        services.deployments.get(id).error,
        ...services.deployments
          .get(id)
          .steps.filter((x) => x.error)
          .map((x) => x.error),
      ]),
    ).toBe('ready');
    const machines = machineStatus(services.deployments.get(id));
    expect(machines.map((m) => m.state)).toEqual(machines.map(() => 'ready'));
    const db = machines.find((m) => m.key === 'i1.db')!;
    expect(db.addresses).toEqual(expect.arrayContaining(db.plannedAddresses));
    const vm = s.state.vms.get(Number(db.platformId))!;
    expect(vm.config).toMatchObject({
      name: db.resourceName,
      tags: `gd-${id}`,
      agent: 'enabled=1',
      ciuser: 'lab',
      sshkeys: encodeURIComponent(sshKey),
      cicustom: `user=local:snippets/${db.resourceName}-user.yaml,network=local:snippets/${db.resourceName}-network.yaml,meta=local:snippets/${db.resourceName}-meta.yaml`,
    });
    expect(readFileSync(path.join(dir, 'snippets', `${db.resourceName}-user.yaml`), 'utf8')).toMatch(
      /^#cloud-config\n[\s\S]*qemu-guest-agent/,
    );
    expect(vm.config.scsi0).toMatch(/size=20G$/);

    expect(await services.runner.destroy(id)).toBe('destroyed');
    expect(await platform.listOwned(id)).toEqual([]);
    expect([...s.state.vms.keys()].sort()).toEqual([9000, 9001, 9002]);
    expect(readdirSync(path.join(dir, 'snippets'))).toEqual([]);
    await s.idle();
    const stats = s.stats();
    expect(stats.invalid.map((r) => `${r.method} ${r.path}: ${JSON.stringify(r.errors ?? r.message)}`)).toEqual([]);
    expect(stats.unmodelled).toEqual([]);
    console.log(`[proxmox] scenario deployment + teardown: ${stats.total} requests, all schema-valid`);
  });

  it('completes 50 concurrent clones through storage lock timeouts, config lock timeouts and 596s, each VM exactly once', async () => {
    const lockText = "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout";
    const s = track(
      await server({
        seed: 7,
        storages: [{ id: 'local-lvm', cloneSlots: 2 }],
        timing: { storageLockTimeoutMs: 20, taskMs: { qmclone: 40 } },
        faults: [
          { effect: 'http596', method: 'POST', endpoint: '/nodes/{node}/qemu/{vmid}/clone', probability: 0.1 },
          {
            effect: 'http500',
            method: 'POST',
            endpoint: '/nodes/{node}/qemu/{vmid}/config',
            probability: 0.2,
            message: lockText,
          },
          { effect: 'http596', method: 'GET', endpoint: '/cluster/resources', probability: 0.05 },
        ],
      }),
    );
    // More slots than the storage really has, so some clones queue on its lock and time out, as on a busy node.
    const p = track(driver(s, { cloneSlotsPerStorage: 4 }));
    const t0 = Date.now();
    const refs = await Promise.all(Array.from({ length: 50 }, (_, i) => p.createMachine(spec('storm', `m${i}`))));
    const ms = Date.now() - t0;
    const names = [...s.state.vms.values()]
      .filter((v) => v.config.tags === 'gd-storm')
      .map((v) => v.config.name)
      .sort();
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `gd-storm-i1-m${i}`).sort());
    expect(new Set(refs.map((r) => r.id)).size).toBe(50);
    expect(s.state.vms.size).toBe(50 + templates.length);
    const storageTimeouts = s.tasks
      .list()
      .filter((t) => /pve-storage-local-lvm' - got timeout/.test(t.exitstatus ?? '')).length;
    expect(storageTimeouts + s.faults.fired.http596 + s.faults.fired.http500).toBeGreaterThan(0);
    expect(p.stats().retries).toBeGreaterThanOrEqual(s.faults.fired.http500);
    console.log(
      `[proxmox] 50 clones: ${ms} ms, ${p.stats().retries} retries (${storageTimeouts} storage lock timeouts, ${s.faults.fired.http500} config lock timeouts, ${s.faults.fired.http596} 596s), ${s.requests.length} requests`,
    );
    expect((await p.listOwned('storm')).filter((o) => o.kind === 'machine')).toHaveLength(50);
  });

  it('finds an orphan a killed process left (tagged, never recorded) and destroys it', async () => {
    const s = track(await server());
    const p = track(driver(s));
    const call = (method: string, url: string, params: Record<string, string | number> = {}) =>
      callPve(s, method, url, { params, headers: { Authorization: s.tokenHeader() } });
    const upid = (await call('POST', '/nodes/pve/qemu/9000/clone', { newid: 4321, name: 'gd-orph-i1-web' })).body?.data;
    await waitTask(s, String(upid));
    await call('PUT', '/nodes/pve/qemu/4321/config', { tags: 'gd-orph' });
    const owned = await p.listOwned('orph');
    expect(owned).toEqual([{ kind: 'machine', id: '4321', name: 'gd-orph-i1-web' }]);
    await p.destroyMachine(owned[0]!);
    expect(s.state.vms.has(4321)).toBe(false);
    expect(await p.listOwned('orph')).toEqual([]);
  });

  it('completes a clone a killed process left unconfigured or still running, instead of cloning again', async () => {
    const s = track(await server({ timing: { taskMs: { qmclone: 300 } } }));
    const p = track(driver(s));
    const call = (method: string, url: string, params: Record<string, string | number> = {}) =>
      callPve(s, method, url, { params, headers: { Authorization: s.tokenHeader() } });
    // One clone finished but was never configured; another is still copying (locked, no name yet).
    await waitTask(
      s,
      String((await call('POST', '/nodes/pve/qemu/9000/clone', { newid: 500, name: 'gd-kill-i1-a' })).body?.data),
    );
    await call('POST', '/nodes/pve/qemu/9000/clone', { newid: 501, name: 'gd-kill-i1-b' });
    const [a, b] = await Promise.all([p.createMachine(spec('kill', 'a')), p.createMachine(spec('kill', 'b'))]);
    expect([a.id, b.id]).toEqual(['500', '501']);
    expect(s.state.vms.size).toBe(2 + templates.length);
    expect(s.state.vms.get(501)?.config).toMatchObject({
      tags: 'gd-kill',
      cores: '2',
      net0: 'virtio=02:00:00:00:00:01,bridge=vmbr0,tag=3001',
    });
    expect(s.stats().byEndpoint['POST /nodes/{node}/qemu/{vmid}/clone']).toBe(2);
  });

  it('signs in with a password, sends the CSRF token on writes and signs in again when the ticket expires', async () => {
    const s = track(await server());
    const p = track(driver(s, { auth: { mode: 'password', username: 'root@pam' } }, 'glassdome'));
    expect((await p.testConnection()).ok).toBe(true);
    const ref = await p.createMachine(spec('tix', 'a'));
    s.expireTickets();
    await p.startMachine(ref);
    expect((await p.getMachineState(ref)).power).toBe('running');
    const logins = s.requests.filter((r) => r.method === 'POST' && r.path === '/access/ticket' && r.status === 200);
    expect(logins.length).toBe(2);
    expect(s.requests.filter((r) => r.status === 401)).toHaveLength(1);
    expect(s.requests.filter((r) => r.auth === 'ticket' && r.method !== 'GET').length).toBeGreaterThan(3);
  });

  it('refuses a server whose certificate does not match the pinned fingerprint, before sending anything', async () => {
    const s = track(await server());
    const wrong = s.fingerprint.replace(/^../, s.fingerprint.startsWith('00') ? '11' : '00');
    const p = track(driver(s, { tls: { fingerprint: wrong } }));
    const report = await p.testConnection();
    expect(report.ok).toBe(false);
    expect(report.details.join('\n')).toMatch(/does not match the pinned fingerprint/);
    await expect(p.listOwned('x')).rejects.toMatchObject({ code: 'platform_error' });
    expect(s.requests).toEqual([]);
  });

  it('trusts a CA file instead of a fingerprint', async () => {
    const s = track(await server());
    const dir = mkdtempSync(path.join(tmpdir(), 'gd-ca-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'ca.pem'), s.certificate);
    const report = await track(driver(s, { tls: { caFile: path.join(dir, 'ca.pem') } })).testConnection();
    expect(report.ok, report.details.join('\n')).toBe(true);
    expect(report.product).toBe('Proxmox VE 9.1.2');
  });

  it('names the privileges a token lacks, with their paths, for PVE 9 and PVE 8', async () => {
    for (const version of ['9.1', '8.4'] as const) {
      const s = track(
        await server({
          version,
          auth: {
            tokens: [
              {
                tokenid: 'glassdome@pve!lab',
                secret: 's3cret',
                privs: ['VM.Audit', 'VM.Clone', 'Datastore.Audit', 'Sys.Audit'],
              },
            ],
          },
        }),
      );
      const report = await track(driver(s, {}, 's3cret')).testConnection();
      expect(report.ok).toBe(false);
      const line = report.details.find((d) => d.startsWith('missing privileges:'))!;
      expect(line).toContain('VM.Allocate on /vms');
      expect(line).toContain('Datastore.AllocateSpace on /storage/local-lvm');
      expect(line).toContain('SDN.Use on /sdn/zones/localnetwork/vmbr0');
      expect(line).not.toContain('VM.Clone');
      expect(line).toContain(version === '9.1' ? 'VM.GuestAgent.Unrestricted' : 'VM.Monitor');
    }
  });

  it('sets sshkeys in the encoding Proxmox accepts; a clone fails clearly for a local template on another node or a missing privilege', async () => {
    const s = track(
      await server({
        auth: {
          tokens: [
            { tokenid: 'root@pam!glassdome', secret: 'x', privs: ['*'] },
            { tokenid: 'weak@pve!t', secret: 'y', privs: ['VM.Audit'] },
          ],
        },
      }),
    );
    const p = track(driver(s, {}, 'x'));
    const cloudInit = {
      userData: `#cloud-config\nusers:\n  - name: lab\n    ssh_authorized_keys: ["${sshKey}", "${sshKey.replace('lab@', 'other@')}"]\n`,
      networkConfig: 'version: 2\n',
      metaData: 'instance-id: k\n',
    };
    const ref = await p.createMachine(spec('keys', 'a', { cloudInit }));
    expect(s.state.vms.get(Number(ref.id))?.config.sshkeys).toBe(
      encodeURIComponent(`${sshKey}\n${sshKey.replace('lab@', 'other@')}`),
    );
    await expect(p.createMachine(spec('keys', 'c', { options: { node: 'pve2' } }))).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/to node pve2: template 9000 is on local storage local-lvm/),
    });
    const weak = track(driver(s, { auth: { mode: 'token', tokenId: 'weak@pve!t' } }, 'y'));
    const e = await weak.createMachine(spec('keys', 'b')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({
      code: 'forbidden',
      message: '[proxmox] Unable to clone VM "gd-keys-i1-b": Permission check failed (/vms/9000, VM.Clone)',
    });
    expect((e as AppError).hint).toMatch(/Grant VM.Clone on \/vms\/9000/);
  });

  it('batches SDN changes: many networks created together share one apply', async () => {
    const s = track(await server());
    const p = track(driver(s, { network: { mode: 'sdn', zone: 'gdlab', applyDebounceMs: 300 } }));
    const nets = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        p.ensureNetwork({
          deploymentId: 'sdn',
          name: `gd-sdn-i1-n${i}`,
          kind: 'isolated',
          cidr: '10.0.0.0/24',
          gateway: '10.0.0.1',
          vlan: 100 + i,
        }),
      ),
    );
    expect(new Set(nets.map((n) => n.id)).size).toBe(8);
    expect(s.stats().byEndpoint['PUT /cluster/sdn']).toBe(1);
    expect([...s.state.sdn.vnets.values()].every((v) => v.running && !v.pending)).toBe(true);
    await Promise.all(nets.map((n) => p.deleteNetwork(n)));
    expect(s.stats().byEndpoint['PUT /cluster/sdn']).toBe(2);
    expect(s.state.sdn.vnets.size).toBe(0);
  });

  it('waits for readiness and reports a cloud-init failure as a platform error', async () => {
    const s = track(await server({ guest: { cloudInit: 'error' } }));
    const p = track(driver(s));
    const ref = await p.createMachine(spec('ci', 'a'));
    await p.startMachine(ref);
    expect(await p.waitForAddress(ref, { timeoutMs: 5000 })).toEqual(['10.185.0.100']);
    await expect(p.waitForReady(ref, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'platform_error',
      message: expect.stringMatching(/cloud-init reports an error/),
    });
  });

  it('stops waiting for a guest that never answers when the call is aborted, and times out on its bound otherwise', async () => {
    const s = track(await server({ guest: { agentDelayMs: 60_000 } }));
    const p = track(driver(s));
    const ref = await p.createMachine(spec('abort', 'a'));
    await p.startMachine(ref);
    const t0 = Date.now();
    await expect(p.waitForAddress(ref, { timeoutMs: 60_000, signal: AbortSignal.timeout(100) })).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(p.waitForReady(ref, { timeoutMs: 150 })).rejects.toMatchObject({
      code: 'timeout',
      message: expect.stringContaining('"gd-abort-i1-a"'),
    });
  });
});
