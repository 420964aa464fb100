// The Proxmox driver's view into guests and the cluster, against the test server: programs run through the guest
// agent (results, and each way exec can be unavailable, said without waiting), planned addresses, capacity, clone
// retries that give their slot back while they wait, and SDN zones removed with their last VNet if Glassdome made them.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import { zoneMarker } from '../../server/platforms/proxmox/networks.ts';
import { driver, server, spec, useCleanups } from './proxmox-harness.ts';
import { callPve, schemaMissingReason, type ProxmoxServer } from './proxmox-server/index.ts';

const missing = schemaMissingReason('9.1') ?? schemaMissingReason('8.4');
if (missing) console.warn(`skipping Proxmox guest tests: ${missing}`);

const { track } = useCleanups();

/** A started machine of deployment `dep`, with the guest agent up. */
async function running(s: ProxmoxServer, p: ReturnType<typeof driver>, dep: string, name = 'web') {
  const ref = await p.createMachine(spec(dep, name));
  await p.startMachine(ref);
  await p.waitForAddress(ref, { timeoutMs: 5000 });
  return { ref, vm: s.state.vms.get(Number(ref.id))! };
}

const nft = '{"nftables": [{"table": {"family": "inet", "name": "glassdome"}}, {"comment": "dmz → lan: déni"}]}\n';

describe.skipIf(missing !== undefined)('proxmox guest exec', () => {
  it('returns exit code, stdout and stderr; a non-zero exit, a signal and a missing program are results', async () => {
    const s = track(
      await server({
        guest: {
          exec: (_vm, argv) =>
            argv[0] === 'nft'
              ? { exitcode: 0, out: nft }
              : argv[0] === 'dpkg-query'
                ? { exitcode: 1, out: '', err: 'dpkg-query: no packages found matching dnsmasq\n' }
                : argv[0] === 'sleep'
                  ? { signal: 9 }
                  : undefined,
        },
      }),
    );
    const p = track(driver(s));
    expect(p.supports.guestExec).toBe(true);
    const { ref } = await running(s, p, 'ex');
    // UTF-8 comes back as the guest wrote it, although PVE encodes it twice on the way.
    expect(await p.guestExec!(ref, ['nft', '-j', 'list', 'table', 'inet', 'glassdome'], { timeoutMs: 5000 })).toEqual({
      exitCode: 0,
      stdout: nft,
      stderr: '',
    });
    expect(await p.guestExec!(ref, ['dpkg-query', '-W', 'dnsmasq'], { timeoutMs: 5000 })).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'dpkg-query: no packages found matching dnsmasq\n',
    });
    expect((await p.guestExec!(ref, ['sleep', '1000'], { timeoutMs: 5000 })).exitCode).toBe(137);
    const none = await p.guestExec!(
      ref,
      ['nft', 'x'].map((a, i) => (i === 0 ? 'nft-missing' : a)),
      {
        timeoutMs: 5000,
      },
    );
    expect(none).toMatchObject({ exitCode: 127, stdout: '', stderr: expect.stringMatching(/Failed to execute child/) });
    const exec = s.requests.filter((r) => r.endpoint === '/nodes/{node}/qemu/{vmid}/agent/exec');
    expect(exec[0]?.params.command).toEqual(['nft', '-j', 'list', 'table', 'inet', 'glassdome']);
  });

  it('says the guest agent cut the output, and times out on a program that runs too long', async () => {
    const s = track(
      await server({
        guest: {
          execOutputLimit: 10,
          exec: (_vm, argv) =>
            argv[0] === 'flood'
              ? { exitcode: 0, out: 'x'.repeat(100) }
              : argv[0] === 'slow'
                ? { exitcode: 0, durationMs: 60_000 }
                : undefined,
        },
      }),
    );
    const p = track(driver(s));
    const { ref } = await running(s, p, 'cut');
    expect(await p.guestExec!(ref, ['flood'], { timeoutMs: 5000 })).toEqual({
      exitCode: 0,
      stdout: 'x'.repeat(10),
      stderr: '[glassdome] the guest agent truncated stdout',
    });
    const e = await p.guestExec!(ref, ['slow'], { timeoutMs: 200 }).catch((x: unknown) => x);
    expect(e).toMatchObject({
      code: 'timeout',
      message: expect.stringMatching(
        /^\[proxmox\] "slow" in VM "gd-cut-i1-web" did not finish within 0 s \(agent pid \d+/,
      ),
    });
  });

  it('fails at once, saying why, when exec is not available: no agent, agent down, exec blocked, privilege missing', async () => {
    const s = track(
      await server({
        auth: {
          tokens: [
            { tokenid: 'root@pam!glassdome', secret: 'a', privs: ['*'] },
            {
              tokenid: 'gd@pve!audit',
              secret: 'b',
              privs: ['VM.Audit', 'VM.GuestAgent.Audit', 'Datastore.Audit', 'Sys.Audit'],
            },
          ],
        },
      }),
    );
    const p = track(driver(s, {}, 'a'));
    const { ref, vm } = await running(s, p, 'na');
    const failure = async (fn: () => Promise<unknown>) => {
      const t0 = Date.now();
      const e = await fn().catch((x: unknown) => x);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(e).toBeInstanceOf(AppError);
      return e as AppError;
    };
    const exec = () => p.guestExec!(ref, ['hostname'], { timeoutMs: 30_000 });

    vm.guest.execDisabled = true;
    const blocked = await failure(exec);
    expect(blocked.code).toBe('platform_error');
    expect(blocked.message).toBe(
      '[proxmox] Unable to run "hostname" in VM "gd-na-i1-web": guest-exec is disabled by the guest agent\'s configuration (Agent error: Command guest-exec has been disabled)',
    );
    expect(blocked.hint).toMatch(/block-rpcs/);
    vm.guest.execDisabled = false;

    const audit = track(driver(s, { auth: { mode: 'token', tokenId: 'gd@pve!audit' } }, 'b'));
    const denied = await failure(() => audit.guestExec!(ref, ['hostname'], { timeoutMs: 30_000 }));
    expect(denied.code).toBe('platform_error');
    expect(denied.message).toMatch(
      /may not run programs in guests \(Permission check failed \(\/vms\/\d+, VM\.GuestAgent\.Unrestricted\)\)/,
    );
    expect(denied.hint).toMatch(/VM\.GuestAgent\.Unrestricted \(PVE 9\) or VM\.Monitor \(PVE 8\)/);

    // The agent stops answering (the guest is shutting down, or qemu-guest-agent died): no wait until the timeout.
    vm.startedAt = Date.now();
    vm.guest.agentDelayMs = 60_000;
    const down = await failure(exec);
    expect(down.message).toMatch(
      /the QEMU guest agent does not answer in the guest \(QEMU guest agent is not running\)/,
    );

    delete vm.config.agent;
    const unconfigured = await failure(exec);
    expect(unconfigured.message).toMatch(/the VM has no QEMU guest agent configured/);
  });

  it('names VM.Monitor on PVE 8 when the token may not exec', async () => {
    const s = track(
      await server({
        version: '8.4',
        auth: {
          tokens: [
            { tokenid: 'root@pam!glassdome', secret: 'a', privs: ['*'] },
            { tokenid: 'gd@pve!t', secret: 'b', privs: ['VM.Audit', 'Sys.Audit'] },
          ],
        },
      }),
    );
    const { ref } = await running(s, track(driver(s, {}, 'a')), 'p8');
    const weak = track(driver(s, { auth: { mode: 'token', tokenId: 'gd@pve!t' } }, 'b'));
    await expect(weak.guestExec!(ref, ['hostname'], { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'platform_error',
      message: expect.stringContaining('(Permission check failed (/vms/'),
    });
    expect(s.requests.at(-1)?.message).toMatch(/VM\.Monitor\)$/);
  });
});

describe.skipIf(missing !== undefined)('proxmox planned addresses, capacity, clone slots, SDN zones', () => {
  it('waits for the planned address, and times out naming it and what the guest reports instead', async () => {
    const s = track(await server({ guest: { address: () => '192.168.122.5/24' } }));
    const p = track(driver(s));
    const ref = await p.createMachine(spec('ip', 'web'));
    await p.startMachine(ref);
    const e = await p.waitForAddress(ref, { timeoutMs: 1000, expect: ['10.40.1.10'] }).catch((x: unknown) => x);
    expect(e).toMatchObject({
      code: 'timeout',
      message:
        '[proxmox] VM "gd-ip-i1-web" did not report its planned address 10.40.1.10 within 1 s; it reports 192.168.122.5',
    });
    expect(await p.waitForAddress(ref, { timeoutMs: 5000, expect: ['192.168.122.5'] })).toEqual(['192.168.122.5']);

    // A static address from the plan reaches the guest through ipconfig0 and is what it reports.
    const s2 = track(await server());
    const p2 = track(driver(s2));
    const planned = await p2.createMachine(
      spec('ip', 'db', {
        cloudInit: {
          userData: '#cloud-config\n',
          metaData: 'instance-id: db\n',
          networkConfig:
            'version: 2\nethernets:\n  eth0:\n    match: {macaddress: "02:00:00:00:00:01"}\n    addresses: [10.40.1.10/24]\n',
        },
      }),
    );
    await p2.startMachine(planned);
    expect(await p2.waitForAddress(planned, { timeoutMs: 5000, expect: ['10.40.1.10'] })).toContain('10.40.1.10');
  });

  it('reports vCPUs, memory and clone storage that running VMs reduce', async () => {
    const s = track(await server({ nodeMemoryGb: 32 }));
    const p = track(driver(s, { cpuOvercommit: 2 }));
    const before = await p.capacity!();
    expect(before).toMatchObject({ cpus: 32, memoryMb: 24 * 1024 });
    expect(before.storageGb).toBeGreaterThan(400);
    expect(before.detail).toMatch(
      /^node pve: 16 logical CPUs x 2 \(cpuOvercommit\) - 0 vCPUs of running VMs = 32 vCPUs; /,
    );
    const ref = await p.createMachine(spec('cap', 'web', { cpus: 4, memoryMb: 4096 }));
    expect((await p.capacity!()).cpus).toBe(32); // stopped: takes nothing yet
    await p.startMachine(ref);
    expect(await p.capacity!()).toMatchObject({ cpus: 28, memoryMb: 20 * 1024 });
  });

  it('gives its clone slot back while it waits to retry, so another clone runs meanwhile', async () => {
    const lock = "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout";
    const s = track(
      await server({
        faults: [
          {
            effect: 'http500',
            method: 'POST',
            endpoint: '/nodes/{node}/qemu/{vmid}/clone',
            times: 1,
            message: lock,
            when: (params) => params.name === 'gd-slot-i1-a',
          },
        ],
      }),
    );
    // One slot; a's retry waits 1-2 s.
    const p = track(driver(s, { cloneSlotsPerStorage: 1, retry: { attempts: 5, baseMs: 2000, maxMs: 2000 } }));
    const done: string[] = [];
    const a = p.createMachine(spec('slot', 'a')).then((r) => (done.push('a'), r));
    const clones = () => s.requests.filter((r) => r.endpoint === '/nodes/{node}/qemu/{vmid}/clone');
    for (let i = 0; i < 200 && clones().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(clones()[0]).toMatchObject({ status: 500, params: { name: 'gd-slot-i1-a' } });
    const b = p.createMachine(spec('slot', 'b')).then((r) => (done.push('b'), r));
    await Promise.all([a, b]);
    expect(clones().map((r) => [r.params.name, r.status])).toEqual([
      ['gd-slot-i1-a', 500],
      ['gd-slot-i1-b', 200],
      ['gd-slot-i1-a', 200],
    ]);
    expect(done).toEqual(['b', 'a']);
    expect(p.stats().retries).toBe(1);
  });

  it('removes the SDN zone it created with the last VNet in it, and keeps a zone it did not create', async () => {
    const s = track(await server());
    const p = track(driver(s, { network: { mode: 'sdn', zone: 'gdlab', applyDebounceMs: 20 } }));
    const net = (dep: string, i: number) => ({
      deploymentId: dep,
      name: `gd-${dep}-i1-n${i}`,
      kind: 'isolated' as const,
      cidr: '10.0.0.0/24',
      gateway: '10.0.0.1',
      vlan: 200 + i + (dep === 'z2' ? 10 : 0),
    });
    const a = await Promise.all([0, 1, 2].map((i) => p.ensureNetwork(net('z1', i))));
    const b = await p.ensureNetwork(net('z2', 0));
    expect(s.state.pools.has(zoneMarker('gdlab'))).toBe(true);
    expect(s.state.sdn.zones.get('gdlab')?.running).toMatchObject({ type: 'vlan', bridge: 'vmbr0' });
    await Promise.all(a.map((n) => p.deleteNetwork(n)));
    // Another deployment still has a VNet in it: the zone stays.
    expect(s.state.sdn.zones.get('gdlab')?.deleted).toBeFalsy();
    expect(await p.listOwned('z1')).toEqual([]);
    await p.deleteNetwork(b);
    await p.deleteNetwork(b);
    expect(s.state.sdn.zones.has('gdlab')).toBe(false);
    expect(s.state.pools.has(zoneMarker('gdlab'))).toBe(false);
    expect(await p.listOwned('z2')).toEqual([]);
    // A new deployment makes the zone again.
    const again = await p.ensureNetwork(net('z3', 0));
    expect(s.state.sdn.zones.get('gdlab')?.running).toBeDefined();
    await p.deleteNetwork(again);
    expect(s.state.sdn.zones.has('gdlab')).toBe(false);

    // The administrator's zone: used, never removed, no marker.
    const call = (method: string, path: string, params: Record<string, string | number> = {}) =>
      callPve(s, method, path, { params, headers: { Authorization: s.tokenHeader() } });
    await call('POST', '/cluster/sdn/zones', { zone: 'admin', type: 'vlan', bridge: 'vmbr0' });
    await call('PUT', '/cluster/sdn');
    await s.idle();
    const q = track(driver(s, { network: { mode: 'sdn', zone: 'admin', applyDebounceMs: 20 } }));
    const mine = await q.ensureNetwork(net('z4', 0));
    await q.deleteNetwork(mine);
    expect(s.state.sdn.zones.get('admin')?.running).toBeDefined();
    expect(s.state.sdn.zones.get('admin')?.deleted).toBeFalsy();
    expect(s.state.pools.has(zoneMarker('admin'))).toBe(false);
    await s.idle();
    expect(s.stats().invalid).toEqual([]);
  });
});
