// Deploying from the pages and following it live: every event reaches the page, a reconnect replays what was
// missed and shows the true current state, actions run in the background, the topology draws what was planned.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import { api, setUpAppliance, waitForState, webTestApp, type TestApp } from './helpers.ts';

/** Reads an SSE response until `until` says enough (or the time is up); returns the events read. */
async function readSse(
  res: Response,
  until: (events: Array<{ id: string; event: string; data: string }>) => boolean,
  timeoutMs = 20_000,
) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ id: string; event: string; data: string }> = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events) && Date.now() < deadline) {
      const chunk = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((r) =>
          setTimeout(() => r({ done: true, value: undefined }), deadline - Date.now()),
        ),
      ]);
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const e = { id: '', event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = line.slice(4);
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        e.data = data.join('\n');
        if (data.length > 0) events.push(e);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

const eventIds = (html: string) => [...html.matchAll(/data-event-id="(\d+)"/g)].map((m) => Number(m[1]));

describe('deployments in the browser', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
  });

  it("previews which machines install from the appliance's package cache, on the deploy page and in the API", async () => {
    const yaml = [
      'glassdome: 1',
      'name: offline-preview',
      'title: Offline preview',
      'networks:',
      '  - { name: lan, cidr: 10.9.0.0/24 }',
      '  - { name: red, cidr: 10.9.1.0/24 }',
      'machines:',
      '  - { name: db, os: debian-12, networks: [lan] }',
      '  - { name: kali, os: kali-rolling, networks: [red] }',
      '',
    ].join('\n');
    const added = app.web.library.add(systemActor, yaml, 'offline-preview.yaml');
    const platform = app.web.platforms.get('simulator').id;
    const preview = () =>
      ctx.clients.instructor.post(
        `/scenarios/${added.id}/plan`,
        { platform, instances: '1' },
        { headers: { 'HX-Request': 'true' } },
      );
    expect((await preview()).text).not.toContain('package cache');
    app.web.config.packageCache = { url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 };
    try {
      const html = (await preview()).text;
      expect(html).toMatch(/<strong>db<\/strong> debian-12 .*packages from the appliance(&#39;|')s cache/);
      expect(html).toContain('router, db install packages from the package cache http://192.0.2.10:3142');
      const r = await api(app, 'POST', '/api/v1/plan', ctx.tokens.instructor, { yaml, platform });
      expect(r.status, r.text).toBe(200);
      expect(r.body.packageCache).toEqual({ url: 'http://192.0.2.10:3142', address: '192.0.2.10', port: 3142 });
      expect(r.body.machines.filter((m: { packageCache?: boolean }) => m.packageCache).map((m: any) => m.key)).toEqual([
        'i1.router',
        'i1.db',
      ]);
    } finally {
      delete app.web.config.packageCache;
    }
  });

  it('deploys a library scenario from the deploy page and streams every event to the page until it is ready', async () => {
    const teacher = ctx.clients.instructor;
    const dmz = app.web.library.list().find((s) => s.name === 'web-dmz')!;
    const form = await teacher.get(`/scenarios/${dmz.id}/deploy`);
    expect(form.status).toBe(200);
    expect(form.text).toContain('Start deployment');
    const preview = await teacher.post(
      `/scenarios/${dmz.id}/plan`,
      { platform: app.web.platforms.get('simulator').id, instances: '2' },
      { headers: { 'HX-Request': 'true' } },
    );
    expect(preview.text).toContain('<strong>2</strong> instances');
    expect(preview.text).toContain('Instance 2');
    expect(preview.text).toContain('alice');

    const started = await teacher.post(`/scenarios/${dmz.id}/deploy`, {
      platform: app.web.platforms.get('simulator').id,
      instances: '2',
      'assign.1': ctx.users.trainee.id,
    });
    expect(started.status).toBe(303);
    const id = started.location!.split('/').pop()!;
    // The request returned while the work goes on.
    expect(['pending', 'deploying']).toContain(
      (app.web.db.$client.prepare('SELECT state FROM deployments WHERE id = ?').get(id) as { state: string }).state,
    );

    const res = await app.request(`/deployments/${id}/live?after=0`, {
      headers: { Cookie: `gd_session=${teacher.cookies.get('gd_session')}` },
    });
    expect(res.headers.get('Content-Type')).toContain('text/event-stream');
    const events = await readSse(res, (evs) => evs.some((e) => /id="dep-summary"[^>]*data-state="ready"/.test(e.data)));
    const html = events.map((e) => e.data).join('');
    expect(html).toMatch(/data-state="ready"/);
    await waitForState(app, id, ['ready']);
    const stored = app.web.events.history(id).map((e) => e.id);
    const seen = new Set(eventIds(html));
    expect(stored.filter((e) => !seen.has(e))).toEqual([]);
    expect(html).toContain('id="m-i1_web-1"');

    const page = await teacher.get(`/deployments/${id}`);
    expect(page.text).toContain('data-state="ready"');
    expect(page.text).toContain(`data-live="/deployments/${id}/live?after=${stored.at(-1)}"`);
    expect(page.text).toContain('10.30.1.20');

    // A reconnect with Last-Event-ID gets what it missed and the current state at once.
    const middle = stored[Math.floor(stored.length / 2)]!;
    const again = await app.request(`/deployments/${id}/live`, {
      headers: { Cookie: `gd_session=${teacher.cookies.get('gd_session')}`, 'Last-Event-ID': String(middle) },
    });
    const replay = await readSse(again, (evs) => evs.length > 0, 5000);
    expect(replay.length).toBe(1);
    expect(eventIds(replay[0]!.data)).toEqual(stored.filter((e) => e > middle));
    expect(replay[0]!.data).toMatch(/data-state="ready"/);
    expect(replay[0]!.id).toBe(String(stored.at(-1)));

    // The trainee's stream carries only her instance.
    const alice = ctx.clients.trainee;
    const hers = await app.request(`/deployments/${id}/live?after=0`, {
      headers: { Cookie: `gd_session=${alice.cookies.get('gd_session')}` },
    });
    const hersEvents = await readSse(hers, (evs) => evs.length > 0, 5000);
    expect(hersEvents[0]!.data).toContain('m-i1_');
    expect(hersEvents[0]!.data).not.toContain('m-i2_');
    expect(hersEvents[0]!.data).not.toMatch(/i2\.[a-z]/);

    const topology = await teacher.get(`/deployments/${id}/topology`);
    expect(topology.text).toContain('<svg');
    expect(topology.text).toContain('Instance 2');
    expect(topology.text).toContain('10.30.2.10');
    expect(topology.text).toContain('router');
    expect(topology.text).toMatch(/attack[\s\S]*dmz[\s\S]*tcp[\s\S]*80, 443/);

    const machine = await teacher.get(`/deployments/${id}/machines/i1.db`);
    expect(machine.text).toContain('running');
    expect(machine.text).toContain('Snapshots');
    expect((await teacher.post(`/deployments/${id}/machines/i1.db/snapshots`, { name: 'clean' })).status).toBe(303);
    expect((await teacher.get(`/deployments/${id}/machines/i1.db`)).text).toContain('clean');
    expect((await teacher.post(`/deployments/${id}/machines/i1.db/snapshots/revert`, { name: 'clean' })).status).toBe(
      303,
    );

    // Destroy asks for the id, then runs in the background.
    const wrong = await teacher.post(`/deployments/${id}/destroy`, { confirm: 'nope' });
    expect(wrong.status).toBe(422);
    expect(wrong.text).toContain(`type ${id} exactly to destroy it`);
    expect(wrong.text).toMatch(/<details class="danger-zone" open/);
    expect(app.web.deployments.get(id)?.state).toBe('ready');
    expect((await teacher.post(`/deployments/${id}/destroy`, { confirm: id })).status).toBe(303);
    await waitForState(app, id, ['destroyed']);
    // Afterwards nothing claims to be ready: not the page, not the API.
    const after = await api(app, 'GET', `/api/v1/deployments/${id}`, ctx.tokens.instructor);
    expect(new Set(after.body.machines.map((m: { state: string }) => m.state))).toEqual(new Set(['destroyed']));
    expect(new Set(after.body.networks.map((n: { state: string }) => n.state))).toEqual(new Set(['destroyed']));
    const gone = (await teacher.get(`/deployments/${id}`)).text;
    expect(gone).toContain('machines removed');
    expect(gone).not.toMatch(/data-state="ready"/);
    expect(app.web.audit.list().map((e) => e.action)).toEqual(
      expect.arrayContaining(['deployment.create', 'machine.snapshot', 'machine.revert', 'deployment.destroy']),
    );
  });

  it('shows scenario problems at their line and keeps the typed YAML', async () => {
    const teacher = ctx.clients.instructor;
    const yaml =
      'glassdome: 1\nname: broken\ntitle: Broken\nnetworks:\n  - name: lan\nmachines:\n  - name: a\n    os: windows-95\n    networks: [lan]\n';
    const r = await teacher.post('/scenarios', { yaml });
    expect(r.status).toBe(422);
    expect(r.text).toContain('line 8');
    expect(r.text).toMatch(/id="line-8" class="bad"/);
    expect(r.text).toContain('windows-95');
    const check = await teacher.post(
      '/scenarios/check',
      { yaml: yaml.replace('windows-95', 'debian-12') },
      { headers: { 'HX-Request': 'true' } },
    );
    expect(check.text).toContain('Machines');
    const added = await teacher.post('/scenarios', { yaml: yaml.replace('windows-95', 'debian-12') });
    expect(added.status).toBe(303);
    expect((await teacher.get(added.location!)).text).toContain('broken');
  });

  it('follows a deployment through the API event stream and answers the CLI-shaped calls', async () => {
    const token = ctx.tokens.instructor;
    const created = await api(app, 'POST', '/api/v1/deployments', token, {
      scenarioId: app.web.library.list().find((s) => s.name === 'web-dmz')!.id,
      platform: 'simulator',
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    const res = await app.request(`/api/v1/deployments/${id}/events?after=0`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const events = await readSse(res, (evs) =>
      evs.some((e) => e.event === 'deployment' && JSON.parse(e.data).message === 'ready'),
    );
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const status = await api(app, 'GET', `/api/v1/deployments/${id}`, token);
    expect(status.body.state).toBe('ready');
    expect(status.body.machines.length).toBeGreaterThan(0);
    expect((await api(app, 'POST', `/api/v1/deployments/${id}/retry`, token)).status).toBe(409);
    expect((await api(app, 'POST', `/api/v1/deployments/${id}/destroy`, token)).status).toBe(202);
    await waitForState(app, id, ['destroyed']);
  });

  it('serves an OpenAPI 3.1 document that describes every API route and passes openapi-spec-validator', async (t) => {
    const doc = (await api(app, 'GET', '/api/v1/openapi.json', undefined)).body;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const registered = [
      ...new Set(
        app.routes
          .filter((r) => r.path.startsWith('/api/v1') && r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path}`),
      ),
    ];
    expect(documented.sort()).toEqual(registered.sort());
    let python = true;
    try {
      execFileSync('python3', ['-c', 'import openapi_spec_validator'], { stdio: 'ignore' });
    } catch {
      python = false;
    }
    if (!python) {
      console.log('skipped: python3 with openapi-spec-validator is not installed (pip install openapi-spec-validator)');
      t.skip();
      return;
    }
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gd-openapi-')), 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const out = execFileSync(
      'python3',
      [
        '-c',
        'import sys, json\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint("valid")',
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('valid');
  });
});
