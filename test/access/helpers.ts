// What the console and terminal tests share: the app served on a real 127.0.0.1 port (WebSockets need one), a
// browser-like WebSocket client that sends the session cookie and an Origin, and byte-exact reads on it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import WebSocket from 'ws';
import type { Client, TestApp } from '../web/helpers.ts';

export async function serve(app: TestApp): Promise<{ base: string; host: string; close(): Promise<void> }> {
  const server = http.createServer(getRequestListener(app.fetch));
  app.injectWebSocket(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base: `http://${host}`,
    host,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface OpenedSocket {
  ws: WebSocket;
  /** Every binary byte received so far, and every text message. */
  bytes(): Buffer;
  texts: string[];
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Reads exactly n more binary bytes (after those already read), bounded by 5 s. */
  read(n: number): Promise<Buffer>;
  /** Waits until the received text (binary as UTF-8) matches, bounded by `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
}

/** Opens a socket like a browser page of the appliance would (cookie, same Origin); rejects with the HTTP status of a refused upgrade. */
export function openSocket(
  base: string,
  path: string,
  o: { client?: Client; origin?: string; headers?: Record<string, string> } = {},
): Promise<OpenedSocket> {
  const url = `${base.replace(/^http/, 'ws')}${path}`;
  const cookie = o.client ? [...o.client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  const ws = new WebSocket(url, {
    headers: { ...(cookie ? { Cookie: cookie } : {}), ...o.headers },
    origin: o.origin ?? base,
  });
  const chunks: Buffer[] = [];
  const texts: string[] = [];
  let offset = 0;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) chunks.push(data);
    else texts.push(data.toString());
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      wake();
    }),
  );
  const bytes = () => Buffer.concat(chunks);
  const until = async (ok: () => boolean, ms: number, what: string) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        waiters.add(() => {
          clearTimeout(t);
          r();
        });
      });
      waiters.clear();
    }
  };
  const opened: OpenedSocket = {
    ws,
    bytes,
    texts,
    closed,
    async read(n) {
      await until(() => bytes().length - offset >= n, 5000, `${n} bytes`);
      const b = bytes().subarray(offset, offset + n);
      offset += n;
      return b;
    },
    async waitFor(re, ms = 10_000) {
      await until(() => re.test(bytes().toString('utf8') + texts.join('\n')), ms, String(re));
      return bytes().toString('utf8');
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(opened));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

/** Asks for a single-use console or terminal link as the page script does (POST with the CSRF header). */
export async function link(client: Client, deploymentId: string, key: string, kind: 'console' | 'terminal') {
  const r = await client.request(
    'POST',
    `/deployments/${deploymentId}/machines/${encodeURIComponent(key)}/${kind}/link`,
    {
      headers: { Accept: 'application/json', 'X-CSRF-Token': client.csrf },
      csrf: false,
    },
  );
  let body: any;
  try {
    body = JSON.parse(r.text);
  } catch {
    body = r.text;
  }
  return { status: r.status, body };
}
