// What the guest reports through the QEMU guest agent: its addresses (network-get-interfaces) and whether
// cloud-init has finished (`cloud-init status` run with agent/exec, then exec-status). The agent answers only a while
// after boot, and again after cloud-init restarts it, so both poll with growing intervals up to a deadline.
import { AppError } from '../../errors.ts';
import { isUsableGuestAddress, type MachineRef } from '../platform.ts';
import { causeText, type CallOpts, type PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import type { VmRow } from './machines.ts';
import { pollUntil } from '../shared/wait.ts';

interface GuestInterface {
  name?: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address'?: string; 'ip-address-type'?: string }>;
}

// The guest is not up yet (or cloud-init is restarting the agent); anything else about the agent is final.
const notYet =
  /QEMU guest agent is not running|got timeout|not running|guest-ping|Resource temporarily unavailable|VM is locked/i;

export function usableAddresses(ifaces: GuestInterface[]): string[] {
  const out: string[] = [];
  for (const i of ifaces) {
    if (i.name === 'lo') continue;
    for (const a of i['ip-addresses'] ?? []) {
      const ip = a['ip-address'];
      if (ip && isUsableGuestAddress(ip) && !out.includes(ip)) out.push(ip);
    }
  }
  // IPv4 first: that is what the lab's plans and people use.
  return [...out.filter((ip) => ip.includes('.')), ...out.filter((ip) => !ip.includes('.'))];
}

export function createGuest(
  api: PveClient,
  config: ProxmoxConfig,
  locate: (ref: MachineRef, o: CallOpts) => Promise<VmRow | undefined>,
) {
  const vmPath = (r: VmRow) => `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;

  async function runningVm(ref: MachineRef, what: string, o: CallOpts): Promise<VmRow> {
    const vm = await locate(ref, o);
    if (!vm)
      throw new AppError('not_found', `[proxmox] Unable to wait for ${what} of VM "${ref.name}": it does not exist`);
    if (vm.status !== 'running')
      throw new AppError(
        'platform_error',
        `[proxmox] Unable to wait for ${what} of VM "${ref.name}": it is not running`,
      );
    return vm;
  }

  /** Runs an agent call; undefined while the agent cannot answer yet. */
  async function agent<T>(ref: MachineRef, what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      const text = causeText(e);
      if (e.code === 'transient' || notYet.test(text)) return undefined;
      const hint = /No QEMU guest agent configured/.test(text)
        ? 'The template must have the QEMU guest agent enabled and installed (see the Proxmox section of the README).'
        : e.hint;
      throw new AppError(
        e.code === 'not_found' ? 'platform_error' : e.code,
        `[proxmox] Unable to wait for ${what} of VM "${ref.name}": ${text}`,
        { cause: e, ...(hint ? { hint } : {}) },
      );
    }
  }

  async function interfaces(vm: VmRow, o: CallOpts): Promise<GuestInterface[]> {
    const r = await api.get<{ result?: GuestInterface[] }>(`${vmPath(vm)}/agent/network-get-interfaces`, {}, o);
    return r.result ?? [];
  }

  /** `cloud-init status` through the agent: its status word, or undefined while it cannot run yet. */
  async function cloudInitStatus(
    vm: VmRow,
    ref: MachineRef,
    o: CallOpts,
    deadline: number,
  ): Promise<{ status: string; out: string } | undefined> {
    const started = await agent(ref, 'first-boot completion', () =>
      api.post<{ pid: number }>(`${vmPath(vm)}/agent/exec`, { command: ['cloud-init', 'status'] }, o),
    );
    if (!started) return undefined;
    const done = await pollUntil(
      () =>
        agent(ref, 'first-boot completion', async () => {
          const s = await api.get<{
            exited: boolean | number;
            exitcode?: number;
            'out-data'?: string;
            'err-data'?: string;
          }>(`${vmPath(vm)}/agent/exec-status`, { pid: started.pid }, o);
          return s.exited ? s : undefined;
        }),
      { deadline, minMs: config.poll.minMs / 2, maxMs: config.poll.maxMs, ...(o.signal ? { signal: o.signal } : {}) },
    );
    if (!done) return undefined;
    const out = `${done['out-data'] ?? ''}${done['err-data'] ?? ''}`;
    const status = /status:\s*([\w ]+)/.exec(out)?.[1]?.trim();
    if (!status)
      throw new AppError(
        'platform_error',
        `[proxmox] Unable to wait for first-boot completion of VM "${ref.name}": cloud-init status said "${out.trim() || `exit code ${done.exitcode}`}"`,
        { hint: 'The template needs cloud-init and the QEMU guest agent.' },
      );
    return { status, out };
  }

  return {
    /** Addresses now, when the agent answers; [] otherwise. */
    async addressesNow(vm: VmRow, o: CallOpts): Promise<string[]> {
      if (vm.status !== 'running') return [];
      try {
        return usableAddresses(await interfaces(vm, o));
      } catch {
        return [];
      }
    },

    async waitForAddress(ref: MachineRef, o: CallOpts & { timeoutMs: number }): Promise<string[]> {
      const deadline = Date.now() + o.timeoutMs;
      const vm = await runningVm(ref, 'an address', o);
      const found = await pollUntil(
        async () => {
          const ifaces = await agent(ref, 'an address', () => interfaces(vm, o));
          const usable = ifaces ? usableAddresses(ifaces) : [];
          return usable.length > 0 ? usable : undefined;
        },
        { deadline, minMs: config.poll.minMs, maxMs: config.poll.maxMs, ...(o.signal ? { signal: o.signal } : {}) },
      );
      if (!found)
        throw new AppError(
          'timeout',
          `[proxmox] VM "${ref.name}" reported no usable address within ${Math.round(o.timeoutMs / 1000)} s`,
          { hint: 'Check that the guest agent runs in the VM and that its network came up (console).' },
        );
      return found;
    },

    async waitForReady(ref: MachineRef, o: CallOpts & { timeoutMs: number }): Promise<void> {
      const deadline = Date.now() + o.timeoutMs;
      const vm = await runningVm(ref, 'first-boot completion', o);
      const result = await pollUntil(
        async () => {
          const s = await cloudInitStatus(vm, ref, o, deadline);
          return s && (s.status === 'done' || s.status === 'error' || s.status === 'disabled') ? s : undefined;
        },
        { deadline, minMs: config.poll.minMs, maxMs: config.poll.maxMs, ...(o.signal ? { signal: o.signal } : {}) },
      );
      if (!result)
        throw new AppError(
          'timeout',
          `[proxmox] VM "${ref.name}" did not finish its first boot (cloud-init) within ${Math.round(o.timeoutMs / 1000)} s`,
        );
      if (result.status === 'error')
        throw new AppError(
          'platform_error',
          `[proxmox] First boot of VM "${ref.name}" failed: cloud-init reports an error (${result.out.trim()})`,
          { hint: 'Read /var/log/cloud-init-output.log in the VM (console).' },
        );
    },
  };
}
