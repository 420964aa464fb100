// The scenario library: list and upload, one scenario (summary and YAML editor), and the deploy form.
import type { InputIssue } from '../../server/model/issues.ts';
import type { Plan } from '../../server/model/plan.ts';
import type { Scenario } from '../../server/model/scenario.ts';
import { Card, Csrf, Field, FormMessage, Select } from '../components/form.tsx';
import { PlanPreview, ScenarioCheck } from '../partials/scenario-check.tsx';

export function ScenariosPage(p: {
  rows: Array<{ id: string; name: string; title: string; source: string; updatedAt: string }>;
  csrf: string;
  upload: { yaml: string; issues: InputIssue[]; message?: string | undefined };
}) {
  return (
    <div>
      <h1>Scenario library</h1>
      <Card>
        <table>
          <thead>
            <tr>
              <th>Scenario</th>
              <th>Title</th>
              <th>Source</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {p.rows.map((r) => (
              <tr>
                <td>
                  <a href={`/scenarios/${r.id}`}>{r.name}</a>
                </td>
                <td>{r.title}</td>
                <td>{r.source}</td>
                <td>{r.updatedAt.replace('T', ' ').slice(0, 16)}</td>
                <td>
                  <a class="button primary" href={`/scenarios/${r.id}/deploy`}>
                    Deploy
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title="Add a scenario">
        <form method="post" action="/scenarios" enctype="multipart/form-data" class="stack" id="upload-form">
          <Csrf token={p.csrf} />
          <FormMessage message={p.upload.message} />
          <div class="field">
            <label for="f-file">Upload a file</label>
            <input id="f-file" type="file" name="file" accept=".yaml,.yml" />
          </div>
          <div class="field">
            <label for="f-yaml">…or paste YAML</label>
            <textarea
              id="f-yaml"
              name="yaml"
              rows={14}
              class="code"
              spellcheck={false}
              hx-post="/scenarios/check"
              hx-trigger="input changed delay:800ms"
              hx-target="#scenario-check"
              hx-swap="outerHTML"
            >
              {p.upload.yaml}
            </textarea>
          </div>
          <ScenarioCheck yaml={p.upload.yaml} issues={p.upload.issues} />
          <button type="submit" class="primary">
            Add to library
          </button>
        </form>
      </Card>
    </div>
  );
}

export function ScenarioPage(p: {
  id: string;
  name: string;
  source: string;
  yaml: string;
  scenario?: Scenario | undefined;
  issues: InputIssue[];
  csrf: string;
  canEdit: boolean;
  message?: string | undefined;
  saved?: boolean;
}) {
  return (
    <div>
      <p class="crumbs">
        <a href="/scenarios">Scenarios</a> / {p.name}
      </p>
      <h1>
        {p.name} <small>({p.source})</small>
      </h1>
      {p.saved && <p class="notice">Saved.</p>}
      <div class="buttons">
        <a class="button primary" href={`/scenarios/${p.id}/deploy`}>
          Deploy this scenario
        </a>
      </div>
      <Card title="Edit">
        <form method="post" action={`/scenarios/${p.id}`} class="stack" id="scenario-edit">
          <Csrf token={p.csrf} />
          <FormMessage message={p.message} />
          <textarea
            name="yaml"
            rows={24}
            class="code"
            spellcheck={false}
            hx-post="/scenarios/check"
            hx-trigger="input changed delay:800ms"
            hx-target="#scenario-check"
            hx-swap="outerHTML"
            readonly={!p.canEdit}
          >
            {p.yaml}
          </textarea>
          <ScenarioCheck yaml={p.yaml} scenario={p.scenario} issues={p.issues} />
        </form>
        {p.canEdit && (
          <div class="buttons spread">
            <button type="submit" class="primary" form="scenario-edit">
              Save
            </button>
            <form method="post" action={`/scenarios/${p.id}/delete`} class="inline">
              <Csrf token={p.csrf} />
              <button type="submit" class="danger">
                Delete from library
              </button>
            </form>
          </div>
        )}
      </Card>
    </div>
  );
}

export function DeployPage(p: {
  id: string;
  name: string;
  scenario: Scenario;
  platforms: Array<{ value: string; label: string }>;
  values: Record<string, unknown>;
  errors: Record<string, string>;
  message?: string | undefined;
  plan?: Plan | undefined;
  planError?: string | undefined;
  trainees: Array<{ id: string; username: string }>;
  assignments: Record<string, string>;
  csrf: string;
}) {
  return (
    <div>
      <p class="crumbs">
        <a href="/scenarios">Scenarios</a> / <a href={`/scenarios/${p.id}`}>{p.name}</a> / deploy
      </p>
      <h1>Deploy {p.scenario.title}</h1>
      <Card>
        <form
          method="post"
          action={`/scenarios/${p.id}/deploy`}
          class="stack"
          id="deploy-form"
          hx-post={`/scenarios/${p.id}/plan`}
          hx-trigger="change"
          hx-target="#plan-preview"
          hx-swap="outerHTML"
        >
          <Csrf token={p.csrf} />
          <FormMessage message={p.message} />
          <div class="two-col">
            <Select
              name="platform"
              label="Platform"
              options={p.platforms}
              selected={p.values.platform as string | undefined}
              errors={p.errors}
            />
            <Field
              name="instances"
              label="Instances (one per trainee)"
              type="number"
              min={1}
              max={200}
              values={p.values}
              errors={p.errors}
            />
          </div>
          <label class="check">
            <input type="checkbox" name="vpn" value="on" checked={p.values.vpn === true} /> Per-trainee VPN: a WireGuard
            configuration per trainee (and one for the instructor) into their own instance, through its range router
            (Proxmox, ESXi)
          </label>
          {p.errors.vpn && <p class="error">{p.errors.vpn}</p>}
          <h3>Plan</h3>
          <PlanPreview plan={p.plan} error={p.planError} trainees={p.trainees} assignments={p.assignments} />
          <button type="submit" class="primary">
            Start deployment
          </button>
        </form>
      </Card>
    </div>
  );
}
