// What the console and terminal entry points check about the viewer, now and while a session is open: the machine
// must be in their scope (a trainee: their own instance), the session or API token must still resolve to the same
// user with the same role, and a browser's WebSocket must come from this appliance's own pages.
import { getCookie } from 'hono/cookie';
import { AppError } from '../errors.ts';
import type { Ctx, Viewer, WebDomain } from './context.ts';
import { inScope, instanceOfStep, scopeFor } from './deployment-model.ts';
import { cookieNames } from './security.ts';

/** A WebSocket opened by a page of another site would carry the viewer's cookie: refuse any foreign Origin. */
export function requireSameOrigin(c: Ctx): void {
  const origin = c.req.header('Origin');
  if (!origin) return; // not a browser (the CLI, scripts with a token)
  let host = '';
  try {
    host = new URL(origin).host;
  } catch {
    // An unparsable Origin is a foreign one.
  }
  if (host !== c.req.header('Host')) throw new AppError('forbidden', 'Cross-origin WebSocket refused');
}

/**
 * Re-asks, each time it is called, whether the viewer of this request may still use a session on the machine:
 * signed out (or token revoked, account disabled), another role, or the machine no longer in their scope.
 */
export function viewerCheck(
  web: WebDomain,
  c: Ctx,
  deploymentId: string,
  machineKey: string,
): () => string | undefined {
  const viewer = c.get('viewer')!;
  const cookie = getCookie(c, cookieNames.session);
  const auth = c.req.header('Authorization');
  const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  const instance = instanceOfStep(machineKey);
  return () => {
    const user =
      viewer.via === 'token'
        ? bearer
          ? web.tokens.resolve(bearer)
          : undefined
        : cookie
          ? web.sessions.resolve(cookie)?.user
          : undefined;
    if (!user || user.id !== viewer.user.id) return 'the viewer signed out';
    if (user.role !== viewer.user.role) return `the viewer's role changed to ${user.role}`;
    const now: Viewer = { user, via: viewer.via };
    try {
      if (instance === undefined || !inScope(scopeFor(web, now, deploymentId), instance))
        return 'the machine is no longer assigned to the viewer';
    } catch {
      return 'the machine is no longer assigned to the viewer';
    }
    return undefined;
  };
}
