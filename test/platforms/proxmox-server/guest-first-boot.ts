// The modelled guest's first boot: the user-data it was given (a cicustom snippet, or the `cidata` seed ISO on a CD),
// read back from the cluster's storages, so a command that reports what first boot configured (the router's
// `nft -j list ruleset`) answers from what the driver really delivered.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simulatedGuestCommand } from '../../../server/platforms/simulator.ts';
import type { ClusterState as State, GuestProgram, VmState } from './state.ts';

function volumeData(state: State, volid: string): Buffer | undefined {
  const storage = state.storages.get(volid.split(':')[0]!);
  return storage?.volumes.get(volid)?.data;
}

/** The user-data the VM boots with, or undefined when none reached it (only the ci* fields). */
export function deliveredUserData(state: State, vm: VmState): string | undefined {
  const custom = /(?:^|,)user=([^,]+)/.exec(String(vm.config.cicustom ?? ''))?.[1];
  if (custom) return volumeData(state, custom)?.toString('utf8');
  for (const [key, value] of Object.entries(vm.config)) {
    if (!/^(ide|sata|scsi)\d+$/.test(key) || !String(value).includes('media=cdrom')) continue;
    const iso = volumeData(state, String(value).split(',')[0]!);
    if (iso) return isoFile(iso, 'user-data');
  }
  return undefined;
}

/** One file of an ISO 9660 image, read with xorriso (as the ESXi seed-ISO tests do). */
function isoFile(iso: Buffer, name: string): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'gd-pve-iso-'));
  try {
    writeFileSync(path.join(dir, 'seed.iso'), iso);
    const r = spawnSync(
      'xorriso',
      ['-osirrox', 'on', '-indev', path.join(dir, 'seed.iso'), '-extract', `/${name}`, path.join(dir, name)],
      { encoding: 'utf8' },
    );
    return r.status === 0 ? spawnSync('cat', [path.join(dir, name)], { encoding: 'utf8' }).stdout : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `nft -j list ruleset` in the modelled guest; undefined for any other program. */
export function firstBootProgram(state: State, vm: VmState, argv: string[]): GuestProgram | undefined {
  if (argv.join(' ') !== 'nft -j list ruleset') return undefined;
  const r = simulatedGuestCommand(deliveredUserData(state, vm) ?? null, argv);
  return { exitcode: r.exitCode, out: r.stdout, err: r.stderr };
}
