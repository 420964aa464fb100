// /scenarios, the scenario library: list and upload, check as you type (errors at their line), edit, and deploy
// (platform, instances, optional trainee per instance, plan preview, start).
import { Hono } from 'hono';
import { AppError, isAppError } from '../../errors.ts';
import type { InputIssue } from '../../model/issues.ts';
import type { PackageCache, Plan } from '../../model/plan.ts';
import type { PlatformKind } from '../../model/platform-kind.ts';
import { previewPlan } from '../../orchestrator/planner.ts';
import { validateScenario } from '../../orchestrator/scenario/parse.ts';
import { DeployPage, ScenarioPage, ScenariosPage } from '../../../views/pages/scenarios.tsx';
import { PlanPreview, ScenarioCheck } from '../../../views/partials/scenario-check.tsx';
import { actorOf, inBackground, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { errorsOf, formFields } from '../forms.ts';
import { deployInputSchema } from '../schemas.ts';
import { allow } from '../security.ts';

/**
 * A plan preview of a scenario's text, with the appliance's package cache as deployments get it; throws invalid_input
 * with the scenario's problems.
 */
export function previewOf(
  yaml: string,
  kind: PlatformKind,
  instances: number | undefined,
  vpn = false,
  packageCache?: PackageCache,
): Plan {
  const r = validateScenario(yaml);
  if (!r.scenario)
    throw new AppError('invalid_input', 'The scenario has problems; fix them first', { issues: r.issues });
  return previewPlan(r.scenario, kind, instances ?? r.scenario.instances, { vpn, packageCache });
}

/** Creates a deployment and starts it in the background; shared with the API. */
export function startDeployment(
  c: Ctx,
  web: WebDomain,
  input: {
    yaml: string;
    file: string;
    platform: string;
    instances?: number | undefined;
    assignments: Record<string, string>;
    vpn?: boolean | undefined;
  },
) {
  const created = web.deployments.create(actorOf(c), {
    yaml: input.yaml,
    file: input.file,
    platform: input.platform,
    ...(input.instances ? { instances: input.instances } : {}),
    assignments: input.assignments,
    ...(input.vpn ? { vpn: true } : {}),
  });
  inBackground(web, created.id, () => web.runner.run(created.id));
  return created;
}

export function scenarioRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  const staff = allow('admin', 'instructor');

  const listPage = (
    c: Ctx,
    upload: { yaml: string; issues: InputIssue[]; message?: string | undefined } = { yaml: '', issues: [] },
  ) =>
    c.render(<ScenariosPage rows={web.library.list()} csrf={c.get('csrf')} upload={upload} />, { title: 'Scenarios' });

  app.get('/', staff, (c) => listPage(c));

  app.post('/', staff, async (c) => {
    const fields = await formFields(c);
    const yaml = fields.file?.trim() ? fields.file : (fields.yaml ?? '');
    if (!yaml.trim())
      return (c.status(422), listPage(c, { yaml: '', issues: [], message: 'Choose a file or paste a scenario.' }));
    try {
      const s = web.library.add(actorOf(c), yaml, 'upload.yaml');
      return c.redirect(`/scenarios/${s.id}`, 303);
    } catch (e) {
      if (!isAppError(e) || (e.code !== 'invalid_input' && e.code !== 'conflict')) throw e;
      c.status(422);
      return listPage(c, {
        yaml,
        issues: e.code === 'invalid_input' ? (e.issues ?? []) : [],
        message: e.code === 'conflict' ? e.message : undefined,
      });
    }
  });

  // Checked as the user types: the summary, or every problem at its line.
  app.post('/check', staff, async (c) => {
    const yaml = (await formFields(c)).yaml ?? '';
    const r = yaml.trim() ? validateScenario(yaml, 'scenario.yaml') : { issues: [], scenario: undefined };
    return c.html(<ScenarioCheck yaml={yaml} scenario={r.scenario} issues={r.issues} />);
  });

  const scenarioPage = (c: Ctx, id: string, yaml?: string, message?: string) => {
    const s = web.library.get(id);
    const text = yaml ?? s.yaml;
    const r = validateScenario(text, `${s.name}.yaml`);
    return c.render(
      <ScenarioPage
        id={s.id}
        name={s.name}
        source={s.source}
        yaml={text}
        scenario={r.scenario}
        issues={r.issues}
        csrf={c.get('csrf')}
        canEdit
        message={message}
        saved={c.req.query('saved') === '1'}
      />,
      { title: s.name },
    );
  };

  app.get('/:id', staff, (c) => scenarioPage(c, c.req.param('id')));

  app.post('/:id', staff, async (c) => {
    const id = c.req.param('id');
    const yaml = (await formFields(c)).yaml ?? '';
    try {
      web.library.update(actorOf(c), id, yaml);
      return c.redirect(`/scenarios/${id}?saved=1`, 303);
    } catch (e) {
      if (!isAppError(e) || (e.code !== 'invalid_input' && e.code !== 'conflict')) throw e;
      c.status(422);
      return scenarioPage(c, id, yaml, e.code === 'conflict' ? e.message : undefined);
    }
  });

  app.post('/:id/delete', staff, (c) => {
    web.library.delete(actorOf(c), c.req.param('id'));
    return c.redirect('/scenarios', 303);
  });

  const trainees = () =>
    web.users
      .list()
      .filter((u) => u.role === 'trainee' && !u.disabled)
      .map((u) => ({ id: u.id, username: u.username }));
  const platformOptions = () => web.platforms.list().map((p) => ({ value: p.id, label: `${p.name} (${p.kind})` }));
  const assignmentsOf = (fields: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(fields)
        .filter(([k, v]) => k.startsWith('assign.') && v)
        .map(([k, v]) => [k.slice(7), v]),
    );
  const kindOf = (platformId: string | undefined) =>
    web.platforms.list().find((p) => p.id === platformId)?.kind ?? 'simulator';

  const deployPage = (
    c: Ctx,
    id: string,
    fields: Record<string, string>,
    errors: Record<string, string> = {},
    message?: string,
  ) => {
    const s = web.library.get(id);
    const scenario = validateScenario(s.yaml, `${s.name}.yaml`).scenario;
    if (!scenario) return c.redirect(`/scenarios/${id}`, 303);
    const platforms = platformOptions();
    const platformId = fields.platform ?? platforms[0]?.value ?? '';
    const instances = fields.instances ? Number(fields.instances) : scenario.instances;
    let plan: Plan | undefined;
    let planError: string | undefined;
    try {
      plan = previewPlan(
        scenario,
        kindOf(platformId),
        Number.isInteger(instances) && instances >= 1 && instances <= 200 ? instances : scenario.instances,
        { vpn: fields.vpn === 'on', packageCache: web.config.packageCache },
      );
    } catch (e) {
      planError = e instanceof Error ? e.message : String(e);
    }
    return c.render(
      <DeployPage
        id={id}
        name={s.name}
        scenario={scenario}
        platforms={platforms}
        values={{
          platform: platformId,
          instances: fields.instances ?? String(scenario.instances),
          vpn: fields.vpn === 'on',
        }}
        errors={errors}
        message={message}
        plan={plan}
        planError={planError}
        trainees={trainees()}
        assignments={assignmentsOf(fields)}
        csrf={c.get('csrf')}
      />,
      { title: `Deploy ${s.name}` },
    );
  };

  app.get('/:id/deploy', staff, (c) => deployPage(c, c.req.param('id'), {}));

  app.post('/:id/plan', staff, async (c) => {
    const s = web.library.get(c.req.param('id'));
    const fields = await formFields(c);
    const n = Number(fields.instances);
    try {
      const plan = previewOf(
        s.yaml,
        kindOf(fields.platform),
        Number.isInteger(n) && n >= 1 ? Math.min(n, 200) : undefined,
        fields.vpn === 'on',
        web.config.packageCache,
      );
      return c.html(<PlanPreview plan={plan} trainees={trainees()} assignments={assignmentsOf(fields)} />);
    } catch (e) {
      return c.html(<PlanPreview error={e instanceof Error ? e.message : String(e)} trainees={[]} assignments={{}} />);
    }
  });

  app.post('/:id/deploy', staff, async (c) => {
    const id = c.req.param('id');
    const s = web.library.get(id);
    const fields = await formFields(c);
    const parsed = deployInputSchema.safeParse({
      scenarioId: id,
      platform: fields.platform,
      instances: fields.instances || undefined,
      assignments: assignmentsOf(fields),
      vpn: fields.vpn === 'on',
    });
    if (!parsed.success) return (c.status(422), deployPage(c, id, fields, errorsOf(parsed.error.issues)));
    try {
      const { id: deploymentId } = startDeployment(c, web, {
        yaml: s.yaml,
        file: `${s.name}.yaml`,
        platform: parsed.data.platform,
        instances: parsed.data.instances,
        assignments: parsed.data.assignments,
        vpn: parsed.data.vpn,
      });
      return c.redirect(`/deployments/${deploymentId}`, 303);
    } catch (e) {
      if (!isAppError(e) || !['invalid_input', 'conflict', 'not_found'].includes(e.code)) throw e;
      c.status(422);
      return deployPage(c, id, fields, errorsOf(e.issues ?? []), e.message);
    }
  });

  return app;
}
