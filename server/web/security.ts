// Request security: client address, security headers, who is signed in (session cookie or API token),
// CSRF on every state-changing browser request, the first-boot gate, and per-route role checks.
import crypto from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import { limits as scenarioLimits } from '../orchestrator/scenario/schema.ts';
import type { Role } from '../model/user.ts';
import { AppError } from '../errors.ts';
import type { AppEnv, Ctx, WebDomain } from './context.ts';

export const cookieNames = { session: 'gd_session', csrf: 'gd_csrf' } as const;
const unsafe = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const anonymousForms = ['/login', '/setup'];

export const isApi = (c: Ctx) => c.req.path.startsWith('/api/');

/**
 * How large a request body may be, by route: a scenario (uploaded, edited, checked, deployed inline) may be as large
 * as the scenario format allows, with room for form or JSON encoding; a certificate and key fit in 256 KiB; every
 * other form or JSON body in 64 KiB. Checked before anything reads the body (the CSRF check does), so an oversized
 * upload costs its first bytes, not its size in memory.
 */
export const bodyLimits = {
  scenario: 4 * scenarioLimits.fileBytes,
  certificate: 256 * 1024,
  /** A CVE feed sent to the API (NVD's gzipped yearly files are tens of MB; larger ones go in the feed folder). */
  cveFeed: 256 * 1024 * 1024,
  /** A CVE feed uploaded from the page: a multipart form, parsed in memory. */
  cveUpload: 64 * 1024 * 1024,
  default: 64 * 1024,
};
const scenarioBodies = [
  /^\/scenarios(\/[^/]+)?$/,
  /^\/scenarios\/check$/,
  /^\/api\/v1\/(scenarios(\/[^/]+|\/validate)?|deployments|plan)$/,
];

function limitFor(path: string): number {
  if (scenarioBodies.some((r) => r.test(path))) return bodyLimits.scenario;
  if (path === '/settings/tls') return bodyLimits.certificate;
  if (path === '/api/v1/research/cve-imports') return bodyLimits.cveFeed;
  if (path === '/research/imports') return bodyLimits.cveUpload;
  return bodyLimits.default;
}

export function requestBodyLimit(): MiddlewareHandler<AppEnv> {
  const guards = new Map<number, MiddlewareHandler<AppEnv>>();
  const guardFor = (max: number) => {
    let g = guards.get(max);
    if (!g) {
      g = bodyLimit({
        maxSize: max,
        onError: () => {
          throw new AppError(
            'too_large',
            `The request body is larger than ${Math.round(max / 1024)} KiB, the limit for this page`,
            {
              hint:
                max === bodyLimits.scenario
                  ? `A scenario file may be at most ${scenarioLimits.fileBytes.toLocaleString('en')} bytes.`
                  : max === bodyLimits.cveFeed || max === bodyLimits.cveUpload
                    ? 'Send the gzipped feed, or copy the file to the feed folder on the appliance and import it from there.'
                    : 'Send less.',
            },
          );
        },
      }) as MiddlewareHandler<AppEnv>;
      guards.set(max, g);
    }
    return g;
  };
  return (c, next) =>
    c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : guardFor(limitFor(c.req.path))(c, next);
}

export function clientIp(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let ip = 'local';
    try {
      ip = getConnInfo(c).remote.address ?? 'local';
    } catch {
      // app.request() in tests has no socket.
    }
    c.set('ip', ip);
    await next();
  };
}

export function securityHeaders(secure: boolean): MiddlewareHandler<AppEnv> {
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
  return async (c, next) => {
    await next();
    // A page that needs a looser policy (the terminal's xterm.js) sets its own; every other response gets this one.
    if (!c.res.headers.has('Content-Security-Policy')) c.header('Content-Security-Policy', csp);
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    if (secure) c.header('Strict-Transport-Security', 'max-age=31536000');
    if (!c.res.headers.has('Cache-Control') && !c.req.path.startsWith('/static/'))
      c.header('Cache-Control', 'no-store');
  };
}

/** Sets `viewer` from a Bearer token or the session cookie, and `csrf` to the token forms must send back. */
export function authenticate(web: WebDomain): MiddlewareHandler<AppEnv> {
  const secure = web.options.secure === true;
  return async (c, next) => {
    c.set('viewer', undefined);
    const auth = c.req.header('Authorization');
    if (auth?.startsWith('Bearer ')) {
      const user = web.tokens.resolve(auth.slice(7).trim());
      if (!user)
        throw new AppError('unauthorized', 'The API token is unknown or revoked', {
          hint: 'Create a token in Settings > API tokens.',
        });
      c.set('viewer', { user, via: 'token' });
      c.set('csrf', '');
      return next();
    }
    const token = getCookie(c, cookieNames.session);
    const session = token ? web.sessions.resolve(token) : undefined;
    if (session) {
      c.set('viewer', { user: session.user, via: 'session' });
      c.set('csrf', session.csrfToken);
      return next();
    }
    // Signed out (sign-in and setup forms): a double-submit token in its own cookie.
    let anon = getCookie(c, cookieNames.csrf);
    if (!anon || anon.length < 20) {
      anon = crypto.randomBytes(24).toString('base64url');
      setCookie(c, cookieNames.csrf, anon, { httpOnly: true, sameSite: 'Strict', secure, path: '/' });
    }
    c.set('csrf', anon);
    return next();
  };
}

/** Refuses state-changing browser requests without the CSRF token (form field `_csrf` or header `X-CSRF-Token`), or from another origin. */
export function csrfProtection(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!unsafe.has(c.req.method) || c.get('viewer')?.via === 'token') return next();
    // Signed out, only the sign-in and setup forms act; every other route refuses the request as unauthenticated.
    if (!c.get('viewer') && !anonymousForms.includes(c.req.path)) return next();
    const origin = c.req.header('Origin');
    if (origin && origin !== 'null') {
      const host = c.req.header('Host');
      let originHost = '';
      try {
        originHost = new URL(origin).host;
      } catch {
        // An unparsable Origin is a foreign one.
      }
      if (!host || originHost !== host) throw new AppError('forbidden', 'Cross-origin request refused');
    }
    let sent = c.req.header('X-CSRF-Token');
    if (!sent) {
      const type = c.req.header('Content-Type') ?? '';
      if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
        const body = await c.req.parseBody();
        sent = typeof body._csrf === 'string' ? body._csrf : undefined;
      }
    }
    const expected = c.get('csrf');
    if (
      !sent ||
      !expected ||
      sent.length !== expected.length ||
      !crypto.timingSafeEqual(Buffer.from(sent), Buffer.from(expected))
    )
      throw new AppError('forbidden', 'Missing or wrong CSRF token', { hint: 'Reload the page and try again.' });
    return next();
  };
}

const openDuringSetup = [
  /^\/setup(\/|$)/,
  /^\/static\//,
  /^\/healthz$/,
  /^\/login$/,
  /^\/logout$/,
  /^\/api\/v1\/openapi\.json$/,
];

/** Until setup is complete every page leads to the wizard; afterwards the wizard is gone. */
export function setupGate(web: WebDomain): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const complete = web.setup.isComplete();
    if (complete && /^\/setup(\/|$)/.test(c.req.path))
      throw new AppError('not_found', 'Setup is complete', { hint: 'Sign in instead.' });
    if (!complete && !openDuringSetup.some((r) => r.test(c.req.path))) {
      if (isApi(c))
        throw new AppError('conflict', 'This appliance is not set up yet', {
          hint: 'Open it in a browser and finish the setup wizard.',
        });
      return c.redirect('/setup', 303);
    }
    return next();
  };
}

/** Admits signed-in users with one of `roles` (any role when none are given). */
export function allow(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const viewer = c.get('viewer');
    if (!viewer) {
      if (isApi(c) || c.req.method !== 'GET') throw new AppError('unauthorized', 'Sign in first');
      return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
    }
    if (roles.length > 0 && !roles.includes(viewer.user.role))
      throw new AppError(
        'forbidden',
        `Your role (${viewer.user.role}) may not do this; it needs ${roles.join(' or ')}`,
      );
    return next();
  };
}

/** Explicitly public: marks a route as open to anyone, so the route table shows a decision for it. */
export function open(): MiddlewareHandler<AppEnv> {
  return async (_c, next) => next();
}
