// /deployments/:id/range, a deployment's care page and its forms: lifecycle and whole-deployment power (staff),
// instance snapshots (staff take and delete; staff and the instance's trainee reset), testing mode (staff, and the
// instance's trainee where the deployment allows it), and who works in each instance with its VPN seat (staff). The
// domain checks and audits; a refusal is shown on the page.
import { Hono } from 'hono';
import type { z } from 'zod';
import { AppError, errorMessage, isAppError } from '../../errors.ts';
import { RangePage } from '../../../views/pages/range.tsx';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { formFields } from '../forms.ts';
import {
  assignmentSchema,
  deploymentPowerSchema,
  instanceSnapshotSchema,
  leaveTestingSchema,
  lifecycleSchema,
  splitAllowList,
  testingFormSchema,
} from '../overseer-schemas.ts';
import { instanceRights, need, rangeModel } from '../range-model.ts';
import { allow } from '../security.ts';

export function rangeRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const id = (c: Ctx) => c.req.param('id')!;
  const page = async (c: Ctx, message?: string) =>
    c.render(<RangePage {...await rangeModel(web, c.get('viewer')!, id(c))} csrf={c.get('csrf')} message={message} />, {
      title: `Range ${id(c)}`,
    });
  const back = (c: Ctx) => c.redirect(`/deployments/${id(c)}/range`, 303);
  /** Runs a domain action; a refusal or a platform failure is shown on the page, a programming error is not. */
  const act = async (c: Ctx, what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      if (!isAppError(e) || e.code === 'internal' || e.code === 'not_found' || e.code === 'forbidden') throw e;
      c.status(e.code === 'invalid_input' || e.code === 'conflict' ? 422 : 502);
      return page(c, `Unable to ${what}: ${errorMessage(e)}`);
    }
    return back(c);
  };
  const parse = <S extends z.ZodType>(schema: S, v: unknown): z.output<S> => {
    const r = schema.safeParse(v);
    if (!r.success)
      throw new AppError(
        'invalid_input',
        r.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; '),
      );
    return r.data;
  };
  const instance = (c: Ctx) => Number(c.req.param('instance'));

  app.get('/', allow(), (c) => page(c));

  app.post('/lifecycle', allow('admin', 'instructor'), async (c) => {
    const f = await formFields(c);
    // An unchecked box sends nothing: the form says it showed the box, so its absence means "off".
    const input = parse(lifecycleSchema, {
      ...f,
      ...(f.traineeTestingModeShown ? { traineeTestingMode: f.traineeTestingMode ?? 'off' } : {}),
    });
    return act(c, 'save the lifecycle', () => web.lifecycle.update(actorOf(c), id(c), input));
  });

  app.post('/power', allow('admin', 'instructor'), async (c) => {
    const { action } = parse(deploymentPowerSchema, await formFields(c));
    return act(c, `${action} the machines`, () =>
      web.lifecycle.powerAll(actorOf(c), id(c), action, `${action} requested by ${c.get('viewer')!.user.username}`),
    );
  });

  app.post('/instances/:instance/snapshots', allow('admin', 'instructor'), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'staff');
    const { name } = parse(instanceSnapshotSchema, await formFields(c));
    return act(c, `snapshot instance ${instance(c)}`, () => web.snapshots.take(actorOf(c), id(c), instance(c), name));
  });

  // The snapshot's name comes in the form, as on the machine page.
  app.post('/instances/:instance/snapshots/reset', allow(), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'reset');
    const { name } = parse(instanceSnapshotSchema, await formFields(c));
    return act(c, `reset instance ${instance(c)}`, () => web.snapshots.reset(actorOf(c), id(c), instance(c), name));
  });

  app.post('/instances/:instance/snapshots/delete', allow('admin', 'instructor'), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'staff');
    const { name } = parse(instanceSnapshotSchema, await formFields(c));
    return act(c, 'delete the snapshot', () => web.snapshots.remove(actorOf(c), id(c), instance(c), name));
  });

  app.post('/instances/:instance/testing', allow(), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'test');
    const { allow: text } = parse(testingFormSchema, await formFields(c));
    return act(c, 'switch testing mode on', () =>
      web.testing.enter(actorOf(c), id(c), instance(c), splitAllowList(text)),
    );
  });

  app.post('/instances/:instance/testing/leave', allow(), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'test');
    const { revert } = parse(leaveTestingSchema, await formFields(c));
    return act(c, 'leave testing mode', () => web.testing.leave(actorOf(c), id(c), instance(c), { revert }));
  });

  // Giving an instance to another trainee makes its VPN seat's key anew; the card then says whether the router has it.
  app.post('/instances/:instance/assignment', allow('admin', 'instructor'), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'staff');
    const { trainee } = parse(assignmentSchema, await formFields(c));
    return act(c, `give instance ${instance(c)} to ${trainee ?? 'nobody'}`, () =>
      web.deployments.reassign(actorOf(c), id(c), instance(c), trainee),
    );
  });

  app.post('/instances/:instance/vpn/apply', allow('admin', 'instructor'), async (c) => {
    need(instanceRights(web, c.get('viewer')!, id(c), instance(c)), 'staff');
    return act(c, `apply the VPN keys of instance ${instance(c)}`, () =>
      web.vpnPeers.reapply(actorOf(c), id(c), instance(c)),
    );
  });

  return app;
}
