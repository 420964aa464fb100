// /settings: platforms (secrets kept unless a new one is typed; their packer template builds), pools, users,
// API tokens, audit log, HTTPS certificate.
import { Hono } from 'hono';
import { AppError, isAppError } from '../../errors.ts';
import type { PlatformKind } from '../../model/platform-kind.ts';
import {
  AuditTab,
  PlatformEditTab,
  PlatformsTab,
  PoolsTab,
  TlsTab,
  TokensTab,
  UsersTab,
} from '../../../views/pages/settings.tsx';
import { TemplateBuildsPage } from '../../../views/pages/template-builds.tsx';
import { ConnectionReportView } from '../../../views/partials/connection-report-view.tsx';
import { buildsTemplates } from '../../orchestrator/template-builds.ts';
import { actorOf, isRole, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { emptyForm, formFields, formFromError, parseFields, type FormState } from '../forms.ts';
import { configFromFields, fieldsFromConfig, platformKindForms } from '../platform-fields.ts';
import { mountPoolForms } from '../pool-forms.ts';
import { platformNameSchema, tokenCreateSchema, userCreateFormSchema, userUpdateSchema } from '../schemas.ts';
import { allow } from '../security.ts';

const prefixConfigErrors = (form: FormState): FormState => ({
  ...form,
  errors: Object.fromEntries(
    Object.entries(form.errors).map(([k, v]) => [
      k === '_form' || k === 'name' || k === 'secret' || k.startsWith('config.') ? k : `config.${k}`,
      v,
    ]),
  ),
});

export function settingsRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const admin = allow('admin');

  app.get('/', admin, (c) => c.redirect('/settings/platforms', 303));

  // ------------------------------------------------------------------------------------------------ platforms
  const platformsPage = (c: Ctx, kind: string, form: FormState = emptyForm) => {
    const kinds = platformKindForms();
    return c.render(
      <PlatformsTab
        platforms={web.platforms.list()}
        kinds={kinds}
        selected={kinds.some((k) => k.kind === kind) ? kind : 'simulator'}
        form={form}
        csrf={c.get('csrf')}
      />,
      { title: 'Platforms' },
    );
  };
  app.get('/platforms', admin, (c) => platformsPage(c, c.req.query('kind') ?? 'simulator'));

  const readNew = (fields: Record<string, string>) => {
    const kind = (platformKindForms().some((k) => k.kind === fields.kind) ? fields.kind : 'simulator') as PlatformKind;
    const { config, errors } = configFromFields(kind, fields);
    const name = platformNameSchema.safeParse(fields.name ?? '');
    if (!name.success) errors.name = name.error.issues[0]!.message;
    return { kind, config, errors, name: name.success ? name.data : '', secret: fields.secret || undefined };
  };

  app.post('/platforms', admin, async (c) => {
    const fields = await formFields(c);
    const f = readNew(fields);
    if (Object.keys(f.errors).length > 0)
      return (c.status(422), platformsPage(c, f.kind, { values: { ...fields, secret: undefined }, errors: f.errors }));
    try {
      web.platforms.add(actorOf(c), {
        name: f.name,
        kind: f.kind,
        config: f.config,
        ...(f.secret ? { secret: f.secret } : {}),
      });
    } catch (e) {
      return (c.status(422), platformsPage(c, f.kind, prefixConfigErrors(formFromError(e, fields, ['secret']))));
    }
    return c.redirect('/settings/platforms', 303);
  });

  app.post('/platforms/test', admin, async (c) => {
    const f = readNew(await formFields(c));
    const report = await web.platforms.probe(actorOf(c), {
      kind: f.kind,
      name: f.name,
      config: f.config,
      ...(f.secret ? { secret: f.secret } : {}),
    });
    return c.html(<ConnectionReportView report={report} />);
  });

  const editPage = (c: Ctx, id: string, form?: FormState) => {
    const platform = web.platforms.get(id);
    const kind = platformKindForms().find((k) => k.kind === platform.kind);
    if (!kind)
      throw new AppError('conflict', `The ${platform.kind} driver is not available in this version`, {
        hint: 'The platform is kept; it cannot be edited here.',
      });
    return c.render(
      <PlatformEditTab
        platform={platform}
        kind={kind}
        form={form ?? { values: fieldsFromConfig(platform.config), errors: {} }}
        csrf={c.get('csrf')}
        saved={c.req.query('saved') === '1'}
        builtIn={web.platforms.isBuiltIn(platform)}
        templateBuilds={buildsTemplates(platform.kind)}
      />,
      { title: platform.name },
    );
  };
  app.get('/platforms/:id', admin, (c) => editPage(c, c.req.param('id')));

  // Packer template builds: commands and variables files (downloaded from the audited API route).
  app.get('/platforms/:id/templates', admin, (c) => {
    const list = web.templateBuilds.list(c.req.param('id'));
    return c.render(
      <TemplateBuildsPage
        platform={list.platform}
        installDir={list.installDir}
        builds={list.builds.map((b) => ({
          ...b,
          varsUrl: `/api/v1/platforms/${list.platform.id}/template-builds/${b.template}/vars.json`,
        }))}
      />,
      { title: `${list.platform.name}: templates` },
    );
  });

  app.post('/platforms/:id', admin, async (c) => {
    const id = c.req.param('id');
    const platform = web.platforms.get(id);
    const fields = await formFields(c);
    const { config, errors } = configFromFields(platform.kind, fields);
    if (Object.keys(errors).length > 0)
      return (c.status(422), editPage(c, id, { values: { ...fields, secret: undefined }, errors }));
    try {
      // The stored secret stays unless a new one was typed.
      web.platforms.update(actorOf(c), platform.id, { config, ...(fields.secret ? { secret: fields.secret } : {}) });
    } catch (e) {
      return (c.status(422), editPage(c, id, prefixConfigErrors(formFromError(e, fields, ['secret']))));
    }
    return c.redirect(`/settings/platforms/${platform.id}?saved=1`, 303);
  });

  app.post('/platforms/:id/delete', admin, async (c) => {
    const id = c.req.param('id');
    const fields = await formFields(c);
    const refused = (status: 409 | 422, message: string) => (
      c.status(status),
      editPage(c, id, { values: fieldsFromConfig(web.platforms.get(id).config), errors: {}, message })
    );
    if (fields.confirm !== 'yes') return refused(422, 'Tick the box to confirm the removal.');
    try {
      web.platforms.remove(actorOf(c), id);
    } catch (e) {
      if (!isAppError(e) || e.code !== 'conflict') throw e;
      return refused(409, e.hint ? `${e.message}. ${e.hint}` : e.message);
    }
    return c.redirect('/settings/platforms', 303);
  });

  app.post('/platforms/:id/test', admin, async (c) => {
    const platform = web.platforms.get(c.req.param('id'));
    const fields = await formFields(c);
    const { config } = configFromFields(platform.kind, fields);
    const report = await web.platforms.probe(actorOf(c), {
      kind: platform.kind,
      name: platform.name,
      config,
      ...(fields.secret ? { secret: fields.secret } : {}),
      existingId: platform.id,
    });
    return c.html(<ConnectionReportView report={report} />);
  });

  // ------------------------------------------------------------------------------------------------ pools
  const poolsPage = (c: Ctx, cidrForm: FormState = emptyForm, vlanForm: FormState = emptyForm) =>
    c.render(
      <PoolsTab csrf={c.get('csrf')} pools={web.ipam.listPools()} cidrForm={cidrForm} vlanForm={vlanForm} canEdit />,
      { title: 'Pools' },
    );
  app.get('/pools', admin, (c) => poolsPage(c));
  mountPoolForms(app, web, '/settings/pools', admin, poolsPage);

  // ------------------------------------------------------------------------------------------------ users
  const usersPage = (c: Ctx, form: FormState = emptyForm) =>
    c.render(<UsersTab users={web.users.list()} form={form} csrf={c.get('csrf')} selfId={c.get('viewer')!.user.id} />, {
      title: 'Users',
    });
  app.get('/users', admin, (c) => usersPage(c));
  app.post('/users', admin, async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(userCreateFormSchema, fields, ['password', 'confirm']);
    if ('form' in parsed) return (c.status(422), usersPage(c, parsed.form));
    try {
      await web.users.create(actorOf(c), parsed.data);
    } catch (e) {
      return (c.status(422), usersPage(c, formFromError(e, fields, ['password', 'confirm'])));
    }
    return c.redirect('/settings/users', 303);
  });
  app.post('/users/:id', admin, async (c) => {
    const parsed = userUpdateSchema.safeParse(await formFields(c));
    if (!parsed.success)
      throw new AppError(
        'invalid_input',
        `Invalid change: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    await web.users.update(actorOf(c), c.req.param('id'), parsed.data);
    return c.redirect('/settings/users', 303);
  });

  // ------------------------------------------------------------------------------------------------ tokens
  const serverUrl = (c: Ctx) => new URL(c.req.url).origin;
  const tokensPage = (c: Ctx, created?: string, form: FormState = emptyForm) => {
    const viewer = c.get('viewer')!;
    const adminView = isRole(viewer, 'admin');
    return c.render(
      <TokensTab
        tokens={web.tokens.list(adminView ? undefined : viewer.user.id)}
        created={created}
        form={form}
        csrf={c.get('csrf')}
        admin={adminView}
        serverUrl={serverUrl(c)}
      />,
      { title: 'API tokens' },
    );
  };
  app.get('/tokens', allow(), (c) => tokensPage(c));
  app.post('/tokens', allow(), async (c) => {
    const fields = await formFields(c);
    const parsed = parseFields(tokenCreateSchema, fields);
    if ('form' in parsed) return (c.status(422), tokensPage(c, undefined, parsed.form));
    const { token } = web.tokens.create(actorOf(c), c.get('viewer')!.user.id, parsed.data.name);
    return tokensPage(c, token);
  });
  app.post('/tokens/:id/revoke', allow(), (c) => {
    const viewer = c.get('viewer')!;
    const t = web.tokens.get(c.req.param('id'));
    if (!isRole(viewer, 'admin') && t.userId !== viewer.user.id)
      throw new AppError('not_found', `API token ${t.id} does not exist`);
    web.tokens.revoke(actorOf(c), t.id);
    return c.redirect('/settings/tokens', 303);
  });

  // ------------------------------------------------------------------------------------------------ audit, HTTPS
  const auditPage = 100;
  app.get('/audit', admin, (c) => {
    const raw = c.req.query('before');
    const before = raw === undefined ? undefined : Number(raw);
    if (before !== undefined && !(Number.isSafeInteger(before) && before > 0))
      throw new AppError(
        'invalid_input',
        `Unable to page the audit log: query parameter "before" must be a positive entry id, not "${raw}"`,
      );
    // One entry more than a page says whether there are older ones.
    const entries = web.audit.list(auditPage + 1, before);
    const older = entries.length > auditPage ? entries[auditPage - 1]!.id : undefined;
    return c.render(<AuditTab entries={entries.slice(0, auditPage)} older={older} paged={before !== undefined} />, {
      title: 'Audit log',
    });
  });

  const tlsPage = (c: Ctx, form: FormState = emptyForm) =>
    c.render(
      <TlsTab info={web.options.tls?.info()} form={form} csrf={c.get('csrf')} saved={c.req.query('saved') === '1'} />,
      { title: 'HTTPS' },
    );
  app.get('/tls', admin, (c) => tlsPage(c));
  app.post('/tls', admin, async (c) => {
    const tls = web.options.tls;
    if (!tls)
      throw new AppError('conflict', 'This appliance serves plain HTTP', {
        hint: 'Start it with GLASSDOME_TLS=on to serve HTTPS.',
      });
    const fields = await formFields(c);
    const errors: Record<string, string> = {};
    if (!fields.cert?.includes('BEGIN CERTIFICATE')) errors.cert = 'choose a PEM certificate file';
    if (!fields.key?.includes('PRIVATE KEY')) errors.key = 'choose a PEM private key file';
    if (Object.keys(errors).length > 0) return (c.status(422), tlsPage(c, { values: {}, errors }));
    try {
      tls.replace(actorOf(c), fields.cert!, fields.key!);
    } catch (e) {
      if (!isAppError(e)) throw e;
      return (c.status(422), tlsPage(c, { values: {}, errors: {}, message: e.message }));
    }
    return c.redirect('/settings/tls?saved=1', 303);
  });

  return app;
}
