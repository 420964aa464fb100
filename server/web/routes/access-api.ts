// The JSON API of trainee access (/api/v1): single-use console and terminal links, and VPN configurations, with the
// same checks as the pages. What `glassdome access console|terminal|vpn` calls in remote mode.
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { actorOf, isRole, type WebDomain } from '../context.ts';
import { inScope, scopeFor } from '../deployment-model.ts';
import { visibleMachine } from '../machine-model.ts';
import type { createApiBuilder } from '../openapi.ts';

const linkResponse = z.object({
  /** The page that opens it in a browser (the browser's own session is what it uses there). */
  page: z.string(),
  /** The WebSocket path with its single-use token, for a client that speaks the protocol itself. */
  socket: z.string(),
  expiresAt: z.string(),
});

const vpnResponse = z.object({ filename: z.string(), config: z.string(), endpoint: z.string() });

export function accessApi(api: ReturnType<typeof createApiBuilder>, web: WebDomain): void {
  for (const kind of ['console', 'terminal'] as const) {
    api.route(
      {
        method: 'post',
        path: `/deployments/:id/machines/:key/${kind}`,
        summary:
          kind === 'console'
            ? "A single-use link to a machine's browser console (Proxmox)"
            : 'A single-use link to a web terminal on a Linux machine (SSH through its range router)',
        tag: 'access',
        roles: 'any',
        scoped: true,
        response: linkResponse,
        description:
          'Refused with why when the machine is destroyed, not created, powered off, runs Windows (terminal) or sits on a platform without consoles (console). A trainee gets no console or terminal on the range router.',
      },
      async (c) => {
        const id = c.req.param('id')!;
        const viewer = c.get('viewer')!;
        const m = visibleMachine(web, viewer, id, c.req.param('key')!);
        const link = await web.access.issue(actorOf(c), kind, id, m.key);
        const path = `/deployments/${id}/machines/${encodeURIComponent(m.key)}/${kind}`;
        return c.json({
          page: path,
          socket: `${path}/socket?token=${link.token}`,
          expiresAt: new Date(link.expiresAt).toISOString(),
        });
      },
    );
  }

  api.route(
    {
      method: 'get',
      path: '/deployments/:id/vpn/:instance',
      summary: "The viewer's WireGuard configuration into one instance (a trainee: their own; staff: the instructor's)",
      tag: 'access',
      roles: 'any',
      scoped: true,
      response: vpnResponse,
      description:
        'The configuration holds a private key; each download is recorded in the audit log. Refused for a deployment without a VPN.',
    },
    async (c) => {
      const id = c.req.param('id')!;
      const viewer = c.get('viewer')!;
      const instance = Number(c.req.param('instance'));
      if (!Number.isInteger(instance) || !inScope(scopeFor(web, viewer, id), instance))
        throw new AppError('not_found', `Deployment ${id} has no instance ${c.req.param('instance')} for you`);
      const role = isRole(viewer, 'admin', 'instructor') ? 'instructor' : 'trainee';
      return c.json(await web.access.vpnConfig(actorOf(c), role, id, instance));
    },
  );
}
