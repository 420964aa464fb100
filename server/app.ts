// The HTTP application: middleware, every route mount, one onError. Tests build it with an in-memory database.
import { Hono } from 'hono';
import { AppError, isAppError } from './errors.ts';
import { listDeployments } from './orchestrator/deployments.ts';
import type { Services } from './services.ts';

export function createApp(services: Services) {
  const app = new Hono();

  app.get('/healthz', (c) => {
    services.db.$client.prepare('SELECT 1').get();
    return c.json({ ok: true, platforms: services.platforms.list().length });
  });

  app.get('/', (c) => {
    const rows = listDeployments(services.db, 20);
    const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Glassdome</title></head><body>` +
        `<h1>Glassdome</h1><p>Cyber range appliance. ${services.platforms.list().length} platform(s) configured.</p>` +
        `<h2>Deployments</h2>${rows.length === 0 ? '<p>None yet. Deploy a scenario with <code>npx glassdome deploy server/scenarios/example.yaml</code>.</p>' : `<ul>${rows.map((r) => `<li>${esc(r.id)} ${esc(r.scenarioName)}: ${esc(r.state)}</li>`).join('')}</ul>`}` +
        `</body></html>`,
    );
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `No route for ${c.req.method} ${c.req.path}` } }, 404));

  app.onError((e, c) => {
    const err = isAppError(e) ? e : new AppError('internal', 'Internal error', { cause: e });
    if (err.code === 'internal') console.error(e);
    return c.json({ error: { code: err.code, message: err.message, hint: err.hint, issues: err.issues } }, err.status as 500);
  });

  return app;
}
