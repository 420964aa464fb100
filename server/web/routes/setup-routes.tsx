// /setup, the first-boot wizard: setup code + admin account, a platform (simulator preselected, Test connection runs
// the driver's real check), pools, done. Gone once finished (the setup gate answers 404 under /setup).
import { Hono } from 'hono';
import { removeSetupCodeFile } from '../../accounts/setup-state.ts';
import { AppError } from '../../errors.ts';
import type { PlatformKind } from '../../model/platform-kind.ts';
import { SetupAdminPage, SetupDonePage, SetupPlatformPage, SetupPoolsPage } from '../../../views/pages/setup.tsx';
import { ConnectionReportView } from '../../../views/partials/connection-report-view.tsx';
import type { ConnectionReport } from '../../model/connection-report.ts';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { emptyForm, formFields, formFromError, parseFields, type FormState } from '../forms.ts';
import { configFromFields, fieldsFromConfig, platformKindForms } from '../platform-fields.ts';
import { mountPoolForms } from '../pool-forms.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { platformNameSchema, setupAdminSchema } from '../schemas.ts';
import { allow, open } from '../security.ts';
import { startSession } from './auth-routes.tsx';

export function setupRoutes(web: WebDomain, limiter: RateLimiter) {
  const app = new Hono<AppEnv>();
  const title = 'Setup';

  app.get('/', open(), (c) => {
    if (web.users.count() > 0)
      return c.redirect(c.get('viewer')?.user.role === 'admin' ? '/setup/platform' : '/login?next=/setup', 303);
    return c.render(<SetupAdminPage csrf={c.get('csrf')} values={{}} errors={{}} />, { title });
  });

  app.post('/', open(), async (c) => {
    if (web.users.count() > 0)
      throw new AppError('conflict', 'The admin account already exists', { hint: 'Sign in to continue the setup.' });
    const fields = await formFields(c);
    const secretFields = ['password', 'confirm', 'code'];
    const render = (form: FormState, status: 401 | 422 | 429) => {
      c.status(status);
      return c.render(<SetupAdminPage csrf={c.get('csrf')} {...form} />, { title });
    };
    const keys = [`setup:${c.get('ip')}`];
    const wait = limiter.retryAfter(keys);
    if (wait > 0)
      return render(
        {
          values: { username: fields.username },
          errors: {},
          message: `Too many wrong codes. Try again in ${Math.ceil(wait / 60_000)} minute(s).`,
        },
        429,
      );
    const parsed = parseFields(setupAdminSchema, fields, secretFields);
    if ('form' in parsed) return render(parsed.form, 422);
    if (!web.setup.checkCode(actorOf(c), parsed.data.code)) {
      limiter.fail(keys);
      return render(
        {
          values: { username: fields.username },
          errors: { code: 'this is not the setup code; look in setup-code.txt in the data folder' },
        },
        401,
      );
    }
    const user = await web.users.create(
      { ...actorOf(c), username: '(setup code)' },
      { username: parsed.data.username, password: parsed.data.password, role: 'admin' },
    );
    web.setup.consumeCode();
    removeSetupCodeFile(web.config.dataDir);
    startSession(c, web, user);
    return c.redirect('/setup/platform', 303);
  });

  const platformPage = (c: Ctx, kind: string, form: FormState, report?: ConnectionReport) => {
    const kinds = platformKindForms();
    const selected = kinds.some((k) => k.kind === kind) ? kind : 'simulator';
    let values = form.values;
    if (Object.keys(values).length === 0) {
      const existing = web.platforms.list().find((p) => p.kind === selected);
      if (existing) values = { name: existing.name, ...fieldsFromConfig(existing.config) };
    }
    return c.render(
      <SetupPlatformPage
        csrf={c.get('csrf')}
        kinds={kinds}
        selected={selected}
        values={values}
        errors={form.errors}
        message={form.message}
        report={report}
      />,
      { title },
    );
  };

  app.get('/platform', allow('admin'), (c) => platformPage(c, c.req.query('kind') ?? 'simulator', emptyForm));

  const readPlatformForm = (fields: Record<string, string>) => {
    const kind = (platformKindForms().some((k) => k.kind === fields.kind) ? fields.kind : 'simulator') as PlatformKind;
    const { config, errors } = configFromFields(kind, fields);
    const name = platformNameSchema.safeParse(fields.name ?? '');
    if (!name.success) errors.name = name.error.issues[0]!.message;
    return { kind, config, errors, name: name.success ? name.data : '', secret: fields.secret || undefined };
  };

  app.post('/platform/test', allow('admin'), async (c) => {
    const f = readPlatformForm(await formFields(c));
    const existing = web.platforms.list().find((p) => p.name === f.name && p.kind === f.kind);
    const report = await web.platforms.probe(actorOf(c), {
      kind: f.kind,
      name: f.name,
      config: f.config,
      ...(f.secret ? { secret: f.secret } : {}),
      ...(existing ? { existingId: existing.id } : {}),
    });
    return c.html(<ConnectionReportView report={report} />);
  });

  app.post('/platform', allow('admin'), async (c) => {
    const fields = await formFields(c);
    const f = readPlatformForm(fields);
    if (Object.keys(f.errors).length > 0) {
      c.status(422);
      return platformPage(c, f.kind, { values: { ...fields, secret: undefined }, errors: f.errors });
    }
    try {
      const existing = web.platforms.list().find((p) => p.name === f.name);
      if (existing && existing.kind === f.kind)
        web.platforms.update(actorOf(c), existing.id, { config: f.config, ...(f.secret ? { secret: f.secret } : {}) });
      else
        web.platforms.add(actorOf(c), {
          name: f.name,
          kind: f.kind,
          config: f.config,
          ...(f.secret ? { secret: f.secret } : {}),
        });
    } catch (e) {
      const form = formFromError(e, fields, ['secret']);
      form.errors = Object.fromEntries(
        Object.entries(form.errors).map(([k, v]) => [
          k === '_form' ? k : k === 'name' || k === 'secret' ? k : `config.${k}`,
          v,
        ]),
      );
      c.status(422);
      return platformPage(c, f.kind, form);
    }
    return c.redirect('/setup/pools', 303);
  });

  const poolsPage = (c: Ctx, cidrForm: FormState = emptyForm, vlanForm: FormState = emptyForm) =>
    c.render(
      <SetupPoolsPage
        csrf={c.get('csrf')}
        pools={web.ipam.listPools()}
        cidrForm={cidrForm}
        vlanForm={vlanForm}
        canEdit
      />,
      { title },
    );

  app.get('/pools', allow('admin'), (c) => poolsPage(c));
  mountPoolForms(app, web, '/setup/pools', allow('admin'), poolsPage);
  app.post('/pools/done', allow('admin'), (c) => c.redirect('/setup/done', 303));

  app.get('/done', allow('admin'), (c) => {
    web.library.seedBundled();
    return c.render(
      <SetupDonePage
        csrf={c.get('csrf')}
        platforms={web.platforms.list().map((p) => p.name)}
        scenarios={web.library.list().map((s) => s.name)}
      />,
      { title },
    );
  });

  app.post('/finish', allow('admin'), (c) => {
    web.library.seedBundled();
    web.setup.complete(actorOf(c));
    removeSetupCodeFile(web.config.dataDir);
    return c.redirect('/', 303);
  });

  return app;
}
