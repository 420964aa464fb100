// Consoles as qemu-server and pveproxy give them (PVE::API2::Qemu vncproxy/vncwebsocket, PVE::APIServer::AnyEvent
// websocket_proxy): vncproxy starts a `vncproxy` worker that listens on the next free port from 5900 and waits 10 s
// for one connection, and returns a PVEVNC ticket bound to user, /vms/<vmid> and port (40 s); PVE 9 also returns an
// 8-character password and prefixes the ticket with it, PVE 8.4 (before April 2026) uses the ticket as the VNC
// password unless `generate-password` is set. vncwebsocket checks the ticket, then the upgrade is proxied to the port.
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import type WebSocket from 'ws';
import { PveError } from './pve-error.ts';
import { serveRfb, type ConsoleRecord } from './rfb-server.ts';
import { flag, getVm, num, startTask, str, type Handler } from './sim.ts';

export interface VncProxySession {
  port: number;
  vmid: number;
  node: string;
  user: string;
  ticket: string;
  /** What the VNC authentication expects. */
  password: string;
  issuedMs: number;
  /** Set once the one connection the worker accepts has arrived. */
  connected: boolean;
  /** Resolves the worker's wait with the socket, or undefined when it timed out. */
  accept?: (ws: WebSocket | undefined) => void;
}

export interface ConsoleState {
  sessions: Map<number, VncProxySession>;
  /** What each VM's console received, by vmid. */
  records: Map<number, ConsoleRecord>;
  /** How long a vncproxy worker waits for its connection (PVE: 10 s). */
  acceptMs: number;
  /** VNC ticket lifetime (PVE: 40 s). */
  ticketMs: number;
}

const secret = randomBytes(32);

export function createConsoleState(): ConsoleState {
  return { sessions: new Map(), records: new Map(), acceptMs: 10_000, ticketMs: 40_000 };
}

export function consoleRecord(state: ConsoleState, vmid: number): ConsoleRecord {
  let r = state.records.get(vmid);
  if (!r)
    state.records.set(vmid, (r = { vmid, keys: [], cutText: [], authFailures: 0, updates: 0, pixelFormatSet: false }));
  return r;
}

function vncPassword(): string {
  // generate_vnc_password: 8 bytes from '!' to '`'.
  return Array.from({ length: 8 }, () => String.fromCharCode(randomInt(0x21, 0x61))).join('');
}

const vncproxy: Handler = (ctx) => {
  const vm = getVm(ctx);
  const state = ctx.sim.consoles;
  let port = 5900;
  while (state.sessions.has(port)) port++;
  if (port > 5999) throw new PveError(500, 'unable to find free port (5900-5999)');
  const hexTime = Math.floor(Date.now() / 1000)
    .toString(16)
    .toUpperCase()
    .padStart(8, '0');
  let ticket = `PVEVNC:${hexTime}::${createHmac('sha256', secret).update(`PVEVNC:${hexTime}:${ctx.user}:/vms/${vm.vmid}:${port}`).digest('base64')}`;
  let password: string | undefined;
  if (ctx.sim.version === '9.1' || flag(ctx.params, 'generate-password')) {
    password = vncPassword();
    if (ctx.sim.version === '9.1') ticket = `${password}:${ticket}`;
  }
  const session: VncProxySession = {
    port,
    vmid: vm.vmid,
    node: vm.node,
    user: ctx.user,
    ticket,
    password: password ?? ticket,
    issuedMs: Date.now(),
    connected: false,
  };
  state.sessions.set(port, session);
  const upid = startTask(ctx, vm.node, 'vncproxy', String(vm.vmid), async (t) => {
    t.log('starting vnc proxy');
    const ws = await new Promise<WebSocket | undefined>((resolve) => {
      session.accept = resolve;
      setTimeout(() => resolve(undefined), state.acceptMs).unref();
    });
    try {
      if (!ws) throw new Error('connection timed out');
      if (vm.status !== 'running') {
        ws.close();
        throw new Error(`VM ${vm.vmid} not running`);
      }
      const name = vm.config.name ?? `VM ${vm.vmid}`;
      await serveRfb(
        ws,
        session.password,
        { width: 640, height: 200, name, banner: [`PROXMOX VM ${vm.vmid} ${name}`, 'GLASSDOME TEST CONSOLE'] },
        consoleRecord(state, vm.vmid),
      );
      if (ws.readyState === ws.OPEN) ws.close();
      await new Promise((r) => (ws.readyState === ws.CLOSED ? r(undefined) : ws.once('close', r)));
    } finally {
      state.sessions.delete(port);
    }
  });
  return { user: ctx.user, ticket, port, upid, cert: ctx.sim.certificate, ...(password ? { password } : {}) };
};

const invalidTicket = () => new PveError(401, 'permission denied - invalid PVEVNC ticket');

/** vncwebsocket: verify_vnc_ticket (the password prefix stripped), the VM exists, then `{ port }` for the proxy. */
const vncwebsocket: Handler = (ctx) => {
  const state = ctx.sim.consoles;
  const port = num(ctx.params, 'port');
  let ticket = str(ctx.params, 'vncticket');
  const m = /^.{8}:(PVEVNC:.*)$/.exec(ticket);
  if (m) ticket = m[1]!;
  const session = state.sessions.get(port);
  const issued = session?.ticket.replace(/^.{8}:(?=PVEVNC:)/, '');
  if (
    !session ||
    issued !== ticket ||
    session.user !== ctx.user ||
    String(session.vmid) !== str(ctx.params, 'vmid') ||
    Date.now() - session.issuedMs > state.ticketMs
  )
    throw invalidTicket();
  getVm(ctx);
  return { port: String(port) };
};

/** Hands the upgraded socket to the vncproxy worker waiting on `port`; closes it when nobody waits (a refused connect). */
export function acceptConsole(state: ConsoleState, port: number, ws: WebSocket): void {
  const session = state.sessions.get(port);
  if (!session || session.connected || !session.accept) {
    ws.close();
    return;
  }
  session.connected = true;
  session.accept(ws);
}

export const consoleHandlers: Record<string, Handler> = {
  'POST /nodes/{node}/qemu/{vmid}/vncproxy': vncproxy,
  'GET /nodes/{node}/qemu/{vmid}/vncwebsocket': vncwebsocket,
};
