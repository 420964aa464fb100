// The API of the knowledge base (Ask), CVE research and a deployment's flags, declared on the API's builder so each
// route is in the OpenAPI document: the same domain calls, scopes and audit as the pages.
import type { z } from 'zod';
import { AppError } from '../../errors.ts';
import { actorOf, type Ctx, type WebDomain } from '../context.ts';
import { askJson, knowledgeStatusJson } from '../kb-model.ts';
import * as k from '../kb-schemas.ts';
import type { createApiBuilder } from '../openapi.ts';
import { okResponse } from '../schemas.ts';

type Api = ReturnType<typeof createApiBuilder>;

/** Query-string fields of a request, as the page forms send them. */
function queryOf(c: Ctx, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((key) => (c.req.query(key) === undefined ? [] : [[key, c.req.query(key)!]])));
}

function parseQuery<S extends z.ZodType>(schema: S, c: Ctx, keys: string[]): z.output<S> {
  const r = schema.safeParse(queryOf(c, keys));
  if (!r.success)
    throw new AppError(
      'invalid_input',
      `Invalid query: ${r.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}`,
      { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    );
  return r.data;
}

const cveQueryKeys = [
  'keyword',
  'product',
  'vendor',
  'cpe',
  'cwe',
  'cvssMin',
  'cvssMax',
  'from',
  'to',
  'sort',
  'limit',
  'offset',
];
const uploadTypes = ['application/gzip', 'application/json', 'application/octet-stream'];

export function kbApiRoutes(api: Api, web: WebDomain): void {
  const staff: Array<'admin' | 'instructor'> = ['admin', 'instructor'];

  // ------------------------------------------------------------------------------------------------ knowledge
  api.route(
    {
      method: 'get',
      path: '/knowledge/search',
      summary: 'Ask the knowledge base: the best passages with source, heading path, link and scores',
      description:
        'Trainees search the documentation only; staff also the scenarios, the module catalogue and failed deployments. ' +
        '`mode` is `keyword` (with a `notice`) when no embedding model is installed.',
      tag: 'knowledge',
      roles: 'any',
      query: {
        q: { description: 'The question, in free words (at most 500 characters)', type: 'string' },
        k: { description: 'How many passages (1-50, default 8)', type: 'integer' },
      },
      response: k.askResponse,
    },
    async (c) => {
      const q = parseQuery(k.askQuerySchema, c, ['q', 'k']);
      const answer = await web.knowledge.search(c.get('viewer')!.user, q.q, q.k);
      return c.json(askJson(q.q, answer));
    },
  );
  api.route(
    {
      method: 'get',
      path: '/knowledge/status',
      summary: 'The knowledge base: mode, model (or why there is none), passages per collection, warnings',
      tag: 'knowledge',
      roles: ['admin'],
      response: k.knowledgeStatusResponse,
    },
    async (c) => c.json(knowledgeStatusJson(await web.knowledge.status())),
  );
  api.route(
    {
      method: 'post',
      path: '/knowledge/refresh',
      summary: 'Ingest every source again (in the background)',
      tag: 'knowledge',
      roles: ['admin'],
      response: okResponse,
      status: 202,
    },
    (c) => {
      void web.knowledge.refresh(actorOf(c)).catch(() => undefined);
      return c.json({ ok: true as const }, 202);
    },
  );

  // ------------------------------------------------------------------------------------------------ research
  api.route(
    {
      method: 'post',
      path: '/research/cve-imports',
      summary:
        'Import a CVE file: an NVD CVE JSON 2.0 feed (JSON or gzipped) or a CVE JSON 5 record, in the background',
      description:
        'Send the file as the request body (at most 256 MiB; gzip as NVD publishes it), with `?name=` for its name; ' +
        'or give `?feed=` to import a file of the appliance feed folder. Returns the running job: poll ' +
        '/research/cve-imports/{id}. Records that cannot be read are reported with their position; the rest is imported.',
      tag: 'research',
      roles: ['admin'],
      query: {
        name: { description: 'The uploaded file name, shown in the job and its problems', type: 'string' },
        feed: { description: 'Import this file of the feed folder instead of a body', type: 'string' },
      },
      upload: uploadTypes,
      response: k.cveImportResponse,
      status: 202,
    },
    async (c) => {
      const feed = c.req.query('feed');
      if (feed) return c.json(web.research.importFeedFile(actorOf(c), feed), 202);
      const body = c.req.raw.body;
      const type = (c.req.header('Content-Type') ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
      if (!uploadTypes.includes(type) && type !== 'application/x-gzip')
        throw new AppError('invalid_input', `Send the CVE file as the body (${uploadTypes.join(', ')}), not ${type}`, {
          hint: 'curl -H "Authorization: Bearer ..." -H "Content-Type: application/gzip" --data-binary @nvdcve-2.0-2024.json.gz ...',
        });
      if (!body) throw new AppError('invalid_input', 'The request has no body: send the CVE file');
      const name = (c.req.query('name') ?? 'upload.json').slice(0, 200);
      return c.json(await web.research.importUpload(actorOf(c), name, body), 202);
    },
  );
  api.route(
    {
      method: 'get',
      path: '/research/cve-imports',
      summary: 'Recent CVE imports, newest first',
      tag: 'research',
      roles: ['admin'],
      response: k.cveImportResponse.array(),
    },
    (c) => c.json(web.research.jobs()),
  );
  api.route(
    {
      method: 'get',
      path: '/research/cve-imports/:id',
      summary: 'One CVE import: its state, counts and the records it could not read, with their position',
      tag: 'research',
      roles: ['admin'],
      response: k.cveImportResponse,
    },
    (c) => c.json(web.research.job(c.req.param('id')!)),
  );
  api.route(
    {
      method: 'get',
      path: '/research/cves',
      summary: 'Search the imported CVEs by words, product, vendor, CPE (versions checked), CWE, CVSS and date',
      tag: 'research',
      roles: staff,
      query: {
        keyword: { description: 'Words in the description or product names (all of them)', type: 'string' },
        product: { description: 'A CPE product name, e.g. http_server', type: 'string' },
        vendor: { description: 'A CPE vendor name, e.g. apache', type: 'string' },
        cpe: { description: 'A CPE 2.3 name or prefix; a version is checked against the ranges', type: 'string' },
        cwe: { description: 'CWE-<n>', type: 'string' },
        cvssMin: { description: 'Lowest CVSS base score', type: 'string' },
        cvssMax: { description: 'Highest CVSS base score', type: 'string' },
        from: { description: 'Published on or after (YYYY-MM-DD)', type: 'string' },
        to: { description: 'Published on or before (YYYY-MM-DD)', type: 'string' },
        sort: { description: 'relevance, published or cvss', type: 'string' },
        limit: { description: '1-200, default 25', type: 'integer' },
        offset: { description: 'Results to skip', type: 'integer' },
      },
      response: k.cveSearchResponse,
    },
    (c) => c.json(web.research.search(k.cveFilters(parseQuery(k.cveQuerySchema, c, cveQueryKeys)))),
  );
  api.route(
    {
      method: 'get',
      path: '/research/cves/:id',
      summary: 'One CVE (NVD and CVE 5 records merged) with the catalogue modules it relates to',
      tag: 'research',
      roles: staff,
      response: k.cveDetailResponse,
    },
    (c) => {
      const { cve, modules } = web.research.cve(c.req.param('id')!);
      return c.json({
        ...cve,
        modules: modules.map((m) => ({ id: m.module.id, title: m.module.title, score: m.score, reasons: m.reasons })),
      });
    },
  );
  api.route(
    {
      method: 'get',
      path: '/research/suggestions',
      summary: 'Catalogue modules for a described machine ("a web server on Ubuntu 22.04"), with their CVEs',
      tag: 'research',
      roles: staff,
      query: {
        description: { description: 'The machine, in words', type: 'string' },
        limit: { description: 'How many modules (1-50, default 10)', type: 'integer' },
      },
      response: k.suggestionResponse,
    },
    (c) => {
      const q = parseQuery(k.suggestSchema, c, ['description', 'limit']);
      const s = web.research.suggest(q.description, q.limit);
      return c.json({
        machine: { ...s.machine, words: undefined },
        modules: s.modules.map((m) => ({
          id: m.module.id,
          title: m.module.title,
          category: m.module.category,
          score: m.score,
          reasons: m.reasons,
          cves: m.cves.map((x) => ({ id: x.id, cvss: x.cvss?.score ?? null })),
        })),
        cves: s.cves,
      });
    },
  );
  api.route(
    {
      method: 'get',
      path: '/research/llm',
      summary: 'The LLM endpoint for drafts (never its key), or null',
      tag: 'research',
      roles: ['admin'],
      response: k.llmSettingsResponse,
    },
    (c) => c.json(web.research.llmSettings()),
  );
  api.route(
    {
      method: 'put',
      path: '/research/llm',
      summary: 'Set the OpenAI-compatible endpoint for drafts; the key is sealed and kept unless replaced or cleared',
      tag: 'research',
      roles: ['admin'],
      body: k.llmInputSchema,
      response: k.llmSettingsResponse,
    },
    (c, b) => c.json(web.research.setLlm(actorOf(c), { ...b, ...(b.key ? { key: b.key } : { key: undefined }) })),
  );
  api.route(
    {
      method: 'delete',
      path: '/research/llm',
      summary: 'Remove the LLM endpoint (and its key)',
      tag: 'research',
      roles: ['admin'],
      status: 204,
    },
    (c) => {
      web.research.setLlm(actorOf(c), null);
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'post',
      path: '/research/drafts',
      summary:
        "An LLM draft of a module's trainee description ({module}) or a CVE explanation ({cve}), marked as a draft",
      tag: 'research',
      roles: staff,
      body: k.draftSchema,
      response: k.draftResponse,
    },
    async (c, b) => c.json(await web.research.draft(actorOf(c), b, c.req.raw.signal)),
  );

  // ------------------------------------------------------------------------------------------------ flags
  const flagQuery = (c: Ctx) => parseQuery(k.flagQuerySchema, c, ['instance', 'categoryBy', 'state']);
  api.route(
    {
      method: 'get',
      path: '/deployments/:id/flags',
      summary: "A deployment's flags per instance with hints and marking guides (instructors and admins; audited)",
      tag: 'deployments',
      roles: staff,
      scoped: true,
      query: { instance: { description: 'Only these instances, comma-separated', type: 'string' } },
      response: k.flagRowsResponse,
    },
    (c) => {
      const q = flagQuery(c);
      return c.json(web.flags.list(actorOf(c), c.req.param('id')!, q.instance ? { instances: q.instance } : {}));
    },
  );
  api.route(
    {
      method: 'get',
      path: '/deployments/:id/ctfd.csv',
      summary:
        "CTFd's challenge CSV of a deployment's flags (CTFd 3.7+: Admin > Config > Backup > Import CSV); audited",
      tag: 'deployments',
      roles: staff,
      scoped: true,
      query: {
        instance: { description: 'Only these instances, comma-separated (e.g. one CTFd per trainee)', type: 'string' },
        categoryBy: { description: 'module (default) or instance', type: 'string' },
        state: { description: 'visible (default) or hidden', type: 'string' },
      },
      produces: 'text/csv',
    },
    (c) => {
      const id = c.req.param('id')!;
      const q = flagQuery(c);
      const csv = web.flags.ctfdCsv(actorOf(c), id, {
        ...(q.instance ? { instances: q.instance } : {}),
        ...(q.categoryBy ? { categoryBy: q.categoryBy } : {}),
        ...(q.state ? { state: q.state } : {}),
      });
      return c.body(csv, 200, {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="glassdome-${id}${q.instance ? `-i${q.instance.join('-')}` : ''}-ctfd.csv"`,
      });
    },
  );
}
