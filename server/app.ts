// The HTTP application: middleware, every route mount, one onError. Tests build it with an in-memory database.
import { Hono } from 'hono';
import { AppError, isAppError } from './errors.ts';
import type { Services } from './services.ts';
import { createWebDomain, type AppEnv, type WebOptions } from './web/context.ts';
import { authRoutes } from './web/auth.tsx';
import { apiRoutes } from './web/api.ts';
import { dashboardRoutes } from './web/dashboard.tsx';
import { deploymentRoutes } from './web/deployments.tsx';
import { errorResponse } from './web/errors.tsx';
import { createLive } from './web/live.tsx';
import { machineRoutes } from './web/machines.tsx';
import { createRateLimiter } from './web/rate-limit.ts';
import { layoutRenderer } from './web/render.tsx';
import { scenarioRoutes } from './web/scenarios.tsx';
import { authenticate, clientIp, csrfProtection, open, securityHeaders, setupGate } from './web/security.ts';
import { settingsRoutes } from './web/settings.tsx';
import { setupRoutes } from './web/setup.tsx';
import { staticRoutes } from './web/static.ts';

export function createApp(services: Services, options: WebOptions = {}) {
  const web = createWebDomain(services, options);
  const limiter = createRateLimiter();
  const live = createLive(web);
  if (web.setup.isComplete()) web.library.seedBundled();

  const app = new Hono<AppEnv>();
  app.use(clientIp(), securityHeaders(options.secure === true), layoutRenderer(), authenticate(web), setupGate(web), csrfProtection());

  app.get('/healthz', open(), (c) => {
    services.db.$client.prepare('SELECT 1').get();
    return c.json({ ok: true, setup: web.setup.isComplete() });
  });
  app.route('/', staticRoutes());
  app.route('/', setupRoutes(web, limiter));
  app.route('/', authRoutes(web, limiter));
  app.route('/', dashboardRoutes(web));
  app.route('/', scenarioRoutes(web));
  app.route('/', deploymentRoutes(web, live));
  app.route('/', machineRoutes(web));
  app.route('/', settingsRoutes(web));
  app.route('/api/v1', apiRoutes(web, live, limiter));

  app.notFound((c) => errorResponse(c, new AppError('not_found', `No page at ${c.req.path}`)));
  app.onError((e, c) => {
    const err = isAppError(e) ? e : new AppError('internal', 'Internal error', { cause: e });
    if (err.code === 'internal') console.error(e);
    return errorResponse(c, err);
  });

  return Object.assign(app, { web, live });
}
