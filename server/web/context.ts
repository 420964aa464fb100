// What every web handler receives: the domain (services plus accounts, library and machine actions) and, per request,
// the signed-in viewer. Built once by createApp; tests build it with an in-memory database and the simulator.
import type { Context } from 'hono';
import { createAssignments } from '../accounts/assignments.ts';
import { createAudit, type Actor } from '../accounts/audit.ts';
import { createSessions } from '../accounts/sessions.ts';
import { createSetup } from '../accounts/setup.ts';
import { createTokens } from '../accounts/tokens.ts';
import { createUsers, type Role, type User } from '../accounts/users.ts';
import { createLibrary } from '../library/scenarios.ts';
import { createMachineActions } from '../orchestrator/machines.ts';
import type { Services } from '../services.ts';

/** The running certificate and a way to replace it (the admin's own); absent when serving plain HTTP. */
export interface TlsControl {
  info(): { subject: string; issuer: string; validTo: string; fingerprint256: string; selfSigned: boolean };
  replace(certPem: string, keyPem: string): void;
}

export interface WebOptions {
  /** Cookies get `Secure` and responses HSTS: true when the appliance serves HTTPS. */
  secure?: boolean;
  tls?: TlsControl;
}

export function createWebDomain(services: Services, options: WebOptions = {}) {
  const { db } = services;
  return {
    ...services,
    users: createUsers(db),
    sessions: createSessions(db),
    tokens: createTokens(db),
    audit: createAudit(db),
    setup: createSetup(db),
    assignments: createAssignments(db),
    library: createLibrary(db),
    machines: createMachineActions(services),
    options,
  };
}

export type WebDomain = ReturnType<typeof createWebDomain>;

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

export const isRole = (viewer: Viewer | undefined, ...roles: Role[]) => viewer !== undefined && roles.includes(viewer.user.role);

/** Who is acting, for the audit log. */
export function actorOf(c: Ctx): Actor {
  const v = c.get('viewer');
  return { userId: v?.user.id ?? null, username: v?.user.username ?? '(anonymous)', ip: c.get('ip') };
}
