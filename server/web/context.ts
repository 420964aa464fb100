// What every web handler receives: the domain (the process's services) with the web's own options, and, per request,
// the signed-in viewer. Built once by createApp; tests build it with an in-memory database and the simulator.
import type { Context } from 'hono';
import type { Role, User } from '../model/user.ts';
import type { Actor } from '../model/audit.ts';
import type { Services } from '../services.ts';
import type { TlsControl } from '../tls.ts';

export interface WebOptions {
  /** Cookies get `Secure` and responses HSTS: true when the appliance serves HTTPS. */
  secure?: boolean;
  tls?: TlsControl;
}

export type WebDomain = Services & { options: WebOptions };

export interface Viewer {
  user: User;
  /** How the request was authenticated: a browser session (CSRF applies) or an API token. */
  via: 'session' | 'token';
}

export type AppEnv = {
  Variables: {
    viewer: Viewer | undefined;
    /** The session's CSRF token, for forms and htmx headers; empty without a session. */
    csrf: string;
    ip: string;
  };
};

export type Ctx = Context<AppEnv>;

export const isRole = (viewer: Viewer | undefined, ...roles: Role[]) =>
  viewer !== undefined && roles.includes(viewer.user.role);

/** Who is acting, for the audit log the domain writes. */
export function actorOf(c: Ctx): Actor {
  const v = c.get('viewer');
  return { userId: v?.user.id ?? null, username: v?.user.username ?? '(anonymous)', ip: c.get('ip') };
}

/** Starts long work in the background; a failure becomes an event on the deployment, never an unhandled rejection. */
export function inBackground(web: WebDomain, deploymentId: string, work: () => Promise<unknown>): void {
  void Promise.resolve()
    .then(work)
    .catch((e: unknown) =>
      web.events.publish(deploymentId, 'log', `background work failed: ${e instanceof Error ? e.message : String(e)}`),
    );
}
