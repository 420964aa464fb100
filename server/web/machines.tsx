// The machine view and its actions: power for everyone allowed to see the machine (a trainee: their own),
// snapshots for instructors and admins where the platform supports them. Credentials only for allowed viewers.
import { Hono } from 'hono';
import { AppError, errorMessage } from '../errors.ts';
import { MachinePage } from '../../views/pages/machine.tsx';
import { actorOf, isRole, type AppEnv, type Ctx, type Viewer, type WebDomain } from './context.ts';
import { deploymentModel, scopeFor } from './deployment-view.ts';
import { emptyForm, formFields, parseFields, type FormState } from './forms.ts';
import { allow } from './security.ts';
import { powerSchema, snapshotSchema } from './schemas.ts';

/** The machine as the viewer may see it, or not_found (also for another trainee's machine). */
export function visibleMachine(web: WebDomain, viewer: Viewer, deploymentId: string, key: string) {
  const scope = scopeFor(web, viewer, deploymentId);
  const model = deploymentModel(web, deploymentId, scope);
  const m = model.machines.find((x) => x.key === key);
  if (!m) throw new AppError('not_found', `Machine "${key}" is not part of deployment ${deploymentId}`);
  return m;
}

/** Everything the machine view shows; also the API's machine detail. */
export async function machineDetail(web: WebDomain, viewer: Viewer, deploymentId: string, key: string) {
  const m = visibleMachine(web, viewer, deploymentId, key);
  const [state, supportsSnapshots] = await Promise.all([web.machines.state(deploymentId, key), web.machines.supportsSnapshots(deploymentId)]);
  const canSnapshot = supportsSnapshots && isRole(viewer, 'admin', 'instructor');
  const snapshots = canSnapshot && state.power !== 'missing' ? await web.machines.snapshots(deploymentId, key).catch(() => []) : [];
  const credentials = Object.entries(web.machines.credentials(deploymentId, key)).map(([user, password]) => ({ user, password }));
  return { m, state, supportsSnapshots, canSnapshot, snapshots, credentials };
}

export function machineRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const path = '/deployments/:id/machines/:key';

  const page = async (c: Ctx, message?: string, snapshotForm: FormState = emptyForm) => {
    const id = c.req.param('id')!;
    const key = decodeURIComponent(c.req.param('key')!);
    const d = await machineDetail(web, c.get('viewer')!, id, key);
    return c.render(
      <MachinePage
        deploymentId={id}
        m={d.m}
        power={d.state.power}
        liveAddresses={d.state.addresses}
        powerError={d.state.error}
        credentials={d.credentials}
        canSnapshot={d.canSnapshot}
        snapshots={d.snapshots}
        csrf={c.get('csrf')}
        message={message}
        snapshotForm={snapshotForm}
      />,
      { title: d.m.hostname },
    );
  };

  app.get(path, allow(), (c) => page(c));

  app.post(`${path}/power`, allow(), async (c) => {
    const id = c.req.param('id');
    const key = decodeURIComponent(c.req.param('key'));
    visibleMachine(web, c.get('viewer')!, id, key);
    const parsed = powerSchema.safeParse(await formFields(c));
    if (!parsed.success) throw new AppError('invalid_input', 'Unknown power action; expected start, stop or reset');
    try {
      await web.machines.power(id, key, parsed.data.action);
    } catch (e) {
      c.status(502);
      return page(c, `Unable to ${parsed.data.action} ${key}: ${errorMessage(e)}`);
    }
    web.audit.record(actorOf(c), `machine.${parsed.data.action}`, `machine:${id}/${key}`);
    return c.redirect(`/deployments/${id}/machines/${encodeURIComponent(key)}`, 303);
  });

  app.post(`${path}/snapshots`, allow('admin', 'instructor'), async (c) => {
    const id = c.req.param('id');
    const key = decodeURIComponent(c.req.param('key'));
    visibleMachine(web, c.get('viewer')!, id, key);
    const fields = await formFields(c);
    const parsed = parseFields(snapshotSchema, fields);
    if ('form' in parsed) return (c.status(422), page(c, undefined, parsed.form));
    try {
      await web.machines.snapshot(id, key, parsed.data.name);
    } catch (e) {
      c.status(422);
      return page(c, `Unable to snapshot ${key}: ${errorMessage(e)}`);
    }
    web.audit.record(actorOf(c), 'machine.snapshot', `machine:${id}/${key}`, parsed.data.name);
    return c.redirect(`/deployments/${id}/machines/${encodeURIComponent(key)}`, 303);
  });

  app.post(`${path}/snapshots/revert`, allow('admin', 'instructor'), async (c) => {
    const id = c.req.param('id');
    const key = decodeURIComponent(c.req.param('key'));
    visibleMachine(web, c.get('viewer')!, id, key);
    const parsed = snapshotSchema.safeParse(await formFields(c));
    if (!parsed.success) throw new AppError('invalid_input', 'Name the snapshot to revert to');
    try {
      await web.machines.revert(id, key, parsed.data.name);
    } catch (e) {
      c.status(422);
      return page(c, `Unable to revert ${key}: ${errorMessage(e)}`);
    }
    web.audit.record(actorOf(c), 'machine.revert', `machine:${id}/${key}`, parsed.data.name);
    return c.redirect(`/deployments/${id}/machines/${encodeURIComponent(key)}`, 303);
  });

  return app;
}
