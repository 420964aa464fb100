// Installs an offline bundle on the appliance: verifies every file first (one bad file aborts before anything is
// changed, naming it), then per part: the appliance (/opt/glassdome: Node runtime + app), the embedding model, cloud
// images, CVE feeds and the Debian package cache ranges install from. Each part is staged beside its destination and
// swapped in with a rename. Reads nothing but the bundle: no network.
//   node offline-bundle/install.js BUNDLE [--app-dir /opt/glassdome] [--data-dir /var/lib/glassdome] [--no-systemd]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AppError, errorMessage, isAppError } from '../server/errors.ts';
import { verifyBundle, type BundleFile, type Manifest, type Part } from './manifest.ts';

export interface InstallTargets {
  /** Holds node/ and app/ (the image's /opt/glassdome). */
  appDir: string;
  /** Glassdome's data folder (the image's /var/lib/glassdome). */
  dataDir: string;
  /** Restart and enable the appliance's units with systemctl. */
  systemd: boolean;
  log: (s: string) => void;
}

/** Where each part goes under the data folder (the appliance part replaces appDir). */
export const destinations: Record<Exclude<Part, 'appliance'>, string> = {
  model: 'models',
  images: 'images',
  cve: 'cve',
  debian: 'packages/debian',
};

export interface InstallReport {
  verifiedBytes: number;
  installed: Partial<Record<Part, number>>;
  /** What the admin does next (ESXi image paths, the package source line for ranges...). */
  notes: string[];
}

function run(cmd: string, args: string[], timeoutMs = 600_000): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error || r.status !== 0)
    throw new AppError('internal', `Unable to run ${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** The glassdome user's ids when running as root on the appliance; files in the data folder are then given to it. */
function glassdomeOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.existsSync('/etc/passwd')
    ? fs
        .readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('glassdome:'))
    : undefined;
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(dir: string, owner: { uid: number; gid: number } | undefined): void {
  if (!owner) return;
  fs.lchownSync(dir, owner.uid, owner.gid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, owner);
    else fs.lchownSync(p, owner.uid, owner.gid);
  }
}

/** Replaces `dest` with `staged` by renames; the previous copy is kept as `<dest>.previous` until the next install. */
function swapIn(staged: string, dest: string): void {
  const previous = `${dest}.previous`;
  fs.rmSync(previous, { recursive: true, force: true });
  if (fs.existsSync(dest)) fs.renameSync(dest, previous);
  fs.renameSync(staged, dest);
}

function stageFiles(bundle: string, files: BundleFile[], stripPrefix: string, staged: string): number {
  fs.rmSync(staged, { recursive: true, force: true });
  let bytes = 0;
  for (const f of files) {
    const rel = path.relative(stripPrefix, f.path);
    const to = path.join(staged, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(bundle, f.path), to);
    bytes += f.size;
  }
  return bytes;
}

/** Verifies the whole bundle, then installs it; `onVerified` marks the point from which things change. */
export async function installBundle(
  bundle: string,
  t: InstallTargets,
  onVerified?: () => void,
): Promise<InstallReport> {
  const { manifest, bytes } = await verifyBundle(bundle);
  onVerified?.();
  t.log(
    `offline bundle: ${manifest.files.length} files (${(bytes / 2 ** 20).toFixed(0)} MiB) verified; Glassdome ${manifest.glassdome}, collected ${manifest.createdAt}`,
  );
  const report: InstallReport = { verifiedBytes: bytes, installed: {}, notes: [] };
  const byPart = (p: Part) => manifest.files.filter((f) => f.part === p);
  const owner = glassdomeOwner();
  fs.mkdirSync(t.dataDir, { recursive: true });

  // Data parts first: the appliance restart at the end then finds them in place.
  for (const part of ['model', 'images', 'cve', 'debian'] as const) {
    const files = byPart(part);
    if (!files.length) continue;
    const dest = path.join(t.dataDir, destinations[part]);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const staged = `${dest}.new`;
    report.installed[part] = stageFiles(bundle, files, part, staged);
    chownTree(staged, owner);
    swapIn(staged, dest);
    t.log(`offline bundle: ${part}: ${files.length} files into ${dest}`);
  }
  for (const f of byPart('images'))
    if (f.meta.os)
      report.notes.push(
        `ESXi platform images setting: ${f.meta.os} = ${path.join(t.dataDir, destinations.images, path.relative('images', f.path))}`,
      );
  for (const f of byPart('model').filter((x) => x.path.endsWith('.onnx')))
    report.notes.push(
      `embedding model ${f.meta.model ?? ''} in ${path.join(t.dataDir, destinations.model)} (transformers.js localModelPath, remote models off)`,
    );
  if (byPart('debian').length)
    report.notes.push(
      "package cache for ranges: set GLASSDOME_PACKAGE_CACHE_URL=http://<this appliance's IPv4 address as the ranges' routers reach it>:3142 in /etc/glassdome/glassdome.env, then systemctl restart glassdome",
    );
  for (const r of manifest.references)
    report.notes.push(`bring your own ${r.name} (${r.licence}): ${r.source}; put it at ${r.placeAt}`);

  const app = byPart('appliance');
  if (app.length) {
    const tar = app.find((f) => f.path.endsWith('.tar'));
    if (!tar) throw new AppError('invalid_input', 'The bundle has an appliance part but no appliance tar');
    const staged = `${t.appDir}.new`;
    fs.rmSync(staged, { recursive: true, force: true });
    fs.mkdirSync(staged, { recursive: true });
    run('tar', ['-xf', path.join(bundle, tar.path), '-C', staged, '--no-same-owner']);
    for (const need of ['node/bin/node', 'app/server/main.js']) {
      if (!fs.existsSync(path.join(staged, need))) {
        fs.rmSync(staged, { recursive: true, force: true });
        throw new AppError('invalid_input', `The appliance tar ${tar.path} has no ${need}`, {
          hint: 'Collect the bundle again.',
        });
      }
    }
    swapIn(staged, t.appDir);
    report.installed.appliance = tar.size;
    t.log(
      `offline bundle: appliance ${manifest.glassdome} installed in ${t.appDir} (previous copy in ${t.appDir}.previous)`,
    );
  }
  if (t.systemd) {
    if (byPart('debian').length) run('systemctl', ['enable', '--now', 'glassdome-packages.service'], 60_000);
    if (app.length) run('systemctl', ['try-restart', 'glassdome.service'], 120_000);
  }
  return report;
}

export function summarize(m: Manifest): string {
  const parts = new Map<string, number>();
  for (const f of m.files) parts.set(f.part, (parts.get(f.part) ?? 0) + f.size);
  return [...parts].map(([p, n]) => `${p} ${(n / 2 ** 20).toFixed(1)} MiB`).join(', ');
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'app-dir': { type: 'string', default: '/opt/glassdome' },
      'data-dir': { type: 'string', default: '/var/lib/glassdome' },
      'no-systemd': { type: 'boolean', default: false },
      'verify-only': { type: 'boolean', default: false },
    },
  });
  const bundle = positionals[0];
  if (!bundle) {
    console.error('usage: install BUNDLE [--app-dir DIR] [--data-dir DIR] [--no-systemd] [--verify-only]');
    process.exit(2);
  }
  let changing = false;
  try {
    if (values['verify-only']) {
      const v = await verifyBundle(bundle);
      console.log(`offline bundle: every file verified (${summarize(v.manifest)})`);
    } else {
      const r = await installBundle(
        bundle,
        {
          appDir: path.resolve(values['app-dir']),
          dataDir: path.resolve(values['data-dir']),
          systemd: !values['no-systemd'] && os.platform() === 'linux' && fs.existsSync('/run/systemd/system'),
          log: (s) => console.log(s),
        },
        () => (changing = true),
      );
      for (const n of r.notes) console.log(`  ${n}`);
    }
  } catch (e) {
    console.error(`offline bundle: ${errorMessage(e)}`);
    if (isAppError(e) && e.hint) console.error(`  ${e.hint}`);
    console.error(
      changing ? '  the parts logged above were installed; run the install again once fixed' : '  nothing was changed',
    );
    process.exit(changing ? 1 : 2);
  }
}
