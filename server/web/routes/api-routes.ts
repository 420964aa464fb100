// /api/v1, the JSON API: everything the pages do, for scripts and the CLI, with the same schemas and checks.
// Its OpenAPI 3.1 document (/api/v1/openapi.json) is generated from the route declarations below.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import type { DeploymentEvent } from '../../model/events.ts';
import { validateScenario } from '../../orchestrator/scenario/parse.ts';
import { actorOf, isRole, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import {
  deploymentModel,
  eventForScope,
  eventsAfter,
  scopeFor,
  visibleDeployments,
  type Scope,
} from '../deployment-model.ts';
import { holdOpen } from '../live.tsx';
import { machineDetail, visibleMachine } from '../machine-model.ts';
import { createApiBuilder } from '../openapi.ts';
import * as o from '../overseer-schemas.ts';
import { instanceRights, need, rangeModel } from '../range-model.ts';
import * as s from '../schemas.ts';
import { accessApi } from './access-api.ts';
import { startAction } from './deployment-routes.tsx';
import { kbApiRoutes } from './kb-api.ts';
import { previewOf, startDeployment } from './scenario-routes.tsx';
import { templateBuildApi } from './template-build-api.ts';

export function apiRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const api = createApiBuilder(app, '/api/v1', (c, id) => void scopeFor(web, c.get('viewer')!, id));
  const staff = ['admin', 'instructor'] as const satisfies Array<'admin' | 'instructor'>;

  api.route(
    {
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      tag: 'meta',
      roles: 'public',
      response: z.record(z.string(), z.unknown()),
    },
    (c) =>
      c.json(
        api.document({
          title: 'Glassdome API',
          version: '1',
          description:
            'Everything the Glassdome pages do, as JSON. Authenticate with an API token: `Authorization: Bearer gd_...`.',
        }),
      ),
  );
  api.route(
    { method: 'get', path: '/me', summary: 'The signed-in user', tag: 'meta', roles: 'any', response: s.userResponse },
    (c) => c.json(c.get('viewer')!.user),
  );
  api.route(
    {
      method: 'post',
      path: '/me/password',
      summary: 'Change your own password (the current one required); your browser sessions end, API tokens stay',
      tag: 'meta',
      roles: 'any',
      body: s.apiPasswordChangeSchema,
      status: 204,
    },
    async (c, b) => {
      await web.users.changeOwnPassword(actorOf(c), b.current, b.password);
      return c.body(null, 204);
    },
  );

  // ------------------------------------------------------------------------------------------------ platforms
  api.route(
    {
      method: 'get',
      path: '/platforms',
      summary: 'Configured platforms (never their secrets)',
      tag: 'platforms',
      roles: [...staff],
      response: z.array(s.platformResponse),
    },
    (c) => c.json(web.platforms.list()),
  );
  api.route(
    {
      method: 'post',
      path: '/platforms',
      summary: 'Add a platform',
      tag: 'platforms',
      roles: ['admin'],
      body: s.platformCreateSchema,
      response: s.platformResponse,
      status: 201,
    },
    (c, b) => {
      return c.json(
        web.platforms.add(actorOf(c), {
          name: b.name,
          kind: b.kind,
          config: b.config,
          ...(b.secret ? { secret: b.secret } : {}),
        }),
        201,
      );
    },
  );
  api.route(
    {
      method: 'get',
      path: '/platforms/:id',
      summary: 'One platform',
      tag: 'platforms',
      roles: [...staff],
      response: s.platformResponse,
    },
    (c) => c.json(web.platforms.get(c.req.param('id')!)),
  );
  api.route(
    {
      method: 'patch',
      path: '/platforms/:id',
      summary: 'Change a platform; its secret is kept unless a new one is given',
      tag: 'platforms',
      roles: ['admin'],
      body: s.platformUpdateSchema,
      response: s.platformResponse,
    },
    (c, b) => {
      return c.json(
        web.platforms.update(actorOf(c), web.platforms.get(c.req.param('id')!).id, {
          config: b.config,
          ...(b.secret ? { secret: b.secret } : {}),
        }),
      );
    },
  );
  api.route(
    {
      method: 'delete',
      path: '/platforms/:id',
      summary: 'Remove a platform whose deployments are all destroyed (their records go with it)',
      tag: 'platforms',
      roles: ['admin'],
      status: 204,
    },
    (c) => {
      web.platforms.remove(actorOf(c), c.req.param('id')!);
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'post',
      path: '/platforms/:id/test',
      summary: "Run the driver's connection check",
      tag: 'platforms',
      roles: ['admin'],
      response: s.connectionReport,
    },
    async (c) => {
      const p = web.platforms.get(c.req.param('id')!);
      const report = await web.platforms.probe(actorOf(c), {
        kind: p.kind,
        name: p.name,
        config: p.config,
        existingId: p.id,
      });
      return c.json({
        ok: report.ok,
        product: report.product,
        ...(report.version ? { version: report.version } : {}),
        details: report.details,
      });
    },
  );

  // ------------------------------------------------------------------------------------------------ pools
  api.route(
    {
      method: 'get',
      path: '/pools',
      summary: 'Address and VLAN pools with their use',
      tag: 'pools',
      roles: [...staff],
      response: s.poolsResponse,
    },
    (c) => c.json(web.ipam.listPools()),
  );
  api.route(
    {
      method: 'post',
      path: '/pools/cidr',
      summary: 'Add an address pool',
      tag: 'pools',
      roles: ['admin'],
      body: s.cidrPoolSchema,
      response: s.okResponse,
      status: 201,
    },
    (c, b) => {
      web.ipam.addCidrPool(actorOf(c), b.cidr, b.subnetPrefix);
      return c.json({ ok: true as const }, 201);
    },
  );
  api.route(
    {
      method: 'post',
      path: '/pools/vlan',
      summary: 'Add a VLAN pool',
      tag: 'pools',
      roles: ['admin'],
      body: s.vlanPoolSchema,
      response: s.okResponse,
      status: 201,
    },
    (c, b) => {
      web.ipam.addVlanPool(actorOf(c), b.first, b.last);
      return c.json({ ok: true as const }, 201);
    },
  );

  // ------------------------------------------------------------------------------------------------ scenarios
  api.route(
    {
      method: 'get',
      path: '/scenarios',
      summary: 'The scenario library',
      tag: 'scenarios',
      roles: [...staff],
      response: z.array(s.scenarioSummary),
    },
    (c) => c.json(web.library.list()),
  );
  api.route(
    {
      method: 'post',
      path: '/scenarios',
      summary: 'Add a scenario (validated; problems come back located in the file)',
      tag: 'scenarios',
      roles: [...staff],
      body: s.scenarioInputSchema,
      response: s.scenarioResponse,
      status: 201,
    },
    (c, b) => {
      return c.json(web.library.add(actorOf(c), b.yaml, 'upload.yaml'), 201);
    },
  );
  api.route(
    {
      method: 'post',
      path: '/scenarios/validate',
      summary: 'Check a scenario without saving it',
      tag: 'scenarios',
      roles: [...staff],
      body: s.scenarioInputSchema,
      response: s.validationResponse,
    },
    (c, b) => {
      const r = validateScenario(b.yaml);
      return c.json({
        ok: r.scenario !== undefined,
        issues: r.issues,
        ...(r.scenario
          ? {
              summary: {
                name: r.scenario.name,
                title: r.scenario.title,
                networks: r.scenario.networks.length,
                machines: r.scenario.machines.reduce((n, m) => n + m.count, 0),
              },
            }
          : {}),
      });
    },
  );
  api.route(
    {
      method: 'get',
      path: '/scenarios/:id',
      summary: 'One scenario with its YAML',
      tag: 'scenarios',
      roles: [...staff],
      response: s.scenarioResponse,
    },
    (c) => c.json(web.library.get(c.req.param('id')!)),
  );
  api.route(
    {
      method: 'put',
      path: '/scenarios/:id',
      summary: 'Replace a scenario',
      tag: 'scenarios',
      roles: [...staff],
      body: s.scenarioInputSchema,
      response: s.scenarioResponse,
    },
    (c, b) => {
      return c.json(web.library.update(actorOf(c), c.req.param('id')!, b.yaml));
    },
  );
  api.route(
    {
      method: 'delete',
      path: '/scenarios/:id',
      summary: 'Remove a scenario from the library',
      tag: 'scenarios',
      roles: [...staff],
      status: 204,
    },
    (c) => {
      web.library.delete(actorOf(c), c.req.param('id')!);
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'post',
      path: '/plan',
      summary: 'What a deployment would create (subnets and VLANs are previews)',
      tag: 'deployments',
      roles: [...staff],
      body: s.deployInputSchema,
      response: z.record(z.string(), z.unknown()),
    },
    (c, b) => {
      const yaml = b.yaml ?? (b.scenarioId ? web.library.get(b.scenarioId).yaml : undefined);
      if (!yaml)
        throw new AppError('invalid_input', 'Give a scenarioId or the scenario yaml', {
          issues: [{ path: 'yaml', message: 'required without scenarioId' }],
        });
      return c.json(
        previewOf(
          yaml,
          web.platforms.get(b.platform).kind,
          b.instances,
          b.vpn,
          web.config.packageCache,
        ) as unknown as Record<string, unknown>,
      );
    },
  );

  // ------------------------------------------------------------------------------------------------ deployments
  const deploymentJson = (id: string, scope: Scope) => {
    const m = deploymentModel(web, id, scope);
    return {
      id: m.head.id,
      scenarioName: m.head.scenarioName,
      platformId: m.head.platformId,
      instances: m.head.instances,
      state: m.head.state,
      error: m.head.error,
      createdAt: m.head.createdAt,
      finishedAt: m.head.finishedAt,
      machines: m.machines.map(({ resourceName: _r, ...rest }) => rest),
      networks: m.networks.map((n) => ({
        key: n.key,
        instance: n.instance,
        name: n.name,
        cidr: n.cidr,
        gateway: n.gateway,
        ...(n.vlan === undefined ? {} : { vlan: n.vlan }),
        internet: n.internet,
        state: n.state,
      })),
      lastEventId: m.lastEventId,
    };
  };
  api.route(
    {
      method: 'get',
      path: '/deployments',
      summary: 'Deployments you may see, newest first',
      tag: 'deployments',
      roles: 'any',
      response: z.array(s.deploymentSummary),
    },
    (c) => c.json(visibleDeployments(web, c.get('viewer')!)),
  );
  api.route(
    {
      method: 'post',
      path: '/deployments',
      summary: 'Deploy a scenario from the library (scenarioId) or given inline (yaml); returns at once',
      tag: 'deployments',
      roles: [...staff],
      body: s.deployInputSchema,
      response: s.deploymentResponse,
      status: 202,
    },
    (c, b) => {
      const lib = b.scenarioId ? web.library.get(b.scenarioId) : undefined;
      const yaml = lib?.yaml ?? b.yaml;
      if (!yaml)
        throw new AppError('invalid_input', 'Give a scenarioId or the scenario yaml', {
          issues: [{ path: 'yaml', message: 'required without scenarioId' }],
        });
      const { id } = startDeployment(c, web, {
        yaml,
        file: lib ? `${lib.name}.yaml` : (b.file ?? 'api.yaml'),
        platform: b.platform,
        instances: b.instances,
        assignments: b.assignments,
        vpn: b.vpn,
      });
      return c.json(deploymentJson(id, 'all'), 202);
    },
  );
  api.route(
    {
      method: 'get',
      path: '/deployments/:id',
      summary: 'A deployment with its machines and networks',
      tag: 'deployments',
      roles: 'any',
      scoped: true,
      response: s.deploymentResponse,
    },
    (c) => {
      const id = c.req.param('id')!;
      return c.json(deploymentJson(id, scopeFor(web, c.get('viewer')!, id)));
    },
  );
  for (const action of ['cancel', 'retry', 'destroy'] as const) {
    api.route(
      {
        method: 'post',
        path: `/deployments/:id/${action}`,
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a deployment (in the background)`,
        tag: 'deployments',
        roles: [...staff],
        scoped: true,
        response: s.stateResponse,
        status: 202,
        ...(action === 'destroy'
          ? {
              query: {
                confirm: {
                  description:
                    'true: destroy it although trainees are assigned (refused with 409 otherwise, naming them)',
                  type: 'string' as const,
                },
              },
            }
          : {}),
      },
      (c) => {
        const id = c.req.param('id')!;
        startAction(c, web, action, id, { confirm: c.req.query('confirm') === 'true' });
        return c.json({ id, state: deploymentModel(web, id, 'all').head.state }, 202);
      },
    );
  }
  api.route(
    {
      method: 'get',
      path: '/deployments/:id/events',
      summary: 'Follow a deployment: its events after `after` (or Last-Event-ID), then live',
      tag: 'deployments',
      roles: 'any',
      scoped: true,
      stream: true,
      query: { after: { description: 'Replay events after this id', type: 'integer' } },
    },
    (c) => {
      const id = c.req.param('id')!;
      const scope = scopeFor(web, c.get('viewer')!, id);
      const after = Number(c.req.header('Last-Event-ID') ?? c.req.query('after') ?? 0) || 0;
      return streamSSE(c, async (stream) => {
        let queue = Promise.resolve();
        let last = after;
        const send = (e: DeploymentEvent) => {
          if (e.id <= last) return;
          last = e.id;
          queue = queue
            .then(() => stream.writeSSE({ id: String(e.id), event: e.type, data: JSON.stringify(e) }))
            .catch(() => undefined);
        };
        const buffered: DeploymentEvent[] = [];
        let replaying = true;
        const unsubscribe = web.events.subscribe(id, (e) => {
          const v = eventForScope(e, scope);
          if (v) replaying ? buffered.push(v) : send(v);
        });
        for (const e of eventsAfter(web, id, after, scope)) send(e);
        replaying = false;
        for (const e of buffered) send(e);
        await holdOpen(stream, unsubscribe);
      });
    },
  );

  // ------------------------------------------------------------------------------------------------ machines
  const mpath = '/deployments/:id/machines/:key';
  api.route(
    {
      method: 'get',
      path: mpath,
      summary: 'A machine: live state, addresses, credentials for those allowed, snapshots',
      tag: 'machines',
      roles: 'any',
      scoped: true,
      response: s.machineDetail,
    },
    async (c) => {
      const d = await machineDetail(web, c.get('viewer')!, c.req.param('id')!, c.req.param('key')!);
      const { resourceName: _r, ...m } = d.m;
      return c.json({
        ...m,
        power: d.state.power,
        liveAddresses: d.state.addresses,
        credentials: d.credentials,
        snapshots: d.snapshots,
        supportsSnapshots: d.supportsSnapshots,
      });
    },
  );
  api.route(
    {
      method: 'post',
      path: `${mpath}/power`,
      summary: 'Start, shut down or reset a machine',
      tag: 'machines',
      roles: 'any',
      scoped: true,
      body: s.powerSchema,
      response: s.okResponse,
    },
    async (c, b) => {
      const id = c.req.param('id')!;
      const key = c.req.param('key')!;
      visibleMachine(web, c.get('viewer')!, id, key);
      await web.machines.power(actorOf(c), id, key, b.action);
      return c.json({ ok: true as const });
    },
  );
  api.route(
    {
      method: 'post',
      path: `${mpath}/snapshots`,
      summary: 'Take a snapshot',
      tag: 'machines',
      roles: [...staff],
      scoped: true,
      body: s.snapshotSchema,
      response: s.okResponse,
      status: 201,
    },
    async (c, b) => {
      const id = c.req.param('id')!;
      const key = c.req.param('key')!;
      visibleMachine(web, c.get('viewer')!, id, key);
      await web.machines.snapshot(actorOf(c), id, key, b.name);
      return c.json({ ok: true as const }, 201);
    },
  );
  api.route(
    {
      method: 'post',
      path: `${mpath}/snapshots/revert`,
      summary: 'Revert to a snapshot',
      tag: 'machines',
      roles: [...staff],
      scoped: true,
      body: s.snapshotSchema,
      response: s.okResponse,
    },
    async (c, b) => {
      const id = c.req.param('id')!;
      const key = c.req.param('key')!;
      visibleMachine(web, c.get('viewer')!, id, key);
      await web.machines.revert(actorOf(c), id, key, b.name);
      return c.json({ ok: true as const });
    },
  );

  // ------------------------------------------------------------------------------------------------ the overseer
  api.route(
    {
      method: 'get',
      path: '/overseer/jobs',
      summary: "The overseer's jobs: schedule, last run (start, duration, result, summary), skips, failures",
      tag: 'overseer',
      roles: [...staff],
      response: z.array(o.jobStatus),
    },
    (c) => c.json(web.overseer.status()),
  );
  api.route(
    {
      method: 'get',
      path: '/overseer/jobs/:name/runs',
      summary: "A job's recent runs, newest first",
      tag: 'overseer',
      roles: [...staff],
      query: { limit: { description: 'How many (default 20)', type: 'integer' } },
      response: o.jobRuns,
    },
    (c) => {
      const name = c.req.param('name')!;
      if (!web.overseer.status().some((j) => j.name === name))
        throw new AppError('not_found', `There is no overseer job "${name}"`);
      return c.json(web.overseer.runs(name as never, Math.min(500, Number(c.req.query('limit')) || 20)));
    },
  );
  api.route(
    {
      method: 'post',
      path: '/overseer/jobs/:name/run',
      summary: 'Run a job now and wait for it; skipped (and said so) while a run of it is going',
      tag: 'overseer',
      roles: [...staff],
      response: o.tickResult,
    },
    async (c) => c.json(await web.overseer.run(actorOf(c), c.req.param('name')!)),
  );
  api.route(
    {
      method: 'get',
      path: '/overseer/findings',
      summary: 'What the overseer found, open first, with what it did about each',
      tag: 'overseer',
      roles: [...staff],
      query: {
        state: { description: 'open or resolved (default both)', type: 'string' },
        deployment: { description: 'Only this deployment', type: 'string' },
      },
      response: z.array(o.finding),
    },
    (c) => {
      const state = c.req.query('state');
      if (state !== undefined && state !== 'open' && state !== 'resolved')
        throw new AppError('invalid_input', `state is open or resolved, not "${state}"`);
      const deployment = c.req.query('deployment');
      return c.json(
        web.overseer.findings.list({
          ...(state ? { state } : {}),
          ...(deployment ? { deploymentId: deployment } : {}),
        }),
      );
    },
  );
  api.route(
    {
      method: 'get',
      path: '/overseer/policies',
      summary: 'The auto-fix policy of each platform (report only, or fix) and its orphan grace period',
      tag: 'overseer',
      roles: [...staff],
      response: z.array(o.policy),
    },
    (c) => c.json(web.overseer.policies()),
  );
  api.route(
    {
      method: 'put',
      path: '/overseer/policies/:platform',
      summary: "Set a platform's auto-fix policy",
      tag: 'overseer',
      roles: ['admin'],
      body: o.policySchema,
      response: o.policy,
    },
    (c, b) => c.json(web.overseer.setPolicy(actorOf(c), c.req.param('platform')!, b)),
  );
  api.route(
    {
      method: 'get',
      path: '/quotas',
      summary: 'Quotas per user with what each uses now',
      tag: 'overseer',
      roles: ['admin'],
      response: z.array(o.quota),
    },
    (c) => c.json(web.quotas.list()),
  );
  api.route(
    {
      method: 'put',
      path: '/quotas/:user',
      summary: "Set a user's quota (null: no limit); checked before each deployment starts",
      tag: 'overseer',
      roles: ['admin'],
      body: o.quotaSchema,
      response: o.quota,
    },
    (c, b) => {
      const userId = c.req.param('user')!;
      web.quotas.set(actorOf(c), userId, b);
      return c.json(web.quotas.list().find((q) => q.userId === userId)!);
    },
  );
  api.route(
    {
      method: 'delete',
      path: '/quotas/:user',
      summary: "Remove a user's quota",
      tag: 'overseer',
      roles: ['admin'],
      status: 204,
    },
    (c) => {
      web.quotas.clear(actorOf(c), c.req.param('user')!);
      return c.body(null, 204);
    },
  );

  // ------------------------------------------------------------------------------------------------ range care
  api.route(
    {
      method: 'get',
      path: '/deployments/:id/health',
      summary: 'What the last health sweep saw of each machine, and the open findings',
      tag: 'range',
      roles: 'any',
      scoped: true,
      response: o.health,
    },
    async (c) => {
      const m = await rangeModel(web, c.get('viewer')!, c.req.param('id')!);
      return c.json({ machines: m.health, findings: m.findings });
    },
  );
  api.route(
    {
      method: 'get',
      path: '/deployments/:id/lifecycle',
      summary: 'Idle shutdown, end date and where expiry is, activity, trainee testing mode',
      tag: 'range',
      roles: [...staff],
      scoped: true,
      response: o.lifecycle,
    },
    (c) => c.json(web.lifecycle.get(web.deployments.get(c.req.param('id')!).id)),
  );
  api.route(
    {
      method: 'patch',
      path: '/deployments/:id/lifecycle',
      summary:
        'Change the idle shutdown, the end date (warned, stopped, destroyed after the grace), trainee testing mode',
      tag: 'range',
      roles: [...staff],
      scoped: true,
      body: o.lifecycleSchema,
      response: o.lifecycle,
    },
    (c, b) => c.json(web.lifecycle.update(actorOf(c), c.req.param('id')!, b)),
  );
  api.route(
    {
      method: 'post',
      path: '/deployments/:id/power',
      summary: 'Start or stop every machine of a deployment (the overseer keeps them so)',
      tag: 'range',
      roles: [...staff],
      scoped: true,
      body: o.deploymentPowerSchema,
      response: o.powerResult,
    },
    async (c, b) =>
      c.json(
        await web.lifecycle.powerAll(
          actorOf(c),
          c.req.param('id')!,
          b.action,
          `${b.action} requested by ${c.get('viewer')!.user.username}`,
        ),
      ),
  );
  const ipath = '/deployments/:id/instances/:instance';
  const rights = (c: Ctx) => instanceRights(web, c.get('viewer')!, c.req.param('id')!, Number(c.req.param('instance')));
  api.route(
    {
      method: 'get',
      path: `${ipath}/snapshots`,
      summary: "An instance's snapshots",
      tag: 'range',
      roles: 'any',
      scoped: true,
      response: z.array(o.instanceSnapshot),
    },
    (c) => {
      rights(c);
      return c.json(web.snapshots.list(c.req.param('id')!, Number(c.req.param('instance'))));
    },
  );
  api.route(
    {
      method: 'post',
      path: `${ipath}/snapshots`,
      summary: 'Snapshot every machine of a ready instance (all or nothing)',
      tag: 'range',
      roles: [...staff],
      scoped: true,
      body: o.instanceSnapshotSchema,
      response: o.instanceSnapshot,
      status: 201,
    },
    async (c, b) => {
      need(rights(c), 'staff');
      return c.json(
        await web.snapshots.take(actorOf(c), c.req.param('id')!, Number(c.req.param('instance')), b.name),
        201,
      );
    },
  );
  api.route(
    {
      method: 'post',
      path: `${ipath}/snapshots/:snapshot/reset`,
      summary: "Reset an instance (a trainee's range) to a snapshot; the instance's trainee may do it too",
      tag: 'range',
      roles: 'any',
      scoped: true,
      response: z.object({ machines: z.number() }),
    },
    async (c) => {
      need(rights(c), 'reset');
      return c.json(
        await web.snapshots.reset(
          actorOf(c),
          c.req.param('id')!,
          Number(c.req.param('instance')),
          c.req.param('snapshot')!,
        ),
      );
    },
  );
  api.route(
    {
      method: 'delete',
      path: `${ipath}/snapshots/:snapshot`,
      summary: "Delete an instance's snapshot from every machine",
      tag: 'range',
      roles: [...staff],
      scoped: true,
      status: 204,
    },
    async (c) => {
      need(rights(c), 'staff');
      await web.snapshots.remove(
        actorOf(c),
        c.req.param('id')!,
        Number(c.req.param('instance')),
        c.req.param('snapshot')!,
      );
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'get',
      path: `${ipath}/testing`,
      summary: "An instance's testing mode: state, allow-list, snapshot, who switched it, how it was verified",
      tag: 'range',
      roles: 'any',
      scoped: true,
      response: o.testingState,
    },
    (c) => {
      rights(c);
      return c.json(web.testing.state(c.req.param('id')!, Number(c.req.param('instance'))));
    },
  );
  api.route(
    {
      method: 'put',
      path: `${ipath}/testing`,
      summary:
        'Enter testing mode (snapshot, router egress limited to the allow-list, verified) or change its allow-list',
      tag: 'range',
      roles: 'any',
      scoped: true,
      body: o.testingSchema,
      response: o.testingState,
    },
    async (c, b) => {
      need(rights(c), 'test');
      return c.json(await web.testing.enter(actorOf(c), c.req.param('id')!, Number(c.req.param('instance')), b));
    },
  );
  api.route(
    {
      method: 'post',
      path: `${ipath}/testing/leave`,
      summary:
        "Leave testing mode: the router's egress back to the scenario's rules, optionally reverting to the snapshot",
      tag: 'range',
      roles: 'any',
      scoped: true,
      body: o.leaveTestingSchema,
      response: o.testingState,
    },
    async (c, b) => {
      need(rights(c), 'test');
      return c.json(
        await web.testing.leave(actorOf(c), c.req.param('id')!, Number(c.req.param('instance')), { revert: b.revert }),
      );
    },
  );
  api.route(
    {
      method: 'get',
      path: `${ipath}/assignment`,
      summary:
        "Who works in an instance, and its VPN seat: the trainee key's state on the router (first-boot, applied or pending, with why)",
      tag: 'range',
      roles: [...staff],
      scoped: true,
      response: o.instanceAssignment,
    },
    (c) => c.json(web.deployments.assignment(c.req.param('id')!, Number(c.req.param('instance')))),
  );
  api.route(
    {
      method: 'put',
      path: `${ipath}/assignment`,
      summary:
        "Give an instance to another trainee (username or id) or to nobody (null). On a VPN deployment the seat's key is made anew and the router's peer replaced, so the previous trainee's configuration stops connecting; `vpn.router` pending says the router could not be changed yet, and why",
      tag: 'range',
      roles: [...staff],
      scoped: true,
      body: o.assignmentSchema,
      response: o.reassignResult,
    },
    async (c, b) =>
      c.json(
        await web.deployments.reassign(actorOf(c), c.req.param('id')!, Number(c.req.param('instance')), b.trainee),
      ),
  );
  api.route(
    {
      method: 'post',
      path: `${ipath}/vpn/apply`,
      summary:
        "Apply the seat keys to the instance's router again (a pending key change, the router back up), read back",
      tag: 'range',
      roles: [...staff],
      scoped: true,
      response: o.traineeVpnState,
    },
    async (c) => c.json(await web.vpnPeers.reapply(actorOf(c), c.req.param('id')!, Number(c.req.param('instance')))),
  );

  // ------------------------------------------------------------------------------------------------ users, tokens, audit
  api.route(
    {
      method: 'get',
      path: '/users',
      summary: 'Users',
      tag: 'users',
      roles: ['admin'],
      response: z.array(s.userResponse),
    },
    (c) => c.json(web.users.list()),
  );
  api.route(
    {
      method: 'post',
      path: '/users',
      summary: 'Add a user',
      tag: 'users',
      roles: ['admin'],
      body: s.userCreateSchema,
      response: s.userResponse,
      status: 201,
    },
    async (c, b) => {
      return c.json(await web.users.create(actorOf(c), b), 201);
    },
  );
  api.route(
    {
      method: 'patch',
      path: '/users/:id',
      summary: "Change a user's role, password or status",
      tag: 'users',
      roles: ['admin'],
      body: s.userUpdateSchema,
      response: s.userResponse,
    },
    async (c, b) => {
      const { tokensRevoked: _t, ...u } = await web.users.update(actorOf(c), c.req.param('id')!, b);
      return c.json(u);
    },
  );
  api.route(
    { method: 'delete', path: '/users/:id', summary: 'Remove a user', tag: 'users', roles: ['admin'], status: 204 },
    (c) => {
      web.users.delete(actorOf(c), c.req.param('id')!);
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'get',
      path: '/tokens',
      summary: 'API tokens (yours; an admin sees all)',
      tag: 'tokens',
      roles: 'any',
      response: z.array(s.tokenResponse),
    },
    (c) => {
      const v = c.get('viewer')!;
      return c.json(web.tokens.list(isRole(v, 'admin') ? undefined : v.user.id));
    },
  );
  api.route(
    {
      method: 'post',
      path: '/tokens',
      summary: 'Create an API token for yourself; the token is returned only now',
      tag: 'tokens',
      roles: 'any',
      body: s.tokenCreateSchema,
      response: s.tokenCreated,
      status: 201,
    },
    (c, b) => {
      return c.json(web.tokens.create(actorOf(c), c.get('viewer')!.user.id, b.name), 201);
    },
  );
  api.route(
    { method: 'delete', path: '/tokens/:id', summary: 'Revoke an API token', tag: 'tokens', roles: 'any', status: 204 },
    (c) => {
      const v = c.get('viewer')!;
      const t = web.tokens.get(c.req.param('id')!);
      if (!isRole(v, 'admin') && t.userId !== v.user.id)
        throw new AppError('not_found', `API token ${t.id} does not exist`);
      web.tokens.revoke(actorOf(c), t.id);
      return c.body(null, 204);
    },
  );
  api.route(
    {
      method: 'get',
      path: '/audit',
      summary: 'The audit log, newest first',
      tag: 'audit',
      roles: ['admin'],
      query: { before: { description: 'Entries older than this id', type: 'integer' } },
      response: z.array(s.auditResponse),
    },
    (c) => c.json(web.audit.list(500, Number(c.req.query('before')) || undefined)),
  );

  accessApi(api, web); // consoles, terminals, VPN
  kbApiRoutes(api, web); // /knowledge, /research, /deployments/:id/flags and ctfd.csv
  templateBuildApi(api, web); // /platforms/:id/template-builds

  return Object.assign(app, { operations: api.operations });
}
