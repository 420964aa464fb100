// /deployments/:id/machines/:key/console and /terminal: the pages, the single-use links their scripts ask for (POST,
// CSRF-checked), and the WebSockets those links open. The viewer must see the machine (a trainee: their own
// instance); the domain (server/access) checks the machine, runs the session and audits it.
import type { NodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import { ConsolePage, TerminalPage } from '../../../views/pages/remote-access.tsx';
import { requireSameOrigin, viewerCheck } from '../access-model.ts';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { visibleMachine } from '../machine-model.ts';
import { allow } from '../security.ts';

type Upgrade = NodeWebSocket['upgradeWebSocket'];
type Kind = 'console' | 'terminal';

/** xterm.js's DOM renderer writes its measurements and colours into <style> elements it creates. */
const terminalCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

export function accessRoutes(web: WebDomain, upgradeWebSocket: Upgrade) {
  const app = new Hono<AppEnv>();
  const keyOf = (c: Ctx) => decodeURIComponent(c.req.param('key')!);
  const machineOf = (c: Ctx) => {
    const m = visibleMachine(web, c.get('viewer')!, c.req.param('id')!, keyOf(c));
    // A shell on the router would let a trainee rewrite the firewall that isolates their instance.
    if (m.role === 'router' && c.get('viewer')!.user.role === 'trainee')
      throw new AppError(
        'forbidden',
        `The range router "${m.key}" is managed by instructors; it has no console or terminal for trainees`,
      );
    return m;
  };

  for (const kind of ['console', 'terminal'] as Kind[]) {
    app.get(`/:id/machines/:key/${kind}`, allow(), (c) => {
      const m = machineOf(c);
      const props = {
        deploymentId: c.req.param('id')!,
        machine: { key: m.key, hostname: m.hostname, instance: m.instance, os: m.os },
        csrf: c.get('csrf'),
      };
      if (kind === 'terminal') c.header('Content-Security-Policy', terminalCsp);
      return c.render(kind === 'console' ? <ConsolePage {...props} /> : <TerminalPage {...props} />, {
        title: `${kind === 'console' ? 'Console' : 'Terminal'} ${m.hostname}`,
      });
    });

    app.post(`/:id/machines/:key/${kind}/link`, allow(), async (c) => {
      const id = c.req.param('id')!;
      const m = machineOf(c);
      const link = await web.access.issue(actorOf(c), kind, id, m.key);
      return c.json({
        socket: `/deployments/${id}/machines/${encodeURIComponent(m.key)}/${kind}/socket?token=${link.token}`,
        expiresAt: new Date(link.expiresAt).toISOString(),
      });
    });

    app.get(
      `/:id/machines/:key/${kind}/socket`,
      allow(),
      upgradeWebSocket((c) => {
        const id = c.req.param('id')!;
        const m = machineOf(c);
        if (c.req.header('Upgrade')?.toLowerCase() !== 'websocket')
          throw new AppError('invalid_input', `The ${kind} socket is a WebSocket`);
        requireSameOrigin(c);
        const actor = actorOf(c);
        const grant = web.access.redeem(actor, kind, c.req.query('token') ?? '', id, m.key);
        const hooks = { viewerCheck: viewerCheck(web, c, id, m.key) };
        const size = (name: string, fallback: number, max: number) => {
          const n = Number(c.req.query(name));
          return Number.isInteger(n) && n >= 2 && n <= max ? n : fallback;
        };
        return {
          onOpen(_e, ws) {
            const raw = ws.raw!;
            if (kind === 'console') void web.access.startConsole(actor, grant, raw, hooks);
            else
              void web.access.startTerminal(actor, grant, raw, hooks, {
                cols: size('cols', 80, 1000),
                rows: size('rows', 24, 500),
              });
          },
        };
      }),
    );
  }
  return app;
}
