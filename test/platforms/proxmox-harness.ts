// What the Proxmox driver tests share: the test server with fast timings, a driver configured for it, machine specs,
// a stand-in for the shared snippets mount, and cleanup after each test.
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { MachineSpec } from '../../server/platforms/platform.ts';
import { proxmoxConfigSchema, type ProxmoxConfigInput } from '../../server/platforms/proxmox/config.ts';
import { createProxmoxPlatform, type ProxmoxPlatform } from '../../server/platforms/proxmox/driver.ts';
import { startProxmoxServer, type ProxmoxServer, type ProxmoxServerOptions } from './proxmox-server/index.ts';

export const templates = [
  { vmid: 9000, name: 'ubuntu-2204-template' },
  { vmid: 9001, name: 'debian-12-template' },
  { vmid: 9002, name: 'kali-template' },
];

export async function server(opts: ProxmoxServerOptions = {}): Promise<ProxmoxServer> {
  return startProxmoxServer({
    templates,
    guest: { agentDelayMs: 30, addressDelayMs: 60, cloudInitMs: 120, ...opts.guest },
    ...opts,
    timing: {
      authFailDelayMs: 0,
      lockTimeoutMs: 300,
      cloneLockTimeoutMs: 100,
      storageLockTimeoutMs: 300,
      execMs: 5,
      ...opts.timing,
      taskMs: {
        default: 10,
        qmclone: 40,
        qmcreate: 20,
        qmstart: 10,
        qmshutdown: 10,
        qmdestroy: 10,
        ...opts.timing?.taskMs,
      },
    },
  });
}

export function driverConfig(s: ProxmoxServer, extra: Partial<ProxmoxConfigInput> = {}): ProxmoxConfigInput {
  return {
    url: s.url,
    auth: { mode: 'token', tokenId: s.tokens[0]!.tokenid },
    tls: { fingerprint: s.fingerprint },
    node: 'pve',
    templates: { 'ubuntu-22.04': 9000, 'debian-12': 9001, 'kali-rolling': 9002 },
    retry: { attempts: 40, baseMs: 5, maxMs: 100 },
    poll: { minMs: 5, maxMs: 40 },
    ...extra,
  };
}

export function driver(
  s: ProxmoxServer,
  extra: Partial<ProxmoxConfigInput> = {},
  secret = s.tokens[0]!.secret,
): ProxmoxPlatform {
  return createProxmoxPlatform(proxmoxConfigSchema.parse(driverConfig(s, extra)), { secret });
}

export const sshKey = (() => {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} lab@glassdome`;
})();

export const spec = (deploymentId: string, name: string, extra: Partial<MachineSpec> = {}): MachineSpec => ({
  deploymentId,
  name: `gd-${deploymentId}-i1-${name}`,
  hostname: name,
  os: 'ubuntu-22.04',
  cpus: 2,
  memoryMb: 2048,
  diskGb: 20,
  nics: [{ network: { id: 'vmbr0:3001', name: 'lan' }, mac: '02:00:00:00:00:01', ip: '10.77.0.10' }],
  ...extra,
});

/** Plays the shared storage mount: files the appliance writes in dir/snippets appear in the node's `local` storage. */
export function mirrorSnippets(s: ProxmoxServer, dir: string): () => void {
  const sync = () => {
    const vols = s.state.storages.get('local')!.volumes;
    let files: string[] = [];
    try {
      files = readdirSync(path.join(dir, 'snippets')).filter((f) => !f.startsWith('.'));
    } catch {
      files = [];
    }
    for (const [volid, v] of vols)
      if (v.content === 'snippets' && !files.includes(volid.slice('local:snippets/'.length))) vols.delete(volid);
    for (const f of files) {
      let data: Buffer;
      try {
        // What the node reads: the modelled guest boots with this user-data.
        data = readFileSync(path.join(dir, 'snippets', f));
      } catch {
        continue; // removed (by teardown) between the listing and the read: gone from the storage too
      }
      vols.set(`local:snippets/${f}`, {
        volid: `local:snippets/${f}`,
        content: 'snippets',
        format: 'raw',
        size: 100,
        ctime: 0,
        data,
      });
    }
  };
  const timer = setInterval(sync, 2);
  return () => clearInterval(timer);
}

/** Registers an afterEach that closes what `track` was given and runs what `cleanups` holds, last first. */
export function useCleanups() {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const track = <T extends { close(): Promise<void> | void }>(x: T): T => (cleanups.push(() => x.close()), x);
  return { cleanups, track };
}

export async function waitTask(s: ProxmoxServer, upid: string): Promise<void> {
  for (;;) {
    const t = s.tasks.get(upid);
    if (t?.status === 'stopped') return;
    await new Promise((r) => setTimeout(r, 5));
  }
}
