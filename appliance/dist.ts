// `npm run build`: the production build. tsc compiles the roots tsconfig.build.json includes to plain JavaScript,
// every other file under those roots (static assets, migrations, bundled scenarios) is copied beside it, and dist
// gets its own package.json and `glassdome` entry, so `node dist/server/main.js` needs no TypeScript at run time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildConfig = 'tsconfig.build.json';

interface BuildConfig {
  include: string[];
  exclude?: string[];
}

/** The one list of what the build takes: tsconfig.build.json's include (roots) and exclude (never shipped). */
export function readLayout(root = repoRoot): { roots: string[]; exclude: Set<string> } {
  const text = fs.readFileSync(path.join(root, buildConfig), 'utf8');
  const cfg = JSON.parse(text) as BuildConfig;
  return { roots: cfg.include, exclude: new Set(cfg.exclude ?? []) };
}

const compiled = /\.(ts|tsx|mts)$/;

/** Files under the roots that tsc does not emit and the running code reads from disk, as repo-relative paths. */
export function assetFiles(root = repoRoot): string[] {
  const { roots, exclude } = readLayout(root);
  const out: string[] = [];
  const walk = (rel: string) => {
    if (exclude.has(rel)) return;
    const abs = path.join(root, rel);
    const st = fs.statSync(abs);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) walk(path.posix.join(rel, name));
    } else if (!compiled.test(rel)) out.push(rel);
  };
  for (const r of roots) if (fs.existsSync(path.join(root, r))) walk(r);
  return out;
}

/**
 * dist's entry for the `glassdome` command, at the path package.json's bin names: the source entry loads the CLI
 * module through tsx (`await import('./x.ts')`); dist's loads the compiled `./x.js` directly.
 */
export function cliEntry(root = repoRoot): { bin: string; text: string } {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.glassdome;
  if (!bin) throw new Error('package.json has no bin.glassdome');
  const source = fs.readFileSync(path.join(root, bin), 'utf8');
  const m = /await import\((['"])\.\/([\w./-]+)\.tsx?\1\)/.exec(source);
  if (!m) throw new Error(`${bin}: no "await import('./<module>.ts')" to point the built entry at`);
  // The source entry with its TypeScript loader taken out: whatever else it does (the closed-pipe guard) carries over.
  const text = source
    .replace(
      /^\/\/ Entry point of .*$/m,
      '// Entry point of the `glassdome` command in the production build: plain JavaScript, no TypeScript loader.',
    )
    .replace(/^import \{ register \} from 'tsx\/esm\/api';\n/m, '')
    .replace(/^register\(\);\n/m, '')
    .replace(m[0], `await import('./${m[2]}.js')`);
  return { bin, text };
}

/** The start command and the entry every copy of the production build uses. */
export const startCommand = 'node --no-memory-reducer --max-semi-space-size=8 --max-old-space-size=1024 server/main.js';

export interface BuildResult {
  outDir: string;
  files: number;
  assets: number;
  ms: number;
}

/** Builds into `outDir` (emptied first). Throws with tsc's output when the code does not compile. */
export function buildDist(outDir = path.join(repoRoot, 'dist'), root = repoRoot): BuildResult {
  const t0 = Date.now();
  fs.rmSync(outDir, { recursive: true, force: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, buildConfig), '--outDir', outDir], {
    cwd: root,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`tsc failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  const assets = assetFiles(root);
  for (const rel of assets) {
    const to = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(root, rel), to);
  }
  const entry = cliEntry(root);
  fs.mkdirSync(path.dirname(path.join(outDir, entry.bin)), { recursive: true });
  fs.writeFileSync(path.join(outDir, entry.bin), entry.text, { mode: 0o755 });
  // The same package.json and lock (so `npm ci --omit=dev` in dist installs exactly the tested tree), started
  // without tsx.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  pkg.scripts = { start: startCommand };
  fs.writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(outDir, 'package-lock.json'));
  let files = 0;
  const count = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) e.isDirectory() ? count(path.join(d, e.name)) : files++;
  };
  count(outDir);
  return { outDir, files, assets: assets.length, ms: Date.now() - t0 };
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const res = buildDist(values.out ? path.resolve(values.out) : undefined);
  console.log(
    `build: ${res.files} files (${res.assets} assets copied) in ${path.relative(process.cwd(), res.outDir) || '.'} in ${(res.ms / 1000).toFixed(1)} s`,
  );
}
