// / : the dashboard: platforms and their health, what is running, what finished, what needs attention.
import { Hono } from 'hono';
import type { ConnectionReport } from '../../model/connection-report.ts';
import { activeDeploymentStates, type DeploymentState } from '../../model/states.ts';
import { DashboardPage } from '../../../views/pages/dashboard.tsx';
import type { AppEnv, WebDomain } from '../context.ts';
import { deploymentRows } from '../deployment-model.ts';
import { allow } from '../security.ts';

const attentionStates = ['failed', 'destroy_failed'];

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
      .catch((e: unknown): ConnectionReport => ({
        ok: false,
        product: 'unreachable',
        details: [e instanceof Error ? e.message : String(e)],
      }))
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
        totals={{
          deployments: live.length,
          machines: live.reduce((n, r) => n + r.machines, 0),
          ready: live.reduce((n, r) => n + r.ready, 0),
        }}
        scenarios={viewer.user.role === 'trainee' ? 0 : web.library.count()}
      />,
      { title: 'Dashboard' },
    );
  });

  return app;
}
