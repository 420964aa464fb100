// An Azure Resource Manager test server over HTTPS on 127.0.0.1 (a CA made for the run signs its certificate):
// the Resources, Network and Compute routes the Glassdome driver uses, each checked for its api-version, bearer
// token, RBAC action and provider registration, with long-running operations, throttling and injected faults;
// an Entra ID token endpoint; and the boot diagnostics blobs. Time runs `speed` times faster than Azure's.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArmError, armErrors } from './arm-error.ts';
import { defaultImages, defaultSkus } from './catalog.ts';
import { testCertificates } from './certs.ts';
import { createClock, defaultTiming, type Clock, type Timing } from './clock.ts';
import { computeRoutes } from './compute.ts';
import { createFaults, type FaultInjector, type FaultRule } from './faults.ts';
import { createGuestBook, type GuestBehaviour, type GuestBook } from './guest.ts';
import { createTokenIssuer, type TokenIssuer } from './identity.ts';
import { operationRoutes } from './lro.ts';
import { networkRoutes } from './network.ts';
import { createOperations } from './operations.ts';
import { resourceGroupRoutes } from './resource-groups.ts';
import { apiVersions, type Ctx, type ImageSpec, type Reply, type Route, type Sim, type SkuSpec } from './routes.ts';
import { createStore, type ArmStore } from './store.ts';

export interface ArmServerOptions {
  subscriptionId?: string;
  tenantId?: string;
  /** The service principal that may sign in (client id + secret). */
  principal?: { clientId: string; secret: string };
  /** A bearer token the ARM routes accept without signing in, for tests that use a static TokenCredential. */
  staticToken?: string;
  /** Simulated seconds per real second (default 500: a 60 s VM creation takes 120 ms). */
  speed?: number;
  seed?: number;
  timing?: Partial<Timing>;
  locations?: string[];
  skus?: SkuSpec[];
  restrictedSkus?: Record<string, string[]>;
  images?: ImageSpec[];
  unacceptedTerms?: string[];
  quota?: { cores?: number; families?: Record<string, number> };
  /** `Reader` may only read; `Contributor` (default) may do everything the driver does. */
  role?: 'Contributor' | 'Reader';
  /** RBAC actions refused even to a Contributor, e.g. `Microsoft.Compute/virtualMachines/write`. */
  denyActions?: string[];
  /** Provider namespaces not registered on the subscription. */
  unregistered?: string[];
  faults?: FaultRule[];
  /** Retry-After (seconds) on long-running operations' answers, as Azure sends it; default none. */
  lroRetryAfterSec?: number;
  /** What every guest prints by default (`ready`). */
  guest?: GuestBehaviour;
  /** Items per page of the subscription-wide lists (VMs, NICs); default 100. */
  pageSize?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** The route template it matched, e.g. `PUT .../networkInterfaces/{name}`; `token`, `blob`, or `unmatched`. */
  route: string;
  status: number;
  at: number;
}

export interface ArmServer {
  /** `https://127.0.0.1:<port>`: the ARM endpoint and the authority host. */
  url: string;
  /** A file holding the CA certificate (PEM) to trust. */
  caFile: string;
  subscriptionId: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  staticToken: string;
  clock: Clock;
  store: ArmStore;
  faults: FaultInjector;
  guests: GuestBook;
  tokens: TokenIssuer;
  requests: RequestRecord[];
  /** Every resource group and resource that exists now (operations due are settled first). */
  inventory(): string[];
  /** Ids that requests brought into existence more than once. */
  createdTwice(): string[];
  /** Requests per route template. */
  countByRoute(): Record<string, number>;
  /** Every long-running operation with what it acted on and how long it took in simulated ms. */
  operations(): Array<{ target: string; namespace: string; simMs: number; status: string }>;
  close(): Promise<void>;
}

const routes: Array<Route & { re: RegExp; names: string[] }> = [
  ...resourceGroupRoutes,
  ...networkRoutes,
  ...computeRoutes,
  ...operationRoutes,
].map((r) => {
  const names: string[] = [];
  const body = r.path.replace(/\{(\w+)\}/g, (_, n: string) => {
    names.push(n);
    return '([^/]+)';
  });
  return { ...r, re: new RegExp(`^/subscriptions/([^/]+)${body}$`, 'i'), names };
});

function namespaceOf(path: string): string | undefined {
  return /\/providers\/(Microsoft\.(?:Compute|Network))\//i.exec(path)?.[1]?.toLowerCase();
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startArmServer(opts: ArmServerOptions = {}): Promise<ArmServer> {
  const tls = testCertificates();
  const dir = mkdtempSync(path.join(tmpdir(), 'arm-server-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, tls.ca);
  const subscriptionId = opts.subscriptionId ?? '7c1d3a52-4b8e-4f0a-9d2e-1a2b3c4d5e6f';
  const tenantId = opts.tenantId ?? '0f9e8d7c-6b5a-4321-8fed-cba987654321';
  const principal = opts.principal ?? {
    clientId: '3b8f1c2d-9a7e-4d6c-b5a4-112233445566',
    secret: `Gd8Q~${crypto.randomBytes(24).toString('base64url')}`,
  };
  const staticToken = opts.staticToken ?? `static.${crypto.randomBytes(16).toString('hex')}`;
  const clock = createClock(opts.speed ?? 500, { ...defaultTiming, ...opts.timing }, opts.seed ?? 1);
  const store = createStore(subscriptionId);
  const ops = createOperations(clock, opts.lroRetryAfterSec);
  const guests = createGuestBook(clock);
  if (opts.guest) guests.script('*', opts.guest);
  const faults = createFaults(opts.faults ?? []);
  const locations = (opts.locations ?? ['westeurope', 'eastus']).map((l) => l.toLowerCase());
  let base = '';
  const tokens = createTokenIssuer({ base: () => base, tenantId, principals: [principal], staticToken });
  const sim: Sim = {
    store,
    ops,
    clock,
    guests,
    base: '',
    tenantId,
    locations,
    skus: opts.skus ?? defaultSkus,
    restrictedSkus: opts.restrictedSkus ?? {},
    images: opts.images ?? defaultImages,
    unacceptedTerms: opts.unacceptedTerms ?? [],
    quota: { cores: opts.quota?.cores ?? 1000, families: opts.quota?.families ?? {} },
    registered: new Set(
      ['microsoft.compute', 'microsoft.network', 'microsoft.resources'].filter(
        (n) => !(opts.unregistered ?? []).some((u) => u.toLowerCase() === n),
      ),
    ),
    pageSize: opts.pageSize ?? 100,
  };
  const requests: RequestRecord[] = [];

  const armReply = (req: IncomingMessage, url: URL, method: string, text: string, record: RequestRecord): Reply => {
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('Bearer '))
      throw armErrors.unauthenticated("Authentication failed. The 'Authorization' header is missing.");
    const who = tokens.verify(auth.slice('Bearer '.length));
    if ('error' in who) throw armErrors.unauthenticated(who.error);
    let found: { route: (typeof routes)[number]; m: RegExpExecArray } | undefined;
    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.re.exec(url.pathname);
      if (m) {
        found = { route, m };
        break;
      }
    }
    const sub = /^\/subscriptions\/([^/]+)/i.exec(url.pathname)?.[1];
    if (sub !== undefined && sub.toLowerCase() !== subscriptionId) throw armErrors.subscriptionNotFound(sub);
    if (!found) throw armErrors.noRoute(method, url.pathname);
    const { route, m } = found;
    record.route = `${method} ${route.path}`;
    const given = url.searchParams.getAll('api-version');
    if (given.length === 0) throw armErrors.missingApiVersion();
    const expected = apiVersions[route.api];
    const wrong = given.find((v) => v !== expected);
    if (wrong) throw armErrors.badApiVersion(wrong, route.path.split('/providers/').pop() ?? route.path, expected);
    const ns = namespaceOf(url.pathname);
    if (ns && !sim.registered.has(ns) && !url.pathname.toLowerCase().endsWith('/register'))
      throw armErrors.missingRegistration(ns === 'microsoft.compute' ? 'Microsoft.Compute' : 'Microsoft.Network');
    const allowed = (opts.role ?? 'Contributor') === 'Contributor' ? true : route.action.endsWith('/read');
    if (!allowed || (opts.denyActions ?? []).some((a) => a.toLowerCase() === route.action.toLowerCase())) {
      const scope = url.pathname.replace(
        /\/(start|powerOff|deallocate|restart|retrieveBootDiagnosticsData|instanceView|register)$/i,
        '',
      );
      throw armErrors.authorizationFailed(who.clientId, route.action, scope);
    }
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 2]!)));
    const ctx: Ctx = {
      sim,
      method,
      path: url.pathname,
      params,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined,
      apiVersion: expected,
      clientId: who.clientId,
    };
    const fault = faults.pick(method, url.pathname);
    if (fault?.kind === 'throttle') throw armErrors.throttled(fault.retryAfterSec);
    if (fault?.kind === 'error') throw new ArmError(fault.status, fault.code, fault.message);
    if (fault?.kind === 'lroFail') ctx.lroFailure = fault.error;
    if (fault?.kind === 'meanwhile') fault.change();
    return route.handle(ctx);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', base);
    const record: RequestRecord = { method, path: url.pathname, route: 'unmatched', status: 0, at: Date.now() };
    requests.push(record);
    const text = await readBody(req);
    if (clock.timing.latencyMs > 0) await sleep(clock.real(clock.timing.latencyMs));
    ops.settle();
    const send = (
      status: number,
      body: unknown,
      headers: Record<string, string> = {},
      contentType = 'application/json; charset=utf-8',
    ) => {
      record.status = status;
      res.statusCode = status;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      res.setHeader('x-ms-request-id', crypto.randomUUID());
      if (body === undefined || method === 'HEAD') {
        res.end();
        return;
      }
      res.setHeader('Content-Type', contentType);
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    try {
      const token = tokens.handle(method, url.pathname, new URLSearchParams(text));
      if (token) {
        record.route = url.pathname.endsWith('/token') ? 'token' : 'openid-configuration';
        return send(token.status, token.body);
      }
      if (url.pathname.startsWith('/_blob/')) {
        record.route = 'blob';
        const r = guests.resolveBlob(url.pathname, url.searchParams, () =>
          [...store.resources.values()].filter((x) => x.type === 'Microsoft.Compute/virtualMachines'),
        );
        const xml = (code: string) =>
          `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
        if ('status' in r) return send(r.status, xml(r.code), {}, 'application/xml');
        const fault = faults.pick(method, url.pathname);
        if (fault?.kind === 'error') return send(fault.status, xml(fault.code), {}, 'application/xml');
        const log = guests.serialLog(r.vm);
        if (log === undefined) return send(404, xml('BlobNotFound'), {}, 'application/xml');
        guests.reads++;
        const bytes = Buffer.from(log, 'utf8');
        const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
        if (range) {
          const from = Number(range[1]);
          if (from >= bytes.length)
            return send(416, xml('InvalidRange'), { 'Content-Range': `bytes */${bytes.length}` }, 'application/xml');
          return send(
            206,
            bytes.subarray(from).toString('utf8'),
            { 'Content-Range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` },
            'text/plain',
          );
        }
        return send(200, log, {}, 'text/plain');
      }
      const reply = armReply(req, url, method, text, record);
      return send(reply.status, reply.body, reply.headers);
    } catch (e) {
      if (e instanceof ArmError) return send(e.status, e.body(), e.extra.headers);
      return send(500, {
        error: { code: 'InternalServerError', message: `test server bug: ${(e as Error).stack ?? e}` },
      });
    }
  };

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sim.base = base;

  return {
    url: base,
    caFile,
    subscriptionId,
    tenantId,
    clientId: principal.clientId,
    clientSecret: principal.secret,
    staticToken,
    clock,
    store,
    faults,
    guests,
    tokens,
    requests,
    inventory() {
      ops.settle();
      return store.inventory();
    },
    createdTwice: () => [...store.created].filter(([, n]) => n > 1).map(([id]) => id),
    countByRoute() {
      const out: Record<string, number> = {};
      for (const r of requests) out[r.route] = (out[r.route] ?? 0) + 1;
      return out;
    },
    operations: () =>
      ops.all().map((op) => ({ target: op.target ?? '', namespace: op.namespace, simMs: op.simMs, status: op.status })),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
