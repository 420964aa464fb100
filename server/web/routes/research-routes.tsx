// /research: CVE search and module suggestions for staff, a CVE's and a module's page with LLM drafts, and for admins
// the CVE imports (upload or the feed folder; each a background job whose page follows it) and the LLM endpoint.
import { Hono } from 'hono';
import { AppError, errorMessage, isAppError } from '../../errors.ts';
import {
  CvePage,
  ImportJobPage,
  ImportJobView,
  ModulePage,
  ResearchPage,
  type ResearchPageProps,
} from '../../../views/pages/research.tsx';
import type { CveSearchModel, DraftModel, SuggestModel } from '../../../views/props.ts';
import { actorOf, isRole, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { errorsOf, formFields, keepValues } from '../forms.ts';
import { cveRow, moduleDetail, suggestModel } from '../kb-model.ts';
import { cveFilters, cveQuerySchema, llmInputSchema, suggestSchema } from '../kb-schemas.ts';
import { allow } from '../security.ts';

const searchFields = [
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
];

export function researchRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const staff = allow('admin', 'instructor');
  const admin = allow('admin');

  function search(c: Ctx): CveSearchModel {
    const values = Object.fromEntries(
      searchFields.flatMap((k) => {
        const v = c.req.query(k);
        return v === undefined || v === '' ? [] : [[k, v]];
      }),
    );
    const searched = Object.keys(values).length > 0;
    const empty = { values, errors: {}, searched, total: 0, results: [], offset: 0, limit: 25 };
    if (!searched) return empty;
    const parsed = cveQuerySchema.safeParse({ ...values, offset: c.req.query('offset') ?? '' });
    if (!parsed.success) return { ...empty, searched: false, errors: errorsOf(parsed.error.issues) };
    try {
      const r = web.research.search(cveFilters(parsed.data));
      return {
        ...empty,
        total: r.total,
        results: r.results.map(cveRow),
        offset: parsed.data.offset,
        limit: parsed.data.limit,
      };
    } catch (e) {
      if (!isAppError(e) || e.code !== 'invalid_input') throw e;
      return { ...empty, searched: false, errors: { cpe: e.message } };
    }
  }

  function suggest(c: Ctx): SuggestModel | undefined {
    const describe = c.req.query('describe');
    if (describe === undefined || describe.trim() === '') return undefined;
    const parsed = suggestSchema.safeParse({ description: describe });
    if (!parsed.success)
      return { description: describe, error: parsed.error.issues[0]!.message, modules: [], cves: [] };
    return suggestModel(describe, web.research.suggest(parsed.data.description, parsed.data.limit));
  }

  const page = (c: Ctx, extra: Partial<ResearchPageProps> = {}) => {
    const viewer = c.get('viewer')!;
    const isAdmin = isRole(viewer, 'admin');
    const s = web.research.status();
    const props: ResearchPageProps = {
      csrf: c.get('csrf'),
      isAdmin,
      status: {
        cves: s.cves,
        records: s.records,
        ...(s.lastImport ? { lastImport: { file: s.lastImport.file, finishedAt: s.lastImport.finishedAt } } : {}),
      },
      search: search(c),
      suggest: suggest(c),
      modules: web.research.modules().map((m) => ({
        id: m.id,
        title: m.title,
        category: m.category,
        difficulty: m.difficulty,
      })),
      ...(isAdmin
        ? {
            jobs: web.research.jobs(),
            feeds: web.research.feedFiles(),
            feedsDir: web.research.feedsDir,
            llm: web.research.llmSettings(),
          }
        : {}),
      ...extra,
    };
    return c.render(<ResearchPage {...props} />, { title: 'Research' });
  };

  app.get('/', staff, (c) => page(c));

  app.post('/imports', admin, async (c) => {
    const body = await c.req.parseBody();
    const actor = actorOf(c);
    try {
      if (body.all === 'feeds') {
        // One job per file; they run one after the other.
        for (const name of web.research.feedFiles()) web.research.importFeedFile(actor, name);
        return c.redirect('/research', 303);
      }
      if (typeof body.feed === 'string' && body.feed !== '') {
        const job = web.research.importFeedFile(actor, body.feed);
        return c.redirect(`/research/imports/${job.id}`, 303);
      }
      const file = body.file;
      if (!(file instanceof File) || file.size === 0)
        throw new AppError('invalid_input', 'Choose a CVE file to import', {
          issues: [{ path: 'file', message: 'required' }],
        });
      const job = await web.research.importUpload(actor, file.name, file.stream());
      return c.redirect(`/research/imports/${job.id}`, 303);
    } catch (e) {
      if (!isAppError(e) || !['invalid_input', 'not_found'].includes(e.code)) throw e;
      c.status(422);
      return page(c, { importError: e.message });
    }
  });

  app.get('/imports/:id', admin, (c) => {
    const job = web.research.job(c.req.param('id'));
    // htmx polls a running job: the job's own part of the page is enough.
    if (c.req.header('HX-Request')) return c.html(<ImportJobView job={job} />);
    return c.render(<ImportJobPage job={job} />, { title: `CVE import ${job.name}` });
  });

  app.post('/llm', admin, async (c) => {
    const fields = await formFields(c);
    if (fields.action === 'remove') {
      web.research.setLlm(actorOf(c), null);
      return c.redirect('/research', 303);
    }
    const parsed = llmInputSchema.safeParse(fields);
    if (!parsed.success) {
      c.status(422);
      return page(c, { llmForm: { values: keepValues(fields, ['key']), errors: errorsOf(parsed.error.issues) } });
    }
    try {
      web.research.setLlm(actorOf(c), {
        ...parsed.data,
        ...(parsed.data.key ? { key: parsed.data.key } : { key: undefined }),
      });
    } catch (e) {
      if (!isAppError(e) || e.code !== 'invalid_input') throw e;
      c.status(422);
      // A URL refused for the credentials in it is not written back into the page.
      const refused = (e.issues ?? []).some((i) => i.path === 'baseUrl');
      return page(c, {
        llmForm: {
          values: keepValues(fields, refused ? ['key', 'baseUrl'] : ['key']),
          errors: errorsOf((e.issues ?? []).map((i) => ({ ...i, path: i.path.replace(/^llm\./, '') }))),
          message: e.message,
        },
      });
    }
    return c.redirect('/research', 303);
  });

  const cvePage = (c: Ctx, draft?: DraftModel, draftError?: string) => {
    const { cve, modules } = web.research.cve(c.req.param('id')!);
    return c.render(
      <CvePage
        cve={cveRow(cve)}
        modules={modules.map((m) => ({
          id: m.module.id,
          title: m.module.title,
          score: m.score,
          reasons: m.reasons.map((r) => (r.kind === 'cve' ? r.cve : r.kind === 'product' ? r.product : r.cwe)),
        }))}
        llm={web.research.llmSettings() !== null}
        csrf={c.get('csrf')}
        draft={draft}
        draftError={draftError}
      />,
      { title: cve.id },
    );
  };
  const modulePage = (c: Ctx, draft?: DraftModel, draftError?: string) => {
    const d = moduleDetail(web.research.module(c.req.param('id')!));
    return c.render(
      <ModulePage
        module={d}
        llm={web.research.llmSettings() !== null}
        csrf={c.get('csrf')}
        draft={draft}
        draftError={draftError}
      />,
      { title: d.title },
    );
  };
  /** A draft, or the page with the endpoint's error (its own failure, not the user's): shown, not thrown. */
  const drafted = async (c: Ctx, target: { module: string } | { cve: string }, render: typeof cvePage) => {
    try {
      const d = await web.research.draft(actorOf(c), target, c.req.raw.signal);
      return render(c, { label: d.label, text: d.text, model: d.model, createdAt: d.createdAt });
    } catch (e) {
      if (!isAppError(e) || e.code === 'internal') throw e;
      c.status(e.status === 404 ? 404 : 502);
      return render(c, undefined, `${errorMessage(e)}${e.hint ? ` ${e.hint}` : ''}`);
    }
  };

  app.get('/cves/:id', staff, (c) => cvePage(c));
  app.post('/cves/:id/draft', staff, (c) => drafted(c, { cve: c.req.param('id') }, cvePage));
  app.get('/modules/:id', staff, (c) => modulePage(c));
  app.post('/modules/:id/draft', staff, (c) => drafted(c, { module: c.req.param('id') }, modulePage));

  return app;
}
