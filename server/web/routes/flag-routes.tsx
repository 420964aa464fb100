// /deployments/:id/flags: a deployment's flags per instance, for its instructors and admins only (a trainee is refused
// before the deployment is looked at); the domain records every view in the audit log.
import { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { FlagsPage } from '../../../views/pages/flags.tsx';
import { actorOf, type AppEnv, type WebDomain } from '../context.ts';
import { flagQuerySchema } from '../kb-schemas.ts';
import { allow } from '../security.ts';

export function flagRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();

  app.get('/', allow('admin', 'instructor'), (c) => {
    const id = c.req.param('id')!;
    const parsed = flagQuerySchema.safeParse({ instance: c.req.query('instance') });
    if (!parsed.success)
      throw new AppError('invalid_input', `Invalid query: ${parsed.error.issues[0]!.message}`, {
        issues: [{ path: 'instance', message: parsed.error.issues[0]!.message }],
      });
    const d = web.deployments.get(id);
    const instances = parsed.data.instance;
    const rows = web.flags.list(actorOf(c), id, instances ? { instances } : {});
    return c.render(
      <FlagsPage
        deploymentId={id}
        scenarioName={d.scenarioName}
        instances={d.instances}
        instance={instances?.length === 1 ? instances[0] : undefined}
        rows={rows}
      />,
      { title: `Flags ${id}` },
    );
  });

  return app;
}
