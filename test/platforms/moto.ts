// Starts and stops moto (the AWS emulator, Python) in server mode for the AWS driver tests, with the AMI list in
// test/fixtures/aws and AMI and instance-type validation on. When moto cannot be imported, `locateMoto` says why
// and the tests skip; CI (.ci/run) fails instead.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { EC2Client } from '@aws-sdk/client-ec2';

const run = promisify(execFile);
const repoRoot = path.resolve(new URL('../..', import.meta.url).pathname);
export const amisFile = path.join(repoRoot, 'test/fixtures/aws/amis.json');

let located: Promise<{ python: string } | { skip: string }> | undefined;

export function locateMoto(): Promise<{ python: string } | { skip: string }> {
  return (located ??= (async () => {
    const python = process.env.GLASSDOME_PYTHON ?? 'python3';
    try {
      const { stdout } = await run(python, ['-c', 'import moto; print(moto.__version__)'], { timeout: 60_000 });
      return { python, version: stdout.trim() };
    } catch (e) {
      return {
        skip: `moto is not importable by ${python} (pip install 'moto[server]==5.2.1'): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
      };
    }
  })());
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Moto {
  endpoint: string;
  /** An SDK client straight to moto (no proxy, no faults), for reading and arranging its state. */
  client(region?: string): EC2Client;
  /** Sends a raw query-API call (services without an SDK package here, such as IAM), unsigned: moto checks no signature unless auth is on. */
  query(service: string, params: Record<string, string>, region?: string): Promise<string>;
  /** Turns IAM authentication on after `n` more unauthenticated calls (moto's /moto-api/reset-auth). */
  enforceAuthAfter(n: number): Promise<void>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(python: string, env: Record<string, string> = {}): Promise<Moto> {
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    try {
      return await startOn(python, port, env);
    } catch (e) {
      // Another process may have taken the port between our probe and moto's bind.
      if (tries >= 2) throw e;
    }
  }
}

async function startOn(python: string, port: number, env: Record<string, string>): Promise<Moto> {
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      MOTO_AMIS_PATH: amisFile,
      MOTO_ENABLE_AMI_VALIDATION: 'true',
      MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION: 'true',
      ...env,
    },
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited with ${child.exitCode}: ${stderr}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto did not answer on ${endpoint} within 60 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const clients: EC2Client[] = [];
  return {
    endpoint,
    client(region = 'eu-west-1') {
      const c = new EC2Client({
        region,
        endpoint,
        credentials: { accessKeyId: 'AKIATESTTESTTEST0000', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async query(service, params, region = 'us-east-1') {
      const r = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `AWS4-HMAC-SHA256 Credential=AKIATESTTESTTEST0000/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${service} ${params.Action}: ${r.status} ${text}`);
      return text;
    },
    async enforceAuthAfter(n) {
      const r = await fetch(`${endpoint}/moto-api/reset-auth`, {
        method: 'POST',
        body: String(n),
        signal: AbortSignal.timeout(10_000),
      });
      if (!r.ok) throw new Error(`reset-auth: ${r.status}`);
    },
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
    },
    async stop() {
      for (const c of clients) c.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
