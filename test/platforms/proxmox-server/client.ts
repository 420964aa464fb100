// A raw HTTPS caller for tests of the fake server: no retries or interpretation, the answer exactly as sent.
// It pins the server's certificate fingerprint the way a driver should. Not a driver.
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface RawAnswer {
  status: number;
  reason: string;
  text: string;
  /** Parsed body, when it was JSON. */
  body?: { data?: unknown; errors?: Record<string, string>; message?: string; total?: number };
}

export interface CallSpec {
  /** Sent in the query string for GET/DELETE, form-encoded (or JSON with `json`) in the body for POST/PUT. */
  params?: Record<string, string | number | string[]>;
  json?: boolean;
  headers?: Record<string, string>;
}

export function callPve(
  server: { apiUrl: string; fingerprint: string },
  method: string,
  path: string,
  spec: CallSpec = {},
): Promise<RawAnswer> {
  const url = new URL(server.apiUrl + path);
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(spec.params ?? {}))
    for (const x of Array.isArray(v) ? v : [v]) form.append(k, String(x));
  let body: string | undefined;
  const headers: Record<string, string> = { ...spec.headers };
  if (method === 'GET' || method === 'DELETE') {
    for (const [k, v] of form) url.searchParams.append(k, v);
  } else if (spec.json) {
    body = JSON.stringify(spec.params ?? {});
    headers['Content-Type'] = 'application/json';
  } else {
    body = form.toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        // Self-signed: chain verification is off and the fingerprint is compared instead (Node skips
        // checkServerIdentity when the chain fails, so the check is on the socket). No agent: a resumed TLS session
        // shows no peer certificate.
        method,
        headers,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        if (cert.fingerprint256 !== server.fingerprint) {
          res.destroy();
          return reject(new Error(`certificate fingerprint ${cert.fingerprint256} is not the pinned one`));
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: RawAnswer['body'];
          try {
            parsed = text ? (JSON.parse(text) as RawAnswer['body']) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', text, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
