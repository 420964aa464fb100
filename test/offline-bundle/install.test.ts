// The offline bundle: the install verifies every file before changing anything (a corrupted, missing or resized file
// is refused by name and both targets stay as they were), runs in a network namespace with no interfaces without
// reaching for the network, and the package cache it installs serves a real .deb to apt over HTTP. The collector's
// Debian part runs against the real archive when it can be reached.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFlatRepo } from '../../offline-bundle/apt-repo.ts';
import { collect, writeManifest, type Entry } from '../../offline-bundle/collect.ts';
import { destinations } from '../../offline-bundle/install.ts';
import { readManifest, verifyBundle } from '../../offline-bundle/manifest.ts';
import { repoRoot } from '../../appliance/dist.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-bundle-'));
const bundle = path.join(work, 'bundle');
const hasDpkg = fs.existsSync('/usr/bin/dpkg-deb') && fs.existsSync('/usr/bin/apt-get');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function write(rel: string, body: string | Buffer) {
  const abs = path.join(bundle, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, body);
}

/** A real (tiny) Debian package, built with dpkg-deb. */
function buildDeb(dir: string, name: string): string {
  const root = path.join(work, `pkg-${name}`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share/doc', name), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'DEBIAN/control'),
    `Package: ${name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Glassdome tests <tests@example.invalid>\nDescription: offline bundle test package\n`,
  );
  fs.writeFileSync(path.join(root, 'usr/share/doc', name, 'README'), 'test\n');
  const deb = path.join(dir, `${name}_1.0-1_all.deb`);
  const r = spawnSync('dpkg-deb', ['--root-owner-group', '--build', root, deb], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return deb;
}

/** Every file under `dir` with its SHA-256: what "nothing changed" is checked against. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const abs = path.join(e.parentPath, e.name);
    out[path.relative(dir, abs) + (e.isDirectory() ? '/' : '')] = e.isFile()
      ? crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')
      : '';
  }
  return out;
}

function installCli(args: string[], opts: { netns?: boolean; strace?: string } = {}) {
  const node = [process.execPath, '--import', 'tsx', 'offline-bundle/install.ts', ...args];
  const cmd = [
    ...(opts.netns ? ['unshare', '-n', '--'] : []),
    ...(opts.strace ? ['strace', '-f', '-qq', '-e', 'trace=connect,sendto,sendmsg', '-o', opts.strace] : []),
    ...node,
  ];
  return spawnSync(cmd[0]!, cmd.slice(1), {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

function targets(name: string) {
  const appDir = path.join(work, name, 'opt-glassdome');
  const dataDir = path.join(work, name, 'var-lib-glassdome');
  // An installed appliance and data the install must not disturb when it refuses.
  fs.mkdirSync(path.join(appDir, 'app/server'), { recursive: true });
  fs.writeFileSync(path.join(appDir, 'app/server/main.js'), '// old\n');
  fs.mkdirSync(path.join(dataDir, 'models'), { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'glassdome.db'), 'db');
  fs.writeFileSync(path.join(dataDir, 'models/old.txt'), 'old model');
  return { appDir, dataDir, args: ['--app-dir', appDir, '--data-dir', dataDir, '--no-systemd'] };
}

const canUnshare = spawnSync('unshare', ['-n', '--', 'true']).status === 0;

describe.skipIf(!hasDpkg)('offline bundle install', () => {
  beforeAll(async () => {
    // The appliance part: the layout install.sh swaps into /opt/glassdome.
    const opt = path.join(work, 'opt');
    fs.mkdirSync(path.join(opt, 'node/bin'), { recursive: true });
    fs.mkdirSync(path.join(opt, 'app/server'), { recursive: true });
    fs.writeFileSync(path.join(opt, 'node/bin/node'), '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(opt, 'app/server/main.js'), '// new\n');
    fs.mkdirSync(path.join(bundle, 'appliance'), { recursive: true });
    expect(
      spawnSync('tar', ['-cf', path.join(bundle, 'appliance/glassdome-app.tar'), '-C', opt, 'node', 'app']).status,
    ).toBe(0);
    write('model/Xenova/all-MiniLM-L6-v2/config.json', '{"model_type":"bert"}');
    write('model/Xenova/all-MiniLM-L6-v2/onnx/model_quantized.onnx', crypto.randomBytes(4096));
    write('images/debian-12-genericcloud-amd64.qcow2', crypto.randomBytes(8192));
    write('cve/nvdcve-2.0-recent.json.gz', crypto.randomBytes(1024));
    fs.mkdirSync(path.join(bundle, 'debian'), { recursive: true });
    buildDeb(path.join(bundle, 'debian'), 'glassdome-test-pkg');
    writeFlatRepo(path.join(bundle, 'debian'));
    const entries: Entry[] = [
      { path: 'appliance/glassdome-app.tar', part: 'appliance', source: 'test', licence: 'test', meta: {} },
      {
        path: 'model/Xenova/all-MiniLM-L6-v2/config.json',
        part: 'model',
        source: 'test',
        licence: 'Apache-2.0',
        meta: { model: 'Xenova/all-MiniLM-L6-v2' },
      },
      {
        path: 'model/Xenova/all-MiniLM-L6-v2/onnx/model_quantized.onnx',
        part: 'model',
        source: 'test',
        licence: 'Apache-2.0',
        meta: { model: 'Xenova/all-MiniLM-L6-v2' },
      },
      {
        path: 'images/debian-12-genericcloud-amd64.qcow2',
        part: 'images',
        source: 'test',
        licence: 'test',
        meta: { os: 'debian-12' },
      },
      { path: 'cve/nvdcve-2.0-recent.json.gz', part: 'cve', source: 'test', licence: 'public domain', meta: {} },
      ...fs
        .readdirSync(path.join(bundle, 'debian'))
        .map((f): Entry => ({ path: `debian/${f}`, part: 'debian', source: 'test', licence: 'test', meta: {} })),
    ];
    await writeManifest(bundle, entries);
  });

  it('verifies every file of a good bundle', async () => {
    const v = await verifyBundle(bundle);
    expect(v.manifest.files.map((f) => f.path)).toContain('debian/Packages');
    expect(v.manifest.references.map((r) => r.name)).toContain('Windows Server 2022 installation ISO');
    expect(v.bytes).toBe(v.manifest.files.reduce((n, f) => n + f.size, 0));
  });

  it.skipIf(!canUnshare)('installs inside a network namespace with no interfaces, reaching for no network', () => {
    // The namespace really has no way out: only a loopback that is down.
    const links = spawnSync('unshare', ['-n', '--', 'ip', '-o', 'link'], { encoding: 'utf8' });
    expect(links.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^1: lo: .*state DOWN/)]);
    const t = targets('netns');
    const trace = fs.existsSync('/usr/bin/strace') ? path.join(work, 'strace.log') : undefined;
    const r = installCli([bundle, ...t.args], { netns: true, ...(trace ? { strace: trace } : {}) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('verified');
    expect(fs.readFileSync(path.join(t.appDir, 'app/server/main.js'), 'utf8')).toBe('// new\n');
    expect(fs.readFileSync(path.join(`${t.appDir}.previous`, 'app/server/main.js'), 'utf8')).toBe('// old\n');
    expect(
      fs.existsSync(path.join(t.dataDir, destinations.model, 'Xenova/all-MiniLM-L6-v2/onnx/model_quantized.onnx')),
    ).toBe(true);
    expect(fs.existsSync(path.join(t.dataDir, 'models/old.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(t.dataDir, 'glassdome.db'), 'utf8')).toBe('db');
    expect(fs.existsSync(path.join(t.dataDir, destinations.debian, 'Packages.gz'))).toBe(true);
    expect(r.stdout).toContain(
      `ESXi platform images setting: debian-12 = ${path.join(t.dataDir, 'images/debian-12-genericcloud-amd64.qcow2')}`,
    );
    expect(r.stdout).toContain('bring your own VirtIO drivers for Windows ISO');
    expect(r.stdout).toContain('package cache for ranges: set GLASSDOME_PACKAGE_CACHE_URL=http://');
    if (trace) {
      // Not one attempt at an Internet socket (UNIX sockets, e.g. to the name service cache, are not network).
      const calls = fs
        .readFileSync(trace, 'utf8')
        .split('\n')
        .filter((l) => /AF_INET6?\b/.test(l));
      expect(calls).toEqual([]);
    }
  });

  it('refuses a corrupted file by name before changing anything', () => {
    const t = targets('corrupt');
    const before = { app: snapshot(t.appDir), data: snapshot(t.dataDir) };
    const victim = path.join(bundle, 'model/Xenova/all-MiniLM-L6-v2/onnx/model_quantized.onnx');
    const original = fs.readFileSync(victim);
    const bad = Buffer.from(original);
    bad[100] = bad[100]! ^ 0xff;
    fs.writeFileSync(victim, bad);
    try {
      const r = installCli([bundle, ...t.args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        /^offline bundle: Bundle file model\/Xenova\/all-MiniLM-L6-v2\/onnx\/model_quantized\.onnx does not match its checksum \(SHA-256 [0-9a-f]{64}, manifest [0-9a-f]{64}\)/,
      );
      expect(r.stderr).toContain('nothing was changed');
      expect(snapshot(t.appDir)).toEqual(before.app);
      expect(snapshot(t.dataDir)).toEqual(before.data);
      expect(fs.existsSync(`${t.appDir}.new`) || fs.existsSync(`${t.appDir}.previous`)).toBe(false);
    } finally {
      fs.writeFileSync(victim, original);
    }
  });

  it('names a missing or truncated file, and refuses a manifest that points outside the bundle', async () => {
    const t = targets('missing');
    const deb = path.join(bundle, 'debian/glassdome-test-pkg_1.0-1_all.deb');
    const keep = fs.readFileSync(deb);
    fs.rmSync(deb);
    try {
      const r = installCli([bundle, ...t.args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('Bundle file debian/glassdome-test-pkg_1.0-1_all.deb is missing');
      fs.writeFileSync(deb, keep.subarray(0, 100));
      const r2 = installCli([bundle, ...t.args]);
      expect(r2.stderr).toContain(
        `Bundle file debian/glassdome-test-pkg_1.0-1_all.deb is 100 bytes, the manifest says ${keep.length}`,
      );
    } finally {
      fs.writeFileSync(deb, keep);
    }
    const evil = path.join(work, 'evil');
    fs.mkdirSync(evil, { recursive: true });
    const m = JSON.parse(fs.readFileSync(path.join(bundle, 'manifest.json'), 'utf8')) as {
      files: Array<{ path: string }>;
    };
    m.files[0]!.path = '../bundle/appliance/glassdome-app.tar';
    fs.writeFileSync(path.join(evil, 'manifest.json'), JSON.stringify(m));
    expect(() => readManifest(evil)).toThrow(/files\.0\.path: must be a relative path inside the bundle/);
  });

  it(
    'serves the installed package cache to apt over HTTP, as glassdome-packages.service does',
    { timeout: 120_000 },
    async (ctx) => {
      if (!fs.existsSync('/usr/bin/python3'))
        return ctx.skip('skipped: the package cache is served by /usr/bin/python3');
      const t = targets('http');
      expect(installCli([bundle, ...t.args]).status).toBe(0);
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      // The unit's command, on a free loopback port.
      const server = spawn(
        '/usr/bin/python3',
        ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.join(t.dataDir, 'packages')],
        { stdio: 'ignore' },
      );
      try {
        for (let i = 0; i < 50; i++) {
          const ok = await fetch(`http://127.0.0.1:${port}/debian/Release`)
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        // A range machine's apt, in a private state: the cache as its only source.
        const root = path.join(work, 'apt-client');
        for (const d of [
          'etc/apt/apt.conf.d',
          'etc/apt/preferences.d',
          'etc/apt/sources.list.d',
          'var/lib/dpkg',
          'var/lib/apt/lists/partial',
          'var/cache/apt/archives/partial',
        ])
          fs.mkdirSync(path.join(root, d), { recursive: true });
        fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
        fs.writeFileSync(
          path.join(root, 'etc/apt/sources.list'),
          `deb [trusted=yes] http://127.0.0.1:${port}/debian/ ./\n`,
        );
        const opts = ['-o', `Dir=${root}`, '-o', 'Debug::NoLocking=1', '-o', 'APT::Architecture=amd64', '-q'];
        const update = spawnSync('apt-get', [...opts, 'update'], { encoding: 'utf8', timeout: 60_000 });
        expect(update.status, update.stderr).toBe(0);
        const get = spawnSync('apt-get', [...opts, 'install', '--download-only', '-y', 'glassdome-test-pkg'], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        expect(get.status, get.stderr).toBe(0);
        expect(fs.readdirSync(path.join(root, 'var/cache/apt/archives')).filter((f) => f.endsWith('.deb'))).toEqual([
          'glassdome-test-pkg_1.0-1_all.deb',
        ]);
      } finally {
        server.kill('SIGTERM');
      }
    },
  );

  it(
    "collects the Debian packages' whole closure from the archive and indexes them (when the mirror is reachable)",
    { timeout: 300_000 },
    async (ctx) => {
      if (!fs.existsSync('/usr/share/keyrings/debian-archive-keyring.gpg'))
        return ctx.skip('skipped: debian-archive-keyring is not installed');
      const out = path.join(work, 'collected');
      const logs: string[] = [];
      try {
        await collect({
          out,
          parts: ['debian'],
          cveSince: 2026,
          packages: ['netbase'],
          allowMissing: false,
          log: (s) => logs.push(s),
        });
      } catch (e) {
        if (/Unable to run apt-get .*update/.test(String(e)))
          return ctx.skip(`skipped: the Debian archive cannot be reached: ${String(e).slice(0, 200)}`);
        throw e;
      }
      const v = await verifyBundle(out);
      const debs = v.manifest.files.filter((f) => f.path.endsWith('.deb'));
      expect(debs.map((f) => f.meta.package)).toContain('netbase');
      expect(fs.readFileSync(path.join(out, 'debian/Packages'), 'utf8')).toMatch(/^Package: netbase$/m);
      expect(v.manifest.missing).toEqual([]);
    },
  );
});
