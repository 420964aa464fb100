// A Proxmox VE API test server over HTTPS on 127.0.0.1: routes and validates every request against the real
// API schema (8.4 or 9.1), authenticates like pveproxy, and runs the modelled endpoints against an in-memory cluster.
// The certificate is made at start with the openssl CLI (node:crypto cannot issue X.509 and package.json is not ours).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createAuthenticator,
  defaultTokens,
  defaultUsers,
  type AuthOptions,
  type TokenSeed,
  type UserSeed,
} from './auth.ts';
import { clusterHandlers } from './cluster-handlers.ts';
import { acceptConsole, consoleHandlers, createConsoleState, type ConsoleState } from './console-handlers.ts';
import { createFaultInjector, createRng, type FaultInjector, type FaultRule } from './faults.ts';
import { guestHandlers } from './guest-handlers.ts';
import { createLockTable } from './locks.ts';
import { networkHandlers } from './network-handlers.ts';
import { powerHandlers } from './power-handlers.ts';
import { PveError } from './pve-error.ts';
import { qemuHandlers } from './qemu-handlers.ts';
import { parseUpload } from './multipart.ts';
import { loadSchema, matchRoute, validateParams, type PveVersion, type RawParams } from './schema.ts';
import { defaultTiming, Envelope, type Handler, type HandlerContext, type Sim, type Timing } from './sim.ts';
import { createState, defaultGuest, type ClusterState, type StateOptions } from './state.ts';
import { WebSocketServer } from 'ws';
import { createTaskRegistry, type TaskRegistry } from './tasks.ts';

export interface ProxmoxServerOptions extends StateOptions {
  /** Which schema (and version answer) to emulate. Default 9.1. */
  version?: PveVersion;
  /** Seed for MACs, UUIDs, PIDs and fault probabilities. */
  seed?: number;
  auth?: AuthOptions;
  timing?: Partial<Omit<Timing, 'taskMs'>> & { taskMs?: Record<string, number> };
  faults?: FaultRule[];
  /** Every request after this many gets 596 `Connection timed out` with an empty body (an overloaded pvedaemon). */
  overloadAfter?: number;
  /** JSON error bodies carry `message` (libpve-http-server >= 5.2, late 8.x and 9.x). Default true. */
  messageInBody?: boolean;
  /** Memory of every node in GiB (default 64); running VMs use what their config gives them. */
  nodeMemoryGb?: number;
  /** Reuse a key and certificate instead of generating one. */
  tls?: { key: string; cert: string };
}

export interface RequestRecord {
  seq: number;
  method: string;
  /** Path relative to /api2/json, as sent. */
  path: string;
  /** The schema template it matched, e.g. `/nodes/{node}/qemu/{vmid}/clone`. */
  endpoint?: string;
  status: number;
  /** False for 501 unknown path/method and 400 parameter verification failures. */
  valid: boolean;
  errors?: Record<string, string>;
  message?: string;
  auth: 'ticket' | 'token' | 'none';
  /** The endpoint exists in the schema but the server has no behaviour for it (answered 501). */
  unmodelled?: boolean;
  params: RawParams;
}

export interface ProxmoxServer {
  /** `https://127.0.0.1:<port>`; the API is under `/api2/json`. */
  url: string;
  apiUrl: string;
  host: string;
  port: number;
  version: PveVersion;
  /** SHA-256 fingerprint `AA:BB:...` of the certificate, to pin. */
  fingerprint: string;
  /** The certificate PEM, for clients that trust it as a CA instead of pinning. */
  certificate: string;
  state: ClusterState;
  /** vncproxy sessions and what each VM's console received (keys, cut text, updates sent). */
  consoles: ConsoleState;
  tasks: TaskRegistry;
  faults: FaultInjector;
  /** Mutable: tests may change timings between steps. */
  timing: Timing;
  requests: RequestRecord[];
  stats(): { total: number; byEndpoint: Record<string, number>; invalid: RequestRecord[]; unmodelled: RequestRecord[] };
  users: UserSeed[];
  tokens: TokenSeed[];
  /** `PVEAPIToken=<tokenid>=<secret>` for the first (or named) token. */
  tokenHeader(tokenid?: string): string;
  /** Makes every issued ticket expired now. */
  expireTickets(): void;
  /** Resolves when no task is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

let certificate: { key: string; cert: string } | undefined;

/** One self-signed EC certificate per process, from the openssl CLI. */
function selfSignedCertificate(): { key: string; cert: string } {
  if (certificate) return certificate;
  const dir = mkdtempSync(path.join(tmpdir(), 'pve-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '7',
        '-subj',
        '/CN=pve.glassdome.test',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    certificate = {
      key: readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    };
    return certificate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const handlers: Record<string, Handler> = {
  ...qemuHandlers,
  ...powerHandlers,
  ...guestHandlers,
  ...clusterHandlers,
  ...networkHandlers,
  ...consoleHandlers,
};

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function formParams(text: string): RawParams {
  const out: RawParams = {};
  const sp = new URLSearchParams(text);
  for (const key of new Set(sp.keys())) {
    const all = sp.getAll(key);
    out[key] = all.length === 1 ? all[0] : all;
  }
  return out;
}

/** Node rejects reason phrases with control or non-Latin-1 characters. */
function reason(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

export async function startProxmoxServer(opts: ProxmoxServerOptions = {}): Promise<ProxmoxServer> {
  const version = opts.version ?? '9.1';
  const schema = loadSchema(version);
  const random = createRng(opts.seed ?? 1);
  const timing: Timing = {
    ...defaultTiming,
    ...opts.timing,
    taskMs: { ...defaultTiming.taskMs, ...opts.timing?.taskMs },
  };
  const tls = opts.tls ?? selfSignedCertificate();
  const fingerprint = new X509Certificate(tls.cert).fingerprint256;
  const users = opts.auth?.users ?? defaultUsers;
  const tokens = opts.auth?.tokens ?? defaultTokens;
  const auth = createAuthenticator({ users, tokens }, () => timing.ticketLifetimeMs);
  const faults = createFaultInjector(opts.faults ?? [], random);
  const sim: Sim = {
    version,
    schema,
    random,
    timing,
    fingerprint,
    state: createState(opts, random),
    tasks: createTaskRegistry(random),
    locks: createLockTable(),
    guest: { ...defaultGuest, ...opts.guest },
    nodeMemoryGb: opts.nodeMemoryGb ?? 64,
    execs: new Map(),
    consoles: createConsoleState(),
    certificate: tls.cert,
  };
  const allHandlers: Record<string, Handler> = { ...handlers, ...auth.handlers };
  const requests: RequestRecord[] = [];
  const messageInBody = opts.messageInBody ?? true;

  const send = (res: ServerResponse, status: number, message: string, body: string | undefined): void => {
    res.statusCode = status;
    res.statusMessage = reason(message);
    if (body !== undefined) res.setHeader('Content-Type', 'application/json;charset=UTF-8');
    res.end(body ?? '');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const prefix = '/api2/json';
    const relPath = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) || '/' : url.pathname;
    const record: RequestRecord = {
      seq: requests.length + 1,
      method,
      path: relPath,
      status: 0,
      valid: true,
      auth: 'none',
      params: {},
    };
    requests.push(record);
    try {
      if (!url.pathname.startsWith(prefix)) {
        record.valid = false;
        throw new PveError(501, `Method '${method} ${relPath}' not implemented`);
      }
      let route;
      try {
        route = matchRoute(schema, method, relPath);
      } catch (e) {
        record.valid = false;
        throw e;
      }
      record.endpoint = route.template;
      const payload = method === 'POST' || method === 'PUT' ? await readBody(req) : Buffer.alloc(0);
      const contentType = String(req.headers['content-type'] ?? '');
      const isJson = contentType.includes('application/json');
      // pveproxy streams only the upload endpoint's body as multipart; any other endpoint refuses that content type.
      const isUpload = method === 'POST' && route.template === '/nodes/{node}/storage/{storage}/upload';
      let upload: { data: Buffer } | undefined;
      let raw: RawParams;
      if (isUpload) {
        const parsed = parseUpload(req.headers, payload);
        upload = { data: parsed.data };
        raw = { ...formParams(url.search.slice(1)), ...parsed.params };
      } else {
        if (payload.length > 0 && contentType && !/^application\/(x-www-form-urlencoded|json)/.test(contentType))
          throw new PveError(506, `upload 'Content-Type '${contentType}' not implemented`);
        const text = payload.toString('utf8');
        raw = {
          ...formParams(url.search.slice(1)),
          ...(isJson && text ? (JSON.parse(text) as RawParams) : formParams(text)),
        };
      }
      record.params = raw;
      let who;
      try {
        who = auth.identify(route.info, method, relPath, req.headers);
      } catch (e) {
        if (e instanceof PveError && e.status === 401) await new Promise((r) => setTimeout(r, timing.authFailDelayMs));
        throw e;
      }
      record.auth = who.kind;
      auth.checkPermissions(route.info, who, { ...raw, ...route.pathParams });
      let params;
      try {
        params = validateParams(route.info, raw, route.pathParams, isJson);
      } catch (e) {
        record.valid = false;
        throw e;
      }
      const key = `${method} ${route.template}`;
      const handler = allHandlers[key];
      if (!handler) {
        record.unmodelled = true;
        throw new PveError(
          501,
          `Method '${method} ${relPath}' not implemented (not modelled by the Glassdome test server)`,
        );
      }
      if (opts.overloadAfter !== undefined && record.seq > opts.overloadAfter)
        throw new PveError(596, 'Connection timed out', { emptyBody: true });
      const fault = faults.pick(method, route.template, { ...raw, ...route.pathParams });
      if (fault?.effect === 'http596') throw new PveError(596, 'Connection timed out', { emptyBody: true });
      if (fault?.effect === 'http595')
        throw new PveError(595, 'Errors during connection establishment, proxy handshake: Connection refused', {
          emptyBody: true,
        });
      if (fault?.effect === 'http500') throw new PveError(500, fault.message ?? 'got timeout');
      const ctx: HandlerContext = {
        sim,
        params,
        info: route.info,
        endpoint: route.template,
        user: who.id,
        isRoot: who.isRoot,
        privs: who.privs,
        taskFault: fault?.effect === 'taskError' ? (fault.message ?? 'injected task failure') : undefined,
        upload,
      };
      const result = await handler(ctx);
      record.status = 200;
      const body = result instanceof Envelope ? { data: result.data, ...result.extra } : { data: result ?? null };
      send(res, 200, 'OK', JSON.stringify(body));
    } catch (e) {
      const err =
        e instanceof PveError
          ? e
          : new PveError(
              500,
              e instanceof SyntaxError
                ? `malformed JSON body: ${e.message}`
                : String(e instanceof Error ? e.message : e),
            );
      record.status = err.status;
      record.message = err.message;
      record.errors = err.errors;
      if (err.emptyBody) return send(res, err.status, err.message, undefined);
      const body: Record<string, unknown> = { data: null };
      if (err.errors) body.errors = err.errors;
      if (messageInBody) body.message = `${err.message}\n`;
      send(res, err.status, err.message, JSON.stringify(body));
    }
  };

  // WebSocket upgrades (GET .../vncwebsocket): authenticated, checked and validated like any call, then proxied to the
  // vncproxy worker's port. pveproxy takes frames of at most 128 KiB, unfragmented, without extensions.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 128 * 1024,
    perMessageDeflate: false,
    handleProtocols: (protocols) => [...protocols][0] ?? false,
  });
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const prefix = '/api2/json';
    const relPath = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    const record: RequestRecord = {
      seq: requests.length + 1,
      method: 'GET',
      path: relPath,
      status: 0,
      valid: true,
      auth: 'none',
      params: {},
    };
    requests.push(record);
    const refuse = (err: PveError) => {
      record.status = err.status;
      record.message = err.message;
      record.errors = err.errors;
      const body = err.emptyBody
        ? ''
        : JSON.stringify({ data: null, ...(err.errors ? { errors: err.errors } : {}), message: `${err.message}\n` });
      socket.end(
        `HTTP/1.1 ${err.status} ${reason(err.message)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || !relPath.endsWith('websocket'))
        throw new PveError(501, `Method 'GET ${relPath}' not implemented`);
      let route;
      try {
        route = matchRoute(schema, 'GET', relPath);
      } catch (e) {
        record.valid = false;
        throw e;
      }
      record.endpoint = route.template;
      const raw = formParams(url.search.slice(1));
      record.params = raw;
      const who = auth.identify(route.info, 'GET', relPath, req.headers);
      record.auth = who.kind;
      auth.checkPermissions(route.info, who, { ...raw, ...route.pathParams });
      let params;
      try {
        params = validateParams(route.info, raw, route.pathParams, false);
      } catch (e) {
        record.valid = false;
        throw e;
      }
      const handler = allHandlers[`GET ${route.template}`];
      if (!handler) {
        record.unmodelled = true;
        throw new PveError(501, `Method 'GET ${relPath}' not implemented (not modelled by the Glassdome test server)`);
      }
      const result = handler({
        sim,
        params,
        info: route.info,
        endpoint: route.template,
        user: who.id,
        isRoot: who.isRoot,
        privs: who.privs,
      }) as { port: string };
      record.status = 101;
      wss.handleUpgrade(req, socket, head, (ws) => acceptConsole(sim.consoles, Number(result.port), ws));
    } catch (e) {
      refuse(e instanceof PveError ? e : new PveError(500, String(e instanceof Error ? e.message : e)));
    }
  };

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => void handle(req, res));
  server.on('upgrade', upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;

  return {
    url,
    apiUrl: `${url}/api2/json`,
    host: '127.0.0.1',
    port,
    version,
    fingerprint,
    certificate: tls.cert,
    state: sim.state,
    consoles: sim.consoles,
    tasks: sim.tasks,
    faults,
    timing,
    requests,
    users,
    tokens,
    stats() {
      const byEndpoint: Record<string, number> = {};
      for (const r of requests) {
        const k = `${r.method} ${r.endpoint ?? r.path}`;
        byEndpoint[k] = (byEndpoint[k] ?? 0) + 1;
      }
      return {
        total: requests.length,
        byEndpoint,
        invalid: requests.filter((r) => !r.valid),
        unmodelled: requests.filter((r) => r.unmodelled),
      };
    },
    tokenHeader(tokenid) {
      const t = tokens.find((x) => tokenid === undefined || x.tokenid === tokenid);
      if (!t) throw new Error(`[proxmox-server] no token ${tokenid ?? ''}`);
      return `PVEAPIToken=${t.tokenid}=${t.secret}`;
    },
    expireTickets() {
      for (const t of auth.tickets.values()) t.issuedMs = 0;
    },
    idle: () => sim.tasks.idle(),
    async close() {
      for (const c of wss.clients) c.terminate();
      for (const s of sim.consoles.sessions.values()) s.accept?.(undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const t of sim.tasks.list()) if (t.status === 'running') t.abort.abort();
      await sim.tasks.idle();
    },
  };
}
