// The layout, installed once: c.render(<Page/>, { title }) wraps a page in it with the viewer's navigation.
import { jsxRenderer } from 'hono/jsx-renderer';
import { Layout } from '../../views/layout.tsx';
import type { AppEnv } from './context.ts';

declare module 'hono' {
  interface ContextRenderer {
    (content: string | Promise<string>, props: { title: string }): Response | Promise<Response>;
  }
}

export function layoutRenderer(setupComplete: () => boolean) {
  return jsxRenderer<AppEnv>(
    ({ children, title }, c) => {
      const v = c.get('viewer');
      return (
        <Layout
          title={title}
          viewer={v ? { username: v.user.username, role: v.user.role } : undefined}
          csrf={c.get('csrf')}
          setup={!setupComplete()}
        >
          {children}
        </Layout>
      );
    },
    { docType: true },
  );
}
