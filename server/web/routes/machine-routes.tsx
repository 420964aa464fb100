// /deployments/:id/machines/:key, the machine view and its actions: power for everyone allowed to see the machine
// (a trainee: their own), snapshots for instructors and admins where the platform supports them.
import { Hono } from 'hono';
import { AppError, errorMessage } from '../../errors.ts';
import { MachinePage } from '../../../views/pages/machine.tsx';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { emptyForm, formFields, parseFields, type FormState } from '../forms.ts';
import { machineDetail, visibleMachine } from '../machine-model.ts';
import { powerSchema, snapshotSchema } from '../schemas.ts';
import { allow } from '../security.ts';

export function machineRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const keyOf = (c: Ctx) => decodeURIComponent(c.req.param('key')!);
  const back = (c: Ctx) =>
    c.redirect(`/deployments/${c.req.param('id')}/machines/${encodeURIComponent(keyOf(c))}`, 303);

  const page = async (c: Ctx, message?: string, snapshotForm: FormState = emptyForm) => {
    const id = c.req.param('id')!;
    const d = await machineDetail(web, c.get('viewer')!, id, keyOf(c));
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
        remote={d.remote}
      />,
      { title: d.m.hostname },
    );
  };

  app.get('/:key', allow(), (c) => page(c));

  app.post('/:key/power', allow(), async (c) => {
    const id = c.req.param('id')!;
    const key = keyOf(c);
    visibleMachine(web, c.get('viewer')!, id, key);
    const parsed = powerSchema.safeParse(await formFields(c));
    if (!parsed.success) throw new AppError('invalid_input', 'Unknown power action; expected start, stop or reset');
    try {
      await web.machines.power(actorOf(c), id, key, parsed.data.action);
    } catch (e) {
      c.status(502);
      return page(c, `Unable to ${parsed.data.action} ${key}: ${errorMessage(e)}`);
    }
    return back(c);
  });

  app.post('/:key/snapshots', allow('admin', 'instructor'), async (c) => {
    const id = c.req.param('id')!;
    const key = keyOf(c);
    visibleMachine(web, c.get('viewer')!, id, key);
    const parsed = parseFields(snapshotSchema, await formFields(c));
    if ('form' in parsed) return (c.status(422), page(c, undefined, parsed.form));
    try {
      await web.machines.snapshot(actorOf(c), id, key, parsed.data.name);
    } catch (e) {
      c.status(422);
      return page(c, `Unable to snapshot ${key}: ${errorMessage(e)}`);
    }
    return back(c);
  });

  app.post('/:key/snapshots/revert', allow('admin', 'instructor'), async (c) => {
    const id = c.req.param('id')!;
    const key = keyOf(c);
    visibleMachine(web, c.get('viewer')!, id, key);
    const parsed = snapshotSchema.safeParse(await formFields(c));
    if (!parsed.success) throw new AppError('invalid_input', 'Name the snapshot to revert to');
    try {
      await web.machines.revert(actorOf(c), id, key, parsed.data.name);
    } catch (e) {
      c.status(422);
      return page(c, `Unable to revert ${key}: ${errorMessage(e)}`);
    }
    return back(c);
  });

  return app;
}
