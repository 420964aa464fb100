// What every handler of the ARM test server works with: the simulation, the parsed request, the answer, and the
// route table entry (method, path template under /subscriptions/{subscriptionId}, api-version, RBAC action).
import { armErrors, type ArmErrorBody } from './arm-error.ts';
import type { Clock } from './clock.ts';
import type { GuestBook } from './guest.ts';
import type { OperationRegistry } from './operations.ts';
import type { ArmStore, ArmResource } from './store.ts';

export interface SkuSpec {
  name: string;
  family: string;
  vcpus: number;
  memoryGb: number;
  maxNics: number;
}

export interface ImageSpec {
  publisher: string;
  offer: string;
  sku: string;
  versions: string[];
  os: 'Linux' | 'Windows';
  sizeGb: number;
  /** Marketplace images sold under a plan: a VM needs the plan block (and accepted terms). */
  plan?: boolean;
  /** Regions that have it; default every region. */
  locations?: string[];
}

export interface Sim {
  store: ArmStore;
  ops: OperationRegistry;
  clock: Clock;
  guests: GuestBook;
  /** `https://127.0.0.1:<port>` */
  base: string;
  tenantId: string;
  locations: string[];
  skus: SkuSpec[];
  /** Region -> sizes not offered to this subscription there. */
  restrictedSkus: Record<string, string[]>;
  images: ImageSpec[];
  /** URNs (publisher:offer:sku) whose marketplace terms were not accepted. */
  unacceptedTerms: string[];
  quota: { cores: number; families: Record<string, number> };
  /** Lower-cased provider namespaces registered on the subscription. */
  registered: Set<string>;
  /** Items per page of a list; the rest follow through `nextLink`. */
  pageSize: number;
}

export interface Ctx {
  sim: Sim;
  method: string;
  /** The request's path, from `/subscriptions/...`. */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
  apiVersion: string;
  /** Who asked (the token's client id), for AuthorizationFailed messages. */
  clientId: string;
  /** A fault rule asked that the operation this request starts fail with this error. */
  lroFailure?: ArmErrorBody;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: string;
  /** Under `/subscriptions/{subscriptionId}`; segments in braces are parameters. Matched case-insensitively. */
  path: string;
  /** Which api-version the route's provider serves (a key of apiVersions). */
  api: keyof typeof apiVersions;
  /** The RBAC action, e.g. `Microsoft.Network/virtualNetworks/write`. */
  action: string;
  handle(ctx: Ctx): Reply;
}

/** The api-versions the SDKs the driver uses send (read from node_modules/@azure/arm-*), per provider and type. */
export const apiVersions = {
  resources: '2025-04-01',
  network: '2025-05-01',
  compute: '2026-03-01',
  computeSkus: '2021-07-01',
  disks: '2025-01-02',
} as const;

/** The JSON ARM returns for a resource. */
export function view(r: ArmResource): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    ...(r.type.endsWith('/subnets') ? {} : { location: r.location, tags: r.tags }),
    etag: `W/"${r.sim.etag ?? '00000000-0000-0000-0000-000000000000'}"`,
    ...(r.sku ? { sku: r.sku } : {}),
    ...(r.plan ? { plan: r.plan } : {}),
    properties: r.properties,
  };
}

/**
 * One page of a list, as ARM answers it: `value`, and while items are left a `nextLink` to the same list (with the
 * request's query) and a `$skiptoken` saying where the next page starts.
 */
export function page(ctx: Ctx, items: unknown[]): Reply {
  const token = ctx.query.get('$skiptoken');
  const from = token === null ? 0 : Number(token);
  if (!Number.isInteger(from) || from < 0 || from > items.length)
    throw armErrors.badRequest('InvalidSkipToken', `The skip token '${token}' is not valid.`);
  const to = from + ctx.sim.pageSize;
  if (to >= items.length) return { status: 200, body: { value: items.slice(from) } };
  const next = new URL(ctx.path, ctx.sim.base);
  for (const [k, v] of ctx.query) if (k !== '$skiptoken') next.searchParams.append(k, v);
  next.searchParams.set('$skiptoken', String(to));
  return { status: 200, body: { value: items.slice(from, to), nextLink: next.toString() } };
}

export function ipToInt(ip: string): number | undefined {
  const p = ip.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
  return p.reduce((a, x) => a * 256 + Number(x), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number; size: number } | undefined {
  const [ip, bits] = cidr.split('/');
  const base = ip === undefined ? undefined : ipToInt(ip);
  const prefix = Number(bits);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) return undefined;
  return { base, prefix, size };
}

export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  return !!o && !!i && i.base >= o.base && i.base + i.size <= o.base + o.size;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return !!x && !!y && x.base < y.base + y.size && y.base < x.base + x.size;
}
