// The production build: `npm run build` output runs on plain Node (no TypeScript loader), serves what `npm start`
// serves, answers the setup wizard and /healthz, and its own `glassdome` entry works.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetFiles, buildDist, cliEntry, repoRoot, startCommand } from '../../appliance/dist.ts';
import { ApplianceClient, finishSetup } from '../../appliance/client.ts';
import { startGlassdome, type Running } from './helpers.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-build-'));
const out = path.join(work, 'dist');
const running: Running[] = [];

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('npm run build', () => {
  beforeAll(() => {
    // The built tree resolves its packages like an installed copy would: from a node_modules beside it.
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(work, 'node_modules'));
    buildDist(out);
  }, 180_000);
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('emits JavaScript only, with every asset the code reads from disk, and no TypeScript loader', () => {
    const all = files(out);
    expect(all.filter((f) => /\.(ts|tsx)$/.test(f))).toEqual([]);
    expect(all).toEqual(
      expect.arrayContaining([
        'server/main.js',
        'server/app.js',
        'server/cli/commands.js',
        'server/cli/bin.mjs',
        'views/layout.js',
        'package.json',
        'package-lock.json',
      ]),
    );
    for (const a of assetFiles()) expect(all).toContain(a);
    expect(all).toEqual(
      expect.arrayContaining([
        'views/static/htmx.min.js',
        'server/db/migrations/meta/_journal.json',
        'server/scenarios/web-dmz.yaml',
      ]),
    );
    // tsx stays a dependency (npm start uses it) but no built file loads it.
    const usesTsx = all.filter((f) => /\.m?js$/.test(f) && /\btsx\b/.test(fs.readFileSync(path.join(out, f), 'utf8')));
    expect(usesTsx).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(out, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      type: string;
    };
    expect(pkg.scripts.start).toBe(startCommand);
    expect(pkg.type).toBe('module');
  });

  it("runs the appliance's unit and CLI wrapper with the heap flags npm start and the built package use", () => {
    const flags = (cmd: string) => cmd.split(/\s+/).filter((w) => w.startsWith('--'));
    const npmStart = (
      JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start;
    const want = flags(npmStart).filter((f) => f !== '--import');
    expect(want).toContain('--max-old-space-size=1024');
    expect(flags(startCommand)).toEqual(want);
    const unit = fs.readFileSync(path.join(repoRoot, 'appliance/rootfs/etc/systemd/system/glassdome.service'), 'utf8');
    expect(flags(/^ExecStart=(.*)$/m.exec(unit)![1]!)).toEqual(want);
    const wrapper = fs.readFileSync(path.join(repoRoot, 'appliance/rootfs/usr/local/bin/glassdome'), 'utf8');
    const execs = wrapper.split('\n').filter((l) => l.includes('"$node"'));
    expect(execs).toHaveLength(3);
    for (const l of execs) expect(flags(l.slice(l.indexOf('"$node"')).split('"$cli"')[0]!)).toEqual(want);
  });

  it('serves what npm start serves: the same pages, static files and API document', { timeout: 120_000 }, async () => {
    const [cmd, ...args] = startCommand.split(' ');
    const built = await startGlassdome(cmd === 'node' ? process.execPath : cmd!, args, { cwd: out });
    running.push(built);
    const start = (
      JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
    ).scripts.start.split(' ');
    const source = await startGlassdome(process.execPath, start.slice(1), { cwd: repoRoot });
    running.push(source);
    for (const route of [
      '/api/v1/openapi.json',
      '/static/htmx.min.js',
      '/static/app.css',
      '/static/live.js',
      '/static/scenario.schema.json',
      '/healthz',
    ]) {
      const [a, b] = await Promise.all([fetch(built.url + route), fetch(source.url + route)]);
      expect(a.status, route).toBe(200);
      expect(a.status, route).toBe(b.status);
      expect(await a.text(), route).toBe(await b.text());
    }
    const [a, b] = await Promise.all([fetch(`${built.url}/setup`), fetch(`${source.url}/setup`)]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    // The pages differ only in their per-request CSRF token.
    const strip = (t: string) => t.replace(/[A-Za-z0-9_-]{32}/g, 'TOKEN');
    expect(strip(await a.text())).toBe(strip(await b.text()));
  });

  it(
    'answers /healthz and the setup wizard with the code it wrote, then seeds the bundled scenarios',
    { timeout: 60_000 },
    async () => {
      const [cmd, ...args] = startCommand.split(' ');
      const built = await startGlassdome(cmd === 'node' ? process.execPath : cmd!, args, { cwd: out });
      running.push(built);
      expect(await (await fetch(`${built.url}/healthz`)).json()).toEqual({ ok: true, setup: false });
      expect((await fetch(`${built.url}/`, { redirect: 'manual' })).headers.get('location')).toBe('/setup');
      const code = fs.readFileSync(path.join(built.dataDir, 'setup-code.txt'), 'utf8').trim();
      const c = new ApplianceClient(built.url);
      await finishSetup(c, { code, username: 'admin', password: 'correct horse battery' });
      expect(await (await fetch(`${built.url}/healthz`)).json()).toEqual({ ok: true, setup: true });
      const lib = await c.get('/scenarios');
      expect(lib.status).toBe(200);
      expect(lib.text).toContain('web-dmz');
      expect(fs.existsSync(path.join(built.dataDir, 'setup-code.txt'))).toBe(false);
    },
  );

  it("runs the glassdome command from dist's own entry", () => {
    const env = {
      ...process.env,
      NODE_OPTIONS: '',
      GLASSDOME_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'gd-build-cli-')),
    };
    const bin = path.join(out, 'server/cli/bin.mjs');
    const ok = spawnSync(process.execPath, [bin, 'validate', path.join(out, 'server/scenarios/web-dmz.yaml')], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const plan = spawnSync(process.execPath, [bin, 'plan', path.join(out, 'server/scenarios/web-dmz.yaml'), '--json'], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(plan.status).toBe(0);
    expect((JSON.parse(plan.stdout) as { machines: unknown[] }).machines.length).toBeGreaterThan(0);
    const bad = spawnSync(process.execPath, [bin, 'validate', path.join(work, 'missing.yaml')], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(bad.status).toBe(2);
  });

  it("points dist's entry at whatever module the source entry loads (the CLI may be reorganised)", () => {
    const root = fs.mkdtempSync(path.join(work, 'entry-'));
    fs.mkdirSync(path.join(root, 'server/cli'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ bin: { glassdome: 'server/cli/bin.mjs' } }));
    fs.writeFileSync(
      path.join(root, 'server/cli/bin.mjs'),
      "register();\nconst { main } = await import('./commands.ts');\n",
    );
    const e = cliEntry(root);
    expect(e.bin).toBe('server/cli/bin.mjs');
    expect(e.text).toContain("await import('./commands.js')");
    expect(e.text).not.toMatch(/tsx|register/);
    fs.writeFileSync(path.join(root, 'server/cli/bin.mjs'), "import './x.js';\n");
    expect(() => cliEntry(root)).toThrow('server/cli/bin.mjs: no "await import(\'./<module>.ts\')"');
  });
});
