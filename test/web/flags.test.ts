// Reaper for instructors: a deployment's flags page per instance, the flags API and the CTFd export (read back the way
// CTFd's CSV import reads it), each audited; and trainees, on every page and API answer about their own range, never
// get a flag, a marking guide, a module id, a module account or the selection seed, nor a failure text naming them.
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultCatalogue } from '../../server/reaper/catalogue.ts';
import { deploymentModel, scopeFor } from '../../server/web/deployment-model.ts';
import { api, setUpAppliance, waitForState, webTestApp, type TestApp } from './helpers.ts';

const scenario = `
glassdome: 1
name: vuln-class
networks:
  - { name: lan, cidr: 10.9.1.0/24 }
machines:
  - name: target
    os: debian-12
    networks: [lan]
    # A password no page would hold by chance (the module's own draws are common words such as "password").
    vulnerabilities: [{ module: weak-ssh-password, params: { password: Wk-Trainee.42x } }, { select: { category: [web], count: 1 } }]
  - name: kali
    os: kali-rolling
    networks: [lan]
`;

interface Row {
  instance: number;
  machine: string;
  module: string;
  flag: string;
  marking: string;
  location: string;
  accounts: Array<{ user: string; password: string }>;
}

let app: TestApp;
let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
let id: string;
let rows: Row[];

beforeAll(async () => {
  ({ app } = webTestApp());
  ctx = await setUpAppliance(app);
  const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
    yaml: scenario,
    platform: 'simulator',
    instances: 2,
    assignments: { '1': ctx.users.trainee.id },
  });
  expect(created.status).toBe(202);
  id = created.body.id;
  await waitForState(app, id, ['ready']);
  rows = (await api(app, 'GET', `/api/v1/deployments/${id}/flags`, ctx.tokens.instructor)).body;
});

describe("a deployment's flags for instructors", () => {
  it('lists every instance with module, machine, flag, where it is, hints and marking guide, audited', () => {
    expect(rows).toHaveLength(4);
    expect(rows.map((r) => r.instance)).toEqual([1, 1, 2, 2]);
    expect(rows.every((r) => /^GD\{[0-9a-f]{32}\}$/.test(r.flag))).toBe(true);
    expect(new Set(rows.map((r) => r.flag)).size).toBe(4);
    const weak = rows.find((r) => r.module === 'weak-ssh-password' && r.instance === 2)!;
    expect(weak.machine).toBe('i2.target');
    expect(weak.marking).toContain(weak.flag);
    expect(weak.accounts[0]!.password.length).toBeGreaterThan(0);
    const entry = app.web.audit.list().find((e) => e.action === 'deployment.flags.view')!;
    expect(entry).toMatchObject({ username: 'teacher', target: `deployment:${id}` });
    expect(entry.detail).toBe('all instances, 4 flag(s)');
  });

  it('shows them on the flags page, per instance', async () => {
    const page = await ctx.clients.instructor.get(`/deployments/${id}/flags`);
    expect(page.status).toBe(200);
    for (const r of rows) expect(page.text).toContain(r.flag);
    expect(page.text).toContain('Marking guide');
    const one = await ctx.clients.instructor.get(`/deployments/${id}/flags?instance=2`);
    expect(one.text).toContain(rows[2]!.flag);
    expect(one.text).not.toContain(rows[0]!.flag);
    expect(one.text).toContain(`/api/v1/deployments/${id}/ctfd.csv?instance=2`);
    expect((await ctx.clients.instructor.get(`/deployments/${id}/flags?instance=3`)).status).toBe(400);
    expect((await ctx.clients.instructor.get(`/deployments/${id}`)).text).toContain(`href="/deployments/${id}/flags"`);
  });

  it("exports CTFd's challenge CSV, which CTFd's import reads back to the same flags, audited", async () => {
    const res = await app.request(`/api/v1/deployments/${id}/ctfd.csv`, {
      headers: { Authorization: `Bearer ${ctx.tokens.instructor}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/csv/);
    expect(res.headers.get('Content-Disposition')).toContain(`glassdome-${id}-ctfd.csv`);
    const csv = await res.text();
    // CTFd's load_challenges_csv (CTFd/utils/csv, 3.7+): csv.DictReader; flags and hints are JSON lists of objects,
    // tags are split on commas; type is popped; the rest goes to the challenge model.
    const read = spawnSync(
      'python3',
      [
        '-c',
        `
import csv, io, json, sys
out = []
for line in csv.DictReader(io.StringIO(sys.stdin.read())):
    flags = json.loads(line.pop("flags"))
    assert isinstance(flags, list) and all(isinstance(f, dict) for f in flags)
    hints = json.loads(line.pop("hints"))
    assert isinstance(hints, list) and all(isinstance(h, dict) for h in hints)
    tags = [t.strip() for t in line.pop("tags").split(",")]
    out.append({"challenge": line, "type": line.pop("type", "standard"), "flags": flags, "hints": hints, "tags": tags})
print(json.dumps(out))
`,
      ],
      { input: csv, encoding: 'utf8' },
    );
    expect(read.status, read.stderr).toBe(0);
    const challenges = JSON.parse(read.stdout) as Array<{
      challenge: Record<string, string>;
      type: string;
      flags: Array<{ type: string; content: string }>;
    }>;
    expect(challenges).toHaveLength(rows.length);
    expect(challenges.map((c) => c.flags[0]!.content).sort()).toEqual(rows.map((r) => r.flag).sort());
    expect(challenges.every((c) => c.type === 'standard' && c.flags[0]!.type === 'static')).toBe(true);
    // Names and descriptions are for trainees: no module id in them.
    for (const c of challenges)
      for (const r of rows) expect(`${c.challenge.name} ${c.challenge.description}`).not.toContain(r.module);
    expect(challenges[0]!.challenge.connection_info).toBe('10.9.1.10');

    const one = await app.request(`/api/v1/deployments/${id}/ctfd.csv?instance=2`, {
      headers: { Authorization: `Bearer ${ctx.tokens.admin}` },
    });
    const text = await one.text();
    expect(text).toContain(rows[2]!.flag);
    expect(text).not.toContain(rows[0]!.flag);
    expect(app.web.audit.list().find((e) => e.action === 'deployment.flags.export')).toMatchObject({
      username: 'admin',
      detail: 'CTFd CSV, instance 2, 2 challenge(s)',
    });
  });

  it('refuses trainees the flags page, the flags API and the export', async () => {
    expect((await ctx.clients.trainee.get(`/deployments/${id}/flags`)).status).toBe(403);
    expect((await api(app, 'GET', `/api/v1/deployments/${id}/flags`, ctx.tokens.trainee)).status).toBe(403);
    expect((await api(app, 'GET', `/api/v1/deployments/${id}/ctfd.csv`, ctx.tokens.trainee)).status).toBe(403);
  });
});

describe('what a trainee sees of a range with vulnerabilities', () => {
  /** The events stream's replay, read until its last event or a second. */
  async function events(token: string): Promise<string> {
    const controller = new AbortController();
    const res = await app.request(`/api/v1/deployments/${id}/events`, {
      headers: { Authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 1000;
    while (Date.now() < until && !text.includes('did not apply') && !text.includes('reason is shown')) {
      const chunk = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((r) =>
          setTimeout(() => r({ done: true, value: undefined }), 200),
        ),
      ]);
      if (chunk.value) text += new TextDecoder().decode(chunk.value);
    }
    controller.abort();
    await reader.cancel().catch(() => undefined);
    return text;
  }

  it('never shows a flag, marking guide, module, module account or seed, nor failure texts that name them', async () => {
    // A first boot that failed on a module, as the executor records it, in the trainee's own instance and the other.
    const failure =
      'glassdome: vulnerability i1.target/weak-ssh-password did not apply (its script is /var/lib/glassdome/vulnerabilities/weak-ssh-password.sh)';
    app.web.db.$client
      .prepare("UPDATE steps SET error = ? WHERE deployment_id = ? AND key IN ('i1.target:ready', 'i2.target:ready')")
      .run(failure, id);
    app.web.db.$client.prepare('UPDATE deployments SET error = ? WHERE id = ?').run(`i2.target: ${failure}`, id);
    app.web.events.publish(id, 'step.failed', failure, 'i1.target:ready');
    app.web.events.publish(id, 'step.retry', `${failure}; retrying in 10 ms`, 'i1.target:ready');

    const plan = app.web.deployments.get(id).plan;
    const modules = [...new Set(plan.machines.flatMap((m) => m.vulnerabilities.map((v) => v.module)))];
    const catalogue = defaultCatalogue();
    const secrets = [
      ...rows.map((r) => r.flag),
      ...rows.flatMap((r) => r.accounts.map((a) => a.password)),
      ...modules,
      ...modules.map((m) => catalogue.modules.get(m)!.marking.replace(/\s+/g, ' ').slice(0, 40)),
      plan.seed,
      'did not apply',
    ];

    const alice = ctx.clients.trainee;
    const bodies: Array<[string, string]> = [];
    for (const path of [
      '/',
      '/deployments',
      `/deployments/${id}`,
      `/deployments/${id}/topology`,
      `/deployments/${id}/machines/i1.target`,
    ]) {
      const page = await alice.get(path);
      expect(page.status, path).toBe(200);
      bodies.push([path, page.text]);
    }
    for (const path of [
      '/api/v1/deployments',
      `/api/v1/deployments/${id}`,
      `/api/v1/deployments/${id}/machines/i1.target`,
    ]) {
      const r = await api(app, 'GET', path, ctx.tokens.trainee);
      expect(r.status, path).toBe(200);
      bodies.push([path, r.text]);
    }
    bodies.push(['events', await events(ctx.tokens.trainee)]);

    for (const [path, body] of bodies)
      for (const s of secrets) expect(body.replace(/\s+/g, ' '), `${path} leaks "${s}"`).not.toContain(s);
    // The trainee is told that something failed, and who can say why.
    expect(bodies.find(([p]) => p === `/deployments/${id}`)![1]).toContain(
      'failed; the reason is shown to your instructor',
    );
    expect(bodies.find(([p]) => p === `/api/v1/deployments/${id}/machines/i1.target`)![1]).toContain(
      'failed; the reason is shown to your instructor',
    );
    expect(bodies.find(([p]) => p === 'events')![1]).toContain('the reason is shown to your instructor');
    const json = JSON.parse(bodies.find(([p]) => p === `/api/v1/deployments/${id}`)![1]) as {
      error: unknown;
      machines: unknown[];
    };
    expect(json.error).toBeNull();

    // What the pages are given holds no modules, seed, files or other instances either, whatever a view renders.
    const model = deploymentModel(app.web, id, scopeFor(app.web, { user: ctx.users.trainee, via: 'session' }, id));
    expect(model.plan.seed).toBe('');
    expect(model.plan.machines.map((m) => m.instance)).toEqual([1, 1]);
    expect(model.plan.machines.every((m) => m.vulnerabilities.length === 0 && m.files.length === 0)).toBe(true);
    for (const s of secrets) expect(JSON.stringify(model)).not.toContain(s);

    // The instructor sees all of it: the checks above are not vacuous.
    const staffPage = await ctx.clients.instructor.get(`/deployments/${id}`);
    expect(staffPage.text).toContain('did not apply');
    expect(await events(ctx.tokens.instructor)).toContain('weak-ssh-password');
    const staffList = await api(app, 'GET', '/api/v1/deployments', ctx.tokens.instructor);
    expect(staffList.text).toContain('did not apply');
  });
});
