// The Proxmox VE API over axios: API-token or ticket authentication (cookie + CSRFPreventionToken on writes,
// renewed before the 2-hour expiry), TLS pinning, a timeout and AbortSignal on every call, Proxmox's error shapes
// turned into AppError codes, and a waiter that follows a task (UPID) to its exit status and log.
import { createHash, randomBytes } from 'node:crypto';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import WebSocket from 'ws';
import { AppError, type ErrorCode } from '../../errors.ts';
import type { InputIssue } from '../../model/issues.ts';
import type { ProxmoxConfig } from './config.ts';
import { pollUntil } from '../shared/wait.ts';
import { createHttpsAgent } from '../shared/tls-trust.ts';

export type Params = Record<string, string | number | boolean | string[] | undefined>;

export interface CallOpts {
  signal?: AbortSignal;
}

/** What Proxmox said, kept as the AppError's cause. */
export interface PveFailure {
  status: number;
  text: string;
  errors?: Record<string, string>;
  /** The last lines of a failed task's log. */
  log?: string[];
}

export interface PveClient {
  get<T = unknown>(path: string, params?: Params, o?: CallOpts): Promise<T>;
  post<T = unknown>(path: string, params?: Params, o?: CallOpts): Promise<T>;
  put<T = unknown>(path: string, params?: Params, o?: CallOpts): Promise<T>;
  del<T = unknown>(path: string, params?: Params, o?: CallOpts): Promise<T>;
  /**
   * POST /nodes/{node}/storage/{storage}/upload as pveproxy parses it: multipart with the fields first (`content`,
   * then `checksum-algorithm` and `checksum`, which it verifies) and the file last in a part named `filename`.
   */
  upload<T = unknown>(path: string, content: string, file: { name: string; data: Buffer }, o?: CallOpts): Promise<T>;
  /** Follows a UPID until it stops; throws with the exit status (and keeps the log tail) unless it ended OK. */
  waitTask(upid: string, o?: CallOpts & { timeoutMs?: number }): Promise<void>;
  /** A result that may be a UPID (PVE >= 8 for resize, optional for content delete): waits when it is one. */
  settle(result: unknown, o?: CallOpts): Promise<void>;
  /**
   * Opens a WebSocket on a GET endpoint ending in `websocket` (vncwebsocket), authenticated like every call and over
   * the same pinned TLS; binary frames, no compression (pveproxy refuses frames with RSV bits). A refused upgrade
   * throws the AppError its HTTP answer maps to.
   */
  websocket(path: string, params: Params, o?: CallOpts): Promise<WebSocket>;
  close(): void;
}

// Lock contention: the per-VM flock, a config lock, the storage flock or the cluster filesystem lock.
const lockPattern =
  /can't lock file|got timeout|VM is locked|CT is locked|cfs-lock|got lock request timeout|unable to acquire lock/i;
const missingPattern = /does not exist|no such (vm|task|snapshot)|not found/i;

/** The AppError code of a Proxmox answer: lock errors and proxy pseudo-statuses are transient, the rest is not. */
export function classify(status: number, text: string): ErrorCode {
  if (status === 0 || status === 502 || status === 503 || status === 504 || status === 595 || status === 596)
    return 'transient';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate_limited';
  if (status === 400) return 'invalid_input';
  if (lockPattern.test(text)) return 'transient';
  if (missingPattern.test(text)) return 'not_found';
  return 'platform_error';
}

function hintFor(code: ErrorCode, text: string): string | undefined {
  if (code === 'forbidden') {
    const m = /Permission check failed \(([^,]+), ([^)]+)\)/.exec(text);
    return m
      ? `Grant ${m[2]!.split('|').join(' or ')} on ${m[1]} to the Glassdome user or token (and to the token itself when privilege separation is on).`
      : 'Check the privileges of the Glassdome user or token.';
  }
  if (code === 'unauthorized') return 'Check the API token (or user and password) stored for this platform.';
  return undefined;
}

export function pveError(f: PveFailure, prefix: string): AppError {
  const code = classify(f.status, f.text);
  const issues: InputIssue[] | undefined = f.errors
    ? Object.entries(f.errors).map(([path, message]) => ({ path, message: message.trim() }))
    : undefined;
  const hint = hintFor(code, f.text);
  return new AppError(code, `${prefix}${f.text}`, {
    cause: f,
    ...(hint ? { hint } : {}),
    ...(issues ? { issues } : {}),
  });
}

/** Proxmox puts the message in the reason phrase (always) and, since pve-http-server 5.2, in the body too. */
function failureOf(status: number, reason: string, body: unknown): PveFailure {
  const b = (body && typeof body === 'object' ? body : {}) as { message?: string; errors?: Record<string, string> };
  let text = (b.message ?? reason ?? '').trim() || `HTTP ${status}`;
  if (status === 596 && !b.message) text = `596 ${reason || 'Connection timed out'}`;
  if (status === 595 && !b.message) text = `595 ${reason || 'Errors during connection establishment'}`;
  if (b.errors)
    text = `${text.replace(/\.$/, '')}: ${Object.entries(b.errors)
      .map(([k, v]) => `${k}: ${v.trim().replace(/\n/g, '; ')}`)
      .join(', ')}`;
  return { status, text, ...(b.errors ? { errors: b.errors } : {}) };
}

function encode(params: Params | undefined): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.append(k, typeof x === 'boolean' ? (x ? '1' : '0') : String(x));
  }
  return out;
}

export function upidNode(upid: string): string | undefined {
  return /^UPID:([^:]+):/.exec(upid)?.[1];
}

export function isUpid(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('UPID:');
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNABORTED',
]);

export function createPveClient(config: ProxmoxConfig, secret: string | undefined): PveClient {
  const agent = createHttpsAgent(config.tls, {
    driver: 'proxmox',
    maxSockets: 16,
    renewHint: 'Datacenter > node > System > Certificates',
  });
  const http: AxiosInstance = axios.create({
    baseURL: `${config.url.replace(/\/+$/, '')}/api2/json`,
    httpsAgent: agent,
    timeout: config.timeouts.callMs,
    responseType: 'text',
    transformResponse: [(x: unknown) => x],
    validateStatus: () => true,
    maxRedirects: 0,
    proxy: false,
  });
  const renewAfterMs = 90 * 60_000; // tickets live 2 h; renew well before
  let session: { ticket: string; csrf: string; at: number } | undefined;
  let signingIn: Promise<void> | undefined;

  function needSecret(): string {
    if (!secret)
      throw new AppError('unauthorized', '[proxmox] No API token secret or password is stored for this platform', {
        hint: 'Enter the token secret (or password) in the platform settings.',
      });
    return secret;
  }

  async function raw(
    method: string,
    path: string,
    params: Params | undefined,
    o: CallOpts,
    headers: Record<string, string>,
    multipart?: { data: Buffer; contentType: string },
  ): Promise<{ status: number; reason: string; body: unknown }> {
    const query = method === 'GET' || method === 'DELETE';
    const form = encode(params);
    const sent: { data: Buffer | string; headers: Record<string, string> } = multipart
      ? {
          data: multipart.data,
          headers: {
            ...headers,
            'Content-Type': multipart.contentType,
            'Content-Length': String(multipart.data.length),
          },
        }
      : { data: form.toString(), headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' } };
    try {
      const r = await http.request<string, AxiosResponse<string>, Buffer | string>({
        method,
        url: path,
        ...(query ? { params: form, headers } : sent),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      let body: unknown;
      try {
        body = typeof r.data === 'string' && r.data.length > 0 ? JSON.parse(r.data) : undefined;
      } catch {
        body = undefined;
      }
      return { status: r.status, reason: r.statusText, body };
    } catch (e) {
      if (o.signal?.aborted) throw o.signal.reason ?? e;
      if (e instanceof AppError) throw e;
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof AppError) throw cause; // the pinned agent's fingerprint mismatch
      const code = (e as { code?: string }).code ?? '';
      const text = e instanceof Error ? e.message : String(e);
      if (code === 'ECONNABORTED' && /timeout/i.test(text))
        throw new AppError('timeout', `[proxmox] ${method} ${path}: no answer within ${config.timeouts.callMs} ms`, {
          cause: e,
        });
      throw new AppError(
        networkCodes.has(code) ? 'transient' : 'platform_error',
        `[proxmox] ${method} ${path}: ${text}`,
        { cause: e },
      );
    }
  }

  async function signIn(o: CallOpts, renew: boolean): Promise<void> {
    if (config.auth.mode !== 'password') return;
    const username = config.auth.username;
    // A valid ticket renews itself when sent as the password; a stale one falls back to the password.
    const attempt = async (password: string) => raw('POST', '/access/ticket', { username, password }, o, {});
    let r = renew && session && Date.now() - session.at < 2 * 3600_000 ? await attempt(session.ticket) : undefined;
    if (!r || r.status !== 200) r = await attempt(needSecret());
    if (r.status !== 200)
      throw pveError(failureOf(r.status, r.reason, r.body), `[proxmox] Unable to sign in as "${username}": `);
    const d = (r.body as { data?: { ticket?: string; CSRFPreventionToken?: string } }).data ?? {};
    if (!d.ticket || !d.CSRFPreventionToken)
      throw new AppError('platform_error', `[proxmox] Unable to sign in as "${username}": no ticket in the answer`);
    session = { ticket: d.ticket, csrf: d.CSRFPreventionToken, at: Date.now() };
  }

  async function ensureSession(o: CallOpts, force = false): Promise<void> {
    if (!force && session && Date.now() - session.at < renewAfterMs) return;
    // After a 401 the ticket is known bad: go straight to the password.
    signingIn ??= signIn(o, !force).finally(() => (signingIn = undefined));
    await signingIn;
  }

  async function authHeaders(method: string, o: CallOpts): Promise<Record<string, string>> {
    if (config.auth.mode === 'token') return { Authorization: `PVEAPIToken=${config.auth.tokenId}=${needSecret()}` };
    await ensureSession(o);
    const h: Record<string, string> = { Cookie: `PVEAuthCookie=${encodeURIComponent(session!.ticket)}` };
    if (method !== 'GET') h.CSRFPreventionToken = session!.csrf;
    return h;
  }

  async function call<T>(
    method: string,
    path: string,
    params: Params | undefined,
    o: CallOpts = {},
    multipart?: { data: Buffer; contentType: string },
  ): Promise<T> {
    let r = await raw(method, path, params, o, await authHeaders(method, o), multipart);
    if (r.status === 401 && config.auth.mode === 'password') {
      // The ticket expired or was revoked: sign in again once, then repeat the call.
      await ensureSession(o, true);
      r = await raw(method, path, params, o, await authHeaders(method, o), multipart);
    }
    if (r.status >= 200 && r.status < 300) return (r.body as { data?: T } | undefined)?.data as T;
    throw pveError(failureOf(r.status, r.reason, r.body), `[proxmox] ${method} ${path}: `);
  }

  const api: PveClient = {
    get: (p, params, o) => call('GET', p, params, o),
    post: (p, params, o) => call('POST', p, params, o),
    put: (p, params, o) => call('PUT', p, params, o),
    del: (p, params, o) => call('DELETE', p, params, o),

    upload(p, content, file, o) {
      const boundary = `----glassdome${randomBytes(12).toString('hex')}`;
      const field = (name: string, value: string) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      // pveproxy reads the fields in this order, then expects the file's Content-Disposition as the part's first line
      // and skips the part's headers up to a blank line after one: the Content-Type header is needed, not decoration.
      const head =
        field('content', content) +
        field('checksum-algorithm', 'sha256') +
        field('checksum', createHash('sha256').update(file.data).digest('hex')) +
        `--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="${file.name}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n';
      const data = Buffer.concat([Buffer.from(head), file.data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
      return call('POST', p, undefined, o ?? {}, { data, contentType: `multipart/form-data; boundary=${boundary}` });
    },

    async waitTask(upid, o = {}) {
      const node = upidNode(upid);
      if (!node) throw new AppError('platform_error', `[proxmox] Not a task id: ${upid}`);
      const base = `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}`;
      const timeoutMs = o.timeoutMs ?? config.timeouts.taskMs;
      const status = await pollUntil(
        async () => {
          try {
            const s = await call<{ status: string; exitstatus?: string }>('GET', `${base}/status`, undefined, o);
            return s.status === 'stopped' ? s : undefined;
          } catch (e) {
            // A status read that hit a busy proxy says nothing about the task: ask again.
            if (e instanceof AppError && e.code === 'transient') return undefined;
            throw e;
          }
        },
        {
          deadline: Date.now() + timeoutMs,
          minMs: config.poll.minMs,
          maxMs: config.poll.maxMs,
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
      if (!status)
        throw new AppError('timeout', `[proxmox] task ${upid} did not finish within ${Math.round(timeoutMs / 1000)} s`);
      const exit = status.exitstatus ?? 'unexpected status';
      if (exit === 'OK' || /^WARNINGS: \d+$/.test(exit)) return;
      let log: string[] = [];
      try {
        const lines = await call<Array<{ n: number; t: string }>>('GET', `${base}/log`, { start: 0, limit: 1000 }, o);
        log = lines.map((l) => l.t).slice(-10);
      } catch {
        // The exit status is the error; the log only adds context.
      }
      const code = classify(500, exit);
      throw new AppError(code === 'not_found' ? 'platform_error' : code, `[proxmox] ${exit}`, {
        cause: { status: 500, text: exit, log } satisfies PveFailure,
      });
    },

    async settle(result, o) {
      if (isUpid(result)) await api.waitTask(result, o);
    },

    async websocket(p, params, o = {}) {
      const url = new URL(`${config.url.replace(/\/+$/, '')}/api2/json${p}`);
      url.protocol = 'wss:';
      url.search = encode(params).toString();
      const headers = await authHeaders('GET', o);
      return new Promise<WebSocket>((resolve, reject) => {
        // pveproxy answers with the subprotocol it was asked for; noVNC asks for `binary`, and so do we.
        const ws = new WebSocket(url, ['binary'], {
          agent,
          headers,
          perMessageDeflate: false,
          handshakeTimeout: config.timeouts.callMs,
          maxPayload: 64 * 1024 * 1024,
        });
        ws.binaryType = 'nodebuffer';
        const onAbort = () => ws.terminate();
        o.signal?.addEventListener('abort', onAbort, { once: true });
        const done = () => o.signal?.removeEventListener('abort', onAbort);
        ws.once('open', () => {
          done();
          resolve(ws);
        });
        ws.once('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            done();
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = undefined;
            }
            ws.terminate();
            reject(pveError(failureOf(res.statusCode ?? 0, res.statusMessage ?? '', body), `[proxmox] GET ${p}: `));
          });
        });
        ws.once('error', (e) => {
          done();
          if (o.signal?.aborted) return reject(o.signal.reason ?? e);
          const cause = (e as { cause?: unknown }).cause;
          if (cause instanceof AppError) return reject(cause);
          const code = (e as { code?: string }).code ?? '';
          reject(
            new AppError(networkCodes.has(code) ? 'transient' : 'platform_error', `[proxmox] GET ${p}: ${e.message}`, {
              cause: e,
            }),
          );
        });
      });
    },

    close() {
      agent.destroy();
    },
  };
  return api;
}

/** The text Proxmox gave for a failure, without the client's `[proxmox] METHOD path: ` prefix. */
export function causeText(e: unknown): string {
  if (e instanceof AppError) {
    const f = e.cause as Partial<PveFailure> | undefined;
    if (f && typeof f.text === 'string') return f.text;
    return e.message.replace(/^\[proxmox\] (?:(?:GET|POST|PUT|DELETE) \S+: )?/, '');
  }
  return e instanceof Error ? e.message : String(e);
}
