// The dashboard and the deployments list: what is running, what finished, what needs attention.
import { Hono } from 'hono';
import type { ConnectionReport } from '../platforms/platform.ts';
import { DashboardPage, DeploymentsPage, type DashboardRow } from '../../views/pages/dashboard.tsx';
import type { AppEnv, Viewer, WebDomain } from './context.ts';
import { visibleDeployments } from './deployment-view.ts';
import { allow } from './security.ts';
import { activeDeploymentStates, type DeploymentState } from '../model/states.ts';

const attentionStates = ['failed', 'destroy_failed'];

/** Machine counts per deployment from the `ready` steps: one grouped query, no plan parsing. */
function machineCounts(web: WebDomain): Map<string, { machines: number; ready: number }> {
  const rows = web.db.$client
    .prepare(`SELECT deployment_id AS id, count(*) AS machines, sum(state = 'done') AS ready FROM steps WHERE kind = 'ready' GROUP BY deployment_id`)
    .all() as Array<{ id: string; machines: number; ready: number }>;
  return new Map(rows.map((r) => [r.id, { machines: r.machines, ready: r.ready ?? 0 }]));
}

export function deploymentRows(web: WebDomain, viewer: Viewer, limit = 100): DashboardRow[] {
  const counts = machineCounts(web);
  const names = new Map(web.platforms.list().map((p) => [p.id, p.name]));
  return visibleDeployments(web, viewer, limit).map((d) => ({
    ...d,
    platformName: names.get(d.platformId) ?? d.platformId,
    machines: counts.get(d.id)?.machines ?? 0,
    ready: counts.get(d.id)?.ready ?? 0,
  }));
}

export function dashboardRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();
  // Platform health, checked in the background at most once a minute: the page never waits on a slow platform for long.
  const health = new Map<string, { report: ConnectionReport; at: number; pending?: Promise<void> }>();
  const check = (id: string) => {
    const entry = health.get(id);
    if (entry?.pending || (entry && Date.now() - entry.at < 60_000)) return entry?.pending;
    const pending = web.platforms
      .instance(id)
      .then((p) => p.testConnection({ signal: AbortSignal.timeout(10_000) }))
      .catch((e: unknown): ConnectionReport => ({ ok: false, product: 'unreachable', details: [e instanceof Error ? e.message : String(e)] }))
      .then((report) => void health.set(id, { report, at: Date.now() }));
    health.set(id, { ...(entry ?? { report: { ok: false, product: '', details: ['checking'] }, at: 0 }), pending });
    return pending;
  };

  app.get('/', allow(), async (c) => {
    const viewer = c.get('viewer')!;
    const platforms = web.platforms.list();
    if (viewer.user.role !== 'trainee') {
      const first = platforms.filter((p) => !health.get(p.id) || health.get(p.id)!.at === 0).map((p) => check(p.id));
      for (const p of platforms) check(p.id);
      await Promise.race([Promise.all(first), new Promise((r) => setTimeout(r, 1500))]);
    }
    const rows = deploymentRows(web, viewer, 200);
    const live = rows.filter((r) => r.state !== 'destroyed');
    return c.render(
      <DashboardPage
        role={viewer.user.role}
        platforms={platforms.map((p) => {
          const h = health.get(p.id);
          return { id: p.id, name: p.name, kind: p.kind, health: h && h.at > 0 ? h.report : undefined };
        })}
        active={rows.filter((r) => activeDeploymentStates.includes(r.state as DeploymentState))}
        recent={rows.slice(0, 10)}
        attention={rows.filter((r) => attentionStates.includes(r.state))}
        totals={{ deployments: live.length, machines: live.reduce((n, r) => n + r.machines, 0), ready: live.reduce((n, r) => n + r.ready, 0) }}
        scenarios={viewer.user.role === 'trainee' ? 0 : (web.db.$client.prepare('SELECT count(*) AS n FROM scenarios').get() as { n: number }).n}
      />,
      { title: 'Dashboard' },
    );
  });

  app.get('/deployments', allow(), (c) => {
    const viewer = c.get('viewer')!;
    return c.render(<DeploymentsPage rows={deploymentRows(web, viewer, 500)} role={viewer.user.role} />, { title: 'Deployments' });
  });

  return app;
}
