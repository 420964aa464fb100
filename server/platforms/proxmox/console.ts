// A VM's graphical console through Proxmox: `vncproxy` (websocket=1) starts a VNC proxy worker on the node and
// returns a ticket, a port and (PVE 9, and 8.4 since April 2026) a password; `vncwebsocket` with that port and ticket
// upgrades to a WebSocket carrying the RFB stream. The worker waits 10 s for that connection and serves exactly one,
// and the ticket is valid for 40 s: ticket and connection are asked for together, once per console session.
import { AppError } from '../../errors.ts';
import type { CallOptions, ConsoleTicket, MachineRef } from '../platform.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { VmRow } from './machines.ts';

interface VncProxyAnswer {
  port: number | string;
  ticket: string;
  /** Absent before PVE 8.4's April 2026 update unless `generate-password` was sent: the ticket is the password. */
  password?: string;
  user?: string;
  upid?: string;
}

/** How long the ticket is accepted after vncproxy answers (PVE: 40 s; the worker waits only 10 s for the socket). */
const ticketLifetimeMs = 10_000;

export function createConsole(api: PveClient, locate: (ref: MachineRef, o: CallOpts) => Promise<VmRow | undefined>) {
  const o = (opts?: CallOptions): CallOpts => (opts?.signal ? { signal: opts.signal } : {});

  return {
    async ticket(ref: MachineRef, opts?: CallOptions): Promise<ConsoleTicket> {
      const vm = await locate(ref, o(opts));
      if (!vm)
        throw new AppError('not_found', `[proxmox] Unable to open the console of VM "${ref.name}": it does not exist`);
      const path = `/nodes/${encodeURIComponent(vm.node)}/qemu/${vm.vmid}`;
      const st = await api.get<{ status: string; qmpstatus?: string }>(`${path}/status/current`, {}, o(opts));
      // vncproxy itself succeeds for a stopped VM; its worker then fails and the socket closes without a word.
      if (st.status !== 'running')
        throw new AppError(
          'conflict',
          `[proxmox] Unable to open the console of VM "${ref.name}": it is ${st.status === 'stopped' ? 'powered off' : st.status}`,
          { hint: 'Start the machine, then open its console again.' },
        );
      const answer = await api.post<VncProxyAnswer>(`${path}/vncproxy`, { websocket: true }, o(opts));
      const port = Number(answer.port);
      if (!Number.isInteger(port) || typeof answer.ticket !== 'string')
        throw new AppError(
          'platform_error',
          `[proxmox] Unable to open the console of VM "${ref.name}": vncproxy gave no port and ticket`,
        );
      let used = false;
      return {
        protocol: 'vnc',
        password: answer.password ?? answer.ticket,
        expiresAt: Date.now() + ticketLifetimeMs,
        async connect(copts) {
          if (used) throw new AppError('internal', `[proxmox] The console ticket of VM "${ref.name}" was already used`);
          used = true;
          return api.websocket(`${path}/vncwebsocket`, { port, vncticket: answer.ticket }, o(copts));
        },
      };
    },
  };
}
