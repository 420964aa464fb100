// Starts and stops vcsim-lite (govmomi's vSphere simulator, standalone-ESXi model) for the ESXi driver tests.
// Binary: $GLASSDOME_VCSIM, else a cached build, else built from $GLASSDOME_VCSIM_SRC (default ../shared/tools/vcsim)
// when Go and Debian's govmomi sources are installed. When none works, `locateVcsim` says why and the tests skip.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(new URL('../..', import.meta.url).pathname);
const cacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'glassdome', 'vcsim-lite');
const cachedBinary = path.join(cacheDir, 'vcsim-lite');

export type VcsimLocation = { binary: string } | { skip: string };

let located: Promise<VcsimLocation> | undefined;

/** Finds or builds the binary once per process. */
export function locateVcsim(): Promise<VcsimLocation> {
  return (located ??= locate());
}

async function locate(): Promise<VcsimLocation> {
  const fromEnv = process.env.GLASSDOME_VCSIM;
  if (fromEnv) return existsSync(fromEnv) ? { binary: fromEnv } : { skip: `GLASSDOME_VCSIM=${fromEnv} does not exist` };
  if (existsSync(cachedBinary)) return { binary: cachedBinary };
  const src = path.resolve(repoRoot, process.env.GLASSDOME_VCSIM_SRC ?? '../shared/tools/vcsim');
  if (!existsSync(path.join(src, 'build.sh')))
    return { skip: `vcsim-lite not found: set GLASSDOME_VCSIM, or GLASSDOME_VCSIM_SRC to its source (tried ${src})` };
  const go = ['/usr/bin/go', '/usr/lib/go/bin/go'].find((p) => existsSync(p));
  if (!go) return { skip: 'vcsim-lite cannot be built: golang-go is not installed' };
  if (!existsSync('/usr/share/gocode/src/github.com/vmware/govmomi/simulator')) {
    return { skip: 'vcsim-lite cannot be built: golang-github-vmware-govmomi-dev is not installed' };
  }
  // Build beside the final path and rename, so parallel test workers never run a half-written binary.
  const tmp = `${cachedBinary}.${process.pid}.tmp`;
  try {
    await run('sh', [path.join(src, 'build.sh'), tmp], {
      env: { ...process.env, KEEP_GOCACHE: path.join(cacheDir, 'gocache') },
      timeout: 300_000,
    });
    renameSync(tmp, cachedBinary);
    return { binary: cachedBinary };
  } catch (e) {
    rmSync(tmp, { force: true });
    return { skip: `vcsim-lite build failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
}

export interface Vcsim {
  host: string;
  port: number;
  username: string;
  password: string;
  /** PEM file of the served certificate. */
  certFile: string;
  fingerprint256: string;
  /** Datastore name -> backing directory on this machine. */
  datastores: Record<string, string>;
  stop(): Promise<void>;
}

export interface VcsimOptions {
  /** Simulated VMware Tools address pool. */
  guestIp?: string;
  guestIpDelay?: string;
  autostart?: boolean;
  args?: string[];
}

export async function startVcsim(binary: string, o: VcsimOptions = {}): Promise<Vcsim> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gd-vcsim-'));
  const certFile = path.join(dir, 'cert.pem');
  const infoFile = path.join(dir, 'info.json');
  const args = ['-mode', 'esx', '-listen', '127.0.0.1:0', '-cert-out', certFile, '-info-out', infoFile];
  if (o.guestIp) args.push('-guest-ip', o.guestIp, '-guest-ip-delay', o.guestIpDelay ?? '300ms');
  args.push(`-autostart=${o.autostart ?? false}`, ...(o.args ?? []));
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`vcsim-lite did not start in 20 s: ${stderr}`)), 20_000);
    rl.once('line', (l) => {
      clearTimeout(timer);
      resolve(l.trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vcsim-lite exited with ${code}: ${stderr}`));
    });
  });
  const url = new URL(line);
  const info = JSON.parse(readFileSync(infoFile, 'utf8')) as { datastores?: Record<string, string> };
  return {
    host: url.hostname,
    port: Number(url.port),
    // URL keeps userinfo percent-encoded.
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    certFile,
    fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256,
    datastores: info.datastores ?? {},
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The vim25 WSDL the tests load (a real host serves its own at /sdk/vimService.wsdl; vcsim serves none). */
export function localWsdl(): string | undefined {
  const p = path.resolve(
    repoRoot,
    process.env.GLASSDOME_VIM25_WSDL ?? '../shared/reference/vsphere/vim25/vimService.wsdl',
  );
  return existsSync(p) ? p : undefined;
}
