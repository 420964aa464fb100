// A flat APT repository from a folder of .deb files (Packages, Packages.gz and a Release with their hashes), the
// form ranges install from: `deb [trusted=yes] http://<appliance>:3142/debian/ ./`. Each .deb's SHA-256 is in
// Packages, so apt refuses a changed file; the packages themselves were verified by apt against Debian's signed
// archive when the collector downloaded them.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** The control paragraph of a .deb (dpkg-deb prints it without a trailing blank line). */
export function debControl(deb: string): string {
  return execFileSync('dpkg-deb', ['--field', deb], { encoding: 'utf8', timeout: 60_000 }).trimEnd();
}

export interface FlatRepo {
  packages: Array<{ name: string; version: string; file: string }>;
}

/** Writes Packages, Packages.gz and Release for every .deb in `dir` (sorted by file name, so the output is stable). */
export function writeFlatRepo(dir: string, date = new Date()): FlatRepo {
  const debs = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .sort();
  const paragraphs: string[] = [];
  const packages: FlatRepo['packages'] = [];
  for (const file of debs) {
    const abs = path.join(dir, file);
    const body = fs.readFileSync(abs);
    const control = debControl(abs);
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(control)?.[1]?.trim() ?? '';
    packages.push({ name: field('Package'), version: field('Version'), file });
    paragraphs.push(`${control}\nFilename: ./${file}\nSize: ${body.length}\nSHA256: ${sha256(body)}\n`);
  }
  const index = Buffer.from(paragraphs.join('\n'));
  const gz = zlib.gzipSync(index, { level: 9 });
  fs.writeFileSync(path.join(dir, 'Packages'), index);
  fs.writeFileSync(path.join(dir, 'Packages.gz'), gz);
  const release = [
    'Origin: Glassdome',
    'Label: Glassdome offline packages',
    'Suite: bookworm',
    'Codename: bookworm',
    'Architectures: amd64 all',
    `Date: ${date.toUTCString()}`,
    'SHA256:',
    ` ${sha256(index)} ${index.length} Packages`,
    ` ${sha256(gz)} ${gz.length} Packages.gz`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'Release'), release);
  return { packages };
}
