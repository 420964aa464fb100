// The dashboard: platforms and their health, deployments in progress and recent, machine counts, failures.
import type { DashboardRow, PlatformHealth, Role } from '../props.ts';
import { Card } from '../components/form.tsx';
import { StateBadge } from '../components/state.tsx';

export interface DashboardProps {
  role: Role;
  platforms: PlatformHealth[];
  active: DashboardRow[];
  recent: DashboardRow[];
  attention: DashboardRow[];
  totals: { deployments: number; machines: number; ready: number };
  scenarios: number;
}

export function DeploymentTable({ rows, empty }: { rows: DashboardRow[]; empty: string }) {
  if (rows.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Deployment</th>
          <th>Scenario</th>
          <th>Platform</th>
          <th>Instances</th>
          <th>Machines ready</th>
          <th>State</th>
          <th>Started</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr>
            <td>
              <a class="mono" href={`/deployments/${r.id}`}>
                {r.id}
              </a>
            </td>
            <td>{r.scenarioName}</td>
            <td>{r.platformName}</td>
            <td>{r.instances}</td>
            <td>
              {r.ready}/{r.machines}
            </td>
            <td>
              <StateBadge state={r.state} />
              {r.error && <p class="error small">{r.error}</p>}
            </td>
            <td>{r.createdAt.replace('T', ' ').slice(0, 16)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function DashboardPage(p: DashboardProps) {
  return (
    <div>
      <h1>Dashboard</h1>
      <div class="tiles">
        <div class="tile">
          <strong>{p.active.length}</strong> in progress
        </div>
        <div class="tile">
          <strong>{p.totals.deployments}</strong> deployments live
        </div>
        <div class="tile">
          <strong>
            {p.totals.ready}/{p.totals.machines}
          </strong>{' '}
          machines ready
        </div>
        <div class={`tile${p.attention.length > 0 ? ' warn' : ''}`}>
          <strong>{p.attention.length}</strong> need attention
        </div>
      </div>
      {p.role !== 'trainee' && (
        <Card title="Platforms">
          <ul class="platforms">
            {p.platforms.map((pl) => (
              <li>
                <span class={`dot ${pl.health === undefined ? 'unknown' : pl.health.ok ? 'ok' : 'bad'}`} />
                <strong>{pl.name}</strong> <small>{pl.kind}</small>{' '}
                {pl.health ? (
                  <small class="muted">
                    {pl.health.ok ? `${pl.health.product} ${pl.health.version ?? ''}` : pl.health.details[0]}
                  </small>
                ) : (
                  <small class="muted">checking…</small>
                )}
              </li>
            ))}
          </ul>
        </Card>
      )}
      {p.attention.length > 0 && (
        <Card title="Needs attention">
          <DeploymentTable rows={p.attention} empty="" />
        </Card>
      )}
      <Card title="In progress">
        <DeploymentTable rows={p.active} empty="Nothing is deploying right now." />
      </Card>
      <Card
        title="Recent deployments"
        actions={
          p.role !== 'trainee' ? (
            <a class="button primary" href="/scenarios">
              Deploy a scenario ({p.scenarios} in the library)
            </a>
          ) : undefined
        }
      >
        <DeploymentTable
          rows={p.recent}
          empty={
            p.role === 'trainee'
              ? 'No range has been assigned to you yet.'
              : 'No deployments yet. Pick a scenario from the library to deploy it.'
          }
        />
      </Card>
    </div>
  );
}

export function DeploymentsPage({ rows, role }: { rows: DashboardRow[]; role: string }) {
  return (
    <div>
      <h1>Deployments</h1>
      <Card>
        <DeploymentTable
          rows={rows}
          empty={role === 'trainee' ? 'No range has been assigned to you yet.' : 'No deployments yet.'}
        />
      </Card>
    </div>
  );
}
