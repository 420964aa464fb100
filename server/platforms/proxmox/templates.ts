// The templates on a Proxmox cluster, for the OS catalog mapping and the setup wizard: every VM marked as a
// template, with the catalog OS it is mapped to (configured), or the one its name suggests.
import type { TemplateInfo } from '../../model/connection-report.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';

// Names people give cloud-image templates, e.g. `ubuntu-2204-cloudinit`, `jammy-template`, `debian12`.
const guesses: Array<[RegExp, string]> = [
  [/ubuntu.?22\.?04|jammy/i, 'ubuntu-22.04'],
  [/ubuntu.?24\.?04|noble/i, 'ubuntu-24.04'],
  [/debian.?12|bookworm/i, 'debian-12'],
  [/kali/i, 'kali-rolling'],
  [/(win|windows).?(server)?.?2022/i, 'windows-server-2022'],
  [/(win|windows).?11/i, 'windows-11'],
];

export function guessOs(name: string): string | undefined {
  return guesses.find(([re]) => re.test(name))?.[1];
}

export async function listTemplates(api: PveClient, config: ProxmoxConfig, o: CallOpts = {}): Promise<TemplateInfo[]> {
  const rows = await api.get<
    Array<{ type: string; vmid: number; name?: string; template?: number | boolean; node?: string }>
  >('/cluster/resources', { type: 'vm' }, o);
  const mapped = new Map(Object.entries(config.templates).map(([os, vmid]) => [vmid, os]));
  return rows
    .filter((r) => r.type === 'qemu' && (r.template === 1 || r.template === true))
    .sort((a, b) => Number(a.vmid) - Number(b.vmid))
    .map((r) => {
      const os = mapped.get(Number(r.vmid)) ?? guessOs(r.name ?? '');
      return { id: String(r.vmid), name: r.name ?? `template ${r.vmid}`, ...(os ? { os } : {}) };
    });
}
