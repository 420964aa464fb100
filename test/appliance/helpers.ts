// Appliance test helpers: start a Glassdome process (source or built) on a free port with its own data folder,
// wait for the line saying where it serves, and stop it with its process group.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Running {
  child: ChildProcess;
  url: string;
  dataDir: string;
  output: () => string;
  stop(): Promise<void>;
}

export async function startGlassdome(
  command: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Running> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-appliance-data-'));
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_OPTIONS: '',
    GLASSDOME_DATA_DIR: dataDir,
    GLASSDOME_PORT: '0',
    GLASSDOME_HOST: '127.0.0.1',
    ...opts.env,
  };
  const child = spawn(command, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stderr!.on('data', (c) => (out += c));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${command} did not start in time:\n${out}`)),
      opts.timeoutMs ?? 30_000,
    );
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /serving (https?:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${out}`));
    });
  }).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return { child, url, dataDir, output: () => out, stop };
}

/** GET/POST with the Set-Cookie kept, no redirects followed. */
export class Browser {
  cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly base: string) {}

  async request(method: string, route: string, form?: Record<string, string>) {
    const headers: Record<string, string> = { Cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body: string | undefined;
    if (form) {
      const f = new URLSearchParams(form);
      f.set('_csrf', this.csrf);
      body = f.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(new URL(route, this.base), {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      if (v === '' || /Max-Age=0/i.test(c)) this.cookies.delete(k!);
      else this.cookies.set(k!, v!);
    }
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m) this.csrf = m[1]!;
    return { status: res.status, text, location: res.headers.get('Location') };
  }
}
