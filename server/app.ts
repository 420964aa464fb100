// The HTTP application: middleware, every route mount (so this file reads as the URL map), one onError. Tests build
// it with an in-memory database and the simulator.
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { AppError, isAppError } from './errors.ts';
import type { Services } from './services.ts';
import type { AppEnv, WebOptions } from './web/context.ts';
import { errorResponse } from './web/error-response.tsx';
import { createLive } from './web/live.tsx';
import { createRateLimiter } from './web/rate-limit.ts';
import { layoutRenderer } from './web/render.tsx';
import { accountRoutes } from './web/routes/account-routes.tsx';
import { accessRoutes } from './web/routes/access-routes.tsx';
import { apiRoutes } from './web/routes/api-routes.ts';
import { askRoutes } from './web/routes/ask-routes.tsx';
import { authRoutes } from './web/routes/auth-routes.tsx';
import { dashboardRoutes } from './web/routes/dashboard-routes.tsx';
import { deploymentRoutes } from './web/routes/deployment-routes.tsx';
import { flagRoutes } from './web/routes/flag-routes.tsx';
import { researchRoutes } from './web/routes/research-routes.tsx';
import { overseerRoutes } from './web/routes/overseer-routes.tsx';
import { rangeRoutes } from './web/routes/range-routes.tsx';
import { scenarioRoutes } from './web/routes/scenario-routes.tsx';
import { settingsRoutes } from './web/routes/settings-routes.tsx';
import { setupRoutes } from './web/routes/setup-routes.tsx';
import { staticRoutes } from './web/routes/static-routes.ts';
import {
  authenticate,
  clientIp,
  csrfProtection,
  open,
  requestBodyLimit,
  securityHeaders,
  setupGate,
} from './web/security.ts';

export function createApp(services: Services, options: WebOptions = {}) {
  const web = { ...services, options };
  const limiter = createRateLimiter();
  const live = createLive(web);
  if (web.setup.isComplete()) web.library.seedBundled();

  const app = new Hono<AppEnv>();
  // WebSockets (consoles, terminals): upgrades go through the same middleware and routes as any request.
  const sockets = createNodeWebSocket({ app });
  sockets.wss.options.maxPayload = 1024 * 1024;
  app.use(
    clientIp(),
    securityHeaders(options.secure === true),
    layoutRenderer(() => web.setup.isComplete()),
    // Before anything reads a body (the CSRF check parses forms).
    requestBodyLimit(),
    authenticate(web),
    setupGate(web),
    csrfProtection(),
  );

  // A signed-in request about a deployment is activity on it: idle shutdown waits for none (in memory, cheap).
  for (const path of ['/deployments/:id', '/deployments/:id/*', '/api/v1/deployments/:id', '/api/v1/deployments/:id/*'])
    app.use(path, async (c, next) => {
      if (c.get('viewer')) web.lifecycle.touch(c.req.param('id')!);
      await next();
    });

  app.get('/healthz', open(), (c) => c.json({ ok: true, setup: web.setup.isComplete() }));
  app.route('/static', staticRoutes());
  app.route('/setup', setupRoutes(web, limiter));
  app.route('/', authRoutes(web, limiter)); // /login, /logout
  app.route('/', dashboardRoutes(web)); // /
  app.route('/scenarios', scenarioRoutes(web));
  app.route('/deployments/:id/flags', flagRoutes(web)); // instructors only
  app.route('/deployments/:id/range', rangeRoutes(web)); // lifecycle, snapshots, testing mode
  app.route('/deployments', deploymentRoutes(web, live)); // and /deployments/:id/machines
  app.route('/deployments', accessRoutes(web, sockets.upgradeWebSocket)); // .../machines/:key/console, /terminal
  app.route('/ask', askRoutes(web));
  app.route('/research', researchRoutes(web));
  app.route('/overseer', overseerRoutes(web));
  app.route('/settings', settingsRoutes(web));
  app.route('/account', accountRoutes(web));
  app.route('/api/v1', apiRoutes(web));

  app.notFound((c) => errorResponse(c, new AppError('not_found', `No page at ${c.req.path}`)));
  app.onError((e, c) => {
    const err = isAppError(e) ? e : new AppError('internal', 'Internal error', { cause: e });
    if (err.code === 'internal') console.error(e);
    return errorResponse(c, err);
  });

  /** Serves the WebSocket routes on a listening HTTP or HTTPS server (main.ts; tests that open sockets). */
  const injectWebSocket = (server: Parameters<typeof sockets.injectWebSocket>[0]) => sockets.injectWebSocket(server);
  return Object.assign(app, { web, live, injectWebSocket });
}
