// Runs on the appliance at boot and whenever the setup code or certificate changes: writes the console banner (an
// agetty issue file) with the address to open, the one-time setup code while setup is pending and the HTTPS
// certificate's fingerprint, so whoever imported the OVA reads them on the hypervisor's console.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BannerState {
  state: 'starting' | 'ready' | 'failed';
  port: number;
  httpPort?: number;
  /** Shown while setup is pending. */
  setupCode?: string;
  fingerprint256?: string;
  /** The network status line glassdome-network wrote. */
  network?: string;
  version?: string;
}

/** Lines a reader of the serial console (appliance/verify.ts) and of the screen finds the values on. */
export const markers = {
  code: 'Setup code:',
  fingerprint: 'Certificate SHA-256:',
  ready: 'Glassdome is ready',
  open: 'Open ',
} as const;

/** Pure: the issue file. `\4` is agetty's escape for the IPv4 address of the first configured interface. */
export function bannerText(b: BannerState): string {
  const clean = (s: string) => s.replace(/\\/g, '').replace(/[^\x20-\x7e]/g, '');
  const portPart = b.port === 443 ? '' : `:${b.port}`;
  const lines = ['', `Glassdome appliance${b.version ? ` ${clean(b.version)}` : ''}`, ''];
  if (b.state === 'starting') lines.push('  Glassdome is starting; this screen updates when it is ready.');
  if (b.state === 'failed') lines.push('  Glassdome did not start. Sign in and run: journalctl -u glassdome -b');
  if (b.state === 'ready') {
    lines.push(
      `  ${markers.ready}.`,
      `  ${markers.open}https://\\4${portPart}/ in a browser${b.httpPort ? ` (http://\\4${b.httpPort === 80 ? '' : `:${b.httpPort}`}/ redirects there)` : ''}.`,
    );
    if (b.setupCode)
      lines.push(
        '',
        `  ${markers.code} ${clean(b.setupCode)}`,
        '  Type it on the first page to create the admin account. It is used up once set up.',
      );
    else lines.push('', '  Setup is complete: sign in with the admin account.');
    if (b.fingerprint256)
      lines.push(
        '',
        `  ${markers.fingerprint}`,
        `    ${clean(b.fingerprint256)}`,
        '  (compare it with the certificate your browser shows before trusting it)',
      );
  }
  if (b.network) for (const l of b.network.trim().split('\n')) lines.push(`  Network: ${clean(l)}`);
  lines.push('', '');
  return lines.join('\n');
}

export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * GET /healthz on the local server. The answer counts only from the certificate in the data folder (compared by
 * fingerprint after the handshake: an uploaded CA-signed certificate has no chain to check here, and nothing secret
 * is sent).
 */
function healthz(
  port: number,
  certPem: string | undefined,
  timeoutMs: number,
): Promise<{ ok: boolean; setup: boolean } | undefined> {
  return new Promise((resolve) => {
    if (!certPem) return resolve(undefined);
    const expected = new crypto.X509Certificate(certPem).fingerprint256;
    const req = https.request(
      { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: timeoutMs },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          try {
            resolve(
              res.statusCode === 200 && peer.fingerprint256 === expected
                ? (JSON.parse(body) as { ok: boolean; setup: boolean })
                : undefined,
            );
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

export interface BannerPaths {
  env: string;
  issue: string;
  network: string;
  version: string;
}

export const defaultBannerPaths: BannerPaths = {
  env: '/etc/glassdome/glassdome.env',
  issue: '/run/glassdome/glassdome.issue',
  network: '/run/glassdome/network.txt',
  version: '/opt/glassdome/app/package.json',
};

function write(p: BannerPaths, b: BannerState): void {
  fs.mkdirSync(path.dirname(p.issue), { recursive: true });
  fs.writeFileSync(`${p.issue}.new`, bannerText(b), { mode: 0o644 });
  fs.renameSync(`${p.issue}.new`, p.issue);
  try {
    // Running agettys redraw their prompt with the new issue.
    execFileSync('agetty', ['--reload'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // No agetty (tests) or none running yet: the next prompt reads the file anyway.
  }
}

/** Writes "starting", waits (bounded) for the server, then writes what it found. Returns the final state. */
export async function updateBanner(p: BannerPaths = defaultBannerPaths, waitMs = 900_000): Promise<BannerState> {
  const env = readEnvFile(p.env);
  const dataDir = env.GLASSDOME_DATA_DIR ?? '/var/lib/glassdome';
  const port = Number(env.GLASSDOME_PORT ?? 443);
  const httpPort = env.GLASSDOME_HTTP_PORT ? Number(env.GLASSDOME_HTTP_PORT) : undefined;
  let version: string | undefined;
  try {
    version = (JSON.parse(fs.readFileSync(p.version, 'utf8')) as { version?: string }).version;
  } catch {
    version = undefined;
  }
  const network = fs.existsSync(p.network) ? fs.readFileSync(p.network, 'utf8') : undefined;
  const base = {
    port,
    ...(httpPort ? { httpPort } : {}),
    ...(network ? { network } : {}),
    ...(version ? { version } : {}),
  };
  const certFile = path.join(dataDir, 'tls', 'cert.pem');
  const deadline = Date.now() + waitMs;
  let wroteStarting = false;
  for (;;) {
    const cert = fs.existsSync(certFile) ? fs.readFileSync(certFile, 'utf8') : undefined;
    const h = await healthz(port, cert, 5000);
    if (h?.ok) {
      const codeFile = path.join(dataDir, 'setup-code.txt');
      const setupCode = !h.setup && fs.existsSync(codeFile) ? fs.readFileSync(codeFile, 'utf8').trim() : undefined;
      const state: BannerState = {
        ...base,
        state: 'ready',
        fingerprint256: new crypto.X509Certificate(cert!).fingerprint256,
        ...(setupCode ? { setupCode } : {}),
      };
      write(p, state);
      return state;
    }
    if (Date.now() > deadline) {
      const state: BannerState = { ...base, state: 'failed' };
      write(p, state);
      return state;
    }
    if (!wroteStarting) {
      write(p, { ...base, state: 'starting' });
      wroteStarting = true;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const s = await updateBanner(defaultBannerPaths, Number(process.env.BANNER_WAIT_SEC ?? 900) * 1000);
  console.log(`glassdome-banner: ${s.state}${s.setupCode ? ', setup code shown' : ''}`);
}
