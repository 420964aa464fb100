// Authentication and permissions as pveproxy does them (relevant.md section 1): tickets with CSRF tokens,
// API tokens, 401 with an empty body, and the schema's permission checks against configured privileges.
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PveError } from './pve-error.ts';
import type { MethodInfo } from './schema.ts';
import type { Handler } from './sim.ts';
import { str } from './sim.ts';

export interface UserSeed {
  userid: string;
  password: string;
  /** Privileges on every path; `'*'` for all (the default for root@pam). */
  privs?: string[];
}

export interface TokenSeed {
  /** `user@realm!name` */
  tokenid: string;
  secret: string;
  /** Effective privileges on every path (what privsep leaves); default all. */
  privs?: string[];
  /** Expiry, seconds since epoch; 0 or absent for none. */
  expire?: number;
}

export interface AuthOptions {
  users?: UserSeed[];
  tokens?: TokenSeed[];
}

export const defaultUsers: UserSeed[] = [{ userid: 'root@pam', password: 'glassdome', privs: ['*'] }];
export const defaultTokens: TokenSeed[] = [
  { tokenid: 'root@pam!glassdome', secret: '5f0c1a52-6a3f-4c1e-9a59-2d8c2b1f7e01', privs: ['*'] },
];

export const allPrivileges = [
  'Datastore.Allocate',
  'Datastore.AllocateSpace',
  'Datastore.AllocateTemplate',
  'Datastore.Audit',
  'Pool.Allocate',
  'Pool.Audit',
  'SDN.Allocate',
  'SDN.Audit',
  'SDN.Use',
  'Sys.AccessNetwork',
  'Sys.Audit',
  'Sys.Console',
  'Sys.Modify',
  'Sys.PowerMgmt',
  'Sys.Syslog',
  'User.Modify',
  'Permissions.Modify',
  'VM.Allocate',
  'VM.Audit',
  'VM.Backup',
  'VM.Clone',
  'VM.Config.CDROM',
  'VM.Config.CPU',
  'VM.Config.Cloudinit',
  'VM.Config.Disk',
  'VM.Config.HWType',
  'VM.Config.Memory',
  'VM.Config.Network',
  'VM.Config.Options',
  'VM.Console',
  'VM.GuestAgent.Audit',
  'VM.GuestAgent.Unrestricted',
  'VM.Migrate',
  'VM.Monitor',
  'VM.PowerMgmt',
  'VM.Snapshot',
  'VM.Snapshot.Rollback',
];

export interface Identity {
  /** The UPID user: `root@pam` or `user@realm!token`. */
  id: string;
  kind: 'ticket' | 'token' | 'none';
  privs: Set<string>;
  isRoot: boolean;
}

export interface Authenticator {
  /** Resolves the caller or throws the 401/403 pveproxy sends. */
  identify(info: MethodInfo, method: string, relPath: string, headers: IncomingHttpHeaders): Identity;
  /** Evaluates the schema's `permissions.check` for the caller. */
  checkPermissions(info: MethodInfo, who: Identity, params: Record<string, unknown>): void;
  handlers: Record<string, Handler>;
  /** Issued tickets, for tests that want to expire one early. */
  tickets: Map<string, { userid: string; issuedMs: number }>;
}

const expand = (privs: string[] | undefined): Set<string> =>
  new Set(!privs || privs.includes('*') ? allPrivileges : privs);

function unauthorized(message: string): PveError {
  return new PveError(401, message, { emptyBody: true });
}

function cookieTicket(headers: IncomingHttpHeaders): string | undefined {
  for (const part of String(headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'PVEAuthCookie') return decodeURIComponent(v.join('='));
  }
  const m = /(?:^|\s)PVEAuthCookie=([^;]+)/.exec(String(headers.authorization ?? ''));
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}

function tokenHeader(headers: IncomingHttpHeaders): string | undefined {
  const m = /(?:^|\s)PVEAPIToken[= ]([^;]+)/.exec(String(headers.authorization ?? ''));
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}

export function createAuthenticator(opts: AuthOptions, lifetimeMs: () => number): Authenticator {
  const secret = randomBytes(32);
  const users = new Map((opts.users ?? defaultUsers).map((u) => [u.userid, u]));
  const tokens = new Map((opts.tokens ?? defaultTokens).map((t) => [t.tokenid, t]));
  const tickets = new Map<string, { userid: string; issuedMs: number }>();
  const sign = (text: string): string => createHmac('sha256', secret).update(text).digest('base64');

  const csrfFor = (userid: string, hexTime: string): string => `${hexTime}:${sign(`${hexTime}:${userid}`)}`;

  const validTicket = (ticket: string): { userid: string; issuedMs: number } | undefined => {
    const t = tickets.get(ticket);
    if (!t || Date.now() - t.issuedMs > lifetimeMs()) return undefined;
    return t;
  };

  const identifyTicket = (ticket: string, method: string, relPath: string, headers: IncomingHttpHeaders): Identity => {
    const t = validTicket(ticket);
    const user = t && users.get(t.userid);
    if (!t || !user) throw unauthorized('Authentication failed!');
    // CSRF is checked on every non-GET ticket request except the multipart upload.
    if (method !== 'GET' && !/\/storage\/[^/]+\/upload$/.test(relPath)) {
      const hexTime = ticket.split(':')[2] ?? '';
      if (headers.csrfpreventiontoken !== csrfFor(t.userid, hexTime))
        throw unauthorized('Permission denied - invalid csrf token');
    }
    return { id: t.userid, kind: 'ticket', privs: expand(user.privs), isRoot: t.userid === 'root@pam' };
  };

  const identifyToken = (value: string, info: MethodInfo, relPath: string): Identity => {
    const eq = value.lastIndexOf('=');
    const tokenid = eq < 0 ? value : value.slice(0, eq);
    const token = tokens.get(tokenid);
    if (eq < 0 || !token || token.secret !== value.slice(eq + 1)) throw unauthorized('Authentication failed!');
    if (token.expire && token.expire * 1000 < Date.now()) throw unauthorized('Authentication failed!');
    if (info.allowtoken === 0)
      throw new PveError(
        403,
        `Permission check failed (URI '${relPath}' not available with API token, need proper ticket.)`,
      );
    return { id: tokenid, kind: 'token', privs: expand(token.privs), isRoot: false };
  };

  /** Evaluates ["perm", path, [privs], "any", 1, "require_param", p], ["and", ...], ["or", ...]. */
  const evaluate = (check: unknown, who: Identity, params: Record<string, unknown>): string | undefined => {
    if (!Array.isArray(check) || check.length === 0) return undefined;
    const [op, ...rest] = check as [unknown, ...unknown[]];
    if (op === 'and') {
      for (const c of rest) {
        const err = evaluate(c, who, params);
        if (err) return err;
      }
      return undefined;
    }
    if (op === 'or') {
      let first: string | undefined;
      for (const c of rest) {
        const err = evaluate(c, who, params);
        if (!err) return undefined;
        first ??= err;
      }
      return first;
    }
    if (op !== 'perm') return undefined;
    const [rawPath, privs, ...flags] = rest as [string, string[], ...unknown[]];
    const opts: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flags.length; i += 2) opts[String(flags[i])] = flags[i + 1];
    if (typeof opts.require_param === 'string' && params[opts.require_param] === undefined)
      return 'Permission check failed';
    const path = rawPath.replace(/\{([^}]+)\}/g, (_, k: string) => String(params[k] ?? ''));
    const ok = opts.any ? privs.some((p) => who.privs.has(p)) : privs.every((p) => who.privs.has(p));
    return ok ? undefined : `Permission check failed (${path}, ${privs.join('|')})`;
  };

  const createTicket: Handler = (ctx) => {
    let username = str(ctx.params, 'username');
    if (!username.includes('@') && ctx.params.realm !== undefined) username = `${username}@${String(ctx.params.realm)}`;
    const password = str(ctx.params, 'password');
    const user = users.get(username);
    // The password may be a valid ticket of the same user: that is how a ticket is renewed.
    const renewing = validTicket(password)?.userid === username;
    if (!user || (user.password !== password && !renewing)) throw new PveError(401, 'authentication failure');
    const now = Date.now();
    const hexTime = Math.floor(now / 1000)
      .toString(16)
      .toUpperCase()
      .padStart(8, '0');
    const ticket = `PVE:${username}:${hexTime}::${sign(`PVE:${username}:${hexTime}`)}`;
    tickets.set(ticket, { userid: username, issuedMs: now });
    return {
      ticket,
      CSRFPreventionToken: csrfFor(username, hexTime),
      username,
      cap: { vms: {}, storage: {}, access: {}, nodes: {}, dc: {}, sdn: {} },
    };
  };

  const permissions: Handler = (ctx) => {
    const entry = Object.fromEntries([...ctx.privs].sort().map((p) => [p, 1]));
    const path = ctx.params.path === undefined ? '/' : String(ctx.params.path);
    return { [path]: entry };
  };

  return {
    tickets,
    identify(info, method, relPath, headers) {
      if (info.permissions?.user === 'world') return { id: '', kind: 'none', privs: new Set(), isRoot: false };
      const ticket = cookieTicket(headers);
      if (ticket !== undefined) return identifyTicket(ticket, method, relPath, headers);
      const token = tokenHeader(headers);
      if (token !== undefined) return identifyToken(token, info, relPath);
      throw unauthorized('No ticket');
    },
    checkPermissions(info, who, params) {
      if (who.kind === 'none' || info.permissions?.check === undefined) return;
      const err = evaluate(info.permissions.check, who, params);
      if (err) throw new PveError(403, err);
    },
    handlers: {
      'POST /access/ticket': createTicket,
      'GET /access/ticket': () => null,
      'GET /access/permissions': permissions,
    },
  };
}
