// The page frame, installed once: head, navigation for the viewer's role, and the CSRF header for htmx.
import type { Child } from 'hono/jsx';

export interface LayoutViewer {
  username: string;
  role: 'admin' | 'instructor' | 'trainee';
}

export interface LayoutProps {
  title: string;
  viewer?: LayoutViewer | undefined;
  csrf: string;
  /** Until setup is complete every link leads to the wizard: no menu then. */
  setup?: boolean;
  children?: Child;
}

const htmxConfig = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  // Form errors come back as 422 with the form rendered again: swap those too.
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '422', swap: true },
    { code: '[45]..', swap: true, error: true },
  ],
});

export function Layout({ title, viewer, csrf, setup, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={htmxConfig} />
        <title>{title} · Glassdome</title>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/app.css" />
        <script src="/static/htmx.min.js" defer></script>
        <script src="/static/live.js" defer></script>
      </head>
      <body hx-headers={JSON.stringify({ 'X-CSRF-Token': csrf })}>
        <header class="top">
          <a class="brand" href="/">
            <span class="logo" aria-hidden="true">
              ◍
            </span>{' '}
            Glassdome
          </a>
          {viewer && !setup ? (
            <nav>
              <a href="/">Dashboard</a>
              {viewer.role !== 'trainee' && <a href="/scenarios">Scenarios</a>}
              <a href="/deployments">Deployments</a>
              <a href="/ask">Ask</a>
              {viewer.role !== 'trainee' && <a href="/research">Research</a>}
              {viewer.role !== 'trainee' && <a href="/overseer">Overseer</a>}
              {viewer.role === 'admin' && <a href="/settings">Settings</a>}
              {viewer.role !== 'admin' && <a href="/settings/tokens">API tokens</a>}
              <a href="/account">Account</a>
            </nav>
          ) : (
            <nav />
          )}
          {viewer && (
            <form class="whoami" method="post" action="/logout">
              <input type="hidden" name="_csrf" value={csrf} />
              <span>
                {viewer.username} <small>({viewer.role})</small>
              </span>
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          )}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
