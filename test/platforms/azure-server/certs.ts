// The test server's TLS: a CA made for the run and a 127.0.0.1 certificate it signs, with the openssl CLI
// (node:crypto cannot issue X.509). The driver trusts the CA through its `caFile`, as it would a corporate CA.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCertificates {
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  key: string;
  cert: string;
}

let made: TestCertificates | undefined;

/** Why the server cannot run here, or undefined when openssl is present. */
export function opensslMissingReason(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `the openssl CLI is not available (${(e as Error).message.split('\n')[0]})`;
  }
}

/** One CA and server certificate per process. */
export function testCertificates(): TestCertificates {
  if (made) return made;
  const dir = mkdtempSync(path.join(tmpdir(), 'arm-cert-'));
  const file = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  try {
    run([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '7',
      '-subj',
      '/CN=Glassdome ARM test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]);
    run([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=management.glassdome.test',
      '-keyout',
      file('key.pem'),
      '-out',
      file('req.csr'),
    ]);
    writeFileSync(
      file('ext.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    run([
      'x509',
      '-req',
      '-in',
      file('req.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '7',
      '-extfile',
      file('ext.cnf'),
      '-out',
      file('cert.pem'),
    ]);
    made = {
      ca: readFileSync(file('ca.pem'), 'utf8'),
      key: readFileSync(file('key.pem'), 'utf8'),
      cert: readFileSync(file('cert.pem'), 'utf8'),
    };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
