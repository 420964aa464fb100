// /deployments/:id/machines/:key/console and /terminal: the pages, the single-use links their scripts ask for (POST,
// CSRF-checked), and the WebSockets those links open; /deployments/:id/vpn: the VPN configurations (download, QR).
// The viewer must see the machine or instance (a trainee: their own); the domain (server/access) checks the
// machine, runs the session, writes the configuration and audits each.
import type { NodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { AppError } from '../../errors.ts';
import QRCode from 'qrcode';
import { ConsolePage, TerminalPage } from '../../../views/pages/remote-access.tsx';
import { VpnPage } from '../../../views/pages/vpn.tsx';
import { inScope, scopeFor } from '../deployment-model.ts';
import { requireSameOrigin, viewerCheck } from '../access-model.ts';
import { actorOf, isRole, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { refuseRouterToTrainee } from '../../access/index.ts';
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
    refuseRouterToTrainee(c.get('viewer')!.user.role, m);
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
          // Someone typing in a console or terminal is using the range: idle shutdown must not stop it under them.
          onMessage() {
            web.lifecycle.touch(id);
          },
        };
      }),
    );
  }
  /** The instances of a VPN deployment the viewer has a configuration for, and whose key it is. */
  const vpnScope = (c: Ctx) => {
    const id = c.req.param('id')!;
    const viewer = c.get('viewer')!;
    const scope = scopeFor(web, viewer, id);
    const d = web.deployments.get(id);
    const assigned = web.assignments.ofDeployment(id);
    const instances = Array.from({ length: d.instances }, (_, i) => i + 1)
      .filter((i) => inScope(scope, i))
      .map((i) => ({ instance: i, assignedTo: assigned.get(i)?.username ?? null }));
    const role: 'trainee' | 'instructor' = isRole(viewer, 'admin', 'instructor') ? 'instructor' : 'trainee';
    if (!d.plan.vpn)
      throw new AppError('invalid_input', `Deployment ${id} has no VPN: it was deployed without one`, {
        hint: 'Deploy the scenario again with the VPN option (on Proxmox, ESXi or AWS, where each instance has a range router).',
      });
    return { id, d, instances, role, scope };
  };
  const instanceOf = (c: Ctx, scope: ReturnType<typeof scopeFor>) => {
    const n = Number(c.req.param('instance'));
    if (!Number.isInteger(n) || !inScope(scope, n))
      throw new AppError('not_found', `No instance ${c.req.param('instance')} here`);
    return n;
  };

  app.get('/:id/vpn', allow(), (c) => {
    const v = vpnScope(c);
    if (v.role === 'trainee' && v.instances.length === 1)
      return c.redirect(`/deployments/${v.id}/vpn/${v.instances[0]!.instance}`, 303);
    return c.render(
      <VpnPage
        deploymentId={v.id}
        scenarioName={v.d.scenarioName}
        role={v.role}
        instances={v.instances}
        vpn={v.d.plan.vpn!}
      />,
      { title: `VPN ${v.id}` },
    );
  });

  app.get('/:id/vpn/:instance', allow(), async (c) => {
    const v = vpnScope(c);
    const instance = instanceOf(c, v.scope);
    const props = {
      deploymentId: v.id,
      scenarioName: v.d.scenarioName,
      role: v.role,
      instances: v.instances,
      vpn: v.d.plan.vpn!,
    };
    try {
      const conf = await web.access.vpnConfig(actorOf(c), v.role, v.id, instance);
      const svg = await QRCode.toString(conf.config, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      const qr = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
      return c.render(
        <VpnPage {...props} selected={{ instance, filename: conf.filename, endpoint: conf.endpoint, qr }} />,
        {
          title: `VPN ${v.id}`,
        },
      );
    } catch (e) {
      if (!(e instanceof AppError) || e.code !== 'conflict') throw e;
      c.status(409);
      return c.render(<VpnPage {...props} error={`${e.message}${e.hint ? ` ${e.hint}` : ''}`} />, {
        title: `VPN ${v.id}`,
      });
    }
  });

  app.get('/:id/vpn/:instance/conf', allow(), async (c) => {
    const v = vpnScope(c);
    const conf = await web.access.vpnConfig(actorOf(c), v.role, v.id, instanceOf(c, v.scope));
    return c.body(conf.config, 200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Disposition': `attachment; filename="${conf.filename}"`,
    });
  });

  return app;
}
