// /ask: a question to the knowledge base, for every signed-in user within their role's scope (the domain decides it);
// admins also see its status and may ingest everything again.
import { Hono } from 'hono';
import { AskPage } from '../../../views/pages/ask.tsx';
import type { AskModel } from '../../../views/props.ts';
import { actorOf, isRole, type AppEnv, type WebDomain } from '../context.ts';
import { askModel, knowledgeStatusModel } from '../kb-model.ts';
import { askQuerySchema } from '../kb-schemas.ts';
import { allow } from '../security.ts';
import { readableCollections } from '../../orchestrator/knowledge-base.ts';

export function askRoutes(web: WebDomain) {
  const app = new Hono<AppEnv>();

  app.get('/', allow(), async (c) => {
    const viewer = c.get('viewer')!;
    const raw = { q: c.req.query('q') ?? '', k: c.req.query('k') ?? '' };
    let ask: AskModel = {
      q: raw.q,
      k: Number(raw.k) || 8,
      collections: [...readableCollections[viewer.user.role]],
      passages: [],
      building: false,
    };
    if (raw.q.trim() !== '') {
      const parsed = askQuerySchema.safeParse(raw);
      if (!parsed.success) {
        c.status(400);
        ask = { ...ask, error: parsed.error.issues.map((i) => i.message).join('; ') };
      } else {
        ask = askModel(raw.q, parsed.data.k, await web.knowledge.search(viewer.user, parsed.data.q, parsed.data.k));
      }
    }
    const status = isRole(viewer, 'admin') ? knowledgeStatusModel(await web.knowledge.status()) : undefined;
    return c.render(<AskPage ask={ask} status={status} csrf={c.get('csrf')} />, { title: 'Ask' });
  });

  app.post('/refresh', allow('admin'), async (c) => {
    // The ingest runs on; the page shows it in progress.
    void web.knowledge.refresh(actorOf(c)).catch(() => undefined);
    return c.redirect('/ask', 303);
  });

  return app;
}
