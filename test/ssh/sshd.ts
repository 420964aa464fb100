// Starts Debian's OpenSSH server for tests: `sshd -D -f <generated config>` on a free 127.0.0.1 port with its own
// host key, a client key and, when run as root, a test user of its own. As root, sshd runs in a private mount
// namespace (unshare -m) where /etc/passwd, /etc/shadow and /etc/group are bind-mounted copies with that user added,
// so password logins work without touching the host's accounts. Not root: only the current user, by key, can log in.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../server/agents/credentials.ts';

const sshdBinary = '/usr/sbin/sshd';
const sftpServer = '/usr/lib/openssh/sftp-server';
const testUid = 4242;

export interface Sshd {
  host: string;
  port: number;
  user: string;
  /** Set when password logins work (root: the namespace's test user). */
  password?: string;
  /** The client key authorized for `user` (OpenSSH format). */
  privateKey: string;
  publicKey: string;
  /** The server's host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  hostKeyFile: string;
  dir: string;
  home: string;
  /** sshd's own log (stderr, LogLevel DEBUG1). */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /**
   * A program every command runs through, called as `<wrapper> -c <command>`: the test user's login shell as root,
   * a ForceCommand otherwise. It must run `internal-sftp` itself when it sees it (SFTP under a ForceCommand).
   */
  commandWrapper?: string;
  /** Reuse this host key (private key file) instead of generating one. */
  hostKeyFile?: string;
  /** Listen on this port (a restart on the same address). */
  port?: number;
  extraConfig?: string[];
  /** Authorize this client key pair instead of generating one (to reach a later server with a key known before). */
  clientKey?: { privateKey: string; publicKey: string };
  /** As root: the test user's name and password (default `gdtest` and a random one), e.g. a lab machine's own. */
  account?: { user: string; password: string };
}

let availability: { ok: true; asRoot: boolean } | { skip: string } | undefined;

/** Whether sshd can run here, and as root (password logins) or not; `skip` says why not. */
export function sshdAvailability(): { ok: true; asRoot: boolean } | { skip: string } {
  if (availability) return availability;
  if (!existsSync(sshdBinary))
    return (availability = { skip: `${sshdBinary} is missing (apt-get install openssh-server)` });
  if (spawnSync('ssh-keygen', ['-?'], { encoding: 'utf8' }).error)
    return (availability = { skip: 'ssh-keygen is missing (apt-get install openssh-client)' });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const probe = spawnSync('unshare', ['-m', 'true'], { encoding: 'utf8' });
    if (probe.status !== 0)
      return (availability = {
        skip: `running as root but unshare -m fails (${(probe.stderr || String(probe.error)).trim()}): the test user's private /etc/passwd cannot be mounted`,
      });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  }
  return (availability = { ok: true, asRoot });
}

let usable: Promise<{ ok: true; asRoot: boolean } | { skip: string }> | undefined;

/** sshdAvailability, then one real start and stop: tests skip with the reason when sshd cannot run here. */
export function sshdUsable(): Promise<{ ok: true; asRoot: boolean } | { skip: string }> {
  return (usable ??= (async () => {
    const avail = sshdAvailability();
    if (!('ok' in avail)) return avail;
    try {
      const s = await startSshd();
      await s.stop();
      return avail;
    } catch (e) {
      return { skip: `sshd cannot start here: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
    }
  })());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once the port answers with an SSH banner; bounded by `timeoutMs`. */
async function waitForBanner(port: number, child: ChildProcess, log: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`sshd exited with ${child.exitCode}: ${log().trim().split('\n').slice(-5).join(' | ')}`);
    const banner = await new Promise<string>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      let text = '';
      const done = (): void => {
        sock.destroy();
        resolve(text);
      };
      sock.setTimeout(1000, done);
      sock.on('data', (b) => {
        text += b.toString();
        if (text.includes('\n')) done();
      });
      sock.on('error', done);
    });
    if (banner.startsWith('SSH-2.0-')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `sshd did not answer on port ${port} within ${timeoutMs} ms: ${log().trim().split('\n').slice(-5).join(' | ')}`,
  );
}

function keygen(file: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'pipe' });
}

export async function startSshd(o: SshdOptions = {}): Promise<Sshd> {
  const avail = sshdAvailability();
  if (!('ok' in avail)) throw new Error(avail.skip);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gd-sshd-'));
  chmodSync(dir, 0o755);
  const home = path.join(dir, 'home');
  mkdirSync(home, { mode: 0o755 });

  const hostKeyFile = path.join(dir, 'host_ed25519');
  if (o.hostKeyFile) writeFileSync(hostKeyFile, readFileSync(o.hostKeyFile), { mode: 0o600 });
  else keygen(hostKeyFile, 'gd-test-host');
  if (o.hostKeyFile) writeFileSync(`${hostKeyFile}.pub`, readFileSync(`${o.hostKeyFile}.pub`));
  const hostKeyFingerprint = execFileSync('ssh-keygen', ['-lf', `${hostKeyFile}.pub`], { encoding: 'utf8' }).split(
    ' ',
  )[1]!;
  const clientKey = path.join(dir, 'client_ed25519');
  if (o.clientKey) {
    writeFileSync(clientKey, o.clientKey.privateKey, { mode: 0o600 });
    writeFileSync(`${clientKey}.pub`, `${o.clientKey.publicKey}\n`);
  } else keygen(clientKey, 'gd-test-client');
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o644 });

  const user = avail.asRoot ? (o.account?.user ?? 'gdtest') : os.userInfo().username;
  const password = avail.asRoot
    ? (o.account?.password ?? `Pw-${Math.random().toString(36).slice(2, 10)}'$x`)
    : undefined;
  let etc: { passwd: string; shadow: string; group: string } | undefined;
  if (avail.asRoot) {
    chownSync(home, testUid, testUid);
    const shell = o.commandWrapper ?? '/bin/sh';
    etc = { passwd: path.join(dir, 'passwd'), shadow: path.join(dir, 'shadow'), group: path.join(dir, 'group') };
    const strip = (text: string) =>
      text
        .split('\n')
        .filter((l) => l && !l.startsWith(`${user}:`))
        .join('\n');
    writeFileSync(
      etc.passwd,
      `${strip(readFileSync('/etc/passwd', 'utf8'))}\n${user}:x:${testUid}:${testUid}:Glassdome test:${home}:${shell}\n`,
      { mode: 0o644 },
    );
    writeFileSync(
      etc.shadow,
      `${strip(readFileSync('/etc/shadow', 'utf8'))}\n${user}:${hashPassword(password!, 'gdtestsalt')}:19000:0:99999:7:::\n`,
      { mode: 0o640 },
    );
    writeFileSync(etc.group, `${strip(readFileSync('/etc/group', 'utf8'))}\n${user}:x:${testUid}:\n`, { mode: 0o644 });
  }

  const config = path.join(dir, 'sshd_config');
  const lines = (port: number) => [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKeyFile}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    'StrictModes no',
    'UsePAM no',
    `PasswordAuthentication ${avail.asRoot ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${user}`,
    'AllowTcpForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'LogLevel DEBUG1',
    `Subsystem sftp ${avail.asRoot && !o.commandWrapper ? 'internal-sftp' : sftpServer}`,
    ...(!avail.asRoot && o.commandWrapper ? [`ForceCommand exec ${o.commandWrapper} -c "$SSH_ORIGINAL_COMMAND"`] : []),
    ...(o.extraConfig ?? []),
  ];

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = o.port ?? (await freePort());
    writeFileSync(config, `${lines(port).join('\n')}\n`);
    const argv = [sshdBinary, '-D', '-e', '-f', config];
    const child = etc
      ? spawn(
          'unshare',
          [
            '-m',
            '--',
            'sh',
            '-c',
            `mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && mount --bind "$3" /etc/group && shift 3 && exec "$@"`,
            'sh',
            etc.passwd,
            etc.shadow,
            etc.group,
            ...argv,
          ],
          { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
        )
      : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let log = '';
    child.stderr?.on('data', (b: Buffer) => {
      log = (log + b.toString()).slice(-200_000);
    });
    try {
      await waitForBanner(port, child, () => log);
    } catch (e) {
      lastError = e;
      killGroup(child, 'SIGKILL');
      if (/Address already in use/.test(log) && o.port === undefined) continue;
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    return {
      host: '127.0.0.1',
      port,
      user,
      ...(password !== undefined ? { password } : {}),
      privateKey: readFileSync(clientKey, 'utf8'),
      publicKey: readFileSync(`${clientKey}.pub`, 'utf8').trim(),
      hostKeyFingerprint,
      hostKeyFile,
      dir,
      home,
      log: () => log,
      async stop() {
        // Each connection's process calls setsid: it is found as a descendant, not by the process group.
        const sessions = child.pid === undefined ? [] : descendants(child.pid);
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
        for (const pid of sessions) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

function descendants(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .flatMap((c) => [c, ...descendants(c)]);
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // Already gone.
  }
}
