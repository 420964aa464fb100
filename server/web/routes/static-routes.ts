// /static: the vendored htmx, the stylesheet and the page scripts, read once from views/static and served with a
// content hash in the ETag; /static/vendor/... the vendored ES-module libraries (noVNC, xterm.js) with their folders.
// Nothing comes from a CDN: the appliance runs air-gapped.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { open } from '../security.ts';

export const staticDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'views', 'static');
const types: Record<string, string> = {
  // Browsers load ES modules only with a JavaScript MIME type.
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

type StaticFile = { body: Buffer; type: string; etag: string };

function load(file: string): StaticFile | undefined {
  const type = types[path.extname(file)];
  if (!type) return undefined;
  const body = fs.readFileSync(file);
  return { body, type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

/** Every servable file under a folder, by its path relative to it (`/`-separated). */
function tree(dir: string, prefix = ''): Array<[string, StaticFile]> {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e): Array<[string, StaticFile]> => {
    if (e.isDirectory()) return tree(path.join(dir, e.name), `${prefix}${e.name}/`);
    const f = load(path.join(dir, e.name));
    return f ? [[`${prefix}${e.name}`, f]] : [];
  });
}

export function staticRoutes() {
  const files = new Map<string, StaticFile>();
  for (const name of fs.readdirSync(staticDir)) {
    if (!fs.statSync(path.join(staticDir, name)).isFile()) continue;
    const f = load(path.join(staticDir, name));
    if (f) files.set(name, f);
  }
  // Looked up by exact relative path, never joined onto the file system: no way out of the folder.
  const vendor = new Map(tree(path.join(staticDir, 'vendor')));
  const app = new Hono<AppEnv>();
  app.get('/vendor/*', open(), (c) => {
    const f = vendor.get(c.req.path.slice(c.req.path.indexOf('/vendor/') + '/vendor/'.length));
    if (!f) return c.notFound();
    if (c.req.header('If-None-Match') === f.etag) return c.body(null, 304);
    return c.body(new Uint8Array(f.body), 200, {
      'Content-Type': f.type,
      ETag: f.etag,
      'Cache-Control': 'public, max-age=300',
    });
  });
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
