// /static: the vendored htmx, the stylesheet and the page scripts, read once from views/static and served with a
// content hash in the ETag. Nothing comes from a CDN: the appliance runs air-gapped.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { open } from '../security.ts';

export const staticDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'views', 'static');
const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

export function staticRoutes() {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  for (const name of fs.readdirSync(staticDir)) {
    const type = types[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(staticDir, name));
    files.set(name, {
      body,
      type,
      etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
    });
  }
  const app = new Hono<AppEnv>();
  app.get('/:file', open(), (c) => {
    const f = files.get(c.req.param('file'));
    if (!f) return c.notFound();
    if (c.req.header('If-None-Match') === f.etag) return c.body(null, 304);
    return c.body(new Uint8Array(f.body), 200, {
      'Content-Type': f.type,
      ETag: f.etag,
      'Cache-Control': 'public, max-age=300',
    });
  });
  return app;
}
