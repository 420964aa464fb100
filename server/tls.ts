// HTTPS for the appliance: a self-signed certificate made at first boot (key owner-only in the data folder), the
// admin's own certificate when uploaded, and a front door that answers plain HTTP on the same port with a redirect.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AppError } from './errors.ts';
import type { Actor, AuditSink } from './model/audit.ts';

interface Pem {
  cert: string;
  key: string;
}

const files = (dataDir: string) => {
  const dir = path.join(dataDir, 'tls');
  return {
    dir,
    cert: path.join(dir, 'cert.pem'),
    key: path.join(dir, 'key.pem'),
    uploaded: path.join(dir, 'uploaded'),
  };
};

/** Names the certificate should answer to: localhost, this host's name and every address it has. */
function altNames() {
  const ips = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) ips.add(a.address.split('%')[0]!);
  const dns = [...new Set(['localhost', os.hostname()])];
  return [...dns.map((value) => ({ type: 2 as const, value })), ...[...ips].map((ip) => ({ type: 7 as const, ip }))];
}

/** Reads the certificate in the data folder, generating a self-signed one on first boot. */
/** The running certificate and a way to replace it (the admin's own); absent when serving plain HTTP. */
export interface TlsControl {
  info(): { subject: string; issuer: string; validTo: string; fingerprint256: string; selfSigned: boolean };
  /** The names and addresses the certificate in use is for. */
  names(): string[];
  replace(actor: Actor, certPem: string, keyPem: string): void;
}

export async function loadOrCreateCertificate(dataDir: string): Promise<Pem & { created: boolean }> {
  const f = files(dataDir);
  if (fs.existsSync(f.cert) && fs.existsSync(f.key))
    return { cert: fs.readFileSync(f.cert, 'utf8'), key: fs.readFileSync(f.key, 'utf8'), created: false };
  const { generate } = await import('selfsigned');
  const notAfter = new Date(Date.now() + 825 * 24 * 3600_000);
  const pems = await generate([{ name: 'commonName', value: `Glassdome appliance ${os.hostname()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames() },
    ],
  });
  write(f, { cert: pems.cert, key: pems.private });
  return { cert: pems.cert, key: pems.private, created: true };
}

function write(f: ReturnType<typeof files>, pem: Pem) {
  fs.mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(`${f.key}.new`, pem.key, { mode: 0o600 });
  fs.writeFileSync(`${f.cert}.new`, pem.cert, { mode: 0o644 });
  fs.renameSync(`${f.key}.new`, f.key);
  fs.renameSync(`${f.cert}.new`, f.cert);
}

/** Checks that a certificate and key parse and belong together; returns the leaf certificate. */
export function checkPair(cert: string, key: string): crypto.X509Certificate {
  let x509: crypto.X509Certificate;
  let privateKey: crypto.KeyObject;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (cause) {
    throw new AppError('invalid_input', 'Unable to read the certificate: it is not a PEM X.509 certificate', {
      cause,
      issues: [{ path: 'cert', message: 'not a PEM certificate' }],
    });
  }
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (cause) {
    throw new AppError('invalid_input', 'Unable to read the private key: it is not an unencrypted PEM key', {
      cause,
      issues: [{ path: 'key', message: 'not an unencrypted PEM key' }],
    });
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new AppError('invalid_input', 'The private key does not belong to the certificate', {
      issues: [{ path: 'key', message: 'does not match the certificate' }],
    });
  if (new Date(x509.validTo).getTime() < Date.now())
    throw new AppError('invalid_input', `The certificate expired on ${x509.validTo}`, {
      issues: [{ path: 'cert', message: 'expired' }],
    });
  return x509;
}

export function createTlsControl(dataDir: string, server: https.Server, initial: Pem, audit: AuditSink): TlsControl {
  const f = files(dataDir);
  let current = new crypto.X509Certificate(initial.cert);
  return {
    info: () => ({
      subject: current.subject.replace(/\n/g, ', '),
      issuer: current.issuer.replace(/\n/g, ', '),
      validTo: current.validTo,
      fingerprint256: current.fingerprint256,
      selfSigned: !fs.existsSync(f.uploaded),
    }),
    names: () => certificateNames(current),
    replace(actor, cert, key) {
      const x509 = checkPair(cert, key);
      server.setSecureContext({ cert, key });
      write(f, { cert, key });
      fs.writeFileSync(f.uploaded, new Date().toISOString());
      current = x509;
      audit.record(actor, 'tls.replace', 'certificate', x509.subject.replace(/\n/g, ', '));
    },
  };
}

/**
 * Listens on one port for both: TLS handshakes go to the HTTPS server, anything else gets a redirect to HTTPS
 * (the first byte of a TLS ClientHello is 0x16).
 */
export function createFrontDoor(httpsServer: https.Server, redirect: http.Server): net.Server {
  return net.createServer((socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      (chunk[0] === 0x16 ? httpsServer : redirect).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.on('error', () => socket.destroy());
  });
}

/** Answers every plain-HTTP request with a permanent redirect to the same path over HTTPS. */
/** The host names and addresses a certificate is for (its subjectAltName), in its order. */
export function certificateNames(cert: string | crypto.X509Certificate): string[] {
  const san = (typeof cert === 'string' ? new crypto.X509Certificate(cert) : cert).subjectAltName ?? '';
  return san
    .split(/,\s*/)
    .map((e) => e.replace(/^(DNS|IP Address):/, '').trim())
    .filter(Boolean);
}

/**
 * Plain HTTP that only redirects to HTTPS. The Location names this appliance only: the request's Host when it is one
 * of `names()` (the certificate's names and the configured host), otherwise the first of them; never a Host header
 * an attacker chose (an open redirect to any site).
 */
export function createRedirectServer(httpsPort: () => number, names: () => string[]): http.Server {
  return http.createServer((req, res) => {
    const allowed = names();
    const asked = (req.headers.host ?? '')
      .replace(/:\d+$/, '')
      .replace(/^\[|\]$/g, '')
      .toLowerCase();
    const host = allowed.find((n) => n.toLowerCase() === asked) ?? allowed[0] ?? 'localhost';
    const port = httpsPort();
    const shown = host.includes(':') ? `[${host}]` : host;
    res.writeHead(308, {
      Location: `https://${shown}${port === 443 ? '' : `:${port}`}${req.url?.startsWith('/') ? req.url : '/'}`,
      'Content-Type': 'text/plain',
    });
    res.end('This appliance is served over HTTPS.\n');
  });
}
