// /overseer: the jobs with their last runs (and "run now", which runs in the background), the open findings, the
// auto-fix policy per platform and the quotas per user (both set by an admin). Instructors see it; admins change it.
import { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { OverseerPage } from '../../../views/pages/overseer.tsx';
import type { QuotaRow } from '../../../views/props.ts';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { formFields } from '../forms.ts';
import { policySchema, quotaSchema } from '../overseer-schemas.ts';
import { allow } from '../security.ts';

export function overseerRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();

  const page = (c: Ctx, message?: string) => {
    const platforms = new Map(web.platforms.list().map((p) => [p.id, p]));
    const quotas = new Map(web.quotas.list().map((q) => [q.userId, q]));
    const rows: QuotaRow[] = web.users
      .list()
      .filter((u) => u.role !== 'trainee' && !u.disabled)
      .map((u) => {
        const q = quotas.get(u.id);
        return {
          userId: u.id,
          username: u.username,
          role: u.role,
          machines: q?.machines ?? null,
          vcpus: q?.vcpus ?? null,
          memoryMb: q?.memoryMb ?? null,
          deployments: q?.deployments ?? null,
          usage: q?.usage ?? web.quotas.usage(u.id),
        };
      });
    return c.render(
      <OverseerPage
        jobs={web.overseer.status()}
        findings={web.overseer.findings.list({ state: 'open' })}
        resolved={web.overseer.findings.list({ state: 'resolved' }).length}
        policies={web.overseer.policies().map((p) => ({
          ...p,
          platformName: platforms.get(p.platformId)?.name ?? p.platformId,
          platformKind: platforms.get(p.platformId)?.kind ?? '',
        }))}
        quotas={rows}
        role={c.get('viewer')!.user.role}
        csrf={c.get('csrf')}
        message={message}
      />,
      { title: 'Overseer' },
    );
  };

  app.get('/', allow('admin', 'instructor'), (c) => page(c));

  app.post('/jobs/:name/run', allow('admin', 'instructor'), (c) => {
    const name = c.req.param('name');
    // Audited and started now; the page shows it running and, once reloaded, its result.
    const run = web.overseer.run(actorOf(c), name);
    run.catch(() => undefined);
    return c.redirect(`/overseer#job-${name}`, 303);
  });

  app.post('/policies/:platform', allow('admin'), async (c) => {
    const r = policySchema.safeParse(await formFields(c));
    if (!r.success) {
      c.status(422);
      return page(
        c,
        `Unable to save the policy: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    web.overseer.setPolicy(actorOf(c), c.req.param('platform'), r.data);
    return c.redirect('/overseer', 303);
  });

  app.post('/quotas/:user', allow('admin'), async (c) => {
    const r = quotaSchema.safeParse(await formFields(c));
    if (!r.success) {
      c.status(422);
      return page(
        c,
        `Unable to save the quota: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const userId = c.req.param('user');
    if (!web.users.list().some((u) => u.id === userId))
      throw new AppError('not_found', `User ${userId} does not exist`);
    if (Object.values(r.data).every((v) => v === null)) web.quotas.clear(actorOf(c), userId);
    else web.quotas.set(actorOf(c), userId, r.data);
    return c.redirect('/overseer', 303);
  });

  return app;
}
