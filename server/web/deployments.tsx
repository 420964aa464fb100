// The deployment page and its live stream, the actions on a deployment (cancel, retry, destroy) and its topology.
// Long work never blocks a request: actions start the runner in the background and return to the page.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { AppError, errorMessage } from '../errors.ts';
import { DeploymentPage } from '../../views/pages/deployment.tsx';
import { TopologyPage } from '../../views/pages/topology.tsx';
import { actorOf, isRole, type AppEnv, type Ctx, type WebDomain } from './context.ts';
import { deploymentModel, pageSize, recentEvents, scopeFor, type MachineWindow } from './deployment-view.ts';
import { formFields } from './forms.ts';
import { holdOpen, type Live, type LiveMessage } from './live.tsx';
import { allow } from './security.ts';
import { topologyOf } from './topology.ts';

/** The machines a page shows, from ?instance= and ?offset=. */
function machineWindow(c: Ctx): MachineWindow {
  const instance = Number(c.req.query('instance'));
  const offset = Number(c.req.query('offset'));
  return { ...(Number.isInteger(instance) && instance > 0 ? { instance } : {}), offset: Number.isInteger(offset) && offset > 0 ? offset : 0, limit: pageSize };
}

/** Starts work in the background; a failure becomes an event on the deployment, never an unhandled rejection. */
export function inBackground(web: WebDomain, id: string, work: () => Promise<unknown>): void {
  void Promise.resolve()
    .then(work)
    .catch((e) => web.events.publish(id, 'log', `background work failed: ${errorMessage(e)}`));
}

const states = {
  cancel: ['pending', 'deploying'],
  retry: ['failed', 'cancelled'],
};

/** The actions shared by the pages and the API; each checks the state first so the user gets a clear refusal. */
export function deploymentActions(web: WebDomain) {
  const stateOf = (id: string) => deploymentModel(web, id, 'all').head.state;
  return {
    cancel(c: Ctx, id: string) {
      const s = stateOf(id);
      if (!states.cancel.includes(s)) throw new AppError('conflict', `Deployment ${id} is ${s}; only a deployment in progress can be cancelled`);
      inBackground(web, id, () => web.runner.cancel(id));
      web.audit.record(actorOf(c), 'deployment.cancel', `deployment:${id}`);
    },
    retry(c: Ctx, id: string) {
      const s = stateOf(id);
      if (!states.retry.includes(s)) throw new AppError('conflict', `Deployment ${id} is ${s}; only failed or cancelled deployments can be retried`);
      const done = web.runner.retryFailed(id);
      done.catch((e) => web.events.publish(id, 'log', `retry failed: ${errorMessage(e)}`));
      web.audit.record(actorOf(c), 'deployment.retry', `deployment:${id}`);
    },
    destroy(c: Ctx, id: string) {
      const s = stateOf(id);
      if (s === 'destroyed' || s === 'destroying') throw new AppError('conflict', `Deployment ${id} is already ${s}`);
      inBackground(web, id, () => web.runner.destroy(id));
      web.audit.record(actorOf(c), 'deployment.destroy', `deployment:${id}`);
    },
  };
}

export function deploymentRoutes(web: WebDomain, live: Live) {
  const app = new Hono<AppEnv>();
  const actions = deploymentActions(web);

  app.get('/deployments/:id', allow(), (c) => {
    const id = c.req.param('id');
    const scope = scopeFor(web, c.get('viewer')!, id);
    const model = deploymentModel(web, id, scope, machineWindow(c));
    return c.render(<DeploymentPage model={model} log={recentEvents(web, id, scope)} csrf={c.get('csrf')} canManage={isRole(c.get('viewer'), 'admin', 'instructor')} />, { title: `Deployment ${id}` });
  });

  app.get('/deployments/:id/live', allow(), (c) => {
    const id = c.req.param('id');
    const viewer = c.get('viewer')!;
    const scope = scopeFor(web, viewer, id);
    // A reconnecting EventSource sends Last-Event-ID; a fresh page passes the id it was rendered at.
    const after = Number(c.req.header('Last-Event-ID') ?? c.req.query('after') ?? 0) || 0;
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      let queue = Promise.resolve();
      const send = (m: LiveMessage) => {
        queue = queue.then(() => stream.writeSSE({ id: String(m.id), event: m.event, data: m.data })).catch(() => undefined);
      };
      const stop = await live.follow(id, after, { scope, window: machineWindow(c), canManage: isRole(viewer, 'admin', 'instructor'), csrf: c.get('csrf'), send });
      await holdOpen(stream, stop);
    });
  });

  for (const action of ['cancel', 'retry', 'destroy'] as const) {
    app.post(`/deployments/:id/${action}`, allow('admin', 'instructor'), async (c) => {
      const id = c.req.param('id');
      if (action === 'destroy') {
        const fields = await formFields(c);
        if (fields.confirm?.trim() !== id) throw new AppError('invalid_input', `Type the deployment id ${id} to confirm destroying it`, { issues: [{ path: 'confirm', message: `type ${id}` }] });
      }
      actions[action](c, id);
      return c.redirect(`/deployments/${id}`, 303);
    });
  }

  app.get('/deployments/:id/topology', allow(), (c) => {
    const id = c.req.param('id');
    const scope = scopeFor(web, c.get('viewer')!, id);
    const model = deploymentModel(web, id, scope);
    return c.render(<TopologyPage head={model.head} instances={topologyOf(model)} />, { title: `Topology ${id}` });
  });

  return app;
}
