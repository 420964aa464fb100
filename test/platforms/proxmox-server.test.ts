// The fake Proxmox server is only useful if it answers like the real one: these tests pin its validation,
// auth, task, lock, clone, nextid, sshkeys, guest-agent, upload and CD behaviour to what relevant.md and the PVE
// sources (pve-http-server's multipart parser, qemu-server's Agent.pm) say.
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { callPve, type CallSpec, type RawAnswer } from './proxmox-server/client.ts';
import { schemaMissingReason } from './proxmox-server/schema.ts';
import { startProxmoxServer, type ProxmoxServer, type ProxmoxServerOptions } from './proxmox-server/server.ts';
import { parseUpid } from './proxmox-server/tasks.ts';

const missing = schemaMissingReason('9.1') ?? schemaMissingReason('8.4');
if (missing) console.warn(`skipping Proxmox test server tests: ${missing}`);

const servers: ProxmoxServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(opts: ProxmoxServerOptions = {}): Promise<ProxmoxServer> {
  const s = await startProxmoxServer({
    ...opts,
    timing: {
      authFailDelayMs: 0,
      lockTimeoutMs: 300,
      cloneLockTimeoutMs: 100,
      storageLockTimeoutMs: 100,
      ...opts.timing,
    },
  });
  servers.push(s);
  return s;
}

function api(s: ProxmoxServer) {
  const headers = { Authorization: s.tokenHeader() };
  return (method: string, path: string, spec: CallSpec = {}): Promise<RawAnswer> =>
    callPve(s, method, path, { ...spec, headers: { ...headers, ...spec.headers } });
}

async function waitTask(s: ProxmoxServer, upid: unknown): Promise<{ status: string; exitstatus?: string }> {
  const call = api(s);
  for (;;) {
    const r = await call('GET', `/nodes/pve/tasks/${encodeURIComponent(String(upid))}/status`);
    const d = r.body?.data as { status: string; exitstatus?: string };
    if (d.status === 'stopped') return d;
    await new Promise((res) => setTimeout(res, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw POST with a body built by hand (multipart), answered exactly as sent. */
function rawPost(
  s: ProxmoxServer,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; reason: string; data?: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.apiUrl}${path}`,
      {
        method: 'POST',
        headers: { Authorization: s.tokenHeader(), 'Content-Length': String(body.length), ...headers },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: unknown;
          try {
            data = text ? (JSON.parse(text) as { data?: unknown }).data : undefined;
          } catch {
            data = undefined;
          }
          resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', data });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A multipart body: fields in order, then the file part (its Content-Type header only when given). */
function multipart(
  fields: Array<[string, string]>,
  file: { field?: string; name: string; data: Buffer; type?: string },
): { headers: Record<string, string>; body: Buffer } {
  const b = 'XyZboundary42';
  const head =
    fields.map(([k, v]) => `--${b}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') +
    `--${b}\r\nContent-Disposition: form-data; name="${file.field ?? 'filename'}"; filename="${file.name}"\r\n` +
    (file.type ? `Content-Type: ${file.type}\r\n` : '') +
    '\r\n';
  return {
    headers: { 'Content-Type': `multipart/form-data; boundary=${b}` },
    body: Buffer.concat([Buffer.from(head), file.data, Buffer.from(`\r\n--${b}--\r\n`)]),
  };
}

/** A real OpenSSH ed25519 public key line, so the server's blob check sees a genuine key. */
function sshEd25519Key(): string {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} lab@glassdome`;
}
const sshKey = sshEd25519Key();

describe.skipIf(missing !== undefined)('Proxmox test server', () => {
  describe('request validation', () => {
    it('rejects an unknown parameter with the exact Proxmox 400 shape', async () => {
      const s = await start();
      const r = await api(s)('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 120, bogus: 'x' } });
      expect(r.status).toBe(400);
      expect(r.reason).toBe('Parameter verification failed.');
      expect(JSON.parse(r.text)).toEqual({
        data: null,
        errors: { bogus: 'property is not defined in schema and the schema does not allow additional properties' },
        message: 'Parameter verification failed.\n',
      });
      expect(s.state.vms.has(120)).toBe(false);
    });

    it('rejects a missing required parameter', async () => {
      const s = await start();
      const r = await api(s)('POST', '/nodes/pve/qemu/9000/clone', { params: { name: 'x' } });
      expect(r.status).toBe(400);
      expect(r.body?.errors).toEqual({ newid: 'property is missing and it is not optional' });
    });

    it('maps numbered keys to x[n] within the qemu-server index limits', async () => {
      const s = await start();
      const call = api(s);
      const ok = await call('PUT', '/nodes/pve/qemu/9000/config', { params: { net31: 'virtio,bridge=vmbr0' } });
      expect(ok.status).toBe(200);
      const bad = await call('PUT', '/nodes/pve/qemu/9000/config', {
        params: { net32: 'virtio,bridge=vmbr0', ipconfig0: 'ip=dhcp' },
      });
      expect(bad.body?.errors).toEqual({
        net32: 'property is not defined in schema and the schema does not allow additional properties',
      });
    });

    it('checks types, ranges, enums and property strings like JSONSchema.pm', async () => {
      const s = await start();
      const r = await api(s)('PUT', '/nodes/pve/qemu/9000/config', {
        params: {
          onboot: 'true',
          cores: 0,
          ostype: 'dos',
          net0: 'virtio,bridge=vmbr0,tag=5000',
          ipconfig0: 'ip=10.0.0.5',
          scsi1: 'local-lvm:8,cache=fast',
        },
      });
      expect(r.status).toBe(400);
      expect(r.body?.errors).toEqual({
        onboot: "type check ('boolean') failed - got 'true'",
        cores: 'value must have a minimum value of 1',
        ostype:
          "value 'dos' does not have a value in the enumeration 'other, wxp, w2k, w2k3, w2k8, wvista, win7, win8, win10, win11, l24, l26, solaris'",
        net0: 'invalid format - format error\nnet0.tag: value must have a maximum value of 4094\n',
        ipconfig0:
          'invalid format - format error\nip: invalid format - value does not look like a valid IPv4 network configuration\n',
        scsi1:
          "invalid format - format error\nscsi1.cache: value 'fast' does not have a value in the enumeration 'none, writethrough, writeback, unsafe, directsync'\n",
      });
      expect(s.requests.at(-1)?.valid).toBe(false);
    });

    it('answers 501 for an unknown path or method, before authentication', async () => {
      const s = await start();
      const r = await callPve(s, 'GET', '/nodes/pve/frobnicate', {});
      expect(r.status).toBe(501);
      expect(r.reason).toBe("Method 'GET /nodes/pve/frobnicate' not implemented");
      expect((await callPve(s, 'PATCH', '/version', {})).status).toBe(501);
      expect((await callPve(s, 'DELETE', '/version', {})).reason).toBe("Method 'DELETE /version' not implemented");
    });

    it('routes a storage volume id with slashes as one parameter', async () => {
      const s = await start();
      const r = await api(s)('GET', '/nodes/pve/storage/local-lvm/content/local-lvm:base-9000-disk-0');
      expect(r.status).toBe(200);
      expect(s.requests.at(-1)?.endpoint).toBe('/nodes/{node}/storage/{storage}/content/{volume}');
      await api(s)('GET', '/nodes/pve/storage/local/content/local:iso/sub/debian.iso');
      expect(s.requests.at(-1)?.endpoint).toBe('/nodes/{node}/storage/{storage}/content/{volume}');
    });
  });

  describe('authentication', () => {
    it('answers 401 with an empty body and no ticket', async () => {
      const s = await start();
      const r = await callPve(s, 'GET', '/nodes');
      expect(r).toMatchObject({ status: 401, reason: 'No ticket', text: '' });
    });

    it('accepts an API token and rejects a wrong secret', async () => {
      const s = await start();
      expect((await api(s)('GET', '/nodes')).status).toBe(200);
      const bad = await callPve(s, 'GET', '/nodes', {
        headers: { Authorization: 'PVEAPIToken=root@pam!glassdome=wrong' },
      });
      expect(bad).toMatchObject({ status: 401, reason: 'Authentication failed!', text: '' });
    });

    it('requires the CSRF token on non-GET ticket requests', async () => {
      const s = await start();
      const login = await callPve(s, 'POST', '/access/ticket', {
        params: { username: 'root@pam', password: 'glassdome' },
      });
      const { ticket, CSRFPreventionToken } = login.body?.data as { ticket: string; CSRFPreventionToken: string };
      expect(ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::/);
      const cookie = { Cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}` };
      expect((await callPve(s, 'GET', '/nodes', { headers: cookie })).status).toBe(200);
      const noCsrf = await callPve(s, 'POST', '/nodes/pve/qemu/9000/clone', {
        headers: cookie,
        params: { newid: 130 },
      });
      expect(noCsrf).toMatchObject({ status: 401, reason: 'Permission denied - invalid csrf token', text: '' });
      const withCsrf = await callPve(s, 'POST', '/nodes/pve/qemu/9000/clone', {
        headers: { ...cookie, CSRFPreventionToken },
        params: { newid: 130 },
      });
      expect(withCsrf.status).toBe(200);
    });

    it('expires tickets and renews them with the ticket as password', async () => {
      const s = await start({ timing: { ticketLifetimeMs: 150 } });
      const login = await callPve(s, 'POST', '/access/ticket', {
        params: { username: 'root@pam', password: 'glassdome' },
      });
      const { ticket } = login.body?.data as { ticket: string };
      const renewed = await callPve(s, 'POST', '/access/ticket', {
        params: { username: 'root@pam', password: ticket },
      });
      expect(renewed.status).toBe(200);
      await sleep(200);
      const late = await callPve(s, 'GET', '/nodes', { headers: { Cookie: `PVEAuthCookie=${ticket}` } });
      expect(late).toMatchObject({ status: 401, reason: 'Authentication failed!' });
      const wrong = await callPve(s, 'POST', '/access/ticket', { params: { username: 'root@pam', password: 'nope' } });
      expect(wrong.status).toBe(401);
    });

    it('reports and enforces a token privilege set', async () => {
      const s = await start({
        auth: { tokens: [{ tokenid: 'glassdome@pve!lab', secret: 's3cret', privs: ['VM.Audit', 'Datastore.Audit'] }] },
      });
      const call = api(s);
      const perms = await call('GET', '/access/permissions');
      expect(perms.body?.data).toEqual({ '/': { 'Datastore.Audit': 1, 'VM.Audit': 1 } });
      const clone = await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 140 } });
      expect(clone.status).toBe(403);
      expect(clone.reason).toBe('Permission check failed (/vms/9000, VM.Clone)');
      const ticket = await call('POST', '/access/ticket', { params: { username: 'root@pam', password: 'glassdome' } });
      expect(ticket.status).toBe(200); // world endpoint: the token is not looked at
    });
  });

  describe('tasks and clones', () => {
    it('clones a template into a linked clone through a UPID that ends OK', async () => {
      const s = await start();
      const call = api(s);
      const r = await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 101, name: 'web-1' } });
      const upid = String(r.body?.data);
      expect(parseUpid(upid)).toMatchObject({ node: 'pve', type: 'qmclone', id: '9000', user: 'root@pam!glassdome' });
      expect(upid).toMatch(/^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:qmclone:9000:root@pam!glassdome:$/);
      const during = await call('GET', '/nodes/pve/qemu/101/config');
      expect(during.body?.data).toMatchObject({ lock: 'clone' });
      expect((await call('GET', `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`)).body?.data).toMatchObject({
        status: 'running',
      });
      expect(await waitTask(s, upid)).toMatchObject({ status: 'stopped', exitstatus: 'OK' });
      const cfg = (await call('GET', '/nodes/pve/qemu/101/config')).body?.data as Record<string, unknown>;
      expect(cfg.name).toBe('web-1');
      expect(cfg.template).toBeUndefined();
      expect(cfg.lock).toBeUndefined();
      expect(cfg.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0$/);
      expect(cfg.net0).not.toBe(s.state.vms.get(9000)?.config.net0);
      expect(s.state.storages.get('local-lvm')?.volumes.get('local-lvm:vm-101-disk-0')?.base).toBe(
        'local-lvm:base-9000-disk-0',
      );
      const log = await call('GET', `/nodes/pve/tasks/${encodeURIComponent(upid)}/log`);
      expect(log.body?.total).toBeGreaterThan(0);
      expect((log.body?.data as Array<{ t: string }>).at(-1)?.t).toBe('TASK OK');
    });

    it('fails clones past the storage lock slots with the storage lock timeout', async () => {
      const s = await start({
        storages: [{ id: 'local-lvm', cloneSlots: 2 }],
        timing: { taskMs: { qmclone: 400 }, storageLockTimeoutMs: 100 },
      });
      const call = api(s);
      const upids = await Promise.all(
        [201, 202, 203, 204].map(
          async (newid) => (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid } })).body?.data,
        ),
      );
      const results = await Promise.all(upids.map((u) => waitTask(s, u)));
      const ok = results.filter((r) => r.exitstatus === 'OK');
      const failed = results.filter((r) => r.exitstatus !== 'OK');
      expect(ok).toHaveLength(2);
      expect(failed.map((r) => r.exitstatus)).toEqual([
        "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
        "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout",
      ]);
      // A failed clone's VMID disappears.
      expect([201, 202, 203, 204].filter((id) => s.state.vms.has(id))).toHaveLength(2);
    });

    it('blocks the template flock while it is cloned, and locks the new VM (clone)', async () => {
      const s = await start({ timing: { taskMs: { qmclone: 600 }, lockTimeoutMs: 150 } });
      const call = api(s);
      const upid = (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 150 } })).body?.data;
      await sleep(50);
      const onTemplate = await call('PUT', '/nodes/pve/qemu/9000/config', { params: { description: 'x' } });
      expect(onTemplate.status).toBe(500);
      expect(onTemplate.reason).toBe("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
      const onClone = await call('PUT', '/nodes/pve/qemu/150/config', { params: { cores: 4 } });
      expect(onClone).toMatchObject({ status: 500, reason: 'VM is locked (clone)' });
      expect(onClone.body?.message).toBe('VM is locked (clone)\n');
      expect(await waitTask(s, upid)).toMatchObject({ exitstatus: 'OK' });
    });

    it('gives the same id to concurrent nextid callers; the second clone and create fail like Proxmox', async () => {
      const s = await start();
      const call = api(s);
      const [a, b] = await Promise.all([call('GET', '/cluster/nextid'), call('GET', '/cluster/nextid')]);
      expect(a.body?.data).toBe('100');
      expect(b.body?.data).toBe('100');
      const first = await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 100 } });
      expect(first.status).toBe(200);
      const second = await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 100 } });
      expect(second).toMatchObject({ status: 500, reason: 'unable to create VM 100: config file already exists' });
      const create = await call('POST', '/nodes/pve/qemu', { params: { vmid: 100, name: 'other' } });
      expect(create).toMatchObject({ status: 500, reason: 'unable to create VM 100 - config file already exists' });
      const asserted = await call('GET', '/cluster/nextid', { params: { vmid: 100 } });
      expect(asserted.body?.errors).toEqual({ vmid: 'VM 100 already exists' });
    });

    it('creates a VM: allocates disks, gives NICs a MAC, fails on a storage without images', async () => {
      const s = await start();
      const call = api(s);
      const upid = (
        await call('POST', '/nodes/pve/qemu', {
          params: {
            vmid: 250,
            name: 'router',
            scsi0: 'local-lvm:8',
            net0: 'virtio,bridge=vmbr0,tag=10',
            memory: '1024',
            agent: 'enabled=1',
          },
        })
      ).body?.data;
      expect(parseUpid(String(upid))).toMatchObject({ type: 'qmcreate', id: '250' });
      expect(await waitTask(s, upid)).toMatchObject({ exitstatus: 'OK' });
      const cfg = (await call('GET', '/nodes/pve/qemu/250/config')).body?.data as Record<string, unknown>;
      expect(cfg.scsi0).toBe('local-lvm:vm-250-disk-0,size=8G');
      expect(cfg.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,tag=10$/);
      const bad = (await call('POST', '/nodes/pve/qemu', { params: { vmid: 251, scsi0: 'local:8' } })).body?.data;
      expect(await waitTask(s, bad)).toMatchObject({
        exitstatus: "storage: storage 'local' does not support vm images",
      });
      expect(s.state.vms.has(251)).toBe(false);
    });

    it('lets further clones of a template share its flock while a config change waits', async () => {
      const s = await start({ timing: { taskMs: { qmclone: 400 }, lockTimeoutMs: 300, cloneLockTimeoutMs: 100 } });
      const call = api(s);
      const first = (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 260 } })).body?.data;
      await sleep(30);
      const change = call('PUT', '/nodes/pve/qemu/9000/config', { params: { description: 'waits' } });
      await sleep(30);
      const second = (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 261 } })).body?.data;
      expect(await waitTask(s, first)).toMatchObject({ exitstatus: 'OK' });
      expect(await waitTask(s, second)).toMatchObject({ exitstatus: 'OK' });
      expect((await change).reason).toBe("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
    });

    it('applies the linked-clone rules', async () => {
      const s = await start({
        storages: [{ id: 'thick', type: 'lvm', content: ['images'], linkedClones: false }],
        templates: [
          { vmid: 9000, name: 'ubuntu-2204-template' },
          { vmid: 9001, name: 'thick-template', storage: 'thick' },
        ],
      });
      const call = api(s);
      expect(
        await waitTask(
          s,
          (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 300, full: 1 } })).body?.data,
        ),
      ).toMatchObject({ exitstatus: 'OK' });
      const linkedFromVm = await call('POST', '/nodes/pve/qemu/300/clone', { params: { newid: 301, full: 0 } });
      expect(linkedFromVm.reason).toBe("Linked clone feature is not supported for 'local-lvm:vm-300-disk-0' (scsi0)");
      const thick = await call('POST', '/nodes/pve/qemu/9001/clone', { params: { newid: 302 } });
      expect(thick.reason).toBe("Linked clone feature is not supported for 'thick:base-9001-disk-0' (scsi0)");
      const storageOnLinked = await call('POST', '/nodes/pve/qemu/9000/clone', {
        params: { newid: 303, storage: 'local-lvm' },
      });
      expect(storageOnLinked.reason).toBe("parameter 'storage' not allowed for linked clones");
      const missingVm = await call('POST', '/nodes/pve/qemu/777/clone', { params: { newid: 304 } });
      expect(missingVm.reason).toBe("Configuration file 'nodes/pve/qemu-server/777.conf' does not exist");
    });

    it('injects task failures and 596s from seeded rules', async () => {
      const s = await start({
        faults: [
          {
            effect: 'taskError',
            endpoint: '/nodes/{node}/qemu/{vmid}/clone',
            times: 1,
            message: 'injected storage failure',
          },
          { effect: 'http596', method: 'GET', endpoint: '/nodes/{node}/qemu/{vmid}/status/current', times: 1 },
        ],
      });
      const call = api(s);
      const first = await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 400 } });
      expect(await waitTask(s, first.body?.data)).toMatchObject({
        exitstatus: 'clone failed: injected storage failure',
      });
      expect(s.state.vms.has(400)).toBe(false);
      expect(
        await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 400 } })).body?.data),
      ).toMatchObject({ exitstatus: 'OK' });
      const slow = await call('GET', '/nodes/pve/qemu/400/status/current');
      expect(slow).toMatchObject({ status: 596, text: '' });
      expect((await call('GET', '/nodes/pve/qemu/400/status/current')).status).toBe(200);
      expect(s.faults.fired).toMatchObject({ taskError: 1, http596: 1 });
    });

    it('answers 596 to every call past the overload threshold', async () => {
      const s = await start({ overloadAfter: 2 });
      const call = api(s);
      expect((await call('GET', '/version')).status).toBe(200);
      expect((await call('GET', '/version')).status).toBe(200);
      expect((await call('GET', '/version')).status).toBe(596);
    });
  });

  describe('cloud-init and guest agent', () => {
    it('accepts sshkeys only when percent-encoded before form encoding', async () => {
      const s = await start();
      const call = api(s);
      const raw = await call('PUT', '/nodes/pve/qemu/9000/config', { params: { sshkeys: sshKey } });
      expect(raw.status).toBe(400);
      expect(raw.body?.errors).toEqual({ sshkeys: `invalid format - invalid urlencoded string: ${sshKey}\n` });
      const plus = await call('PUT', '/nodes/pve/qemu/9000/config', {
        params: { sshkeys: encodeURIComponent(sshKey).replaceAll('%20', '+') },
      });
      expect(plus.status).toBe(400);
      const notKey = await call('PUT', '/nodes/pve/qemu/9000/config', {
        params: { sshkeys: encodeURIComponent('hello world') },
      });
      expect(notKey).toMatchObject({ status: 500, reason: 'SSH public key validation error' });
      const good = await call('PUT', '/nodes/pve/qemu/9000/config', {
        params: { sshkeys: encodeURIComponent(sshKey) },
      });
      expect(good.status).toBe(200);
      const cfg = (await call('GET', '/nodes/pve/qemu/9000/config')).body?.data as Record<string, string>;
      expect(cfg.sshkeys).toBe(encodeURIComponent(sshKey));
      const json = await call('PUT', '/nodes/pve/qemu/9000/config', {
        json: true,
        params: { sshkeys: encodeURIComponent(sshKey) },
      });
      expect(json.status).toBe(200);
    });

    it('reports guest addresses after the agent and DHCP delays, with the MACs from net[n]', async () => {
      const s = await start({ guest: { agentDelayMs: 1000, addressDelayMs: 3000 } });
      const call = api(s);
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 500 } })).body?.data);
      await call('PUT', '/nodes/pve/qemu/500/config', {
        params: { net1: 'virtio,bridge=vmbr0,tag=20', ipconfig0: 'ip=10.20.0.5/24,gw=10.20.0.1' },
      });
      const stopped = await call('GET', '/nodes/pve/qemu/500/agent/network-get-interfaces');
      expect(stopped.reason).toBe('VM 500 is not running');
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/500/status/start')).body?.data);
      expect((await call('GET', '/nodes/pve/qemu/500/agent/network-get-interfaces')).reason).toBe(
        'QEMU guest agent is not running',
      );
      // Wide windows (agent after 1 s, DHCP after 3 s): a loaded CI host must not read past either by accident.
      await sleep(1000);
      const early = (await call('GET', '/nodes/pve/qemu/500/agent/network-get-interfaces')).body?.data as {
        result: Array<{ name: string; 'hardware-address': string; 'ip-addresses': Array<{ 'ip-address': string }> }>;
      };
      const cfg = s.state.vms.get(500)?.config ?? {};
      const macs = [cfg.net0, cfg.net1].map((n) => /=([0-9A-F:]{17})/.exec(n ?? '')?.[1]?.toLowerCase());
      expect(early.result.map((i) => i['hardware-address'])).toEqual(['00:00:00:00:00:00', ...macs]);
      expect(early.result[0]?.['ip-addresses'].map((a) => a['ip-address'])).toEqual(['127.0.0.1', '::1']);
      expect(early.result[1]?.['ip-addresses'].map((a) => a['ip-address'])).toEqual([expect.stringMatching(/^fe80::/)]);
      await sleep(2000);
      const late = (await call('GET', '/nodes/pve/qemu/500/agent/network-get-interfaces')).body?.data as typeof early;
      expect(late.result[1]?.['ip-addresses'].map((a) => a['ip-address'])).toEqual([
        '10.20.0.5',
        expect.stringMatching(/^fe80::/),
      ]);
      expect(late.result[2]?.['ip-addresses'][0]?.['ip-address']).toBe('10.20.1.244');
    });

    it('runs cloud-init status through agent/exec', async () => {
      const s = await start({ guest: { agentDelayMs: 0, cloudInitMs: 300 }, timing: { execMs: 10 } });
      const call = api(s);
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 600 } })).body?.data);
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/600/status/start')).body?.data);
      const run = async () => {
        const { pid } = (
          await call('POST', '/nodes/pve/qemu/600/agent/exec', { params: { command: ['cloud-init', 'status'] } })
        ).body?.data as { pid: number };
        await sleep(20);
        return (await call('GET', '/nodes/pve/qemu/600/agent/exec-status', { params: { pid } })).body?.data;
      };
      expect(await run()).toEqual({ exited: 1, exitcode: 0, 'out-data': 'status: running\n' });
      await sleep(300);
      expect(await run()).toEqual({ exited: 1, exitcode: 0, 'out-data': 'status: done\n' });
    });
  });

  describe('uploads, CD images and programs in the guest', () => {
    it('takes an upload the way pveproxy parses it, and refuses what pveproxy refuses', async () => {
      const s = await start();
      const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
      const up = (m: ReturnType<typeof multipart>, storage = 'local') =>
        rawPost(s, `/nodes/pve/storage/${storage}/upload`, m.headers, m.body);
      const good = await up(
        multipart([['content', 'iso']], { name: 'seed.iso', data: bytes, type: 'application/octet-stream' }),
      );
      expect(good.status).toBe(200);
      expect(parseUpid(String(good.data))).toMatchObject({ type: 'imgcopy', id: '' });
      expect(await waitTask(s, good.data)).toMatchObject({ exitstatus: 'OK' });
      expect(s.state.storages.get('local')?.volumes.get('local:iso/seed.iso')?.data?.equals(bytes)).toBe(true);
      // pveproxy skips the file part's headers up to a blank line after one: without its own header, the bytes shift.
      const bare = await up(multipart([['content', 'iso']], { name: 'bare.iso', data: Buffer.from('hello') }));
      await waitTask(s, bare.data);
      expect(s.state.storages.get('local')?.volumes.get('local:iso/bare.iso')?.data?.toString()).not.toBe('hello');
      const field = await up(
        multipart([['content', 'iso']], { field: 'file', name: 'x.iso', data: bytes, type: 'a/b' }),
      );
      expect(field).toMatchObject({
        status: 501,
        reason: "wrong field name 'file' for file upload, expected 'filename'",
      });
      const ext = await up(multipart([['content', 'iso']], { name: 'x.txt', data: bytes, type: 'a/b' }));
      expect(ext.status).toBe(400);
      const lvm = await up(multipart([['content', 'iso']], { name: 'x.iso', data: bytes, type: 'a/b' }), 'local-lvm');
      expect(lvm).toMatchObject({ status: 500, reason: "can't upload to storage type 'lvmthin'" });
      const bad = await up(
        multipart(
          [
            ['content', 'iso'],
            ['checksum-algorithm', 'sha256'],
            ['checksum', '00'.repeat(32)],
          ],
          { name: 'sum.iso', data: bytes, type: 'a/b' },
        ),
      );
      expect(await waitTask(s, bad.data)).toMatchObject({
        exitstatus: expect.stringMatching(/^checksum mismatch: got '/),
      });
      const form = await rawPost(
        s,
        '/nodes/pve/storage/local/upload',
        { 'Content-Type': 'application/x-www-form-urlencoded' },
        Buffer.from('content=iso&filename=x.iso'),
      );
      expect(form).toMatchObject({
        status: 501,
        reason: "upload 'Content-Type 'application/x-www-form-urlencoded' not implemented",
      });
      const elsewhere = multipart([['content', 'iso']], { name: 'x.iso', data: bytes, type: 'a/b' });
      expect((await rawPost(s, '/nodes/pve/qemu/9000/config', elsewhere.headers, elsewhere.body)).status).toBe(506);
    });

    it('attaches a CD image only when it exists and the caller may, frees a deleted cloud-init drive, and starts only with every image there', async () => {
      const s = await start({
        auth: {
          tokens: [
            { tokenid: 'root@pam!glassdome', secret: 'a', privs: ['*'] },
            { tokenid: 'gd@pve!t', secret: 'b', privs: ['VM.Audit', 'VM.Config.Disk', 'Datastore.Audit'] },
          ],
        },
      });
      const call = api(s);
      const weak = (method: string, path: string, spec: CallSpec = {}) =>
        callPve(s, method, path, { ...spec, headers: { Authorization: 'PVEAPIToken=gd@pve!t=b' } });
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 700 } })).body?.data);
      const missingIso = await call('PUT', '/nodes/pve/qemu/700/config', {
        params: { ide3: 'local:iso/none.iso,media=cdrom' },
      });
      expect(missingIso).toMatchObject({ status: 500, reason: "volume 'local:iso/none.iso' does not exist" });
      const m = multipart([['content', 'iso']], { name: 'cd.iso', data: Buffer.from('x'), type: 'a/b' });
      await waitTask(s, (await rawPost(s, '/nodes/pve/storage/local/upload', m.headers, m.body)).data);
      const noCdrom = await weak('PUT', '/nodes/pve/qemu/700/config', {
        params: { ide3: 'local:iso/cd.iso,media=cdrom' },
      });
      expect(noCdrom).toMatchObject({ status: 403, reason: 'Permission check failed (/vms/700, VM.Config.CDROM)' });
      expect(s.state.storages.get('local-lvm')?.volumes.has('local-lvm:vm-700-cloudinit')).toBe(true);
      const ok = await call('PUT', '/nodes/pve/qemu/700/config', {
        params: { ide3: 'local:iso/cd.iso,media=cdrom', delete: 'ide2' },
      });
      expect(ok.status).toBe(200);
      expect(s.state.storages.get('local-lvm')?.volumes.has('local-lvm:vm-700-cloudinit')).toBe(false);
      const del = await weak('DELETE', `/nodes/pve/storage/local/content/${encodeURIComponent('local:iso/cd.iso')}`);
      expect(del).toMatchObject({
        status: 403,
        reason: 'Permission check failed (/storage/local, Datastore.Allocate)',
      });
      await waitTask(s, (await call('DELETE', '/nodes/pve/storage/local/content/local:iso/cd.iso')).body?.data);
      const boot = await waitTask(s, (await call('POST', '/nodes/pve/qemu/700/status/start')).body?.data);
      expect(boot.exitstatus).toBe("volume 'local:iso/cd.iso' does not exist");
    });

    it('runs programs through agent/exec: exit codes, signals, output as PVE encodes it, truncation, a blocked exec', async () => {
      const s = await start({
        guest: {
          agentDelayMs: 0,
          exec: (_vm, argv) =>
            argv[0] === 'nft'
              ? { exitcode: 0, out: '{"nftables": "é→"}\n' }
              : argv[0] === 'sleep'
                ? { signal: 9 }
                : argv[0] === 'flood'
                  ? { exitcode: 0, out: '0123456789abcdef' }
                  : undefined,
        },
        timing: { execMs: 0 },
      });
      const call = api(s);
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 800 } })).body?.data);
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/800/status/start')).body?.data);
      const run = async (command: string[]) => {
        const r = await call('POST', '/nodes/pve/qemu/800/agent/exec', { params: { command } });
        if (r.status !== 200) return r;
        const { pid } = r.body?.data as { pid: number };
        return (await call('GET', '/nodes/pve/qemu/800/agent/exec-status', { params: { pid } })).body?.data;
      };
      // PVE decodes QGA's base64 to bytes and its JSON encoder takes each byte for a character.
      expect(await run(['nft', '-j', 'list', 'ruleset'])).toEqual({
        exited: 1,
        exitcode: 0,
        'out-data': Buffer.from('{"nftables": "é→"}\n').toString('latin1'),
      });
      expect(await run(['false'])).toEqual({ exited: 1, exitcode: 1 });
      expect(await run(['sleep', '100'])).toEqual({ exited: 1, signal: 9 });
      s.state.vms.get(800)!.guest.execOutputLimit = 8;
      expect(await run(['flood'])).toEqual({ exited: 1, exitcode: 0, 'out-data': '01234567', 'out-truncated': 1 });
      expect(await run(['no-such-program'])).toMatchObject({
        status: 500,
        reason: expect.stringMatching(
          /^Agent error: Guest agent command failed, error was 'Failed to execute child process/,
        ),
      });
      s.state.vms.get(800)!.guest.execDisabled = true;
      expect(await run(['hostname'])).toMatchObject({
        status: 500,
        reason: 'Agent error: Command guest-exec has been disabled',
      });
      const info = (await call('GET', '/nodes/pve/qemu/800/agent/info')).body?.data as {
        result: { supported_commands: Array<{ name: string; enabled: boolean }> };
      };
      expect(info.result.supported_commands.find((c) => c.name === 'guest-exec')?.enabled).toBe(false);
    });
  });

  describe('versions, power, SDN', () => {
    it('validates against the 8.4 schema or the 9.1 schema as chosen', async () => {
      const v9 = await start({ version: '9.1' });
      const v8 = await start({ version: '8.4' });
      // allow-ksm (config) and lock-token (SDN) are new in PVE 9.
      expect((await api(v9)('PUT', '/nodes/pve/qemu/9000/config', { params: { 'allow-ksm': 0 } })).status).toBe(200);
      const old = await api(v8)('PUT', '/nodes/pve/qemu/9000/config', { params: { 'allow-ksm': 0 } });
      expect(old.body?.errors).toEqual({
        'allow-ksm': 'property is not defined in schema and the schema does not allow additional properties',
      });
      expect((await api(v8)('PUT', '/cluster/sdn', { params: { 'lock-token': 'x' } })).status).toBe(400);
      expect((await api(v8)('GET', '/version')).body?.data).toMatchObject({ release: '8.4' });
      // memory is a property string `[current=]<int>` in both (it was an integer only in 7.4).
      for (const s of [v8, v9]) {
        expect(
          (await api(s)('PUT', '/nodes/pve/qemu/9000/config', { params: { memory: 'current=4096' } })).status,
        ).toBe(200);
        expect(
          (await api(s)('PUT', '/nodes/pve/qemu/9000/config', { params: { memory: 'lots' } })).body?.errors,
        ).toEqual({
          memory: "invalid format - format error\nmemory.current: type check ('integer') failed - got 'lots'\n",
        });
      }
    });

    it('starts, shuts down and refuses to start a template', async () => {
      const s = await start();
      const call = api(s);
      expect(await waitTask(s, (await call('POST', '/nodes/pve/qemu/9000/status/start')).body?.data)).toMatchObject({
        exitstatus: "you can't start a vm if it's a template",
      });
      await waitTask(
        s,
        (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 700, full: 1 } })).body?.data,
      );
      await waitTask(s, (await call('POST', '/nodes/pve/qemu/700/status/start')).body?.data);
      expect((await call('GET', '/nodes/pve/qemu/700/status/current')).body?.data).toMatchObject({
        status: 'running',
        agent: 1,
      });
      expect((await call('DELETE', '/nodes/pve/qemu/700')).reason).toBe('VM 700 is running - destroy failed');
      expect(await waitTask(s, (await call('POST', '/nodes/pve/qemu/700/status/start')).body?.data)).toMatchObject({
        exitstatus: 'VM 700 already running',
      });
      expect(await waitTask(s, (await call('POST', '/nodes/pve/qemu/700/status/shutdown')).body?.data)).toMatchObject({
        exitstatus: 'OK',
      });
      expect(await waitTask(s, (await call('DELETE', '/nodes/pve/qemu/700')).body?.data)).toMatchObject({
        exitstatus: 'OK',
      });
      expect((await call('GET', '/nodes/pve/qemu/700/status/current')).reason).toBe(
        "Configuration file 'nodes/pve/qemu-server/700.conf' does not exist",
      );
    });

    it('keeps SDN changes pending until PUT /cluster/sdn applies them', async () => {
      const s = await start();
      const call = api(s);
      expect(
        (await call('POST', '/cluster/sdn/zones', { params: { zone: 'gdzone', type: 'vlan', bridge: 'vmbr0' } }))
          .status,
      ).toBe(200);
      expect(
        (await call('POST', '/cluster/sdn/vnets', { params: { vnet: 'gdnet1', zone: 'gdzone' } })).body?.errors,
      ).toEqual({ tag: 'missing vlan tag' });
      expect(
        (await call('POST', '/cluster/sdn/vnets', { params: { vnet: 'gdnet1', zone: 'gdzone', tag: 20 } })).status,
      ).toBe(200);
      expect((await call('GET', '/cluster/sdn/vnets', { params: { running: 1 } })).body?.data).toEqual([]);
      expect((await call('GET', '/cluster/sdn/vnets', { params: { pending: 1 } })).body?.data).toEqual([
        { vnet: 'gdnet1', state: 'new', pending: { zone: 'gdzone', tag: 20 } },
      ]);
      expect(await waitTask(s, (await call('PUT', '/cluster/sdn')).body?.data)).toMatchObject({ exitstatus: 'OK' });
      expect((await call('GET', '/cluster/sdn/vnets', { params: { running: 1 } })).body?.data).toEqual([
        { vnet: 'gdnet1', zone: 'gdzone', tag: 20 },
      ]);
    });

    it('logs every request, and a well-behaved flow is all schema-valid', async () => {
      const s = await start();
      const call = api(s);
      await call('GET', '/version');
      await call('GET', '/cluster/resources', { params: { type: 'vm' } });
      const upid = (await call('POST', '/nodes/pve/qemu/9000/clone', { params: { newid: 800, name: 'db-1', full: 0 } }))
        .body?.data;
      await waitTask(s, upid);
      await call('POST', '/nodes/pve/qemu/800/config', {
        params: { cores: 2, memory: 2048, net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=30', tags: 'gd-abc;lab' },
      });
      await s.idle();
      const stats = s.stats();
      expect(stats.invalid).toEqual([]);
      expect(stats.unmodelled).toEqual([]);
      expect(stats.byEndpoint['POST /nodes/{node}/qemu/{vmid}/clone']).toBe(1);
      expect(s.state.vms.get(800)?.config).toMatchObject({
        tags: 'gd-abc;lab',
        net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=30',
      });
      const rows = (await call('GET', '/cluster/resources', { params: { type: 'vm' } })).body?.data as Array<{
        vmid: number;
        tags?: string;
      }>;
      expect(rows.find((r) => r.vmid === 800)?.tags).toBe('gd-abc;lab');
    });
  });
});
