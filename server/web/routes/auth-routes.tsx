// /login and /logout (mounted at the root: the two sign-in URLs): argon2 verification, attempts limited per address
// and per username, a session cookie (HttpOnly, SameSite=Strict, Secure under TLS) whose token the database keeps
// only as a hash.
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { User } from '../../model/user.ts';
import { LoginPage } from '../../../views/pages/login.tsx';
import { sessionLimits } from '../../accounts/sessions.ts';
import { actorOf, type AppEnv, type Ctx, type WebDomain } from '../context.ts';
import { formFields, parseFields } from '../forms.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { loginSchema } from '../schemas.ts';
import { allow, cookieNames, open } from '../security.ts';

export function startSession(c: Ctx, web: WebDomain, user: User): void {
  const { token, csrfToken } = web.sessions.start(user.id, c.get('ip'));
  setCookie(c, cookieNames.session, token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: web.options.secure === true,
    path: '/',
    maxAge: Math.floor(sessionLimits.absoluteMs / 1000),
  });
  c.set('viewer', { user, via: 'session' });
  c.set('csrf', csrfToken);
}

/** Only paths on this site: never `//host` or a full URL. */
/**
 * Where to go after sign-in: a path on this site only. Browsers drop tabs and newlines from URLs and read a backslash
 * as a slash, so `/\t/evil.example` would become `//evil.example`: any control character or backslash is refused,
 * and the path must still be a same-origin path (one leading slash) once the URL parser has normalised it.
 */
export function safeNext(next: string | undefined): string {
  if (!next || !next.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(next) || next.startsWith('//')) return '/';
  let url: URL;
  try {
    url = new URL(next, 'http://appliance.invalid');
  } catch {
    return '/';
  }
  if (url.origin !== 'http://appliance.invalid' || url.pathname.startsWith('//')) return '/';
  return `${url.pathname}${url.search}${url.hash}`;
}

export function authRoutes(web: WebDomain, limiter: RateLimiter) {
  const app = new Hono<AppEnv>();

  app.get('/login', open(), (c) => {
    if (c.get('viewer')) return c.redirect('/', 303);
    return c.render(<LoginPage csrf={c.get('csrf')} values={{}} errors={{}} next={safeNext(c.req.query('next'))} />, {
      title: 'Sign in',
    });
  });

  app.post('/login', open(), async (c) => {
    const fields = await formFields(c);
    const next = safeNext(fields.next);
    const parsed = parseFields(loginSchema, fields, ['password']);
    if ('form' in parsed) {
      c.status(422);
      return c.render(<LoginPage csrf={c.get('csrf')} {...parsed.form} next={next} />, { title: 'Sign in' });
    }
    const { username, password } = parsed.data;
    const pair = `pair:${username}@${c.get('ip')}`;
    const keys = [`ip:${c.get('ip')}`, pair];
    const wait = limiter.retryAfter(keys);
    if (wait > 0) {
      c.status(429);
      c.header('Retry-After', String(Math.ceil(wait / 1000)));
      return c.render(
        <LoginPage
          csrf={c.get('csrf')}
          values={{ username }}
          errors={{}}
          message={`Too many failed attempts. Try again in ${wait < 60_000 ? `${Math.ceil(wait / 1000)} second(s)` : `${Math.ceil(wait / 60_000)} minute(s)`}.`}
          next={next}
        />,
        { title: 'Sign in' },
      );
    }
    const user = await web.users.signIn(actorOf(c), username, password);
    if (!user) {
      limiter.fail(keys);
      c.status(401);
      return c.render(
        <LoginPage
          csrf={c.get('csrf')}
          values={{ username }}
          errors={{}}
          message="Wrong username or password."
          next={next}
        />,
        { title: 'Sign in' },
      );
    }
    // Only this name from this address: the address's failures for other names still count.
    limiter.reset([pair]);
    startSession(c, web, user);
    return c.redirect(web.setup.isComplete() ? next : '/setup', 303);
  });

  app.post('/logout', allow(), (c) => {
    const token = getCookie(c, cookieNames.session);
    if (token) web.sessions.end(actorOf(c), token);
    deleteCookie(c, cookieNames.session, { path: '/' });
    return c.redirect('/login', 303);
  });

  return app;
}
