// Authorization for every route and role, CSRF, trainee isolation, and secrets that never leave the server.
// The route table is checked against the app's registered routes: a route added without a row here fails.
import { beforeAll, describe, expect, it } from 'vitest';
import { api, Client, setUpAppliance, twoTierScenario, waitForState, webTestApp, type TestApp } from './helpers.ts';
import { systemActor } from '../../server/model/audit.ts';

/** Who may call a route. `scoped`: any signed-in user, but a trainee only for a deployment assigned to them. */
type Policy = 'public' | 'any' | 'staff' | 'admin' | 'scoped' | 'scoped-staff';

const table: Record<string, Policy> = {
  'GET /healthz': 'public',
  'GET /static/:file': 'public',
  'GET /static/vendor/*': 'public',
  'GET /setup': 'public', // 404 once set up, for everyone
  'POST /setup': 'public',
  'GET /setup/platform': 'admin',
  'POST /setup/platform/test': 'admin',
  'POST /setup/platform': 'admin',
  'GET /setup/pools': 'admin',
  'POST /setup/pools/cidr': 'admin',
  'POST /setup/pools/vlan': 'admin',
  'POST /setup/pools/done': 'admin',
  'GET /setup/done': 'admin',
  'POST /setup/finish': 'admin',
  'GET /login': 'public',
  'POST /login': 'public',
  'POST /logout': 'any',
  'GET /': 'any',
  'GET /deployments': 'any',
  'GET /scenarios': 'staff',
  'POST /scenarios': 'staff',
  'POST /scenarios/check': 'staff',
  'GET /scenarios/:id': 'staff',
  'POST /scenarios/:id': 'staff',
  'POST /scenarios/:id/delete': 'staff',
  'GET /scenarios/:id/deploy': 'staff',
  'POST /scenarios/:id/plan': 'staff',
  'POST /scenarios/:id/deploy': 'staff',
  'GET /deployments/:id': 'scoped',
  'GET /deployments/:id/live': 'scoped',
  'POST /deployments/:id/cancel': 'scoped-staff',
  'POST /deployments/:id/retry': 'scoped-staff',
  'POST /deployments/:id/destroy': 'scoped-staff',
  'GET /deployments/:id/topology': 'scoped',
  'GET /deployments/:id/machines/:key': 'scoped',
  'POST /deployments/:id/machines/:key/power': 'scoped',
  'POST /deployments/:id/machines/:key/snapshots': 'scoped-staff',
  'POST /deployments/:id/machines/:key/snapshots/revert': 'scoped-staff',
  'GET /deployments/:id/machines/:key/console': 'scoped',
  'POST /deployments/:id/machines/:key/console/link': 'scoped',
  'GET /deployments/:id/machines/:key/console/socket': 'scoped',
  'GET /deployments/:id/machines/:key/terminal': 'scoped',
  'POST /deployments/:id/machines/:key/terminal/link': 'scoped',
  'GET /deployments/:id/machines/:key/terminal/socket': 'scoped',
  'GET /deployments/:id/vpn': 'scoped',
  'GET /deployments/:id/vpn/:instance': 'scoped',
  'GET /deployments/:id/vpn/:instance/conf': 'scoped',
  'GET /deployments/:id/range': 'scoped',
  'POST /deployments/:id/range/lifecycle': 'scoped-staff',
  'POST /deployments/:id/range/power': 'scoped-staff',
  'POST /deployments/:id/range/instances/:instance/snapshots': 'scoped-staff',
  'POST /deployments/:id/range/instances/:instance/snapshots/reset': 'scoped',
  'POST /deployments/:id/range/instances/:instance/snapshots/delete': 'scoped-staff',
  // Trainees: their own instance, where the deployment allows testing mode (this one does, see beforeAll).
  'POST /deployments/:id/range/instances/:instance/testing': 'scoped',
  'POST /deployments/:id/range/instances/:instance/testing/leave': 'scoped',
  'POST /deployments/:id/range/instances/:instance/assignment': 'scoped-staff',
  'POST /deployments/:id/range/instances/:instance/vpn/apply': 'scoped-staff',
  'GET /overseer': 'staff',
  'POST /overseer/jobs/:name/run': 'staff',
  'POST /overseer/policies/:platform': 'admin',
  'POST /overseer/quotas/:user': 'admin',
  'GET /settings': 'admin',
  'GET /settings/platforms': 'admin',
  'POST /settings/platforms': 'admin',
  'POST /settings/platforms/test': 'admin',
  'GET /settings/platforms/:id': 'admin',
  'POST /settings/platforms/:id': 'admin',
  'POST /settings/platforms/:id/test': 'admin',
  'POST /settings/platforms/:id/delete': 'admin',
  'GET /settings/platforms/:id/templates': 'admin',
  'GET /settings/pools': 'admin',
  'POST /settings/pools/cidr': 'admin',
  'POST /settings/pools/vlan': 'admin',
  'GET /settings/users': 'admin',
  'POST /settings/users': 'admin',
  'POST /settings/users/:id': 'admin',
  'GET /settings/tokens': 'any',
  'POST /settings/tokens': 'any',
  'POST /settings/tokens/:id/revoke': 'any',
  'GET /account': 'any',
  'POST /account/password': 'any',
  'GET /settings/audit': 'admin',
  'GET /settings/tls': 'admin',
  'POST /settings/tls': 'admin',
  'GET /api/v1/openapi.json': 'public',
  'GET /api/v1/me': 'any',
  'POST /api/v1/me/password': 'any',
  'GET /api/v1/platforms': 'staff',
  'POST /api/v1/platforms': 'admin',
  'GET /api/v1/platforms/:id': 'staff',
  'PATCH /api/v1/platforms/:id': 'admin',
  'POST /api/v1/platforms/:id/test': 'admin',
  'DELETE /api/v1/platforms/:id': 'admin',
  'GET /api/v1/platforms/:id/template-builds': 'staff',
  'GET /api/v1/platforms/:id/template-builds/:template/vars.json': 'staff',
  'GET /api/v1/pools': 'staff',
  'POST /api/v1/pools/cidr': 'admin',
  'POST /api/v1/pools/vlan': 'admin',
  'GET /api/v1/scenarios': 'staff',
  'POST /api/v1/scenarios': 'staff',
  'POST /api/v1/scenarios/validate': 'staff',
  'GET /api/v1/scenarios/:id': 'staff',
  'PUT /api/v1/scenarios/:id': 'staff',
  'DELETE /api/v1/scenarios/:id': 'staff',
  'POST /api/v1/plan': 'staff',
  'GET /api/v1/deployments': 'any',
  'POST /api/v1/deployments': 'staff',
  'GET /api/v1/deployments/:id': 'scoped',
  'POST /api/v1/deployments/:id/cancel': 'scoped-staff',
  'POST /api/v1/deployments/:id/retry': 'scoped-staff',
  'POST /api/v1/deployments/:id/destroy': 'scoped-staff',
  'GET /api/v1/deployments/:id/events': 'scoped',
  'GET /api/v1/deployments/:id/machines/:key': 'scoped',
  'POST /api/v1/deployments/:id/machines/:key/power': 'scoped',
  'POST /api/v1/deployments/:id/machines/:key/snapshots': 'scoped-staff',
  'POST /api/v1/deployments/:id/machines/:key/snapshots/revert': 'scoped-staff',
  'POST /api/v1/deployments/:id/machines/:key/console': 'scoped',
  'POST /api/v1/deployments/:id/machines/:key/terminal': 'scoped',
  'GET /api/v1/deployments/:id/vpn/:instance': 'scoped',
  'GET /api/v1/overseer/jobs': 'staff',
  'GET /api/v1/overseer/jobs/:name/runs': 'staff',
  'POST /api/v1/overseer/jobs/:name/run': 'staff',
  'GET /api/v1/overseer/findings': 'staff',
  'GET /api/v1/overseer/policies': 'staff',
  'PUT /api/v1/overseer/policies/:platform': 'admin',
  'GET /api/v1/quotas': 'admin',
  'PUT /api/v1/quotas/:user': 'admin',
  'DELETE /api/v1/quotas/:user': 'admin',
  'GET /api/v1/deployments/:id/health': 'scoped',
  'GET /api/v1/deployments/:id/lifecycle': 'scoped-staff',
  'PATCH /api/v1/deployments/:id/lifecycle': 'scoped-staff',
  'POST /api/v1/deployments/:id/power': 'scoped-staff',
  'GET /api/v1/deployments/:id/instances/:instance/snapshots': 'scoped',
  'POST /api/v1/deployments/:id/instances/:instance/snapshots': 'scoped-staff',
  'POST /api/v1/deployments/:id/instances/:instance/snapshots/:snapshot/reset': 'scoped',
  'DELETE /api/v1/deployments/:id/instances/:instance/snapshots/:snapshot': 'scoped-staff',
  'GET /api/v1/deployments/:id/instances/:instance/testing': 'scoped',
  'PUT /api/v1/deployments/:id/instances/:instance/testing': 'scoped',
  'POST /api/v1/deployments/:id/instances/:instance/testing/leave': 'scoped',
  'GET /api/v1/deployments/:id/instances/:instance/assignment': 'scoped-staff',
  'PUT /api/v1/deployments/:id/instances/:instance/assignment': 'scoped-staff',
  'POST /api/v1/deployments/:id/instances/:instance/vpn/apply': 'scoped-staff',
  'GET /api/v1/users': 'admin',
  'POST /api/v1/users': 'admin',
  'PATCH /api/v1/users/:id': 'admin',
  'DELETE /api/v1/users/:id': 'admin',
  'GET /api/v1/tokens': 'any',
  'POST /api/v1/tokens': 'any',
  'DELETE /api/v1/tokens/:id': 'any',
  'GET /api/v1/audit': 'admin',
  'GET /ask': 'any',
  'POST /ask/refresh': 'admin',
  'GET /research': 'staff',
  'POST /research/imports': 'admin',
  'GET /research/imports/:id': 'admin',
  'POST /research/llm': 'admin',
  'GET /research/cves/:id': 'staff',
  'POST /research/cves/:id/draft': 'staff',
  'GET /research/modules/:id': 'staff',
  'POST /research/modules/:id/draft': 'staff',
  'GET /deployments/:id/flags': 'scoped-staff',
  'GET /api/v1/knowledge/search': 'any',
  'GET /api/v1/knowledge/status': 'admin',
  'POST /api/v1/knowledge/refresh': 'admin',
  'POST /api/v1/research/cve-imports': 'admin',
  'GET /api/v1/research/cve-imports': 'admin',
  'GET /api/v1/research/cve-imports/:id': 'admin',
  'GET /api/v1/research/cves': 'staff',
  'GET /api/v1/research/cves/:id': 'staff',
  'GET /api/v1/research/suggestions': 'staff',
  'GET /api/v1/research/llm': 'admin',
  'PUT /api/v1/research/llm': 'admin',
  'DELETE /api/v1/research/llm': 'admin',
  'POST /api/v1/research/drafts': 'staff',
  'GET /api/v1/deployments/:id/flags': 'scoped-staff',
  'GET /api/v1/deployments/:id/ctfd.csv': 'scoped-staff',
};

type Who = 'anonymous' | 'admin' | 'instructor' | 'trainee' | 'other';
const everyone: Who[] = ['anonymous', 'other', 'trainee', 'instructor', 'admin'];

function registeredRoutes(app: TestApp): string[] {
  // Middleware is registered with method ALL; handlers with their own method.
  return [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))];
}

/** Whether `who` passes the route's check. */
function admitted(policy: Policy, who: Who): boolean {
  if (policy === 'public') return true;
  if (who === 'anonymous') return false;
  if (policy === 'any') return true;
  if (policy === 'admin') return who === 'admin';
  if (policy === 'staff') return who === 'admin' || who === 'instructor';
  if (policy === 'scoped') return who !== 'other';
  return who === 'admin' || who === 'instructor';
}

/** The status a refused request gets: sign-in for anonymous pages, 401 for anonymous API calls, 404 for a trainee outside their range. */
function refusal(policy: Policy, who: Who, method: string, isApi: boolean): number {
  if (who === 'anonymous') return isApi || method !== 'GET' ? 401 : 303;
  // The role check comes first: a trainee is refused staff actions (403) before any deployment is looked up.
  if (policy === 'scoped-staff') return 403;
  if (who === 'other' && policy === 'scoped') return 404;
  return 403;
}

describe('authorization', () => {
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let app: TestApp;
  let deploymentId: string;
  let machineKey: string;
  let spareUser: string;
  let spareToken: string;

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: twoTierScenario,
      platform: 'simulator',
      instances: 2,
      assignments: { '1': ctx.users.trainee.id },
    });
    expect(created.status).toBe(202);
    deploymentId = created.body.id;
    await waitForState(app, deploymentId, ['ready']);
    machineKey = 'i1.db';
    spareUser = (
      await app.web.users.create(systemActor, { username: 'spare', password: 'spare password 1', role: 'trainee' })
    ).id;
    spareToken = app.web.tokens.create(systemActor, ctx.users.admin.id, 'spare').info.id;
    // The range routes act on instance 1 (the trainee's), its snapshot "clean", and testing mode trainees may use.
    app.web.lifecycle.update(systemActor, deploymentId, { traineeTestingMode: true });
    await app.web.snapshots.take(systemActor, deploymentId, 1, 'clean');
  });

  it('has a row for every registered route, and no row for a route that does not exist', () => {
    const registered = registeredRoutes(app);
    expect(
      registered.filter((r) => !(r in table)),
      'routes without an authorization row',
    ).toEqual([]);
    expect(
      Object.keys(table).filter((r) => !registered.includes(r)),
      'rows for routes that do not exist',
    ).toEqual([]);
  });

  it('refuses a state-changing browser request without its CSRF token, or from another origin', async () => {
    const admin = ctx.clients.admin;
    const noToken = await admin.post(
      '/settings/users',
      { username: 'mallory', password: 'mallory password', role: 'admin' },
      { csrf: false },
    );
    expect(noToken.status).toBe(403);
    expect(noToken.text).toContain('CSRF');
    const wrong = await admin.request('POST', '/settings/users', {
      form: { username: 'mallory', password: 'mallory password', role: 'admin', _csrf: 'x'.repeat(32) },
      csrf: false,
    });
    expect(wrong.status).toBe(403);
    const foreign = await admin.request('POST', '/settings/users', {
      form: { username: 'mallory', password: 'mallory password', role: 'admin' },
      headers: { Origin: 'https://evil.example' },
    });
    expect(foreign.status).toBe(403);
    // htmx requests carry the header instead of the field.
    const htmxNoHeader = await admin.request('POST', '/scenarios/check', {
      form: { yaml: 'x' },
      csrf: false,
      headers: { 'HX-Request': 'true' },
    });
    expect(htmxNoHeader.status).toBe(403);
    const htmxHeader = await admin.request('POST', '/scenarios/check', {
      form: { yaml: 'x', _csrf: '' },
      csrf: false,
      headers: { 'HX-Request': 'true', 'X-CSRF-Token': admin.csrf },
    });
    expect(htmxHeader.status).toBe(200);
    // A JSON call with the session cookie needs the header too; a Bearer token needs none.
    const cookieApi = await admin.request('POST', '/api/v1/tokens', { json: { name: 'x' }, csrf: false });
    expect(cookieApi.status).toBe(403);
    expect(app.web.users.list().some((u) => u.username === 'mallory')).toBe(false);
    // Signing in needs the anonymous form token as well (login CSRF).
    const anon = new Client(app);
    expect((await anon.post('/login', { username: 'admin', password: 'whatever' }, { csrf: false })).status).toBe(403);
  });

  it("never shows a trainee another trainee's range, machines, addresses or events", async () => {
    const bob = ctx.clients.other;
    expect((await bob.get(`/deployments/${deploymentId}`)).status).toBe(404);
    expect((await bob.get(`/deployments/${deploymentId}/machines/i1.db`)).status).toBe(404);
    expect((await bob.get(`/deployments/${deploymentId}/topology`)).status).toBe(404);
    expect((await bob.get('/deployments')).text).not.toContain(deploymentId);
    expect((await api(app, 'GET', '/api/v1/deployments', ctx.tokens.other)).body).toEqual([]);
    expect((await api(app, 'GET', `/api/v1/deployments/${deploymentId}/events`, ctx.tokens.other)).status).toBe(404);

    const alice = ctx.clients.trainee;
    const page = await alice.get(`/deployments/${deploymentId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('i1.db'.replace('.', '_'));
    expect(page.text).not.toContain('m-i2_');
    expect(page.text).not.toMatch(/i2\.[a-z]/);
    // Alice may not open instance 2's machines even by guessing the key.
    expect((await alice.get(`/deployments/${deploymentId}/machines/i2.db`)).status).toBe(404);
    expect(
      (
        await api(app, 'POST', `/api/v1/deployments/${deploymentId}/machines/i2.db/power`, ctx.tokens.trainee, {
          action: 'stop',
        })
      ).status,
    ).toBe(404);
    const json = await api(app, 'GET', `/api/v1/deployments/${deploymentId}`, ctx.tokens.trainee);
    expect(json.body.machines.every((m: { instance: number }) => m.instance === 1)).toBe(true);
    expect(json.body.networks.every((n: { instance: number }) => n.instance !== 2)).toBe(true);
    // Her dashboard and deployment list count only the machines she may see (her instance), not the whole range.
    const mine = json.body.machines.length;
    const all = (await api(app, 'GET', `/api/v1/deployments/${deploymentId}`, ctx.tokens.admin)).body.machines.length;
    expect(all).toBeGreaterThan(mine);
    for (const path of ['/', '/deployments']) {
      const text = (await alice.get(path)).text.replace(/<[^>]+>|\s+/g, '');
      expect(text, path).toMatch(new RegExp(`\\d+/${mine}(?!\\d)`));
      expect(text, path).not.toContain(`/${all}`);
    }
    // Her instance's router: no password and no shell (it enforces the firewall that isolates her instance).
    const router = json.body.machines.find((m: { role: string }) => m.role === 'router');
    expect(router, 'the range has a router').toBeDefined();
    const routerPage = await alice.get(`/deployments/${deploymentId}/machines/${router.key}`);
    expect(routerPage.status).toBe(200);
    expect(routerPage.text).not.toContain('Credentials');
    const routerJson = await api(
      app,
      'GET',
      `/api/v1/deployments/${deploymentId}/machines/${router.key}`,
      ctx.tokens.trainee,
    );
    expect(routerJson.body.credentials ?? []).toEqual([]);
    expect(
      (await api(app, 'GET', `/api/v1/deployments/${deploymentId}/machines/${router.key}`, ctx.tokens.instructor)).body
        .credentials.length,
    ).toBeGreaterThan(0);
    // Her own machine: credentials and power.
    const machine = await alice.get(`/deployments/${deploymentId}/machines/i1.db`);
    expect(machine.text).toContain('Credentials');
    const power = await alice.post(`/deployments/${deploymentId}/machines/i1.db/power`, { action: 'reset' });
    expect(power.status).toBe(303);
  });

  it('never puts a platform secret in any page or API response, and keeps it when a platform is edited without a new one', async () => {
    const secret = 'S3cr3t-P@ssw0rd-do-not-leak';
    const admin = ctx.clients.admin;
    // A platform with a secret (the simulator kind ignores it, which is fine for this check).
    const p = app.web.platforms.add(systemActor, {
      name: 'with-secret',
      kind: 'simulator',
      config: { speed: 2000 },
      secret,
    });
    const bodies: string[] = [];
    const pages = [
      '/',
      '/deployments',
      `/deployments/${deploymentId}`,
      `/deployments/${deploymentId}/topology`,
      `/deployments/${deploymentId}/machines/${machineKey}`,
      '/scenarios',
      '/settings/platforms',
      `/settings/platforms/${p.id}`,
      '/settings/audit',
      '/settings/users',
      '/settings/tokens',
      '/settings/pools',
      '/settings/tls',
    ];
    for (const path of pages) bodies.push((await admin.get(path)).text);
    for (const path of [
      '/api/v1/platforms',
      `/api/v1/platforms/${p.id}`,
      '/api/v1/deployments',
      `/api/v1/deployments/${deploymentId}`,
      '/api/v1/audit',
      '/api/v1/openapi.json',
    ])
      bodies.push((await api(app, 'GET', path, ctx.tokens.admin)).text);
    bodies.push((await api(app, 'POST', `/api/v1/platforms/${p.id}/test`, ctx.tokens.admin)).text);
    bodies.push((await admin.post(`/settings/platforms/${p.id}/test`, { 'config.speed': '2000' })).text);
    // Editing without a new secret keeps it; the edit form never echoes it.
    const edit = await admin.post(`/settings/platforms/${p.id}`, { 'config.speed': '1500', secret: '' });
    expect(edit.status).toBe(303);
    bodies.push((await admin.get(`/settings/platforms/${p.id}`)).text);
    const patched = await api(app, 'PATCH', `/api/v1/platforms/${p.id}`, ctx.tokens.admin, { config: { speed: 1000 } });
    bodies.push(patched.text);
    // A rejected form with a typed secret does not echo it either.
    bodies.push((await admin.post('/settings/platforms', { kind: 'simulator', name: 'bad name!', secret })).text);
    for (const b of bodies) expect(b).not.toContain(secret);
    const row = app.web.db.$client.prepare('SELECT secret FROM platforms WHERE id = ?').get(p.id) as { secret: string };
    expect(app.web.box.open(row.secret)).toBe(secret);
    expect(row.secret).not.toContain(secret);
  });

  it('records changes in the audit log with who, what and from where, shown to admins only', async () => {
    const entries = (await api(app, 'GET', '/api/v1/audit', ctx.tokens.admin)).body as Array<{
      username: string;
      action: string;
      ip: string;
    }>;
    expect(entries.find((e) => e.action === 'deployment.create')?.username).toBe('teacher');
    expect(entries.every((e) => e.ip.length > 0)).toBe(true);
    expect((await ctx.clients.instructor.get('/settings/audit')).status).toBe(403);
  });

  it('pages the audit log in the settings, newest first, every entry once', async () => {
    for (let i = 0; i < 230; i++)
      app.web.audit.record({ userId: null, username: 'pager', ip: '127.0.0.1' }, 'test.page', `entry:${i}`);
    const all = app.web.audit.list(100_000).map((e) => e.id);
    const seen: number[] = [];
    let path: string | undefined = '/settings/audit';
    for (let pages = 0; path && pages < 20; pages++) {
      const page = await ctx.clients.admin.get(path);
      expect(page.status).toBe(200);
      seen.push(...[...page.text.matchAll(/data-audit-id="(\d+)"/g)].map((m) => Number(m[1])));
      path = /href="(\/settings\/audit\?before=\d+)"/.exec(page.text)?.[1];
    }
    expect(seen).toEqual(all);
    const bad = await ctx.clients.admin.get('/settings/audit?before=abc');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('query parameter &quot;before&quot; must be a positive entry id');
  });
  it('answers every route for every role as the table says (last: it destroys the deployment)', async () => {
    const scenarioId = app.web.library.list()[0]!.id;
    const fill = (path: string) =>
      path
        .replace(/\/deployments\/:id/, `/deployments/${deploymentId}`)
        .replace(':key', machineKey)
        .replace(/\/scenarios\/:id/, `/scenarios/${scenarioId}`)
        .replace(/platforms\/:id/, 'platforms/simulator')
        .replace(/users\/:id/, `users/${spareUser}`)
        .replace(/tokens\/:id/, `tokens/${spareToken}`)
        .replace(':file', 'app.css')
        .replace(':instance', '1')
        .replace(/research\/modules\/:id/, 'research/modules/weak-ssh-password')
        .replace(':snapshot', 'clean')
        .replace(':template', 'ubuntu-22.04')
        .replace(':name', 'idle')
        .replace(':platform', 'simulator')
        .replace(':user', spareUser);
    const failures: string[] = [];
    const anonymous = new Client(app);
    await anonymous.get('/login');
    for (const route of registeredRoutes(app)) {
      const [method, pattern] = route.split(' ') as [string, string];
      const policy = table[route]!;
      const path = fill(pattern);
      const isApi = path.startsWith('/api/');
      // Streams are opened with HEAD-like care: the check runs before the stream starts, so abort right after headers.
      for (const who of everyone) {
        if (route === 'POST /logout' && who !== 'anonymous') continue; // would end the session used by later checks
        const client = who === 'anonymous' ? anonymous : ctx.clients[who === 'other' ? 'other' : who];
        let status: number;
        if (isApi) {
          const controller = new AbortController();
          const res = await app.request(path, {
            method,
            signal: controller.signal,
            headers: {
              ...(who === 'anonymous'
                ? {}
                : { Authorization: `Bearer ${ctx.tokens[who === 'other' ? 'other' : who]}` }),
              'Content-Type': 'application/json',
            },
            ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
          });
          status = res.status;
          controller.abort();
          if (!res.headers.get('Content-Type')?.includes('event-stream')) await res.text();
          else await res.body?.cancel();
        } else if (pattern.endsWith('/live')) {
          const controller = new AbortController();
          const res = await app.request(path, {
            signal: controller.signal,
            headers: { Cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
          });
          status = res.status;
          await res.body?.cancel();
          controller.abort();
        } else {
          status = (await client.request(method, path, method === 'GET' ? {} : { form: {} })).status;
        }
        const allowed = admitted(policy, who);
        if (/^[A-Z]+ \/setup/.test(route)) {
          if (status !== 404) failures.push(`${route} as ${who}: ${status}, expected 404 after setup`);
          continue;
        }
        if (allowed && [401, 403].includes(status)) failures.push(`${route} as ${who}: refused with ${status}`);
        if (allowed && policy.startsWith('scoped') && status === 404)
          failures.push(`${route} as ${who}: 404 inside their scope`);
        if (!allowed && status !== refusal(policy, who, method, isApi))
          failures.push(`${route} as ${who}: ${status}, expected ${refusal(policy, who, method, isApi)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('sign-in', () => {
  it('limits failed attempts per address and username, and sets a strict HttpOnly cookie', async () => {
    const { app } = webTestApp({ secure: true });
    await app.web.users.create(systemActor, { username: 'admin', password: 'correct horse battery', role: 'admin' });
    app.web.setup.complete(systemActor);
    const c = new Client(app);
    await c.get('/login');
    for (let i = 0; i < 3; i++)
      expect((await c.post('/login', { username: 'admin', password: `wrong ${i}` })).status).toBe(401);
    // From this address, this name now waits (growing delays), even with the right password.
    const limited = await c.post('/login', { username: 'admin', password: 'correct horse battery' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBeTruthy();

    const { app: app2 } = webTestApp({ secure: true });
    await app2.web.users.create(systemActor, { username: 'admin', password: 'correct horse battery', role: 'admin' });
    app2.web.setup.complete(systemActor);
    const d = new Client(app2);
    await d.get('/login');
    const ok = await d.post('/login', {
      username: 'admin',
      password: 'correct horse battery',
      next: '//evil.example/',
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('/');
    const cookie = ok.headers.getSetCookie().find((x) => x.startsWith('gd_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Secure/);
    const page = await d.get('/');
    expect(page.headers.get('Content-Security-Policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('Content-Security-Policy')).toContain("script-src 'self'");
    expect(page.headers.get('Content-Security-Policy')).not.toContain('unsafe-inline');
    expect(page.headers.get('X-Frame-Options')).toBe('DENY');
    expect(page.headers.get('Strict-Transport-Security')).toBeTruthy();
    expect(page.text).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*src=)[^>]*>/);
    expect(page.text).not.toMatch(/ on[a-z]+="/);
  });
});
