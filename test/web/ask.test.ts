// The Ask page and API over the appliance's own knowledge base: every role gets an answer within its scope (trainees
// the documentation only, enforced by the domain), the keyword-only notice when no model is installed, the status for
// admins, failed deployments ingested when they fail; and, with the tiny generated model, a hybrid answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import { defaultCatalogue } from '../../server/reaper/catalogue.ts';
import { createServices } from '../../server/services.ts';
import { writeTinyModel } from '../knowledge/tiny-model.ts';
import { api, setUpAppliance, waitForState, webTestApp, type TestApp } from './helpers.ts';

const failing = `
glassdome: 1
name: broken-lab
networks:
  - { name: lan, cidr: 10.7.0.0/24 }
machines:
  - name: box
    networks: [lan]
    platform: { simulator: { failAlways: true } }
`;

/** A module's marking guide: its first words are a question only the catalogue answers, the rest must not leak. */
const guide = defaultCatalogue().modules.get('anonymous-ftp')!.marking.replace(/\s+/g, ' ').split(' ');
const marking = guide.slice(0, 8).join(' ');
const markingTail = guide.slice(8, 14).join(' ');

async function ask(app: TestApp, token: string, q: string, k = 10) {
  return api(app, 'GET', `/api/v1/knowledge/search?${new URLSearchParams({ q, k: String(k) })}`, token);
}

describe('Ask without an embedding model (keyword search)', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;
  let failedId: string;

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: failing,
      platform: 'simulator',
    });
    failedId = created.body.id;
    await waitForState(app, failedId, ['failed']);
    const report = await app.web.knowledge.refresh(systemActor);
    expect(report.collections.sort()).toEqual(['deployments', 'docs', 'modules', 'scenarios']);
  });
  afterAll(() => app.web.close());

  it('answers every signed-in role on the page, saying plainly that the search is keyword-only', async () => {
    for (const who of ['admin', 'instructor', 'trainee'] as const) {
      const page = await ctx.clients[who].get(`/ask?${new URLSearchParams({ q: 'address pool VLAN' })}`);
      expect(page.status, who).toBe(200);
      expect(page.text).toContain('class="notice keyword-only"');
      expect(page.text).toContain('Keyword search only');
      expect(page.text).toMatch(/class="passage" data-collection="docs"/);
      // Only admins are told where the model is missing from.
      if (who === 'admin') expect(page.text).toContain('Keyword search only: No embedding model is installed in');
      else expect(page.text).not.toContain('/nonexistent-test-dir');
    }
    expect((await ctx.clients.trainee.get('/')).text).toContain('href="/ask"');
  });

  it('answers the API with source, heading path, link and scores, and the keyword-only notice', async () => {
    const r = await ask(app, ctx.tokens.trainee, 'address pool VLAN', 5);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ mode: 'keyword', collections: ['docs'], building: false });
    expect(r.body.notice).toMatch(/^Keyword search only/);
    expect(r.body.passages.length).toBeGreaterThan(0);
    expect(r.body.passages.length).toBeLessThanOrEqual(5);
    const p = r.body.passages[0];
    expect(p).toMatchObject({ collection: 'docs', source: expect.stringMatching(/README\.md$/) });
    expect(p.headings.length).toBeGreaterThan(0);
    expect(p.link).toMatch(/README\.md(#[a-z0-9-]+)?$/);
    expect(p.scores.vector).toBeNull();
    expect(p.scores.keyword).toBeGreaterThan(0);
    expect(p.scores.keywordRank).toBe(1);
    const admin = await ask(app, ctx.tokens.admin, 'address pool VLAN');
    expect(admin.body.notice).toContain('No embedding model is installed in');
    expect((await api(app, 'GET', '/api/v1/knowledge/search?q=', ctx.tokens.admin)).status).toBe(400);
    expect((await api(app, 'GET', `/api/v1/knowledge/search?q=${'x'.repeat(501)}`, ctx.tokens.admin)).status).toBe(400);
  });

  it("keeps trainees to the documentation: no marking guide, scenario or deployment failure reaches them (the domain's rule)", async () => {
    const staff = await ask(app, ctx.tokens.instructor, marking);
    expect(staff.body.passages[0]).toMatchObject({ collection: 'modules', source: 'module:anonymous-ftp' });
    expect(staff.body.passages[0].text).toContain('Marking guide');
    const failure = await ask(app, ctx.tokens.instructor, 'template disk is unreadable');
    expect(failure.body.passages.map((p: { source: string }) => p.source)).toContain(`deployment:${failedId}`);
    const scenario = await ask(app, ctx.tokens.admin, 'domain controller dc01');
    expect(scenario.body.passages.some((p: { collection: string }) => p.collection === 'scenarios')).toBe(true);

    for (const q of [marking, 'template disk is unreadable', 'domain controller dc01', 'flag marking guide hint']) {
      const trainee = await ask(app, ctx.tokens.trainee, q, 50);
      expect(trainee.status).toBe(200);
      expect(trainee.body.collections).toEqual(['docs']);
      for (const p of trainee.body.passages) {
        expect(p.collection).toBe('docs');
        expect(p.text.replace(/\s+/g, ' ')).not.toContain(markingTail);
        expect(p.source).not.toMatch(/^(module|deployment|scenario):/);
      }
      const page = await ctx.clients.trainee.get(`/ask?${new URLSearchParams({ q, k: '50' })}`);
      expect(page.text.replace(/\s+/g, ' ')).not.toContain(markingTail);
      expect(page.text).not.toContain(failedId);
      expect(page.text).not.toMatch(/data-collection="(modules|scenarios|deployments)"/);
      // The rule is the domain's, whatever the entry point.
      const direct = await app.web.knowledge.search({ role: 'trainee' }, q, 50);
      expect(new Set(direct.passages.map((p) => p.collection))).toEqual(
        new Set(direct.passages.length ? ['docs'] : []),
      );
    }
  });

  it('shows admins the status (mode, passages, model reason) and lets them ingest again, audited', async () => {
    const admin = await ctx.clients.admin.get('/ask');
    expect(admin.text).toContain('Knowledge base');
    expect(admin.text).toContain('data-mode="keyword"');
    expect(admin.text).toMatch(/No embedding model is installed in \/nonexistent-test-dir\/models/);
    expect(admin.text).toMatch(/documentation \d+, scenarios \d+, vulnerability modules \d+, deployments [1-9]/);
    expect((await ctx.clients.instructor.get('/ask')).text).not.toContain('Ingest again now');
    const status = await api(app, 'GET', '/api/v1/knowledge/status', ctx.tokens.admin);
    expect(status.body).toMatchObject({
      mode: 'keyword',
      model: { ready: false, reason: expect.stringContaining('keyword search only') },
      passages: { modules: expect.any(Number), deployments: expect.any(Number) },
      warnings: [],
    });
    expect((await api(app, 'GET', '/api/v1/knowledge/status', ctx.tokens.instructor)).status).toBe(403);
    const r = await ctx.clients.admin.post('/ask/refresh');
    expect(r.status).toBe(303);
    expect(app.web.audit.list().find((e) => e.action === 'knowledge.refresh')?.username).toBe('admin');
  });
});

describe('the knowledge base follows deployments', () => {
  it('ingests the failure of a deployment soon after it fails', async () => {
    const { app } = webTestApp();
    const ctx = await setUpAppliance(app);
    const line = await app.web.knowledge.start();
    expect(line).toMatch(
      /^knowledge base: \d+ passages \(docs \d+, scenarios \d+, modules \d+, deployments 0\), keyword search only \(No embedding model/,
    );
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: failing,
      platform: 'simulator',
    });
    await waitForState(app, created.body.id, ['failed']);
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      const r = await app.web.knowledge.search({ role: 'instructor' }, 'template disk is unreadable');
      found = r.passages.some((p) => p.source === `deployment:${created.body.id}` && p.headings.includes('Failures'));
      if (!found) await new Promise((res) => setTimeout(res, 100));
    }
    expect(found).toBe(true);
    const similar = await app.web.knowledge.similarFailures(
      '[simulator] Unable to clone VM "x": template disk is unreadable (injected permanent failure)',
    );
    expect(similar[0]?.link).toBe(`/deployments/${created.body.id}`);
    expect(await app.web.knowledge.similarFailures('zebra quantum marmalade')).toEqual([]);
    await app.web.close();
  });
});

describe('Ask with an embedding model (the tiny generated one)', () => {
  let tmp: string;
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-ask-'));
    const words = fs
      .readFileSync('README.md', 'utf8')
      .toLowerCase()
      .match(/[a-z]{3,}/g)!;
    const model = writeTinyModel(path.join(tmp, 'models'), 'test/tiny-bert', {
      words: [...new Set(words)].slice(0, 3000),
      synonyms: [['hypervisor', 'proxmox']],
    });
    const services = createServices({
      config: loadConfig({
        GLASSDOME_DATA_DIR: tmp,
        GLASSDOME_SIM_SPEED: '2000',
        GLASSDOME_MODEL_DIR: model.root,
        GLASSDOME_MODEL: model.name,
      }),
      db: openDb(':memory:'),
    });
    app = createApp(services);
    const ctx = await setUpAppliance(app);
    token = ctx.tokens.trainee;
    await app.web.knowledge.refresh(systemActor);
  });
  afterAll(async () => {
    await app.web.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('answers in hybrid mode: no notice, passages ranked by vectors and words', async () => {
    const r = await ask(app, token, 'hypervisor API token', 8);
    expect(r.status).toBe(200);
    expect(r.body.mode).toBe('hybrid');
    expect(r.body.notice).toBeUndefined();
    expect(r.body.passages.length).toBe(8);
    expect(r.body.passages.some((p: { scores: { vector: number | null } }) => p.scores.vector !== null)).toBe(true);
    expect(r.body.passages.every((p: { collection: string }) => p.collection === 'docs')).toBe(true);
    const page = await api(app, 'GET', '/api/v1/knowledge/status', undefined);
    expect(page.status).toBe(401);
    const s = await app.web.knowledge.status();
    expect(s).toMatchObject({ mode: 'hybrid', model: { ready: true, id: expect.stringMatching(/^test\/tiny-bert/) } });
    expect(s.chunks.unembedded).toBe(0);
    expect(s.vectors.live).toBe(s.chunks.total);
  });
});
