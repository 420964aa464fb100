// Builds VMware's govc (to run `govc import.ova` against vcsim) from Debian's govmomi source package: Debian's
// golang-github-vmware-govmomi-dev ships the library without govc/, so the orig tarball of the same version
// (0.24.2, pinned by its SHA-256 from the .dsc) comes from the Debian mirror and is built offline in GOPATH mode
// against Debian's Go packages (golang-github-kr-pretty-dev for govc's output flags). Nothing is committed;
// the binary is cached. When it cannot be built, `locateGovc` says why and the tests skip.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cacheDir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'glassdome', 'govc');
const cachedBinary = path.join(cacheDir, 'govc');
const mirror = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const orig = {
  file: 'golang-github-vmware-govmomi_0.24.2.orig.tar.xz',
  sha256: 'dbd0666ab3e3b61e6afe55f05602f8a77b411dff9e605ae35a51b898b9cc26bd',
  url: (m: string) => `${m}/pool/main/g/golang-github-vmware-govmomi/golang-github-vmware-govmomi_0.24.2.orig.tar.xz`,
};

export type GovcLocation = { binary: string } | { skip: string };
let located: Promise<GovcLocation> | undefined;

export function locateGovc(): Promise<GovcLocation> {
  return (located ??= locate());
}

async function download(url: string, to: string): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  fs.writeFileSync(to, Buffer.from(await res.arrayBuffer()));
}

async function locate(): Promise<GovcLocation> {
  const fromEnv = process.env.GLASSDOME_GOVC;
  if (fromEnv) return existsSync(fromEnv) ? { binary: fromEnv } : { skip: `GLASSDOME_GOVC=${fromEnv} does not exist` };
  if (existsSync(cachedBinary)) return { binary: cachedBinary };
  const go = ['/usr/bin/go', '/usr/lib/go/bin/go'].find((p) => existsSync(p));
  if (!go) return { skip: 'govc cannot be built: golang-go is not installed' };
  const gocode = '/usr/share/gocode/src/github.com';
  if (!existsSync(path.join(gocode, 'vmware/govmomi/ovf')))
    return { skip: 'govc cannot be built: golang-github-vmware-govmomi-dev is not installed' };
  if (!existsSync(path.join(gocode, 'kr/pretty')))
    return { skip: 'govc cannot be built: golang-github-kr-pretty-dev is not installed' };
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'gd-govc-'));
  try {
    const tarball = path.join(cacheDir, orig.file);
    if (!existsSync(tarball)) {
      try {
        await download(orig.url(mirror), `${tarball}.part`);
      } catch (e) {
        return { skip: `govc sources not available from ${mirror}: ${e instanceof Error ? e.message : String(e)}` };
      }
      renameSync(`${tarball}.part`, tarball);
    }
    const sum = crypto.createHash('sha256').update(fs.readFileSync(tarball)).digest('hex');
    if (sum !== orig.sha256) {
      rmSync(tarball, { force: true });
      return { skip: `${orig.file}: SHA-256 ${sum} is not the one in Debian's .dsc (${orig.sha256})` };
    }
    const src = path.join(work, 'gopath', 'src', 'github.com', 'vmware');
    mkdirSync(src, { recursive: true });
    await run('tar', ['-xJf', tarball, '-C', src], { timeout: 120_000 });
    renameSync(path.join(src, 'govmomi-0.24.2'), path.join(src, 'govmomi'));
    const tmp = `${cachedBinary}.${process.pid}.tmp`;
    await run(go, ['build', '-trimpath', '-o', tmp, '.'], {
      cwd: path.join(src, 'govmomi', 'govc'),
      env: {
        ...process.env,
        GOPATH: `${path.join(work, 'gopath')}:/usr/share/gocode`,
        GO111MODULE: 'off',
        GOFLAGS: '',
        GOPROXY: 'off',
        CGO_ENABLED: '0',
        GOCACHE: path.join(cacheDir, 'gocache'),
      },
      timeout: 600_000,
    });
    renameSync(tmp, cachedBinary);
    return { binary: cachedBinary };
  } catch (e) {
    return {
      skip: `govc build failed: ${e instanceof Error ? e.message.split('\n').slice(0, 3).join(' ') : String(e)}`,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
