// Research on the appliance: CVE files imported through the API (NVD 2.0, gzipped, CVE 5), the page (upload and the
// feed folder) as background jobs whose damaged records are reported with their position; search and suggestions for
// staff; the LLM endpoint whose key is sealed and never shown back, drafts marked as drafts; everything audited.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { createServices } from '../../server/services.ts';
import { api, setUpAppliance, type TestApp } from './helpers.ts';

const fixtures = path.resolve('test/fixtures/cve');
const feedText = fs.readFileSync(path.join(fixtures, 'nvd-2.0-feed.json'), 'utf8');
const feedLines = feedText.split('\n');
const lineOf = (s: string) => feedLines.findIndex((l) => l.includes(s)) + 1;

let tmp: string;
let app: TestApp;
let ctx: Awaited<ReturnType<typeof setUpAppliance>>;

async function upload(body: Buffer | string, type: string, name: string, token = ctx.tokens.admin) {
  const res = await app.request(`/api/v1/research/cve-imports?${new URLSearchParams({ name })}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': type },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function finished(id: string) {
  for (let i = 0; i < 300; i++) {
    const r = await api(app, 'GET', `/api/v1/research/cve-imports/${id}`, ctx.tokens.admin);
    if (r.body.state !== 'running') return r.body;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`import ${id} still running after 15 s`);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-research-'));
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: tmp, GLASSDOME_SIM_SPEED: '2000' }),
    db: openDb(':memory:'),
  });
  app = createApp(services);
  ctx = await setUpAppliance(app);
});

afterAll(async () => {
  await app.web.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('CVE imports', () => {
  it('imports an NVD 2.0 feed posted to the API in the background, reporting each damaged record with its position', async () => {
    const r = await upload(feedText, 'application/json', 'nvdcve-2.0-test.json');
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ state: 'running', origin: 'upload', name: 'nvdcve-2.0-test.json', by: 'admin' });
    const job = await finished(r.body.id);
    expect(job).toMatchObject({
      state: 'done',
      formats: ['nvd-2.0'],
      counts: { records: 9, added: 7, updated: 0, unchanged: 0, failed: 2 },
    });
    expect(job.problems).toEqual([
      expect.objectContaining({
        file: 'nvdcve-2.0-test.json',
        index: 6,
        line: lineOf('"baseScore": 9.8 "baseSeverity"'),
        message: expect.stringMatching(/^record #6 is not valid JSON/),
      }),
      expect.objectContaining({ file: 'nvdcve-2.0-test.json', index: 7, id: 'CVE-BOGUS' }),
    ]);
    // The upload is gone once imported; the data stays.
    expect(fs.readdirSync(path.join(tmp, 'cve-uploads'))).toEqual([]);
    expect(app.web.research.status().cves).toBe(7);
    expect(app.web.audit.list().find((e) => e.action === 'research.cve_import')?.detail).toContain(
      'nvdcve-2.0-test.json',
    );
  });

  it('imports a gzipped feed and a CVE JSON 5 record, incrementally', async () => {
    const gz = gzipSync(fs.readFileSync(path.join(fixtures, 'nvd-2.0-modified.json')));
    const a = await finished((await upload(gz, 'application/gzip', 'nvdcve-2.0-modified.json.gz')).body.id);
    expect(a).toMatchObject({ state: 'done', counts: { records: 3, added: 1, updated: 1, unchanged: 1, failed: 0 } });
    const record = fs.readFileSync(path.join(fixtures, 'cve5/2024/6xxx/CVE-2024-6387.json'));
    const b = await finished((await upload(record, 'application/octet-stream', 'CVE-2024-6387.json')).body.id);
    expect(b).toMatchObject({ state: 'done', formats: ['cve-5'], counts: { records: 1, failed: 0 } });
    const again = await finished((await upload(feedText, 'application/json', 'again.json')).body.id);
    expect(again.counts).toMatchObject({ added: 0, failed: 2 });
  });

  it('refuses what is not a CVE file, and a body of another type', async () => {
    const job = await finished((await upload('{"hello": 1}', 'application/json', 'hello.json')).body.id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/neither an NVD 2.0 feed/);
    const wrong = await upload('x', 'text/plain', 'x.txt');
    expect(wrong.status).toBe(400);
    expect((await api(app, 'GET', '/api/v1/research/cve-imports/000000000000', ctx.tokens.admin)).status).toBe(404);
    const list = await api(app, 'GET', '/api/v1/research/cve-imports', ctx.tokens.admin);
    expect(list.body.map((j: { name: string }) => j.name)).toContain('nvdcve-2.0-test.json');
    expect((await upload(feedText, 'application/json', 'x.json', ctx.tokens.instructor)).status).toBe(403);
  });

  it('shows an import whose process died as interrupted, not running for ever', async () => {
    const dead = spawnSync('true').pid;
    const job = {
      id: 'abcdefabcdef',
      state: 'running',
      origin: 'cli',
      name: '/srv/nvdcve-2.0-2020.json.gz',
      by: 'cli:root',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      counts: { records: 5000, added: 5000, updated: 0, unchanged: 0, failed: 0 },
      formats: [],
      skipped: 0,
      bytes: 0,
      ms: 0,
      problems: [],
    };
    app.web.db.$client
      .prepare('INSERT INTO settings (key, value) VALUES (?, ?)')
      .run(`research.import.${job.id}`, JSON.stringify({ job, pid: dead }));
    const r = await api(app, 'GET', `/api/v1/research/cve-imports/${job.id}`, ctx.tokens.admin);
    expect(r.body).toMatchObject({ state: 'interrupted', counts: { records: 5000 } });
    expect(r.body.error).toMatch(/The process importing it stopped/);
  });

  it('imports from the page: an uploaded file, followed on its job page, and a file of the feed folder', async () => {
    const admin = ctx.clients.admin;
    await admin.get('/research');
    const form = new FormData();
    form.append('_csrf', admin.csrf);
    form.append('file', new Blob([feedText], { type: 'application/json' }), 'from-the-page.json');
    const res = await app.request('/research/imports', {
      method: 'POST',
      headers: { Cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      body: form,
    });
    expect(res.status).toBe(303);
    const jobPath = res.headers.get('Location')!;
    expect(jobPath).toMatch(/^\/research\/imports\/[0-9a-f]{12}$/);
    await finished(jobPath.split('/').at(-1)!);
    const page = await admin.get(jobPath);
    expect(page.text).toContain('from-the-page.json');
    expect(page.text).toContain('data-state="done"');
    expect(page.text).toContain('#6');
    expect(page.text).toContain(`${lineOf('"baseScore": 9.8 "baseSeverity"')}:`);
    // htmx polls the job's part of the page only.
    const part = await admin.get(jobPath, { 'HX-Request': 'true' });
    expect(part.text.startsWith('<div id="import-job"')).toBe(true);

    fs.mkdirSync(path.join(tmp, 'cve'), { recursive: true });
    fs.copyFileSync(path.join(fixtures, 'nvd-2.0-feed.json'), path.join(tmp, 'cve', 'nvdcve-2.0-2021.json'));
    const listed = await admin.get('/research');
    expect(listed.text).toContain('nvdcve-2.0-2021.json');
    const fromFeed = await admin.post('/research/imports', { feed: 'nvdcve-2.0-2021.json' });
    expect(fromFeed.status).toBe(303);
    expect((await finished(fromFeed.location!.split('/').at(-1)!)).origin).toBe('feeds');
    expect((await admin.post('/research/imports', { feed: '../glassdome.db' })).status).toBe(422);
    expect((await admin.post('/research/imports', {})).text).toContain('Choose a CVE file to import');
    const before = app.web.research.jobs().length;
    expect((await admin.post('/research/imports', { all: 'feeds' })).status).toBe(303);
    expect(app.web.research.jobs().length).toBe(before + 1);
    await Promise.all(app.web.research.jobs().map((j) => app.web.research.finished(j.id)));
    // The feed file stays where the admin put it.
    expect(fs.existsSync(path.join(tmp, 'cve', 'nvdcve-2.0-2021.json'))).toBe(true);
  });
});

describe('CVE search and module suggestions', () => {
  const ids = (r: { body: { results: Array<{ id: string }> } }) => r.body.results.map((c) => c.id).sort();
  const search = (q: Record<string, string>) =>
    api(app, 'GET', `/api/v1/research/cves?${new URLSearchParams(q)}`, ctx.tokens.instructor);

  it('searches by words, product, CPE version, CWE, CVSS and date', async () => {
    expect(ids(await search({ keyword: 'path traversal' }))).toContain('CVE-2021-41773');
    const apache = ids(await search({ product: 'http_server' }));
    expect(apache).toEqual(expect.arrayContaining(['CVE-2021-41773', 'CVE-2021-42013']));
    expect(apache).not.toContain('CVE-2024-6387');
    expect(ids(await search({ cpe: 'cpe:2.3:a:apache:http_server:2.4.49' }))).toContain('CVE-2021-41773');
    expect(ids(await search({ cpe: 'cpe:2.3:a:apache:http_server:2.4.51' }))).not.toContain('CVE-2021-41773');
    expect(ids(await search({ cwe: 'CWE-22' }))).toContain('CVE-2021-41773');
    const critical = await search({ cvssMin: '9.5' });
    expect(critical.body.results.every((c: { cvss: { score: number } }) => c.cvss.score >= 9.5)).toBe(true);
    const autumn = (await search({ from: '2021-10-01', to: '2021-12-31' })).body.results;
    expect(autumn.map((c: { id: string }) => c.id)).toContain('CVE-2021-41773');
    expect(autumn.every((c: { published: string }) => c.published >= '2021-10-01' && c.published < '2022')).toBe(true);
    const bad = await search({ cvssMin: '11' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe('cvssMin');
    expect((await search({ cpe: 'not-a-cpe' })).status).toBe(400);
  });

  it('shows a CVE with its modules, and suggests modules for a described machine', async () => {
    const cve = await api(app, 'GET', '/api/v1/research/cves/CVE-2021-41773', ctx.tokens.instructor);
    expect(cve.body.modules.map((m: { id: string }) => m.id)).toContain('directory-traversal');
    const s = await api(
      app,
      'GET',
      `/api/v1/research/suggestions?${new URLSearchParams({ description: 'a web server on Ubuntu 22.04' })}`,
      ctx.tokens.instructor,
    );
    expect(s.status).toBe(200);
    expect(s.body.machine.image).toBe('ubuntu-22.04');
    expect(s.body.modules.length).toBeGreaterThan(0);
    expect(s.body.modules[0].reasons.length).toBeGreaterThan(0);
    expect(s.body.modules.slice(0, 3).map((m: { category: string }) => m.category)).toContain('web');
  });

  it('serves the research pages to staff: search results, suggestions, a CVE and a module with its marking guide', async () => {
    const t = ctx.clients.instructor;
    const page = await t.get('/research?keyword=traversal&describe=a+web+server+on+Ubuntu+22.04');
    expect(page.status).toBe(200);
    expect(page.text).toContain('href="/research/cves/CVE-2021-41773"');
    expect(page.text).toContain('data-module="');
    // Imports and the LLM endpoint are the admin's.
    expect(page.text).not.toContain('action="/research/imports"');
    expect(page.text).not.toContain('action="/research/llm"');
    const bad = await t.get('/research?cvssMin=12');
    expect(bad.text).toContain('class="field has-error"');
    expect((await t.get('/research/cves/CVE-2021-41773')).text).toContain('directory-traversal');
    const mod = await t.get('/research/modules/directory-traversal');
    expect(mod.text).toContain('Marking guide');
    expect((await t.get('/research/modules/nope')).status).toBe(404);
    expect((await ctx.clients.trainee.get('/research')).status).toBe(403);
  });
});

describe('the LLM endpoint for drafts', () => {
  const key = 'sk-test-Secret-Key-do-not-leak-42';
  let server: http.Server;
  let baseUrl: string;
  const seen: Array<string | undefined> = [];

  beforeAll(async () => {
    // An OpenAI-compatible chat completions endpoint: answers only the right bearer, and echoes what it got otherwise
    // (so the appliance must redact the key from the error it shows).
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(req.headers.authorization);
        if (req.url !== '/v1/chat/completions' || req.method !== 'POST') return res.writeHead(404).end();
        if (req.headers.authorization !== `Bearer ${key}`) {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          return res.end(JSON.stringify({ error: `bad key: ${req.headers.authorization ?? 'none'}` }));
        }
        const prompt = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            model: 'tiny-llm',
            choices: [{ message: { content: `A drafted text about: ${prompt.split('\n').at(-1)}` } }],
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => server.close());

  it('is set by an admin with its key sealed, never shown back, never logged; drafts are marked as drafts', async () => {
    const admin = ctx.clients.admin;
    await admin.get('/research');
    const invalid = await admin.post('/research/llm', { baseUrl: 'ftp://x', model: 'm', key, action: 'save' });
    expect(invalid.status).toBe(422);
    expect(invalid.text).toContain('class="field has-error"');
    expect(invalid.text).not.toContain(key);

    const inUrl = await admin.post('/research/llm', {
      baseUrl: baseUrl.replace('http://', `http://user:${key}@`),
      model: 'tiny-llm',
      action: 'save',
    });
    expect(inUrl.status).toBe(422);
    expect(inUrl.text).toContain('give the key in its own field');
    expect(inUrl.text).not.toContain(key);
    expect(app.web.research.llmSettings()).toBeNull();
    const saved = await admin.post('/research/llm', { baseUrl, model: 'tiny-llm', key, action: 'save' });
    expect(saved.status).toBe(303);
    const bodies: string[] = [];
    bodies.push((await admin.get('/research')).text);
    expect(bodies[0]).toContain('A key is stored (sealed)');
    const settings = await api(app, 'GET', '/api/v1/research/llm', ctx.tokens.admin);
    expect(settings.body).toEqual({ baseUrl, model: 'tiny-llm', timeoutMs: 60000, maxTokens: 800, hasKey: true });
    bodies.push(settings.text);

    const draft = await api(app, 'POST', '/api/v1/research/drafts', ctx.tokens.instructor, {
      module: 'directory-traversal',
    });
    expect(draft.status).toBe(200);
    expect(draft.body).toMatchObject({
      draft: true,
      model: 'tiny-llm',
      label: expect.stringMatching(/^Draft by tiny-llm: not reviewed/),
    });
    expect(draft.body.text).toMatch(/^A drafted text about: /);
    expect(seen.at(-1)).toBe(`Bearer ${key}`);
    bodies.push(draft.text);
    const page = await ctx.clients.instructor.post('/research/modules/directory-traversal/draft');
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-draft="true"');
    expect(page.text).toContain('<strong>DRAFT</strong>');
    bodies.push(page.text);
    await api(app, 'GET', '/api/v1/research/cves/CVE-2021-41773', ctx.tokens.instructor);
    const cveDraft = await ctx.clients.instructor.post('/research/cves/CVE-2021-41773/draft');
    expect(cveDraft.text).toContain('data-draft="true"');

    // Saving without a key keeps it; a wrong key's error is shown without any key in it.
    await admin.get('/research');
    expect(
      (await admin.post('/research/llm', { baseUrl, model: 'tiny-llm', timeoutMs: '5000', action: 'save' })).status,
    ).toBe(303);
    expect(
      (await api(app, 'POST', '/api/v1/research/drafts', ctx.tokens.admin, { cve: 'CVE-2021-41773' })).status,
    ).toBe(200);
    const wrongKey = 'sk-wrong-Other-Key-also-secret-7';
    const put = await api(app, 'PUT', '/api/v1/research/llm', ctx.tokens.admin, {
      baseUrl,
      model: 'tiny-llm',
      key: wrongKey,
    });
    expect(put.body.hasKey).toBe(true);
    const refused = await ctx.clients.instructor.post('/research/modules/directory-traversal/draft');
    expect(refused.status).toBe(502);
    expect(refused.text).toContain('Check the API key of the LLM endpoint');
    expect(seen.at(-1)).toBe(`Bearer ${wrongKey}`);
    bodies.push(
      refused.text,
      (await api(app, 'POST', '/api/v1/research/drafts', ctx.tokens.admin, { module: 'directory-traversal' })).text,
    );
    const cleared = await api(app, 'PUT', '/api/v1/research/llm', ctx.tokens.admin, {
      baseUrl,
      model: 'tiny-llm',
      clearKey: true,
    });
    expect(cleared.body.hasKey).toBe(false);
    await api(app, 'POST', '/api/v1/research/drafts', ctx.tokens.admin, { module: 'directory-traversal' });
    expect(seen.at(-1)).toBeUndefined();

    bodies.push(
      (await api(app, 'GET', '/api/v1/audit', ctx.tokens.admin)).text,
      (await admin.get('/settings/audit')).text,
    );
    for (const b of bodies) {
      expect(b).not.toContain(key);
      expect(b).not.toContain(wrongKey);
    }
    const stored = app.web.db.$client
      .prepare("SELECT value FROM settings WHERE key = 'research.llm'")
      .pluck()
      .get() as string;
    expect(stored).not.toContain(wrongKey);
    expect(app.web.audit.list().filter((e) => e.action === 'research.draft').length).toBeGreaterThanOrEqual(4);
    expect(app.web.audit.list().find((e) => e.action === 'research.llm.update')?.detail).toContain('key removed');

    expect((await api(app, 'DELETE', '/api/v1/research/llm', ctx.tokens.admin)).status).toBe(204);
    const none = await api(app, 'POST', '/api/v1/research/drafts', ctx.tokens.instructor, {
      module: 'directory-traversal',
    });
    expect(none.status).toBe(404);
    expect(none.body.error.message).toMatch(/No LLM endpoint is configured/);
  });

  it('keeps the sealed key across a restart of the research service', async () => {
    await api(app, 'PUT', '/api/v1/research/llm', ctx.tokens.admin, { baseUrl, model: 'tiny-llm', key });
    const stored = JSON.parse(
      app.web.db.$client.prepare("SELECT value FROM settings WHERE key = 'research.llm'").pluck().get() as string,
    ) as { key: string };
    expect(stored.key).toMatch(/^v1\./);
    expect(JSON.stringify(stored)).not.toContain(key);
    expect(app.web.box.open(stored.key)).toBe(key);
  });
});
