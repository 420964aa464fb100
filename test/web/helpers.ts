// Web test helpers: the app over an in-memory database and the simulator, a cookie-keeping client that sends the
// CSRF token like a browser form would, and a set-up appliance with one user per role.
import { createApp } from '../../server/app.ts';
import { testServices, twoTierScenario } from '../orchestrator/helpers.ts';
import { systemActor } from '../../server/model/audit.ts';

export type TestApp = ReturnType<typeof createApp>;

export function webTestApp(options: Parameters<typeof createApp>[1] = {}) {
  const services = testServices();
  const app = createApp(services, options);
  return { services, app };
}

/** A browser-like client: keeps cookies, reads the CSRF token from the last page, follows nothing. */
export class Client {
  cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly app: TestApp) {}

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c) || v === '') this.cookies.delete(k!);
      else this.cookies.set(k!, v!);
    }
  }

  async request(
    method: string,
    path: string,
    init: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string>; csrf?: boolean } = {},
  ) {
    const headers: Record<string, string> = { Cookie: this.cookieHeader(), ...init.headers };
    let body: string | undefined;
    if (init.form) {
      const form = new URLSearchParams(init.form);
      if (init.csrf !== false) form.set('_csrf', this.csrf);
      body = form.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['Content-Type'] = 'application/json';
      if (init.csrf !== false) headers['X-CSRF-Token'] = this.csrf;
    } else if (method !== 'GET' && init.csrf !== false) headers['X-CSRF-Token'] = this.csrf;
    const res = await this.app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
    this.keep(res);
    const text = res.headers.get('Content-Type')?.includes('event-stream') ? '' : await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m) this.csrf = m[1]!;
    return { status: res.status, text, headers: res.headers, location: res.headers.get('Location') };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, headers ? { headers } : {});
  }

  post(
    path: string,
    form: Record<string, string> = {},
    opts: { csrf?: boolean; headers?: Record<string, string> } = {},
  ) {
    return this.request('POST', path, { form, ...opts });
  }

  async login(username: string, password: string) {
    await this.get('/login');
    const r = await this.post('/login', { username, password });
    if (r.status !== 303) throw new Error(`login as ${username} failed: ${r.status} ${r.text.slice(0, 300)}`);
    await this.get('/settings/tokens');
    return r;
  }
}

export const password = 'correct horse battery';

/** An appliance past setup with admin, instructor and two trainees, signed in, each with an API token. */
export async function setUpAppliance(app: TestApp) {
  const web = app.web;
  const users = {
    admin: await web.users.create(systemActor, { username: 'admin', password, role: 'admin' }),
    instructor: await web.users.create(systemActor, { username: 'teacher', password, role: 'instructor' }),
    trainee: await web.users.create(systemActor, { username: 'alice', password, role: 'trainee' }),
    other: await web.users.create(systemActor, { username: 'bob', password, role: 'trainee' }),
  };
  web.setup.complete(systemActor);
  web.library.seedBundled();
  const tokens = Object.fromEntries(
    Object.entries(users).map(([k, u]) => [k, web.tokens.create(systemActor, u.id, `${k}-token`).token]),
  ) as Record<keyof typeof users, string>;
  const clients = {} as Record<keyof typeof users, Client>;
  for (const [k, u] of Object.entries(users)) {
    const c = new Client(app);
    await c.login(u.username, password);
    clients[k as keyof typeof users] = c;
  }
  return { users, tokens, clients };
}

export async function api(app: TestApp, method: string, path: string, token: string | undefined, json?: unknown) {
  const res = await app.request(path, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body: body as any, text };
}

export async function waitForState(app: TestApp, id: string, states: string[], timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = app.web.db.$client.prepare('SELECT state FROM deployments WHERE id = ?').get(id) as { state: string };
    if (states.includes(s.state)) return s.state;
    if (Date.now() > until)
      throw new Error(`deployment ${id} is ${s.state}, not ${states.join('/')} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export { twoTierScenario };
