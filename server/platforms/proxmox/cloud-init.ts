// Cloud-init for a Proxmox clone. Proxmox builds its own NoCloud drive from the VM's ci* fields (user, password
// hash, SSH keys, ipconfigN, DNS); the full user-data (packages, files, commands) comes as a snippets file referenced
// by `cicustom`, or on a seed ISO (first-boot.ts). The API cannot upload snippets (upload takes iso|vztmpl|import), so
// snippets are written to a directory this appliance shares with the nodes (README.md).
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { MachineSpec } from '../platform.ts';

type Params = Record<string, string>;

interface NetworkConfigV2 {
  ethernets?: Record<
    string,
    {
      match?: { macaddress?: string };
      dhcp4?: boolean;
      addresses?: string[];
      routes?: Array<{ to?: string; via?: string }>;
      gateway4?: string;
      nameservers?: { addresses?: string[]; search?: string[] };
    }
  >;
}

interface UserData {
  users?: Array<string | { name?: string; passwd?: string; ssh_authorized_keys?: string[] }>;
  ssh_authorized_keys?: string[];
  password?: string;
}

/**
 * `sshkeys` has format `urlencoded`: the keys are percent-encoded once (encodeURIComponent, as the GUI does), and the
 * form body encodes that again, so a space travels as %2520. Proxmox unescapes once, checks each line, stores it encoded.
 */
export function encodeSshKeys(keys: string[]): string {
  return encodeURIComponent(
    keys
      .map((k) => k.trim())
      .filter(Boolean)
      .join('\n'),
  );
}

/** The ci* fields and ipconfigN Proxmox turns into its own cloud-init drive, read from the NoCloud documents. */
export function cloudInitFields(spec: Pick<MachineSpec, 'cloudInit' | 'nics'>): Params {
  const ci = spec.cloudInit;
  if (!ci) return {};
  const out: Params = {};
  const user = (parse(ci.userData) ?? {}) as UserData;
  const first = (user.users ?? []).find(
    (u): u is Exclude<typeof u, string> => typeof u === 'object' && u !== null && typeof u.name === 'string',
  );
  if (first?.name) out.ciuser = first.name;
  // A crypt hash is stored as given (Proxmox hashes only plain passwords); never a plain text password here.
  if (first?.passwd) out.cipassword = first.passwd;
  const keys = [...(first?.ssh_authorized_keys ?? []), ...(user.ssh_authorized_keys ?? [])];
  if (keys.length > 0) out.sshkeys = encodeSshKeys(keys);

  const net = (parse(ci.networkConfig) ?? {}) as NetworkConfigV2;
  const eths = Object.values(net.ethernets ?? {});
  const dns = new Set<string>();
  const search = new Set<string>();
  spec.nics.forEach((nic, i) => {
    const eth =
      eths.find((e) => e.match?.macaddress?.toLowerCase() === nic.mac.toLowerCase()) ??
      (eths.length === spec.nics.length ? eths[i] : undefined);
    if (!eth) return;
    const gw = eth.routes?.find((r) => r.to === '0.0.0.0/0' || r.to === 'default')?.via ?? eth.gateway4;
    const v4 = eth.addresses?.find((a) => a.includes('.'));
    if (eth.dhcp4 || !v4) out[`ipconfig${i}`] = 'ip=dhcp';
    else out[`ipconfig${i}`] = `ip=${v4}${gw ? `,gw=${gw}` : ''}`;
    for (const a of eth.nameservers?.addresses ?? []) dns.add(a);
    for (const s of eth.nameservers?.search ?? []) search.add(s);
  });
  if (dns.size > 0) out.nameserver = [...dns].join(' ');
  if (search.size > 0) out.searchdomain = [...search].join(' ');
  return out;
}

export interface SnippetStore {
  storage: string;
  /** Where this appliance sees the storage's directory; files go to <dir>/snippets/. */
  dir: string;
}

const kinds = ['user', 'network', 'meta'] as const;

export function snippetFiles(machineName: string): Record<(typeof kinds)[number], string> {
  return { user: `${machineName}-user.yaml`, network: `${machineName}-network.yaml`, meta: `${machineName}-meta.yaml` };
}

/** Writes the three NoCloud documents and returns the `cicustom` value that points at them. */
export async function writeSnippets(
  store: SnippetStore,
  spec: Pick<MachineSpec, 'name' | 'cloudInit'>,
): Promise<string | undefined> {
  if (!spec.cloudInit) return undefined;
  const dir = path.join(store.dir, 'snippets');
  await mkdir(dir, { recursive: true });
  const files = snippetFiles(spec.name);
  const content = {
    user: spec.cloudInit.userData,
    network: spec.cloudInit.networkConfig,
    meta: spec.cloudInit.metaData,
  };
  for (const k of kinds) {
    // Written whole to a temporary name first: a node never reads half a file.
    const tmp = path.join(dir, `.${files[k]}.tmp`);
    await writeFile(tmp, content[k], { mode: 0o640 });
    await rename(tmp, path.join(dir, files[k]));
  }
  return kinds.map((k) => `${k}=${store.storage}:snippets/${files[k]}`).join(',');
}

export async function removeSnippets(store: SnippetStore, machineName: string): Promise<void> {
  for (const f of Object.values(snippetFiles(machineName)))
    await rm(path.join(store.dir, 'snippets', f), { force: true });
}

/** Snippet files whose names carry the prefix (`gd-<deployment>-`). */
export async function listSnippets(store: SnippetStore, prefix: string): Promise<string[]> {
  try {
    return (await readdir(path.join(store.dir, 'snippets')))
      .filter((f) => f.startsWith(prefix) && f.endsWith('.yaml'))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
