// A throwaway Debian machine for apply + verify tests, without containers or VMs: this host's own root filesystem
// under a copy-on-write overlay, in new mount, network and PID namespaces. The real cloud-init of the host applies
// the generated user-data inside it (NoCloud seed), services start from their real unit files through a systemctl
// stand-in (fixtures/systemctl-shim.py), and probes run from the host's programs inside the sandbox's network
// namespace, as the range's attacker would. Needs root, unshare, nsenter and overlayfs; `locateSandbox` says why not.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const shim = new URL('./fixtures/systemctl-shim.py', import.meta.url).pathname;
const sandboxPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The machine's own address besides loopback: probes aim at it, so a service that listens on 127.0.0.1 only, or
 * that treats non-loopback clients differently (Redis's protected mode), shows as it would on a lab network.
 */
export const targetAddress = '192.0.2.10';

export type SandboxSupport = { ok: true } | { ok: false; why: string };

let support: SandboxSupport | undefined;

/** Whether sandboxes can run here, once per process (it tries an overlay mount in a throwaway namespace). */
export function locateSandbox(): SandboxSupport {
  if (support) return support;
  if (process.getuid?.() !== 0)
    return (support = {
      ok: false,
      why: 'the apply + verify sandbox needs root (mount and network namespaces, overlayfs)',
    });
  for (const tool of ['unshare', 'nsenter', 'chroot', 'cloud-init', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return (support = { ok: false, why: `${tool} is not installed` });
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'gd-sbx-probe-'));
  const r = spawnSync(
    'unshare',
    [
      '--mount',
      '--net',
      'sh',
      '-c',
      `mount --make-rprivate / && mount -t tmpfs t ${dir} && mkdir ${dir}/u ${dir}/w ${dir}/m && mount -t overlay o -o lowerdir=/,upperdir=${dir}/u,workdir=${dir}/w ${dir}/m && ip link set lo up`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0)
    return (support = {
      ok: false,
      why: `namespaces or overlayfs are not available here: ${(r.stderr || String(r.error)).trim().split('\n')[0]}`,
    });
  return (support = { ok: true });
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  /** Runs a shell command as root inside the machine (its filesystem, network and processes). */
  exec(command: string, options?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Runs a bash script with this host's programs inside the machine's network namespace: the attacker's view. */
  attack(script: string, timeoutMs: number): Promise<RunResult>;
  /** Runs the three cloud-init stages on the seed's user-data, each whatever the one before did, as a boot does. */
  firstBoot(): Promise<RunResult>;
  stop(): Promise<void>;
}

export interface SandboxOptions {
  userData: string;
  metaData?: string;
  /** Seconds after which the sandbox ends itself, whatever the test does. */
  lifetimeSec?: number;
}

/** Starts a sandbox machine; its user-data waits in a NoCloud seed until firstBoot(). */
export async function startSandbox(o: SandboxOptions): Promise<Sandbox> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gd-sbx-'));
  const seed = path.join(dir, 'seed');
  const put = (p: string, content: string, mode = 0o644) => {
    const full = path.join(seed, p);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content, { mode });
  };
  put('var/lib/cloud/seed/nocloud/user-data', o.userData);
  put('var/lib/cloud/seed/nocloud/meta-data', o.metaData ?? 'instance-id: sandbox-1\nlocal-hostname: target\n');
  // Only the stages that matter here: no network, disks, hostname or SSH host keys (the host's are reused).
  put(
    'etc/cloud/cloud.cfg.d/99-glassdome-sandbox.cfg',
    [
      'datasource_list: [NoCloud, None]',
      'network: {config: disabled}',
      'cloud_init_modules: [write_files, users_groups]',
      'cloud_config_modules: [runcmd]',
      'cloud_final_modules: [write_files_deferred, scripts_user, final_message]',
      '',
    ].join('\n'),
  );
  mkdirSync(path.join(seed, 'usr/bin'), { recursive: true });
  copyFileSync(shim, path.join(seed, 'usr/bin/systemctl'));
  chmodSync(path.join(seed, 'usr/bin/systemctl'), 0o755);
  const lifetime = o.lifetimeSec ?? 300;
  // PID 1 of the namespace reaps orphans (daemons outlive the systemctl that started them) and ends the sandbox.
  const reaper = `import os, time\nend = time.time() + ${lifetime}\nwhile time.time() < end:\n    try:\n        if os.waitpid(-1, os.WNOHANG)[0] == 0: time.sleep(0.2)\n    except ChildProcessError:\n        time.sleep(0.2)\n`;
  writeFileSync(path.join(dir, 'reaper.py'), reaper);
  const merged = path.join(dir, 'm');
  writeFileSync(
    path.join(dir, 'holder.sh'),
    [
      'set -e',
      'mount --make-rprivate /',
      `mkdir -p ${dir}/ovl ${merged}`,
      `mount -t tmpfs tmpfs ${dir}/ovl`,
      `mkdir -p ${dir}/ovl/u ${dir}/ovl/w`,
      `mount -t overlay overlay -o lowerdir=/,upperdir=${dir}/ovl/u,workdir=${dir}/ovl/w ${merged}`,
      `cp -a ${seed}/. ${merged}/`,
      `rm -rf ${merged}/var/lib/cloud/instances ${merged}/var/lib/cloud/instance ${merged}/var/lib/cloud/data ${merged}/var/log/cloud-init.log ${merged}/var/log/cloud-init-output.log`,
      `mount -t proc proc ${merged}/proc`,
      `mount --rbind /dev ${merged}/dev`,
      // cloud-init writes its final message to the console too: not this host's.
      `mount --bind /dev/null ${merged}/dev/console`,
      `mount -t tmpfs tmpfs ${merged}/run`,
      // What systemd-tmpfiles makes at boot and daemons expect (apachectl's lock directory).
      `mkdir -p -m 1777 ${merged}/run/lock`,
      `mount -t tmpfs -o mode=1777 tmpfs ${merged}/tmp`,
      'ip link set lo up',
      `ip addr add ${targetAddress}/32 dev lo`,
      'echo READY',
      `exec /usr/bin/python3 ${dir}/reaper.py`,
      '',
    ].join('\n'),
  );
  const holder = spawn('unshare', ['--mount', '--net', '--pid', '--fork', 'sh', path.join(dir, 'holder.sh')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errText = '';
  holder.stderr.on('data', (b: Buffer) => (errText = (errText + b.toString()).slice(-2000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox did not start within 15 s: ${errText}`)), 15_000);
    holder.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    holder.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox holder exited ${code}: ${errText}`));
    });
  });
  // unshare --fork: the namespace's PID 1 is unshare's only child.
  const children = readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/);
  const init = Number(children[0]);
  if (!Number.isInteger(init) || init <= 0) throw new Error('sandbox: no init process found');

  const run = (args: string[], input: string | undefined, timeoutMs: number, env?: NodeJS.ProcessEnv) =>
    new Promise<RunResult>((resolve) => {
      const child: ChildProcess = spawn('nsenter', args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: env ?? { PATH: sandboxPath, HOME: '/root', LANG: 'C.UTF-8' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      child.stdin!.end(input ?? '');
    });

  return {
    exec: (command, opts = {}) =>
      run(
        ['-t', String(init), '-m', '-n', '-p', '--', 'chroot', merged, '/bin/sh', '-c', command],
        opts.input,
        opts.timeoutMs ?? 60_000,
      ),
    attack: (script, timeoutMs) =>
      run(['-t', String(init), '-n', '--', 'bash', '-s'], script, timeoutMs, {
        PATH: sandboxPath,
        HOME: tmpdir(),
        LANG: 'C.UTF-8',
      }),
    // systemd-tmpfiles first, as at boot: the runtime directories packages declare (/run/mysqld, /run/lock).
    firstBoot: () =>
      run(
        [
          '-t',
          String(init),
          '-m',
          '-n',
          '-p',
          '--',
          'chroot',
          merged,
          '/bin/sh',
          '-c',
          'systemd-tmpfiles --create --prefix=/run --prefix=/var/run >/dev/null 2>&1; cloud-init init; cloud-init modules --mode config; cloud-init modules --mode final',
        ],
        undefined,
        300_000,
      ),
    stop: async () => {
      try {
        process.kill(init, 'SIGKILL');
      } catch {
        // Already gone: its lifetime ran out.
      }
      if (holder.exitCode === null) await new Promise((r) => holder.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
