// Waiting for Azure machines with no channel into the guest: the address is the NICs' private addresses once the
// VM is provisioned and running; readiness is the line the first boot prints on the serial console, read from the
// VM's boot diagnostics (a SAS URL to the log blob, read from where the last read stopped). Nothing is reported
// ready that was not seen on the console.
import https from 'node:https';
import { AppError } from '../../errors.ts';
import { firstBootOutcome, type FirstBootOutcome } from '../../model/first-boot.ts';
import { isUsableGuestAddress, type MachineRef } from '../platform.ts';
import { pollUntil, sleep } from '../shared/wait.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { armFailure, azureError, classify } from './errors.ts';
import type { Machines } from './machines.ts';
import { powerOf, provisioningFailure } from './machines.ts';
import { ownerOf, parseResourceId } from './names.ts';

interface ConsoleRead {
  uri?: string;
  uriAt: number;
  /** Reads of the blob that failed in a row (a storage connection reset is retried at the next poll). */
  failures: number;
  /** Bytes of the log read so far. */
  offset: number;
  /** The last line, not yet ended. */
  partial: string;
  lastLine?: string;
}

/** Resolves with the promise's value, or undefined once `deadline` passes; rejects when it or the signal does. */
async function within<T>(p: Promise<T>, deadline: number, signal?: AbortSignal): Promise<{ value: T } | undefined> {
  const timer = new AbortController();
  const wait = sleep(
    Math.max(0, deadline - Date.now()),
    signal ? AbortSignal.any([timer.signal, signal]) : timer.signal,
  ).then(
    () => undefined,
    (e: unknown) => {
      if (signal?.aborted) throw e;
      return undefined;
    },
  );
  try {
    return await Promise.race([p.then((value) => ({ value })), wait]);
  } finally {
    timer.abort();
  }
}

/** GET of a blob from `offset` on: the new bytes, or why there are none. */
function readBlob(
  agent: https.Agent,
  uri: string,
  offset: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      uri,
      {
        agent,
        headers: { Range: `bytes=${offset}-`, 'x-ms-version': '2021-08-06' },
        timeout: timeoutMs,
        ...(signal ? { signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export function createReadiness(arm: Arm, config: AzureConfig, machines: Machines) {
  const consoles = new Map<string, ConsoleRead>();
  const poll = (deadline: number, maxMs: number, signal?: AbortSignal) => ({
    deadline,
    minMs: config.pollIntervalMs,
    maxMs: Math.max(config.pollIntervalMs, maxMs),
    jitterMs: config.pollIntervalMs / 4,
    ...(signal ? { signal } : {}),
  });
  const groupOf = (ref: MachineRef) => parseResourceId(ref.id)?.group ?? ownerOf(ref.name)?.group ?? '';

  /** New console text of the VM since the last read, or undefined when there is none (yet). */
  async function readConsole(ref: MachineRef, st: ConsoleRead, signal?: AbortSignal): Promise<string | undefined> {
    const rg = groupOf(ref);
    // Azure's SAS URL is asked for again well before it expires (an hour).
    if (!st.uri || Date.now() - st.uriAt > 30 * 60_000) {
      try {
        const data = await arm.compute.virtualMachines.retrieveBootDiagnosticsData(rg, ref.name, {
          sasUriExpirationTimeInMinutes: 60,
          ...(signal ? { abortSignal: signal } : {}),
        });
        st.uri = data.serialConsoleLogBlobUri;
        st.uriAt = Date.now();
      } catch (e) {
        const f = armFailure(e);
        // Not there yet while the VM is still being provisioned.
        if (f.status === 409 && !signal?.aborted) return undefined;
        if (f.status === 404 && !signal?.aborted)
          throw new AppError('not_found', `[azure] Unable to read the console of VM "${ref.name}": it does not exist`);
        throw azureError(
          e,
          { action: 'read the boot diagnostics of', resource: 'VM', name: ref.name },
          arm.hints,
          signal,
        );
      }
    }
    if (!st.uri) return undefined;
    let got;
    try {
      got = await readBlob(arm.agent, st.uri, st.offset, config.timeouts.requestMs, signal);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (++st.failures < 5) return undefined;
      // The SAS URL is a credential: it is never part of a message.
      throw new AppError(
        'transient',
        `[azure] Unable to read the serial log of VM "${ref.name}": ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (got.status === 403) {
      st.uri = undefined;
      return undefined;
    }
    if (got.status === 404 || got.status === 416) {
      st.failures = 0;
      return undefined;
    }
    if (got.status !== 200 && got.status !== 206) {
      // Storage busy (503, 500) or throttling: looked at again at the next poll, a few times.
      if ((got.status >= 500 || got.status === 429) && ++st.failures < 5) return undefined;
      throw new AppError(
        'transient',
        `[azure] Unable to read the serial log of VM "${ref.name}": storage answered HTTP ${got.status}`,
      );
    }
    st.failures = 0;
    const fresh = got.status === 206 ? got.body : got.body.subarray(st.offset);
    st.offset += fresh.length;
    return fresh.length > 0 ? fresh.toString('utf8') : undefined;
  }

  return {
    async waitForAddress(ref: MachineRef, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string[]> {
      const { signal } = opts;
      const deadline = Date.now() + opts.timeoutMs;
      const rg = groupOf(ref);
      const timeout = () =>
        new AppError(
          'timeout',
          `[azure] VM "${ref.name}" was not provisioned and running within ${Math.round(opts.timeoutMs / 1000)} s`,
          {
            hint: "See the VM's Activity log in the Azure portal; Azure may be slow to allocate this size in the region.",
          },
        );
      const background = machines.background(ref.name);
      if (background && !background.abandoned()) {
        if (background.error !== undefined) throw background.error;
        let done;
        try {
          done = await within(background.promise, deadline, signal);
        } catch (e) {
          // Given up by a cancelled run: the VM is asked about below instead.
          if (signal?.aborted || !background.abandoned()) throw e;
        }
        if (done === undefined && !background.abandoned()) throw timeout();
        // Its creation (or start) succeeded, which Azure reports only for a running VM; the NICs' addresses are known.
        const known = done ? machines.knownAddresses(ref.name)?.filter(isUsableGuestAddress) : undefined;
        if (known?.length) return known;
      }
      const found = await pollUntil(
        async () => {
          const vm = await machines.getVm(rg, ref.name, signal);
          if (!vm)
            throw new AppError(
              'not_found',
              `[azure] Unable to read the addresses of VM "${ref.name}": it does not exist`,
              { hint: 'It is created when the machine is first started.' },
            );
          if (vm.provisioningState === 'Failed') {
            const f = provisioningFailure(vm.instanceView) ?? {
              code: 'ProvisioningFailed',
              message: 'Azure reports that provisioning failed',
            };
            const { hint } = classify(f, arm.hints);
            throw new AppError(
              'platform_error',
              `[azure] Unable to create VM "${ref.name}": ${f.code}: ${f.message}`,
              hint ? { hint } : {},
            );
          }
          if (vm.provisioningState !== 'Succeeded' || powerOf(vm.instanceView) !== 'running') return undefined;
          const list = (await machines.nicAddresses(rg, vm, signal)).filter(isUsableGuestAddress);
          return list.length > 0 ? list : undefined;
        },
        poll(deadline, config.pollMaxMs, signal),
      );
      if (!found) throw timeout();
      return found;
    },

    async waitForReady(ref: MachineRef, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
      const { signal } = opts;
      const deadline = Date.now() + opts.timeoutMs;
      const key = ref.name.toLowerCase();
      const st = consoles.get(key) ?? { uriAt: 0, failures: 0, offset: 0, partial: '' };
      consoles.set(key, st);
      const outcome = await pollUntil(
        async (): Promise<FirstBootOutcome> => {
          const text = await readConsole(ref, st, signal);
          if (text === undefined) return undefined;
          const lines = (st.partial + text).split(/\r?\n/);
          st.partial = lines.pop() ?? '';
          const seen = lines.filter((l) => l.trim().length > 0);
          if (seen.length > 0) st.lastLine = seen[seen.length - 1]!.trim();
          return firstBootOutcome(lines.join('\n'), ref.name);
          // The console is a storage blob (not ARM) read from where the last read stopped: cheap to look at often.
        },
        poll(deadline, config.pollIntervalMs, signal),
      );
      if (outcome?.state === 'ready') {
        consoles.delete(key);
        return;
      }
      if (outcome?.state === 'failed')
        throw new AppError('platform_error', `[azure] First boot of VM "${ref.name}" failed: ${outcome.reason}`, {
          hint: 'Its serial log (Azure portal > the VM > Boot diagnostics > Serial log) shows what happened before.',
        });
      throw new AppError(
        'timeout',
        `[azure] VM "${ref.name}" did not report the end of its first boot within ${Math.round(opts.timeoutMs / 1000)} s${st.lastLine ? `; its console last said: ${st.lastLine.slice(0, 200)}` : '; its console shows nothing yet'}`,
        {
          hint: 'Its serial log (Azure portal > the VM > Boot diagnostics > Serial log) shows how far it got.',
        },
      );
    },

    forget(ref: MachineRef): void {
      consoles.delete(ref.name.toLowerCase());
    },
  };
}
