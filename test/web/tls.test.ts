// HTTPS: the first-boot certificate, plain HTTP redirected on the same port, and replacing the certificate.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  certificateNames,
  createFrontDoor,
  createRedirectServer,
  createTlsControl,
  loadOrCreateCertificate,
} from '../../server/tls.ts';
import { systemActor } from '../../server/model/audit.ts';

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; location?: string; fingerprint?: string }> {
  const mod = url.startsWith('https') ? https : http;
  return new Promise((resolve, reject) => {
    // A fresh connection each time (no keep-alive), so a replaced certificate is seen.
    const req = mod.get(url, { rejectUnauthorized: false, agent: false, headers } as https.RequestOptions, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const fp =
        typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate().fingerprint256 : undefined;
      res.resume();
      resolve({
        status: res.statusCode!,
        ...(res.headers.location ? { location: res.headers.location } : {}),
        ...(fp ? { fingerprint: fp } : {}),
      });
    });
    req.on('error', reject);
  });
}

describe('HTTPS', () => {
  it('generates an owner-only certificate once, serves TLS and redirects plain HTTP on the same port, and takes an uploaded certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-tls-'));
    const pem = await loadOrCreateCertificate(dir);
    expect(pem.created).toBe(true);
    expect(fs.statSync(path.join(dir, 'tls', 'key.pem')).mode & 0o077).toBe(0);
    expect((await loadOrCreateCertificate(dir)).created).toBe(false);
    const x509 = new crypto.X509Certificate(pem.cert);
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');

    const server = https.createServer({ cert: pem.cert, key: pem.key }, (_req, res) => res.end('ok'));
    let port = 0;
    const front = createFrontDoor(
      server,
      createRedirectServer(
        () => port,
        () => certificateNames(pem.cert),
      ),
    );
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    port = (front.address() as AddressInfo).port;
    try {
      const secure = await get(`https://127.0.0.1:${port}/x`);
      expect(secure.status).toBe(200);
      expect(secure.fingerprint).toBe(x509.fingerprint256);
      const plain = await get(`http://127.0.0.1:${port}/deployments?x=1`);
      expect(plain.status).toBe(308);
      expect(plain.location).toBe(`https://127.0.0.1:${port}/deployments?x=1`);
      // A Host header the attacker chose is not echoed: the redirect names the appliance (its certificate's first name).
      const forged = await get(`http://127.0.0.1:${port}/x`, { Host: 'evil.example' });
      expect(forged.location).toBe(`https://localhost:${port}/x`);

      const control = createTlsControl(dir, server, pem, { record() {} });
      expect(control.info().selfSigned).toBe(true);
      const other = await loadOrCreateCertificate(fs.mkdtempSync(path.join(os.tmpdir(), 'gd-tls-')));
      expect(() => control.replace(systemActor, other.cert, pem.key)).toThrow(/does not belong/);
      expect(() => control.replace(systemActor, 'nonsense', pem.key)).toThrow(/not a PEM/);
      control.replace(systemActor, other.cert, other.key);
      expect(control.info().selfSigned).toBe(false);
      expect((await get(`https://127.0.0.1:${port}/x`)).fingerprint).toBe(
        new crypto.X509Certificate(other.cert).fingerprint256,
      );
      expect(fs.readFileSync(path.join(dir, 'tls', 'cert.pem'), 'utf8')).toBe(other.cert);
    } finally {
      front.close();
      server.close();
    }
  });
});
