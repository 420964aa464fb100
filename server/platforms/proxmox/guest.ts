// What the guest reports through the QEMU guest agent: its addresses (network-get-interfaces), whether cloud-init has
// finished (`cloud-init status`), and any program run with agent/exec then exec-status. The agent answers only a while
// after boot, and again after cloud-init restarts it, so the waits poll with growing intervals up to a deadline.
import { AppError } from '../../errors.ts';
import type { GuestExecResult, MachineRef } from '../platform.ts';
import { isUsableGuestAddress } from '../platform.ts';
import { addressTimeout, missingAddresses } from '../shared/expected-addresses.ts';
import { withRetry, isTransient } from '../shared/retry.ts';
import { pollUntil } from '../shared/wait.ts';
import { causeText, type CallOpts, type PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import type { VmRow } from './machines.ts';

interface GuestInterface {
  name?: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address'?: string; 'ip-address-type'?: string }>;
}

interface ExecStatus {
  /** 0/1 since PVE converts JSON booleans; a boolean on older versions. */
  exited: boolean | number;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean | number;
  'err-truncated'?: boolean | number;
}

// The guest is not up yet (or cloud-init is restarting the agent); anything else about the agent is final.
const notYet =
  /QEMU guest agent is not running|got timeout|not running|guest-ping|Resource temporarily unavailable|VM is locked/i;

// qemu-ga could not start the program: the guest has no such file. A shell would exit 127; so does guestExec.
const noSuchProgram = /Failed to execute child process|No such file or directory/i;

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

/**
 * exec-status output as text. QGA sends base64; PVE decodes it to bytes and hands them to a JSON encoder that takes
 * each byte for a character, so UTF-8 output arrives encoded twice (every character one byte). Undo that when it is
 * what happened; text with characters beyond U+00FF was not encoded twice and is kept.
 */
export function agentText(s: string | undefined): string {
  if (!s) return '';
  if (!/[\u0080-\u00ff]/.test(s) || /[^\u0000-\u00ff]/.test(s)) return s;
  const text = Buffer.from(s, 'latin1').toString('utf8');
  return text.includes('\uFFFD') ? s : text;
}

const truthy = (v: boolean | number | undefined) => v === true || v === 1;

export function createGuest(
  api: PveClient,
  config: ProxmoxConfig,
  locate: (ref: MachineRef, o: CallOpts) => Promise<VmRow | undefined>,
) {
  const vmPath = (r: VmRow) => `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
  const poll = (deadline: number, o: CallOpts, minMs = config.poll.minMs) => ({
    deadline,
    minMs,
    maxMs: config.poll.maxMs,
    ...(o.signal ? { signal: o.signal } : {}),
  });

  async function runningVm(ref: MachineRef, what: string, o: CallOpts): Promise<VmRow> {
    const vm = await locate(ref, o);
    if (!vm) throw new AppError('not_found', `[proxmox] Unable to ${what} VM "${ref.name}": it does not exist`);
    if (vm.status !== 'running')
      throw new AppError('platform_error', `[proxmox] Unable to ${what} VM "${ref.name}": it is not running`);
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
        `[proxmox] Unable to ${what} VM "${ref.name}": ${text}`,
        { cause: e, ...(hint ? { hint } : {}) },
      );
    }
  }

  async function interfaces(vm: VmRow, o: CallOpts): Promise<GuestInterface[]> {
    const r = await api.get<{ result?: GuestInterface[] }>(`${vmPath(vm)}/agent/network-get-interfaces`, {}, o);
    return r.result ?? [];
  }

  const startExec = async (vm: VmRow, argv: string[], o: CallOpts) =>
    (await api.post<{ pid: number }>(`${vmPath(vm)}/agent/exec`, { command: argv }, o)).pid;

  const execStatus = (vm: VmRow, pid: number, o: CallOpts) =>
    api.get<ExecStatus>(`${vmPath(vm)}/agent/exec-status`, { pid }, o);

  /** Why agent/exec cannot run a program in this guest, as a platform_error that says exactly that. */
  function execUnavailable(ref: MachineRef, argv: string[], e: AppError): AppError {
    const text = causeText(e);
    const prefix = `[proxmox] Unable to run "${argv[0] ?? ''}" in VM "${ref.name}": `;
    const say = (why: string, hint: string, code: 'platform_error' | 'transient' = 'platform_error') =>
      new AppError(code, `${prefix}${why} (${text.trim()})`, { cause: e, hint });
    if (e.code === 'forbidden')
      return say(
        'the API token or user may not run programs in guests',
        'Grant VM.GuestAgent.Unrestricted (PVE 9) or VM.Monitor (PVE 8) on /vms to the Glassdome user or token.',
      );
    if (/No QEMU guest agent configured/.test(text))
      return say('the VM has no QEMU guest agent configured', 'Enable the guest agent in the template (agent: 1).');
    if (/QEMU guest agent is not running/.test(text))
      return say(
        'the QEMU guest agent does not answer in the guest',
        'Install and start qemu-guest-agent in the template; the guest may also still be booting or shutting down.',
        // A passing condition: the agent may start yet, or be installed (the overseer's guest-agent fix).
        'transient',
      );
    if (/has been disabled/i.test(text))
      return say(
        "guest-exec is disabled by the guest agent's configuration",
        'Allow guest-exec in the guest agent (remove it from --block-rpcs / BLOCK_RPCS in /etc/default/qemu-guest-agent or block-rpcs in /etc/qemu/qemu-ga.conf).',
      );
    if (/has not been found|not supported|unknown command/i.test(text))
      return say('this guest agent has no guest-exec', 'Use a QEMU guest agent 2.5 or newer in the template.');
    if (/is not running/.test(text)) return say('the VM is not running', 'Start the VM first.');
    return new AppError(e.code === 'not_found' ? 'platform_error' : e.code, `${prefix}${text}`, {
      cause: e,
      ...(e.hint ? { hint: e.hint } : {}),
    });
  }

  /** agent/exec, then exec-status until it exits or the deadline; undefined at the deadline. Throws raw AppErrors. */
  async function runOnce(
    vm: VmRow,
    argv: string[],
    o: CallOpts,
    deadline: number,
    retryStart: boolean,
  ): Promise<{ pid: number; status?: ExecStatus }> {
    // A retried start after a 596 may run the program twice; the programs run here only read.
    const pid = retryStart
      ? await withRetry(config.retry, () => startExec(vm, argv, o), o)
      : await startExec(vm, argv, o);
    const status = await pollUntil(
      async () => {
        try {
          const s = await execStatus(vm, pid, o);
          return truthy(s.exited) ? s : undefined;
        } catch (e) {
          if (isTransient(e)) return undefined; // a busy proxy says nothing about the process
          throw e;
        }
      },
      poll(deadline, o, Math.max(1, Math.floor(config.poll.minMs / 2))),
    );
    return status ? { pid, status } : { pid };
  }

  /** `cloud-init status` through the agent: its status word, or undefined while it cannot run yet. */
  async function cloudInitStatus(
    vm: VmRow,
    ref: MachineRef,
    o: CallOpts,
    deadline: number,
  ): Promise<{ status: string; out: string } | undefined> {
    const done = await agent(ref, 'wait for first-boot completion of', () =>
      runOnce(vm, ['cloud-init', 'status'], o, deadline, false),
    );
    if (!done?.status) return undefined;
    const out = `${agentText(done.status['out-data'])}${agentText(done.status['err-data'])}`;
    const status = /status:\s*([\w ]+)/.exec(out)?.[1]?.trim();
    if (!status)
      throw new AppError(
        'platform_error',
        `[proxmox] Unable to wait for first-boot completion of VM "${ref.name}": cloud-init status said "${out.trim() || `exit code ${done.status.exitcode}`}"`,
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

    async waitForAddress(ref: MachineRef, o: CallOpts & { timeoutMs: number; expect?: string[] }): Promise<string[]> {
      const deadline = Date.now() + o.timeoutMs;
      const vm = await runningVm(ref, 'wait for an address of', o);
      let last: string[] = [];
      const found = await pollUntil(
        async () => {
          const ifaces = await agent(ref, 'wait for an address of', () => interfaces(vm, o));
          last = ifaces ? usableAddresses(ifaces) : last;
          if (o.expect && o.expect.length > 0) return missingAddresses(o.expect, last).length === 0 ? last : undefined;
          return last.length > 0 ? last : undefined;
        },
        poll(deadline, o),
      );
      if (!found)
        throw addressTimeout(
          'proxmox',
          ref.name,
          o.timeoutMs,
          o.expect,
          last,
          o.expect?.length
            ? 'The guest did not take its planned address: check the network-config the VM received, and that no DHCP server on its network hands out others.'
            : 'Check that the guest agent runs in the VM and that its network came up (console).',
        );
      return found;
    },

    async waitForReady(ref: MachineRef, o: CallOpts & { timeoutMs: number }): Promise<void> {
      const deadline = Date.now() + o.timeoutMs;
      const vm = await runningVm(ref, 'wait for first-boot completion of', o);
      const result = await pollUntil(
        async () => {
          const s = await cloudInitStatus(vm, ref, o, deadline);
          return s && (s.status === 'done' || s.status === 'error' || s.status === 'disabled') ? s : undefined;
        },
        poll(deadline, o),
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

    /**
     * Runs argv in the guest and returns its exit code and output; a non-zero exit (or a program the guest does not
     * have, 127) is a result. Never waits for an agent that is not there: that, a disabled guest-exec and a missing
     * privilege are platform_errors saying which; `timeout` once the program has run for `timeoutMs`.
     */
    async exec(ref: MachineRef, argv: string[], o: CallOpts & { timeoutMs: number }): Promise<GuestExecResult> {
      if (argv.length === 0 || !argv[0])
        throw new AppError('invalid_input', `[proxmox] Unable to run a program in VM "${ref.name}": no program given`);
      const deadline = Date.now() + o.timeoutMs;
      const vm = await runningVm(ref, `run "${argv[0]}" in`, o);
      let run: { pid: number; status?: ExecStatus };
      try {
        run = await runOnce(vm, argv, o, deadline, true);
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        if (noSuchProgram.test(causeText(e))) return { exitCode: 127, stdout: '', stderr: causeText(e).trim() };
        throw execUnavailable(ref, argv, e);
      }
      const s = run.status;
      if (!s)
        throw new AppError(
          'timeout',
          `[proxmox] "${argv.join(' ')}" in VM "${ref.name}" did not finish within ${Math.round(o.timeoutMs / 1000)} s (agent pid ${run.pid}; it may still be running in the guest)`,
        );
      const notes = [
        truthy(s['out-truncated']) ? '[glassdome] the guest agent truncated stdout' : '',
        truthy(s['err-truncated']) ? '[glassdome] the guest agent truncated stderr' : '',
      ].filter(Boolean);
      return {
        // Killed by a signal: no exit code, reported the way a shell does (128 + signal).
        exitCode: s.exitcode ?? (s.signal !== undefined ? 128 + s.signal : -1),
        stdout: agentText(s['out-data']),
        stderr: [agentText(s['err-data']), ...notes].filter(Boolean).join('\n'),
      };
    },
  };
}
