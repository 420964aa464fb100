// A small client for a running appliance, as a person at a browser would use it: the setup wizard with the code
// from the console, an API token from Settings, then the JSON API. HTTPS is trusted by pinning the certificate's
// SHA-256 fingerprint (the console banner shows it), never by turning verification off silently.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface Reply {
  status: number;
  text: string;
  location: string | null;
  json<T>(): T;
}

export interface ClientOptions {
  /** Expected certificate fingerprint (AA:BB:..., as Node and the banner print it); required for https. */
  fingerprint256?: string;
  timeoutMs?: number;
}

export class ApplianceClient {
  readonly cookies = new Map<string, string>();
  csrf = '';
  bearer = '';
  constructor(
    readonly base: string,
    readonly opts: ClientOptions = {},
  ) {}

  private pem: string | undefined;

  /** The server's certificate, accepted only when its fingerprint is the pinned one (nothing is sent before). */
  private async trustedPem(url: URL): Promise<string> {
    const pin = this.opts.fingerprint256?.toUpperCase();
    if (!pin) throw new Error(`ApplianceClient: ${url.origin} needs the certificate fingerprint to trust`);
    if (this.pem) return this.pem;
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host: url.hostname, port: Number(url.port || 443), rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate());
        s.end();
      });
      s.setTimeout(this.opts.timeoutMs ?? 30_000, () =>
        s.destroy(new Error(`TLS handshake with ${url.host} timed out`)),
      );
      s.on('error', reject);
    });
    if (cert.fingerprint256 !== pin)
      throw new Error(`certificate fingerprint ${cert.fingerprint256} is not the expected ${pin}`);
    this.pem = `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
    return this.pem;
  }

  async request(
    method: string,
    route: string,
    body?: { form?: Record<string, string>; json?: unknown },
  ): Promise<Reply> {
    const url = new URL(route, this.base);
    const secure = url.protocol === 'https:';
    const ca = secure ? await this.trustedPem(url) : undefined;
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.bearer) headers.Authorization = `Bearer ${this.bearer}`;
    let payload: string | undefined;
    if (body?.form) {
      const f = new URLSearchParams(body.form);
      if (!this.bearer) f.set('_csrf', this.csrf);
      payload = f.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (body?.json !== undefined) {
      payload = JSON.stringify(body.json);
      headers['Content-Type'] = 'application/json';
      if (!this.bearer) headers['X-CSRF-Token'] = this.csrf;
    }
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
    const pin = this.opts.fingerprint256?.toUpperCase();
    return new Promise<Reply>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          for (const c of res.headers['set-cookie'] ?? []) {
            const [pair] = c.split(';');
            const eq = pair!.indexOf('=');
            const k = pair!.slice(0, eq);
            const v = pair!.slice(eq + 1);
            if (v === '' || /Max-Age=0/i.test(c)) this.cookies.delete(k);
            else this.cookies.set(k, v);
          }
          const text = Buffer.concat(chunks).toString('utf8');
          const m = /name="_csrf" value="([^"]+)"/.exec(text);
          if (m) this.csrf = m[1]!;
          resolve({
            status: res.statusCode ?? 0,
            text,
            location: res.headers.location ?? null,
            json: <T>() => JSON.parse(text) as T,
          });
        });
      };
      const common = { method, headers, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) };
      // The pinned self-signed certificate is the only trust anchor; its names need not match the address used
      // (a forwarded port on 127.0.0.1), so the identity check is the fingerprint again.
      const req = secure
        ? https.request(
            url,
            {
              ...common,
              ca,
              checkServerIdentity: (_h, cert) =>
                cert.fingerprint256 === pin
                  ? undefined
                  : new Error(`certificate fingerprint ${cert.fingerprint256} is not the expected ${pin}`),
            },
            onResponse,
          )
        : http.request(url, common, onResponse);
      req.on('error', reject);
      req.end(payload);
    });
  }

  get(route: string) {
    return this.request('GET', route);
  }

  post(route: string, form: Record<string, string> = {}) {
    return this.request('POST', route, { form });
  }
}

export interface SetupAnswers {
  code: string;
  username: string;
  password: string;
  /** Speed of the built-in simulator platform. */
  simSpeed?: number;
  cidr?: string;
}

function expectStatus(r: Reply, status: number, what: string): Reply {
  if (r.status !== status)
    throw new Error(
      `${what}: HTTP ${r.status} (expected ${status}): ${r.text
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 400)}`,
    );
  return r;
}

/** Walks the wizard: admin account, the simulator platform, an address pool, done. Leaves the client signed in. */
export async function finishSetup(c: ApplianceClient, a: SetupAnswers): Promise<void> {
  const page = expectStatus(await c.get('/setup'), 200, 'GET /setup');
  if (!page.text.includes('Setup code')) throw new Error('GET /setup: not the setup wizard');
  const admin = expectStatus(
    await c.post('/setup', { code: a.code, username: a.username, password: a.password, confirm: a.password }),
    303,
    'POST /setup',
  );
  await c.get(admin.location ?? '/setup/platform');
  expectStatus(
    await c.post('/setup/platform', {
      kind: 'simulator',
      name: 'simulator',
      'config.speed': String(a.simSpeed ?? 200),
    }),
    303,
    'POST /setup/platform',
  );
  await c.get('/setup/pools');
  expectStatus(
    await c.post('/setup/pools/cidr', { cidr: a.cidr ?? '172.20.0.0/16', subnetPrefix: '24' }),
    303,
    'POST /setup/pools/cidr',
  );
  expectStatus(await c.post('/setup/pools/done'), 303, 'POST /setup/pools/done');
  await c.get('/setup/done');
  expectStatus(await c.post('/setup/finish'), 303, 'POST /setup/finish');
}

/** Creates an API token in Settings and switches the client to it. */
export async function createToken(c: ApplianceClient, name: string): Promise<string> {
  await c.get('/settings/tokens');
  const r = expectStatus(await c.post('/settings/tokens', { name }), 200, 'POST /settings/tokens');
  const m = /<pre class="token[^"]*">([^<]+)<\/pre>/.exec(r.text);
  if (!m) throw new Error('POST /settings/tokens: no token on the page');
  c.bearer = m[1]!.trim();
  return c.bearer;
}

interface DeploymentReply {
  id: string;
  state: string;
  error?: string | null;
}

/** Deploys a library scenario on a platform through the API and waits (bounded) for a final state. */
export async function deployAndWait(
  c: ApplianceClient,
  o: { scenario: string; platform: string; instances?: number; timeoutMs: number },
): Promise<DeploymentReply & { ms: number }> {
  const t0 = Date.now();
  const lib = expectStatus(await c.get('/api/v1/scenarios'), 200, 'GET /api/v1/scenarios').json<
    Array<{ id: string; name: string }>
  >();
  const sc = lib.find((s) => s.name === o.scenario);
  if (!sc) throw new Error(`scenario ${o.scenario} is not in the library (${lib.map((s) => s.name).join(', ')})`);
  const started = expectStatus(
    await c.request('POST', '/api/v1/deployments', {
      json: { scenarioId: sc.id, platform: o.platform, instances: o.instances ?? 1 },
    }),
    202,
    'POST /api/v1/deployments',
  ).json<DeploymentReply>();
  const final = new Set(['ready', 'failed', 'cancelled', 'destroyed', 'destroy_failed']);
  for (;;) {
    const d = expectStatus(
      await c.get(`/api/v1/deployments/${started.id}`),
      200,
      'GET deployment',
    ).json<DeploymentReply>();
    if (final.has(d.state)) return { ...d, ms: Date.now() - t0 };
    if (Date.now() - t0 > o.timeoutMs)
      throw new Error(`deployment ${started.id} still ${d.state} after ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
