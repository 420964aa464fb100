// The overseer in the pages and the API: jobs with their last run, "run now", policies and quotas set by an admin,
// the range page per role, the destroy confirmation naming the trainees, page activity noted for idle shutdown,
// and the OpenAPI document describing the new routes.
import { beforeAll, describe, expect, it } from 'vitest';
import { api, setUpAppliance, twoTierScenario, waitForState, webTestApp, type TestApp } from './helpers.ts';

describe('the overseer on the web', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let id: string;

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
    id = created.body.id;
    await waitForState(app, id, ['ready']);
  });

  it('runs a job from the API and shows its last run, duration and result on the page and in the API', async () => {
    const run = await api(app, 'POST', '/api/v1/overseer/jobs/health/run', ctx.tokens.instructor);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      state: 'ran',
      run: { job: 'health', result: 'ok', trigger: 'manual', by: 'teacher' },
    });
    expect(run.body.run.summary).toMatch(/^10 machine\(s\) of 1 deployment\(s\) on 1 platform\(s\)/);
    const jobs = await api(app, 'GET', '/api/v1/overseer/jobs', ctx.tokens.admin);
    expect(jobs.body.map((j: { name: string; schedule: string }) => `${j.name} ${j.schedule}`)).toEqual([
      'health * * * * *',
      'drift */5 * * * *',
      'idle 30 * * * * *',
      'expiry 15 */5 * * * *',
    ]);
    expect(jobs.body[0]).toMatchObject({ runs: 1, failures: 0, running: null, lastRun: { id: run.body.run.id } });
    const page = await ctx.clients.instructor.get('/overseer');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Run by teacher: 10 machine(s) of 1 deployment(s)');
    expect(page.text).toContain('Nothing wrong seen.');
    // "Run now" from the page starts it in the background and comes back to the page.
    const now = await ctx.clients.admin.post('/overseer/jobs/drift/run');
    expect(now.status).toBe(303);
    expect(now.location).toBe('/overseer#job-drift');
    for (let i = 0; i < 200 && !app.web.overseer.status().find((j) => j.name === 'drift')!.lastRun; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(app.web.overseer.status().find((j) => j.name === 'drift')!.lastRun).toMatchObject({ by: 'admin' });
    expect((await api(app, 'POST', '/api/v1/overseer/jobs/nope/run', ctx.tokens.admin)).status).toBe(400);
  });

  it("shows each built machine's power beside its state: on, stopped on purpose, or stopped behind its back", async () => {
    const row = (html: string, key: string) => {
      const start = html.indexOf(`id="m-${key.replace('.', '_')}"`);
      expect(start, key).toBeGreaterThan(0);
      return html.slice(start, html.indexOf('</tr>', start));
    };
    const stopped = await api(app, 'POST', `/api/v1/deployments/${id}/machines/i2.web-1/power`, ctx.tokens.instructor, {
      action: 'stop',
    });
    expect(stopped.status).toBe(200);
    // Stopped on the platform itself, as someone with the hypervisor's console would.
    const db = app.web.deployments.get(id).resources.find((r) => r.key === 'i2.db')!;
    const sim = await app.web.platforms.instance('simulator');
    await sim.stopMachine({ id: db.externalId!, name: db.name }, { force: true });
    expect((await api(app, 'POST', '/api/v1/overseer/jobs/health/run', ctx.tokens.instructor)).status).toBe(200);
    const page = await ctx.clients.instructor.get(`/deployments/${id}?instance=2`);
    expect(page.status).toBe(200);
    // Still "ready" as a deployment, and the power says what the machine is doing now.
    expect(row(page.text, 'i2.web-1')).toContain('state-ready');
    expect(row(page.text, 'i2.web-1')).toMatch(/class="badge power power-asked"[^>]*>stopped on purpose</);
    expect(row(page.text, 'i2.db')).toMatch(/class="badge power power-off"[^>]*>stopped</);
    expect(row(page.text, 'i2.kali')).toMatch(/class="badge power power-on"[^>]*>powered on</);
    await api(app, 'POST', `/api/v1/deployments/${id}/machines/i2.web-1/power`, ctx.tokens.instructor, {
      action: 'start',
    });
    await sim.startMachine({ id: db.externalId!, name: db.name });
  });

  it('lets an admin set a platform policy and a quota, both audited, and the quota refuses a deployment', async () => {
    const simulator = app.web.platforms.get('simulator').id;
    const saved = await ctx.clients.admin.post(`/overseer/policies/${simulator}`, {
      mode: 'fix',
      orphanGraceMinutes: '90',
    });
    expect(saved.status).toBe(303);
    expect((await api(app, 'GET', '/api/v1/overseer/policies', ctx.tokens.instructor)).body).toEqual([
      expect.objectContaining({ platformId: simulator, mode: 'fix', orphanGraceMinutes: 90, updatedBy: 'admin' }),
    ]);
    expect(app.web.audit.list()[0]).toMatchObject({
      action: 'overseer.policy',
      detail: 'fix, orphans destroyed after 90 min',
    });
    const bad = await ctx.clients.admin.post(`/overseer/policies/${simulator}`, {
      mode: 'always',
      orphanGraceMinutes: '1',
    });
    expect(bad.status).toBe(422);

    const quota = await ctx.clients.admin.post(`/overseer/quotas/${ctx.users.instructor.id}`, {
      machines: '12',
      vcpus: '',
      memoryMb: '',
      deployments: '',
    });
    expect(quota.status).toBe(303);
    const quotas = await api(app, 'GET', '/api/v1/quotas', ctx.tokens.admin);
    expect(quotas.body).toEqual([
      expect.objectContaining({
        username: 'teacher',
        machines: 12,
        vcpus: null,
        usage: expect.objectContaining({ machines: 10 }),
      }),
    ]);
    const refused = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: twoTierScenario,
      platform: 'simulator',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe(
      'Unable to deploy "two-tier": it would pass the quota of teacher: 12 machines at most (10 in use + 5 asked)',
    );
    expect((await api(app, 'DELETE', `/api/v1/quotas/${ctx.users.instructor.id}`, ctx.tokens.admin)).status).toBe(204);
  });

  it('shows a trainee only their instance on the range page, and lets them reset it but not snapshot it', async () => {
    await app.web.snapshots.take({ userId: null, username: 'setup', ip: 'local' }, id, 1, 'start');
    const alice = ctx.clients.trainee;
    const page = await alice.get(`/deployments/${id}/range`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Instance 1 (alice)');
    expect(page.text).not.toContain('Instance 2');
    expect(page.text).not.toContain('Lifecycle');
    expect(page.text).not.toMatch(/i2\.[a-z]/);
    const reset = await alice.post(`/deployments/${id}/range/instances/1/snapshots/reset`, { name: 'start' });
    expect(reset.status).toBe(303);
    expect(app.web.audit.list().find((a) => a.action === 'instance.reset')).toMatchObject({ username: 'alice' });
    expect((await alice.post(`/deployments/${id}/range/instances/1/snapshots`, { name: 'mine' })).status).toBe(403);
    // Testing mode is the instructor's unless the deployment lets trainees switch it.
    expect((await alice.post(`/deployments/${id}/range/instances/1/testing`, { allow: 'pypi.org' })).status).toBe(403);
    expect(
      (
        await api(app, 'PUT', `/api/v1/deployments/${id}/instances/1/testing`, ctx.tokens.trainee, {
          domains: ['pypi.org'],
        })
      ).status,
    ).toBe(403);
    expect((await api(app, 'GET', `/api/v1/deployments/${id}/instances/2/snapshots`, ctx.tokens.trainee)).status).toBe(
      404,
    );
    // The instructor's page has every instance and the lifecycle form; an end date set there is in the API.
    const staff = await ctx.clients.instructor.get(`/deployments/${id}/range`);
    expect(staff.text).toContain('Instance 2');
    const saved = await ctx.clients.instructor.post(`/deployments/${id}/range/lifecycle`, {
      idleShutdownMinutes: '45',
      endsAt: '2031-01-15T17:00',
      warnHours: '24',
      destroyGraceHours: '48',
      traineeTestingModeShown: '1',
      traineeTestingMode: 'on',
    });
    expect(saved.status).toBe(303);
    const l = await api(app, 'GET', `/api/v1/deployments/${id}/lifecycle`, ctx.tokens.instructor);
    expect(l.body).toMatchObject({
      idleShutdownMinutes: 45,
      endsAt: '2031-01-15T17:00:00.000Z',
      destroyGraceHours: 48,
      traineeTestingMode: true,
      expiryStage: 'none',
    });
    // Now alice may switch her own instance into testing mode.
    const on = await alice.post(`/deployments/${id}/range/instances/1/testing`, { allow: 'pypi.org, 192.0.2.10' });
    expect(on.status).toBe(303);
    const state = await api(app, 'GET', `/api/v1/deployments/${id}/instances/1/testing`, ctx.tokens.trainee);
    expect(state.body).toMatchObject({
      state: 'on',
      switchedBy: 'alice',
      allow: { addresses: ['192.0.2.10/32'], domains: ['pypi.org'] },
    });
    const off = await api(app, 'POST', `/api/v1/deployments/${id}/instances/1/testing/leave`, ctx.tokens.trainee, {
      revert: false,
    });
    expect(off.body).toMatchObject({ state: 'off', switchedBy: 'alice' });
  });

  it('notes page and API use of a deployment as activity for idle shutdown', async () => {
    app.web.lifecycle.flushActivity();
    const before = Date.now();
    await ctx.clients.trainee.get(`/deployments/${id}`);
    const at = app.web.lifecycle.get(id).lastActivityAt;
    expect(at).not.toBeNull();
    expect(Date.parse(at!)).toBeGreaterThanOrEqual(before - 5);
  });

  it('refuses to destroy a deployment with trainees assigned unless confirmed, and the page names them', async () => {
    const page = await ctx.clients.instructor.get(`/deployments/${id}`);
    expect(page.text).toContain('Trainees work in it: instance 1: alice. Destroying it ends their ranges.');
    const refused = await api(app, 'POST', `/api/v1/deployments/${id}/destroy`, ctx.tokens.instructor);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      `Deployment ${id} has trainees assigned (instance 1: alice); destroying it ends their ranges`,
    );
    const ok = await api(app, 'POST', `/api/v1/deployments/${id}/destroy?confirm=true`, ctx.tokens.instructor);
    expect(ok.status).toBe(202);
    await waitForState(app, id, ['destroyed']);
  });

  it('describes the overseer and range routes in the OpenAPI document', async () => {
    const doc = (await api(app, 'GET', '/api/v1/openapi.json', undefined)).body;
    for (const path of [
      '/api/v1/overseer/jobs',
      '/api/v1/overseer/jobs/{name}/run',
      '/api/v1/overseer/findings',
      '/api/v1/overseer/policies/{platform}',
      '/api/v1/quotas/{user}',
      '/api/v1/deployments/{id}/lifecycle',
      '/api/v1/deployments/{id}/instances/{instance}/snapshots/{snapshot}/reset',
      '/api/v1/deployments/{id}/instances/{instance}/testing',
    ])
      expect(Object.keys(doc.paths), path).toContain(path);
    expect(doc.paths['/api/v1/deployments/{id}/destroy'].post.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'confirm', in: 'query' })]),
    );
  });
});
