// The guest-agent fix end to end: the Proxmox test server reports no agent for a running VM, a real OpenSSH server
// stands for the guest (its login shell records each command and runs it against stub apt-get/systemctl/sudo), the
// fix installs and starts the agent over SSH, and the Proxmox driver then gets answers from the agent again.
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../server/errors.ts';
import {
  fixGuestAgent,
  guestAgentFindingKind,
  guestAgentInstallCommand,
  guestAgentInstallScript,
  type GuestAgentFixInput,
  type GuestAgentFixRecord,
} from '../../../server/overseer/fixes/guest-agent.ts';
import type { MachineRef } from '../../../server/platforms/platform.ts';
import { proxmoxConfigSchema } from '../../../server/platforms/proxmox/config.ts';
import { createProxmoxPlatform, type ProxmoxPlatform } from '../../../server/platforms/proxmox/driver.ts';
import type { SshTarget } from '../../../server/ssh/connection.ts';
import { schemaMissingReason, startProxmoxServer, type ProxmoxServer } from '../../platforms/proxmox-server/index.ts';
import { sshdUsable, startSshd, type Sshd } from '../../ssh/sshd.ts';
import { createFakeGuest, type FakeGuest } from './fake-guest.ts';

describe('the install script and command, as values', () => {
  it("installs from the machine's own sources when there is no cache, and starts the agent", () => {
    const s = guestAgentInstallScript({ package: 'qemu-guest-agent', service: 'qemu-guest-agent' });
    expect(s).toContain("pkg='qemu-guest-agent'");
    expect(s).toContain("cache=''");
    expect(s).toContain(`dpkg-query -W -f='\${Status}' "$pkg"`);
    expect(s).toContain('systemctl restart "$svc"');
    expect(spawnSync('sh', ['-n'], { input: s }).status).toBe(0);
  });

  it('refuses a package cache URL that is not http(s), before anything runs', () => {
    expect(() => guestAgentInstallScript({ package: 'p', service: 's' }, 'ftp://cache/debs')).toThrow(
      /http:\/\/ or https:\/\//,
    );
    expect(() => guestAgentInstallScript({ package: 'p', service: 's' }, 'http://x/debs trusted')).toThrow(/spaces/);
  });

  it('passes the sudo password on stdin only, never in the command line', () => {
    const c = guestAgentInstallCommand('echo hi', { user: 'glassdome', sudoPassword: "p'w$1" });
    expect(c).toEqual({ command: `sudo -S -p '' sh -c 'echo hi'`, stdin: "p'w$1\n" });
    expect(guestAgentInstallCommand('echo hi', { user: 'glassdome' })).toEqual({ command: `sudo -n sh -c 'echo hi'` });
    expect(guestAgentInstallCommand("echo 'hi'", { user: 'root', sudoPassword: 'x' })).toEqual({
      command: `sh -c 'echo '\\''hi'\\'''`,
    });
  });
});

const avail = await sshdUsable();
const pveMissing = schemaMissingReason('9.1');
const skip = !('ok' in avail) ? avail.skip : pveMissing;
if (skip) console.warn(`[skip] guest-agent fix end to end: ${skip}`);

describe.skipIf(skip !== undefined)('the guest-agent fix against the Proxmox test server and a real sshd', () => {
  let pve: ProxmoxServer;
  let driver: ProxmoxPlatform;
  let guest: FakeGuest;
  let sshd: Sshd;
  let ref: MachineRef;
  const asRoot = 'ok' in avail && avail.asRoot;

  beforeAll(async () => {
    guest = createFakeGuest({ ...(asRoot ? { owner: 4242 } : {}) });
    sshd = await startSshd({ commandWrapper: guest.shell });
    if (sshd.password !== undefined) guest.setSudoPassword(sshd.password);
    pve = await startProxmoxServer({
      templates: [{ vmid: 9000, name: 'ubuntu-2204-template' }],
      // The agent runs in the guest once the stub systemctl has started it.
      guest: { agentDelayMs: 0, addressDelayMs: 0, cloudInitMs: 0, agentRunning: () => guest.agentRunning() },
      timing: { authFailDelayMs: 0, execMs: 5, taskMs: { default: 5, qmclone: 10, qmstart: 5 } },
    });
    driver = createProxmoxPlatform(
      proxmoxConfigSchema.parse({
        url: pve.url,
        auth: { mode: 'token', tokenId: pve.tokens[0]!.tokenid },
        tls: { fingerprint: pve.fingerprint },
        node: 'pve',
        templates: { 'ubuntu-22.04': 9000 },
        retry: { attempts: 10, baseMs: 5, maxMs: 50 },
        poll: { minMs: 5, maxMs: 40 },
      }),
      { secret: pve.tokens[0]!.secret },
    );
    ref = await driver.createMachine({
      deploymentId: 'fix1',
      name: 'gd-fix1-i1-web',
      hostname: 'web',
      os: 'ubuntu-22.04',
      cpus: 1,
      memoryMb: 1024,
      diskGb: 10,
      nics: [{ network: { id: 'vmbr0', name: 'vmbr0' }, mac: '02:00:00:00:00:01', ip: '10.0.1.10' }],
    });
    await driver.startMachine(ref);
  });

  afterAll(async () => {
    await driver?.close();
    await pve?.close();
    await sshd?.stop();
    guest?.cleanup();
  });

  afterEach(() => guest.setStartFails(false));

  const target = (): SshTarget => ({
    name: 'gd-fix1-i1-web',
    host: sshd.host,
    port: sshd.port,
    credentials:
      sshd.password !== undefined
        ? { username: sshd.user, password: sshd.password }
        : { username: sshd.user, privateKey: sshd.privateKey },
    hostKey: { mode: 'pinned', fingerprints: [sshd.hostKeyFingerprint] },
  });

  const input = (records: GuestAgentFixRecord[], over: Partial<GuestAgentFixInput> = {}): GuestAgentFixInput => ({
    finding: { kind: guestAgentFindingKind, machine: 'gd-fix1-i1-web', os: 'ubuntu-22.04', ref },
    platform: driver,
    ssh: target(),
    ...(sshd.password !== undefined ? { sudoPassword: sshd.password } : {}),
    checkTimeoutMs: 300,
    verifyTimeoutMs: 2000,
    retryDelay: { baseMs: 10, maxMs: 20 },
    onAttempt: (r) => records.push(r),
    ...over,
  });

  it('gives up after the bounded attempts when the agent will not start, naming the machine and the cause', async () => {
    guest.reset();
    guest.setStartFails(true);
    const records: GuestAgentFixRecord[] = [];
    const before = guest.commands().length;
    const out = await fixGuestAgent(input(records, { maxAttempts: 2, packageCacheUrl: 'http://10.0.1.1:8081/debs' }));
    expect(out.state).toBe('gave-up');
    if (out.state !== 'gave-up') return;
    expect(out.attempts).toBe(2);
    expect(out.reason).toMatch(
      /^Unable to fix the guest agent of machine "gd-fix1-i1-web" after 2 attempts: the install exited with 7: .*qemu-guest-agent did not start/,
    );
    expect(records.map((r) => `${r.attempt}:${r.step}:${r.ok}`)).toEqual([
      '0:check:false',
      '1:install:false',
      '2:install:false',
    ]);
    expect(records[0]!.detail).toBe('the guest agent did not answer within 0.3 s');
    // Exactly two SSH sessions ran the install, and no password went anywhere.
    expect(guest.commands().length - before).toBe(2);
    if (sshd.password) for (const r of records) expect(r.detail).not.toContain(sshd.password);
    expect(guest.agentRunning()).toBe(false);
  });

  it('installs from the package cache, starts the agent over SSH, and the platform then hears it', async () => {
    guest.reset();
    const records: GuestAgentFixRecord[] = [];
    const out = await fixGuestAgent(input(records, { packageCacheUrl: 'http://10.0.1.1:8081/debs' }));
    expect(out).toEqual({ state: 'fixed', attempts: 1 });
    expect(records.map((r) => `${r.attempt}:${r.step}:${r.ok}`)).toEqual([
      '0:check:false',
      '1:install:true',
      '1:verify:true',
    ]);
    expect(records.at(-1)!.detail).toBe('qemu-guest-agent answers the platform');

    // What the guest was asked to do, in order.
    const cmd = guest.commands().at(-1)!;
    expect(cmd.startsWith(sshd.password !== undefined ? `sudo -S -p '' sh -c '` : `sudo -n sh -c '`)).toBe(true);
    const calls = guest.calls();
    const tail = calls.slice(calls.findLastIndex((c) => c.startsWith('sudo')));
    expect(tail.map((c) => c.replace(/SourceList=\S+/, 'SourceList=<tmp>'))).toEqual([
      sshd.password !== undefined ? 'sudo -S' : 'sudo -n',
      `dpkg-query -W -f=\${Status} qemu-guest-agent`,
      'apt-get -o Dir::Etc::SourceList=<tmp> -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update',
      'apt-get -o Dir::Etc::SourceList=<tmp> -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 install -y --no-install-recommends qemu-guest-agent',
      'systemctl enable qemu-guest-agent',
      'systemctl restart qemu-guest-agent',
      'systemctl is-active --quiet qemu-guest-agent',
    ]);
    expect(guest.sourceLists().slice(-2)).toEqual([
      'deb [trusted=yes] http://10.0.1.1:8081/debs ./',
      'deb [trusted=yes] http://10.0.1.1:8081/debs ./',
    ]);
    expect(guest.installed('qemu-guest-agent')).toBe(true);

    // The driver itself now gets addresses through the agent.
    expect(await driver.waitForAddress(ref, { timeoutMs: 2000 })).toEqual([expect.stringMatching(/^10\./)]);
    expect(
      pve.requests.some(
        (r) => r.endpoint === '/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces' && r.status === 200,
      ),
    ).toBe(true);
  });

  it('reaches a machine on an isolated network through the range router', async () => {
    guest.reset();
    const router = await startSshd();
    try {
      const via: SshTarget = {
        name: 'router',
        host: router.host,
        port: router.port,
        credentials: { username: router.user, privateKey: router.privateKey },
        hostKey: { mode: 'pinned', fingerprints: [router.hostKeyFingerprint] },
      };
      const records: GuestAgentFixRecord[] = [];
      expect(await fixGuestAgent(input(records, { ssh: { ...target(), via } }))).toEqual({
        state: 'fixed',
        attempts: 1,
      });
      const line = new RegExp(`server_request_direct_tcpip: .* target 127\\.0\\.0\\.1 port ${sshd.port}$`, 'm');
      for (let i = 0; i < 40 && !line.test(router.log()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(router.log()).toMatch(line);
    } finally {
      await router.stop();
    }
  });

  it('does nothing when the agent already answers (idempotent)', async () => {
    const before = guest.commands().length;
    const records: GuestAgentFixRecord[] = [];
    expect(await fixGuestAgent(input(records))).toEqual({ state: 'already-working' });
    expect(guest.commands().length).toBe(before);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ attempt: 0, step: 'check', ok: true });
  });

  it('refuses a Windows machine and a stopped VM without connecting', async () => {
    const before = guest.commands().length;
    const win = await fixGuestAgent(
      input([], {
        finding: { kind: guestAgentFindingKind, machine: 'gd-fix1-i1-dc01', os: 'windows-server-2022', ref },
      }),
    );
    expect(win).toEqual({
      state: 'not-fixable',
      reason:
        'Unable to fix the guest agent of machine "gd-fix1-i1-dc01": Windows Server 2022 is not an apt-based Linux; install the agent in its template',
    });
    await driver.stopMachine(ref, { force: true });
    try {
      const stopped = await fixGuestAgent(input([]));
      expect(stopped).toEqual({
        state: 'not-fixable',
        reason: 'Unable to fix the guest agent of machine "gd-fix1-i1-web": the machine is stopped',
      });
    } finally {
      await driver.startMachine(ref);
    }
    expect(guest.commands().length).toBe(before);
  });

  it('stops at once on a changed host key, sending nothing', async () => {
    guest.setStartFails(true);
    const stranger = await startSshd();
    try {
      const records: GuestAgentFixRecord[] = [];
      // The platform reports no agent; the address the fix is given answers with another host key.
      const out = await fixGuestAgent(
        input(records, {
          platform: {
            ...driver,
            waitForAddress: async () => {
              throw new AppError('timeout', 'no agent');
            },
            guestExec: async () => {
              throw new AppError('transient', 'the QEMU guest agent does not answer in the guest');
            },
          } as unknown as ProxmoxPlatform,
          ssh: { ...target(), port: stranger.port },
        }),
      );
      expect(out.state).toBe('not-fixable');
      if (out.state === 'not-fixable') expect(out.reason).toContain('its host key has changed');
      expect(stranger.log()).not.toMatch(/Accepted|Failed (password|publickey)/);
    } finally {
      await stranger.stop();
    }
  });
});
