// packer/appliance.pkr.hcl against the installed Packer (Debian 12's 1.6.6 in CI): it validates, keeps to built-in
// builders, binds the build VM's SSH forward to 127.0.0.1; and appliance/build.sh refuses the silent empty build a
// wrong -only gives.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../appliance/dist.ts';

const packer = ['/usr/bin/packer', '/usr/local/bin/packer'].find((p) => fs.existsSync(p));
if (!packer) console.log('skipped: packer is not installed (apt-get install -y packer)');
const template = path.join(repoRoot, 'packer/appliance.pkr.hcl');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-packer-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Stand-ins for build.sh's inputs: validate and an empty build only check that they exist. */
function vars(): string[] {
  const base = path.join(work, 'base.qcow2');
  fs.writeFileSync(base, 'not read');
  fs.writeFileSync(path.join(work, 'app.tar'), 'not read');
  fs.mkdirSync(path.join(work, 'http'), { recursive: true });
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(path.join(work, 'key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const sum = crypto.createHash('sha256').update(fs.readFileSync(base)).digest('hex');
  return [
    '-var',
    `base_image=${base}`,
    '-var',
    `base_image_checksum=sha256:${sum}`,
    '-var',
    `app_tarball=${path.join(work, 'app.tar')}`,
    '-var',
    `http_dir=${path.join(work, 'http')}`,
    '-var',
    `ssh_private_key_file=${path.join(work, 'key')}`,
    '-var',
    'accelerator=tcg',
  ];
}

const env = {
  ...process.env,
  CHECKPOINT_DISABLE: '1',
  PACKER_LOG: '',
  PACKER_CACHE_DIR: path.join(work, 'packer_cache'),
};

describe.skipIf(!packer)('packer/appliance.pkr.hcl', () => {
  it('passes packer validate', () => {
    const r = spawnSync(
      packer!,
      ['validate', '-var', `output_dir=${path.join(work, 'validate-out')}`, ...vars(), template],
      { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.stderr + r.stdout).not.toMatch(/Error/);
    expect(r.status).toBe(0);
  });

  it('uses built-in parts only and keeps the build VM on the loopback interface', () => {
    const text = fs.readFileSync(template, 'utf8');
    expect(text).not.toMatch(/required_plugins/);
    expect(text).toMatch(/hostfwd=tcp:127\.0\.0\.1:\{\{ \.SSHHostPort \}\}-:22/);
    expect(text).toMatch(/vnc_bind_address\s*=\s*"127\.0\.0\.1"/);
    // Packer's default netdev (hostfwd on every address) is replaced, not added to.
    expect(text.match(/"-netdev"/g)).toHaveLength(1);
  });

  it('shows why build.sh checks its artefacts: a wrong -only builds nothing and exits 0', () => {
    const r = spawnSync(
      packer!,
      ['build', '-only=qemu.not-a-build', '-var', `output_dir=${path.join(work, 'out')}`, ...vars(), template],
      { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('no artifacts were created');
    expect(fs.existsSync(path.join(work, 'out'))).toBe(false);
  });

  it('build.sh fails, naming the missing OVA, when packer builds nothing', { timeout: 120_000 }, (ctx) => {
    const missing = ['qemu-system-x86_64', 'qemu-img', 'ssh-keygen'].filter(
      (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
    );
    if (missing.length) return ctx.skip(`skipped: build.sh needs ${missing.join(', ')}`);
    // A base disk and an app tarball already there (reused), and a -only that matches no build.
    const out = path.join(work, 'build');
    fs.mkdirSync(path.join(out, 'base'), { recursive: true });
    fs.mkdirSync(path.join(out, 'stage'), { recursive: true });
    fs.writeFileSync(path.join(out, 'base', 'debian-12-debootstrap.qcow2'), 'not read');
    fs.writeFileSync(path.join(out, 'stage', 'glassdome-app.tar'), 'not read');
    const r = spawnSync(
      'sh',
      [
        path.join(repoRoot, 'appliance/build.sh'),
        '--base',
        'debootstrap',
        '--accel',
        'tcg',
        '--reuse-app',
        '--out',
        out,
      ],
      {
        cwd: repoRoot,
        env: { ...env, PACKER_ONLY: 'qemu.not-a-build' },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /packer succeeded but .*glassdome-.*\.ova was not produced \(is -only=qemu\.not-a-build the build in packer\/appliance\.pkr\.hcl\?\)/,
    );
  });
});
