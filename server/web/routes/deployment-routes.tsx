// /deployments: the list, a deployment's page and its live stream, its actions (cancel, retry, destroy), its topology,
// and its machines (machine-routes, mounted under /deployments/:id/machines). Long work never blocks a request:
// an action starts in the background and the page follows it over SSE.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { DeploymentState } from '../../model/states.ts';
import { DeploymentsPage } from '../../../views/pages/dashboard.tsx';
import { DeploymentPage } from '../../../views/pages/deployment.tsx';
import { TopologyPage } from '../../../views/pages/topology.tsx';
import { machinePageSize } from '../../../views/props.ts';
import { actorOf, inBackground, isRole, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { deploymentModel, deploymentRows, recentEvents, scopeFor, type MachineWindow } from '../deployment-model.ts';
import { formFields } from '../forms.ts';
import { holdOpen, type Live, type LiveMessage } from '../live.tsx';
import { allow } from '../security.ts';
import { topologyOf } from '../topology-layout.ts';
import { machineRoutes } from './machine-routes.tsx';

/** The machines a page shows, from ?instance= and ?offset=. */
function machineWindow(c: Ctx): MachineWindow {
  const instance = Number(c.req.query('instance'));
  const offset = Number(c.req.query('offset'));
  return {
    ...(Number.isInteger(instance) && instance > 0 ? { instance } : {}),
    offset: Number.isInteger(offset) && offset > 0 ? offset : 0,
    limit: machinePageSize,
  };
}

export type DeploymentAction = 'cancel' | 'retry' | 'destroy';

/**
 * Starts an action in the background after the domain has checked (and recorded) it; shared with the API. A destroy
 * of a deployment with trainees assigned needs `confirm`.
 */
export function startAction(
  c: Ctx,
  web: WebDomain,
  action: DeploymentAction,
  id: string,
  opts: { confirm?: boolean } = {},
): void {
  const done: Promise<DeploymentState> =
    action === 'destroy' ? web.deployments.destroy(actorOf(c), id, opts) : web.deployments[action](actorOf(c), id);
  inBackground(web, id, () => done);
}

export function deploymentRoutes(web: WebDomain, live: Live) {
  const app = new Hono<AppEnv>();

  app.get('/', allow(), (c) => {
    const viewer = c.get('viewer')!;
    return c.render(<DeploymentsPage rows={deploymentRows(web, viewer, 500)} role={viewer.user.role} />, {
      title: 'Deployments',
    });
  });

  const page = (c: Ctx, confirmError?: string) => {
    const id = c.req.param('id')!;
    const scope = scopeFor(web, c.get('viewer')!, id);
    const model = deploymentModel(web, id, scope, machineWindow(c));
    return c.render(
      <DeploymentPage
        model={model}
        log={recentEvents(web, id, scope)}
        csrf={c.get('csrf')}
        canManage={isRole(c.get('viewer'), 'admin', 'instructor')}
        confirmError={confirmError}
      />,
      { title: `Deployment ${id}` },
    );
  };

  app.get('/:id', allow(), (c) => page(c));

  app.get('/:id/live', allow(), (c) => {
    const id = c.req.param('id');
    const viewer = c.get('viewer')!;
    const scope = scopeFor(web, viewer, id);
    // A reconnecting EventSource sends Last-Event-ID; a fresh page passes the id it was rendered at.
    const after = Number(c.req.header('Last-Event-ID') ?? c.req.query('after') ?? 0) || 0;
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      let queue: Promise<unknown> = Promise.resolve();
      const send = (m: LiveMessage) => {
        queue = queue.then(() => stream.write(m.frame)).catch(() => undefined);
      };
      const stop = await live.follow(id, after, {
        scope,
        window: machineWindow(c),
        canManage: isRole(viewer, 'admin', 'instructor'),
        csrf: c.get('csrf'),
        send,
      });
      await holdOpen(stream, stop);
    });
  });

  for (const action of ['cancel', 'retry', 'destroy'] as const) {
    app.post(`/:id/${action}`, allow('admin', 'instructor'), async (c) => {
      const id = c.req.param('id');
      if (action === 'destroy') {
        const fields = await formFields(c);
        // A wrong id: the page again, the confirmation open with the error at its field (nothing destroyed).
        if (fields.confirm?.trim() !== id) return (c.status(422), page(c, `type ${id} exactly to destroy it`));
      }
      // Typing the id is the explicit confirmation, also when trainees are assigned (the page names them).
      startAction(c, web, action, id, { confirm: action === 'destroy' });
      return c.redirect(`/deployments/${id}`, 303);
    });
  }

  app.get('/:id/topology', allow(), async (c) => {
    const id = c.req.param('id');
    const scope = scopeFor(web, c.get('viewer')!, id);
    const model = deploymentModel(web, id, scope);
    // Console and terminal links under each drawing; a trainee gets none for the range router.
    const remote = {
      console: await web.access.consolesOffered(id),
      router: isRole(c.get('viewer'), 'admin', 'instructor'),
    };
    return c.render(<TopologyPage head={model.head} instances={topologyOf(model)} remote={remote} />, {
      title: `Topology ${id}`,
    });
  });

  app.route('/:id/machines', machineRoutes(web));

  return app;
}
