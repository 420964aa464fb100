// The offline bundle's collector, run on a host with internet: gathers into one folder the appliance (its Node
// runtime, production node_modules and build), the knowledge base's embedding model, cloud images, NVD CVE feeds and
// the Debian packages the agents install inside ranges, each checked against its publisher's checksum where one
// exists, and writes manifest.json (path, size, SHA-256, source, licence). Windows and VirtIO media are referenced.
//   offline-bundle/collect.sh --out DIR [--parts appliance,model,images,cve,debian] [--cve-since YEAR]
//     [--allow-missing]
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { AppError, errorMessage } from '../server/errors.ts';
import { backoffDelay } from '../server/platforms/shared/retry.ts';
import { fetchRuntime, nodeRuntime, stageApp, writeAppTarball } from '../appliance/runtime.ts';
import { repoRoot } from '../appliance/dist.ts';
import { writeFlatRepo } from './apt-repo.ts';
import { bundleFormat, parts, sha256File, sizeByPart, type BundleFile, type Manifest, type Part } from './manifest.ts';
import { cloudImages, cveFeeds, debianPackages, embeddingModel, userSuppliedMedia } from './sources.ts';

export interface CollectOptions {
  out: string;
  parts: Part[];
  cveSince: number;
  /** Debian packages to gather (default: what the agents install). */
  packages?: string[];
  allowMissing: boolean;
  log: (s: string) => void;
}

const ua = { 'User-Agent': 'glassdome-offline-bundle-collector' };

/** Downloads `url` to `to` (via a .part file), retrying network errors and 5xx a bounded number of times. */
export async function download(url: string, to: string, timeoutMs = 1_800_000): Promise<void> {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, { headers: ua, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok || !res.body) {
        const err = new AppError(
          res.status >= 500 || res.status === 429 ? 'transient' : 'not_found',
          `GET ${url}: HTTP ${res.status}`,
        );
        throw err;
      }
      await pipeline(
        Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
        fs.createWriteStream(`${to}.part`),
      );
      fs.renameSync(`${to}.part`, to);
      return;
    } catch (e) {
      fs.rmSync(`${to}.part`, { force: true });
      const final = e instanceof AppError && e.code !== 'transient';
      if (final || attempt >= 4) {
        // fetch() reports "fetch failed" and keeps the reason (DNS, refused, TLS) in its cause.
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        const why = cause ? `${errorMessage(e)} (${cause.code ?? cause.message ?? String(cause)})` : errorMessage(e);
        throw new AppError('platform_error', `Unable to download ${url}: ${why}`, {
          cause: e,
          hint: 'The collector needs internet access to this host.',
        });
      }
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 2000, maxMs: 30_000 })));
    }
  }
}

async function hashFile(file: string, algo: string): Promise<string> {
  const h = crypto.createHash(algo);
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    maxBuffer: 64 << 20,
  });
  if (r.error || r.status !== 0)
    throw new AppError(
      'internal',
      `Unable to run ${cmd} ${args.slice(0, 6).join(' ')}: ${r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' ')}`,
    );
  return r.stdout;
}

export type Entry = Omit<BundleFile, 'size' | 'sha256'>;

async function collectAppliance(o: CollectOptions): Promise<Entry[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-collect-app-'));
  try {
    const stage = stageApp(work);
    const tar = path.join(o.out, 'appliance', 'glassdome-app.tar');
    fs.mkdirSync(path.dirname(tar), { recursive: true });
    writeAppTarball(stage, tar);
    const rt = fetchRuntime();
    return [
      {
        path: 'appliance/glassdome-app.tar',
        part: 'appliance',
        source: `Glassdome build with ${nodeRuntime.package}@${nodeRuntime.version} (npm, ${nodeRuntime.integrity.slice(0, 20)}...) and npm ci --omit=dev`,
        licence: `Glassdome: see its package.json; Node.js: ${nodeRuntime.licence}; node_modules: each package's own licence`,
        meta: { node: rt.version },
      },
    ];
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function collectModel(o: CollectOptions): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const f of embeddingModel.files) {
    const rel = path.posix.join('model', embeddingModel.id, f);
    await download(`${embeddingModel.base}/${f}`, path.join(o.out, rel));
    out.push({
      path: rel,
      part: 'model',
      source: `${embeddingModel.base}/${f}`,
      licence: embeddingModel.licence,
      meta: { model: embeddingModel.id },
    });
  }
  return out;
}

/** Lines `<hex>  [*]<file>` of a SHA256SUMS / SHA512SUMS file. */
export function checksumFor(sums: string, file: string): string | undefined {
  for (const line of sums.split('\n')) {
    const m = /^([0-9a-f]{64,128})\s+\*?(.+)$/.exec(line.trim());
    if (m && m[2] === file) return m[1];
  }
  return undefined;
}

async function collectImages(o: CollectOptions): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const img of cloudImages) {
    const file = img.url.split('/').pop()!;
    const rel = `images/${file}`;
    const sumsFile = path.join(o.out, `.${img.os}.sums`);
    await download(img.sums.url, sumsFile);
    const want = checksumFor(fs.readFileSync(sumsFile, 'utf8'), file);
    fs.rmSync(sumsFile);
    if (!want) throw new AppError('platform_error', `${img.sums.url} lists no checksum for ${file}`);
    await download(img.url, path.join(o.out, rel));
    const got = await hashFile(path.join(o.out, rel), img.sums.algo);
    if (got !== want)
      throw new AppError('platform_error', `${file}: ${img.sums.algo} ${got} is not the published ${want}`);
    out.push({
      path: rel,
      part: 'images',
      source: img.url,
      licence: img.licence,
      meta: { os: img.os, [img.sums.algo]: want },
    });
  }
  return out;
}

async function collectCve(o: CollectOptions): Promise<Entry[]> {
  const out: Entry[] = [];
  const names = [
    ...Array.from({ length: new Date().getUTCFullYear() - o.cveSince + 1 }, (_, i) => String(o.cveSince + i)),
    ...cveFeeds.rolling,
  ];
  for (const n of names) {
    const base = `nvdcve-2.0-${n}`;
    const rel = `cve/${base}.json.gz`;
    await download(`${cveFeeds.base}/${base}.meta`, path.join(o.out, `cve/${base}.meta`));
    // The .meta file gives the SHA-256 of the uncompressed JSON.
    const meta = fs.readFileSync(path.join(o.out, `cve/${base}.meta`), 'utf8');
    const want = /^sha256:([0-9A-Fa-f]{64})/m.exec(meta)?.[1]?.toLowerCase();
    await download(`${cveFeeds.base}/${base}.json.gz`, path.join(o.out, rel));
    const h = crypto.createHash('sha256');
    await pipeline(fs.createReadStream(path.join(o.out, rel)), zlib.createGunzip(), async function* (src) {
      for await (const c of src) h.update(c as Buffer);
    });
    const got = h.digest('hex');
    if (want && got !== want)
      throw new AppError(
        'platform_error',
        `${base}.json.gz: content SHA-256 ${got} is not the one in ${base}.meta (${want})`,
      );
    out.push({
      path: rel,
      part: 'cve',
      source: `${cveFeeds.base}/${base}.json.gz`,
      licence: cveFeeds.licence,
      meta: { feed: n },
    });
    out.push({
      path: `cve/${base}.meta`,
      part: 'cve',
      source: `${cveFeeds.base}/${base}.meta`,
      licence: cveFeeds.licence,
      meta: { feed: n },
    });
  }
  return out;
}

/**
 * Debian packages with all their dependencies, resolved by apt itself against Debian 12's signed archive in a private
 * apt state (any apt host with debian-archive-keyring works; the host's own apt is untouched), then indexed as a flat
 * repository.
 */
async function collectDebian(o: CollectOptions): Promise<Entry[]> {
  const pkgs = o.packages ?? debianPackages.packages;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-collect-apt-'));
  try {
    for (const d of [
      'etc/apt/apt.conf.d',
      'etc/apt/preferences.d',
      'etc/apt/trusted.gpg.d',
      'etc/apt/sources.list.d',
      'var/lib/dpkg',
      'var/lib/apt/lists/partial',
      'var/cache/apt/archives/partial',
    ])
      fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
    if (!fs.existsSync(debianPackages.keyring))
      throw new AppError('invalid_input', `${debianPackages.keyring} is missing`, {
        hint: 'apt-get install debian-archive-keyring',
      });
    const lines = debianPackages.archives.flatMap((a) =>
      a.suites.map((s) => `deb [signed-by=${debianPackages.keyring}] ${a.uri} ${s} main`),
    );
    fs.writeFileSync(path.join(root, 'etc/apt/sources.list'), `${lines.join('\n')}\n`);
    const debs = path.join(o.out, 'debian');
    fs.mkdirSync(debs, { recursive: true });
    // An empty dpkg status: apt resolves the whole closure, as a minimal router template would need it.
    const opts = [
      '-o',
      `Dir=${root}`,
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'APT::Architecture=amd64',
      '-o',
      'APT::Architectures::=amd64',
      '-o',
      'Acquire::Retries=3',
      '-o',
      'Acquire::http::Timeout=60',
      '-q',
    ];
    sh('apt-get', [...opts, 'update'], { timeoutMs: 600_000 });
    sh(
      'apt-get',
      [
        ...opts,
        '-o',
        `Dir::Cache::archives=${path.resolve(debs)}`,
        'install',
        '--download-only',
        '--no-install-recommends',
        '-y',
        ...pkgs,
      ],
      { timeoutMs: 1_800_000 },
    );
    fs.rmSync(path.join(debs, 'partial'), { recursive: true, force: true });
    fs.rmSync(path.join(debs, 'lock'), { force: true });
    const repo = writeFlatRepo(debs);
    o.log(`collect: debian: ${repo.packages.length} packages for ${pkgs.join(', ')}`);
    const byFile = new Map(repo.packages.map((p) => [p.file, p]));
    return fs
      .readdirSync(debs)
      .sort()
      .map((f) => ({
        path: `debian/${f}`,
        part: 'debian' as const,
        source: f.endsWith('.deb')
          ? `Debian 12 archive (${debianPackages.archives.map((a) => a.uri).join(', ')}), via apt-get download`
          : 'index generated by the collector (offline-bundle/apt-repo.ts)',
        licence: f.endsWith('.deb') ? debianPackages.licence : 'generated data',
        meta: ((p): Record<string, string> => (p ? { package: p.name, version: p.version } : {}))(byFile.get(f)),
      }));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const collectors: Record<Part, (o: CollectOptions) => Promise<Entry[]>> = {
  appliance: collectAppliance,
  model: collectModel,
  images: collectImages,
  cve: collectCve,
  debian: collectDebian,
};

export async function collect(o: CollectOptions): Promise<Manifest> {
  fs.mkdirSync(o.out, { recursive: true });
  const entries: Entry[] = [];
  const missing: Manifest['missing'] = [];
  for (const part of o.parts) {
    const t0 = Date.now();
    try {
      entries.push(...(await collectors[part](o)));
      o.log(`collect: ${part} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (e) {
      if (!o.allowMissing) throw e;
      missing.push({ part, reason: errorMessage(e) });
      o.log(`collect: ${part} MISSING: ${errorMessage(e)}`);
    }
  }
  return writeManifest(o.out, entries, missing);
}

/** Hashes every entry and writes manifest.json (and the README the installer's user reads) into the bundle. */
export async function writeManifest(
  out: string,
  entries: Entry[],
  missing: Manifest['missing'] = [],
): Promise<Manifest> {
  const files: BundleFile[] = [];
  for (const e of entries) {
    const abs = path.join(out, e.path);
    files.push({ ...e, size: fs.statSync(abs).size, sha256: await sha256File(abs) });
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const gitSha = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim();
  const manifest: Manifest = {
    format: bundleFormat,
    createdAt: new Date().toISOString(),
    glassdome: `${pkg.version}${gitSha ? `+g${gitSha}` : ''}`,
    files,
    references: userSuppliedMedia.map((r) => ({ ...r, part: 'iso' as const })),
    missing,
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.copyFileSync(path.join(repoRoot, 'offline-bundle', 'README.md'), path.join(out, 'README.md'));
  return manifest;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      parts: { type: 'string', default: parts.join(',') },
      'cve-since': { type: 'string', default: String(cveFeeds.firstYear) },
      packages: { type: 'string' },
      'allow-missing': { type: 'boolean', default: false },
    },
  });
  const chosen = values.parts.split(',').map((p) => p.trim()) as Part[];
  const unknown = chosen.filter((p) => !parts.includes(p));
  if (!values.out || unknown.length) {
    console.error(
      `usage: collect.sh --out DIR [--parts ${parts.join(',')}] [--cve-since YEAR] [--packages a,b] [--allow-missing]${unknown.length ? `\nunknown part(s): ${unknown.join(', ')}` : ''}`,
    );
    process.exit(2);
  }
  const t0 = Date.now();
  try {
    const m = await collect({
      out: path.resolve(values.out),
      parts: chosen,
      cveSince: Number(values['cve-since']),
      ...(values.packages ? { packages: values.packages.split(',') } : {}),
      allowMissing: values['allow-missing'],
      log: (s) => console.error(s),
    });
    const by = sizeByPart(m);
    console.log(
      JSON.stringify(
        {
          out: path.resolve(values.out),
          seconds: Math.round((Date.now() - t0) / 1000),
          bytesByPart: by,
          files: m.files.length,
          missing: m.missing,
        },
        null,
        2,
      ),
    );
  } catch (e) {
    console.error(`collect: ${errorMessage(e)}`);
    process.exit(1);
  }
}
