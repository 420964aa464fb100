import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../server/errors.ts';
import { connectSsh, type SshConnection, type SshTarget } from '../../server/ssh/connection.ts';
import { hostKeyFingerprint } from '../../server/ssh/host-keys.ts';
import { createSshPool } from '../../server/ssh/pool.ts';
import { startSshd, sshdUsable, type Sshd } from './sshd.ts';

const avail = await sshdUsable();
if (!('ok' in avail)) console.warn(`[skip] SSH tests: ${avail.skip}`);

function keyTarget(s: Sshd, over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'web',
    host: s.host,
    port: s.port,
    credentials: { username: s.user, privateKey: s.privateKey },
    hostKey: { mode: 'pinned', fingerprints: [s.hostKeyFingerprint] },
    ...over,
  };
}

async function expectAppError(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected an AppError, got success');
}

/** A TCP server that accepts and never speaks: a host whose SSH server hangs, or a firewall that swallows. */
async function silentServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.skipIf(!('ok' in avail))('SSH connections against OpenSSH', () => {
  let sshd: Sshd;
  let conn: SshConnection;

  beforeAll(async () => {
    sshd = await startSshd();
    conn = await connectSsh(keyTarget(sshd));
  });
  afterAll(async () => {
    await conn?.close();
    await sshd?.stop();
  });

  it('computes host key fingerprints exactly as ssh-keygen prints them', () => {
    expect(conn.hostKeyFingerprint).toBe(sshd.hostKeyFingerprint);
    expect(hostKeyFingerprint(Buffer.from('x'))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('runs a command and returns its exit code, stdout and stderr apart', async () => {
    const r = await conn.exec(`printf 'out-%s\\n' "$(id -un)"; echo err >&2; exit 3`, { timeoutMs: 10_000 });
    expect(r).toEqual({ exitCode: 0 + 3, stdout: `out-${sshd.user}\n`, stderr: 'err\n', truncated: false });
    const ok = await conn.exec('true', { timeoutMs: 10_000 });
    expect(ok.exitCode).toBe(0);
  });

  it('feeds stdin to the command and closes it', async () => {
    const r = await conn.exec('wc -c', { timeoutMs: 10_000, stdin: 'x'.repeat(70_000) });
    expect(r.stdout.trim()).toBe('70000');
  });

  it('keeps only the tail of an output larger than the cap and says so', async () => {
    const r = await conn.exec('seq 1 20000', { timeoutMs: 10_000, maxOutputBytes: 100 });
    expect(r.truncated).toBe(true);
    expect(r.stdout.length).toBe(100);
    expect(r.stdout.endsWith('19999\n20000\n')).toBe(true);
  });

  it('stops a command at its timeout with a timeout error naming the machine, and kills it', async () => {
    // A unique duration names the process for pgrep.
    const marker = `sleep 30.${process.pid}${Date.now() % 1000}`;
    const t0 = Date.now();
    const e = await expectAppError(conn.exec(`exec ${marker}`, { timeoutMs: 400, label: 'the sleeper' }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e.code).toBe('timeout');
    expect(e.message).toBe('[ssh] Unable to run the sleeper on machine "web": it did not finish within 0.4 s');
    // OpenSSH delivers the KILL signal request to the session's process.
    let left = '';
    for (let i = 0; i < 40; i++) {
      left = (await conn.exec(`pgrep -f '^${marker}$' || true`, { timeoutMs: 5000 })).stdout.trim();
      if (!left) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(left).toBe('');
    // The connection is still usable.
    expect((await conn.exec('echo still', { timeoutMs: 5000 })).stdout).toBe('still\n');
  });

  it("stops a command when its signal aborts, with the signal's reason", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user cancelled')), 200);
    await expect(conn.exec('sleep 30', { timeoutMs: 30_000, signal: ac.signal })).rejects.toThrow('user cancelled');
  });

  it('never puts a command text in an error: it may carry secrets', async () => {
    const e = await expectAppError(conn.exec('sleep 5; echo s3cret-token', { timeoutMs: 100 }));
    expect(e.message).not.toContain('s3cret');
    expect(e.message).toContain('a command');
  });

  it('uploads a file over SFTP with its mode, and downloads it back', async () => {
    const file = `${sshd.home}/upload.txt`;
    await conn.upload(file, 'hello\nworld\n', { mode: 0o600, timeoutMs: 10_000 });
    const r = await conn.exec(`stat -c %a "${file}"; cat "${file}"`, { timeoutMs: 5000 });
    expect(r.stdout).toBe('600\nhello\nworld\n');
    await conn.upload(file, 'replaced', { mode: 0o640, timeoutMs: 10_000 });
    expect((await conn.download(file, { timeoutMs: 10_000 })).toString()).toBe('replaced');
    expect((await conn.exec(`stat -c %a "${file}"`, { timeoutMs: 5000 })).stdout).toBe('640\n');
    const missing = await expectAppError(conn.download(`${sshd.home}/nope`, { timeoutMs: 10_000 }));
    expect(missing.code).toBe('not_found');
  });

  it('opens an interactive shell on a pseudo-terminal that follows resizes', async () => {
    const sh = await conn.shell({ cols: 80, rows: 24, term: 'xterm' });
    let out = '';
    sh.stream.on('data', (b: Buffer) => (out += b.toString()));
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      return re.exec(out);
    };
    sh.stream.write('stty size; echo "T=$TERM"\n');
    expect((await waitFor(/24 80\r?$/m))?.[0].trim()).toBe('24 80');
    expect(await waitFor(/T=xterm\r?$/m)).not.toBeNull();
    sh.resize(132, 40);
    await new Promise((r) => setTimeout(r, 100));
    sh.stream.write('stty size\n');
    expect((await waitFor(/40 132\r?$/m))?.[0].trim()).toBe('40 132');
    sh.stream.write('exit\n');
    await sh.closed;
  });

  it('logs in with a password when the server has an account with one', async (ctx) => {
    if (sshd.password === undefined) return ctx.skip();
    const c = await connectSsh(keyTarget(sshd, { credentials: { username: sshd.user, password: sshd.password } }));
    try {
      expect((await c.exec('id -u', { timeoutMs: 5000 })).stdout.trim()).toBe('4242');
    } finally {
      await c.close();
    }
  });

  it('refuses a wrong password at once, naming the user, without retrying or echoing it', async (ctx) => {
    if (sshd.password === undefined) return ctx.skip();
    let retries = 0;
    const e = await expectAppError(
      connectSsh(keyTarget(sshd, { credentials: { username: sshd.user, password: 'Wrong-Secret-1' } }), {
        onRetry: () => retries++,
      }),
    );
    expect(retries).toBe(0);
    expect(e.message).toBe(
      `[ssh] Unable to connect to machine "web" (127.0.0.1:${sshd.port}): authentication as "${sshd.user}" failed (password)`,
    );
    expect(e.message).not.toContain('Wrong-Secret');
  });

  it('records the host key on first use, then refuses a different host at the same name', async () => {
    const seen: string[] = [];
    const first = await connectSsh(
      keyTarget(sshd, { hostKey: { mode: 'trust-on-first-use', known: [], remember: (fp) => void seen.push(fp) } }),
    );
    await first.close();
    expect(seen).toEqual([sshd.hostKeyFingerprint]);

    const other = await startSshd();
    try {
      const e = await expectAppError(
        connectSsh(
          keyTarget(other, {
            credentials: { username: other.user, privateKey: other.privateKey },
            hostKey: { mode: 'trust-on-first-use', known: seen, remember: () => void seen.push('again') },
          }),
        ),
      );
      expect(e.code).toBe('platform_error');
      expect(e.message).toBe(
        `[ssh] Unable to connect to machine "web" (127.0.0.1:${other.port}): its host key has changed: it presented ${other.hostKeyFingerprint}, expected ${sshd.hostKeyFingerprint}`,
      );
      expect(e.hint).toMatch(/rebuilt/);
      expect(seen).toEqual([sshd.hostKeyFingerprint]);
      // Nothing was sent after the key check: the server logged no authentication attempt.
      expect(other.log()).not.toMatch(/Accepted publickey|Failed publickey/);
    } finally {
      await other.stop();
    }
  });

  it('refuses a connection whose first-use record cannot be stored', async () => {
    const e = await expectAppError(
      connectSsh(
        keyTarget(sshd, {
          hostKey: { mode: 'trust-on-first-use', known: [], remember: () => Promise.reject(new Error('disk full')) },
        }),
      ),
    );
    expect(e.message).toContain(`its host key ${sshd.hostKeyFingerprint} could not be recorded: disk full`);
  });

  it('gives a clear timeout error for a host that never answers, after a bounded number of attempts', async () => {
    const silent = await silentServer();
    const retries: number[] = [];
    try {
      const t0 = Date.now();
      const e = await expectAppError(
        connectSsh(
          { ...keyTarget(sshd), port: silent.port },
          { connectTimeoutMs: 300, retry: { attempts: 3, baseMs: 50, maxMs: 100 }, onRetry: (_, n) => retries.push(n) },
        ),
      );
      const elapsed = Date.now() - t0;
      expect(e.code).toBe('timeout');
      expect(e.message).toMatch(
        new RegExp(
          `^\\[ssh\\] Unable to connect to machine "web" \\(127\\.0\\.0\\.1:${silent.port}\\): it did not answer within 0\\.3 s \\(3 attempts in \\d+\\.\\d s\\)$`,
        ),
      );
      expect(retries).toEqual([1, 2]);
      expect(silent.connections()).toBe(3);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });

  it('retries a refused connection until the SSH server starts (a guest still booting)', async () => {
    const port = await closedPort();
    let later: Sshd | undefined;
    const starting = new Promise<void>((resolve, reject) =>
      setTimeout(
        () =>
          startSshd({ port, clientKey: { privateKey: sshd.privateKey, publicKey: sshd.publicKey } }).then(
            (s) => resolve(void (later = s)),
            reject,
          ),
        600,
      ),
    );
    const retries: string[] = [];
    const seen: string[] = [];
    try {
      const c = await connectSsh(
        {
          name: 'booting',
          host: '127.0.0.1',
          port,
          credentials: { username: sshd.user, privateKey: sshd.privateKey },
          hostKey: { mode: 'trust-on-first-use', known: [], remember: (fp) => void seen.push(fp) },
        },
        { retry: { attempts: 40, baseMs: 100, maxMs: 200 }, onRetry: (e) => retries.push(e.message) },
      );
      await starting;
      expect(retries.length).toBeGreaterThan(0);
      expect(retries.every((m) => m.includes('connection refused'))).toBe(true);
      expect(seen).toEqual([later!.hostKeyFingerprint]);
      expect((await c.exec('echo up', { timeoutMs: 5000 })).stdout).toBe('up\n');
      await c.close();
    } finally {
      await starting.catch(() => {});
      await later?.stop();
    }
  });

  it('gives up on a refused port after the bounded attempts with a clear message', async () => {
    const port = await closedPort();
    const e = await expectAppError(
      connectSsh({ ...keyTarget(sshd), port }, { retry: { attempts: 2, baseMs: 20, maxMs: 40 } }),
    );
    expect(e.code).toBe('platform_error');
    expect(e.message).toMatch(
      new RegExp(
        `^\\[ssh\\] Unable to connect to machine "web" \\(127\\.0\\.0\\.1:${port}\\): connection refused \\(2 attempts in \\d+\\.\\d s\\)$`,
      ),
    );
  });

  it('stops retrying when its signal aborts', async () => {
    const port = await closedPort();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('deployment cancelled')), 150);
    await expect(
      connectSsh({ ...keyTarget(sshd), port }, { signal: ac.signal, retry: { attempts: 100, baseMs: 50, maxMs: 50 } }),
    ).rejects.toThrow('deployment cancelled');
  });
});

describe.skipIf(!('ok' in avail))('SSH keepalive and close', () => {
  it('notices a server that stops answering through keepalives, and closes', async () => {
    const s = await startSshd();
    let stopped: string[] = [];
    try {
      const c = await connectSsh(keyTarget(s), { keepaliveMs: 150 });
      let closedAt = 0;
      c.onClose(() => (closedAt = Date.now()));
      expect((await c.exec('echo hi', { timeoutMs: 5000 })).stdout).toBe('hi\n');
      // Freeze the session's processes: every descendant of the listener (each connection's child calls setsid).
      const children = (pid: string): string[] => {
        const r = spawnSync('pgrep', ['-P', pid], { encoding: 'utf8' });
        return r.stdout
          .split('\n')
          .filter(Boolean)
          .flatMap((c) => [c, ...children(c)]);
      };
      stopped = children(readFileSync(`${s.dir}/sshd.pid`, 'utf8').trim());
      expect(stopped.length).toBeGreaterThan(0);
      for (const pid of stopped) process.kill(Number(pid), 'SIGSTOP');
      const frozenAt = Date.now();
      for (let i = 0; i < 100 && c.isOpen; i++) await new Promise((r) => setTimeout(r, 50));
      expect(c.isOpen).toBe(false);
      // Three unanswered keepalives at 150 ms, and some scheduling slack.
      expect(closedAt - frozenAt).toBeGreaterThanOrEqual(300);
      expect(closedAt - frozenAt).toBeLessThan(3000);
      await expect(c.exec('true', { timeoutMs: 1000 })).rejects.toThrow(
        '[ssh] Unable to run a command on machine "web": the connection is closed',
      );
    } finally {
      for (const pid of stopped) {
        try {
          process.kill(Number(pid), 'SIGCONT');
        } catch {
          // gone
        }
      }
      await s.stop();
    }
  });

  it('closes cleanly: the server sees the client disconnect, and close is idempotent', async () => {
    const s = await startSshd();
    try {
      const c = await connectSsh(keyTarget(s));
      await c.close();
      await c.close();
      expect(c.isOpen).toBe(false);
      const line = /Received disconnect from 127\.0\.0\.1|Disconnected from user/;
      for (let i = 0; i < 40 && !line.test(s.log()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(s.log()).toMatch(line);
    } finally {
      await s.stop();
    }
  });
});

describe.skipIf(!('ok' in avail))('SSH through a jump host (the range router)', () => {
  let router: Sshd;
  let machine: Sshd;

  beforeAll(async () => {
    router = await startSshd();
    machine = await startSshd();
  });
  afterAll(async () => {
    await router?.stop();
    await machine?.stop();
  });

  const via = (): SshTarget => ({ ...keyTarget(router), name: 'router' });

  it('reaches the machine through a forwarded channel of the router', async () => {
    const c = await connectSsh(keyTarget(machine, { via: via() }));
    try {
      expect(c.hostKeyFingerprint).toBe(machine.hostKeyFingerprint);
      const r = await c.exec('echo "$SSH_CONNECTION"', { timeoutMs: 5000 });
      expect(r.exitCode).toBe(0);
      // The router's sshd opened the connection: its log has the direct-tcpip request for the machine's port.
      const line = new RegExp(
        `server_request_direct_tcpip: originator .*, target 127\\.0\\.0\\.1 port ${machine.port}$`,
        'm',
      );
      for (let i = 0; i < 40 && !line.test(router.log()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(router.log()).toMatch(line);
    } finally {
      await c.close();
    }
  });

  it("enforces the machine's own host key behind the router", async () => {
    const e = await expectAppError(
      connectSsh(
        keyTarget(machine, { via: via(), hostKey: { mode: 'pinned', fingerprints: [router.hostKeyFingerprint] } }),
      ),
    );
    expect(e.message).toContain(`(127.0.0.1:${machine.port} via "router"): its host key has changed`);
  });

  it('says the router could not reach a machine that refuses, after bounded retries', async () => {
    const port = await closedPort();
    const e = await expectAppError(
      connectSsh({ ...keyTarget(machine, { via: via() }), port }, { retry: { attempts: 2, baseMs: 20, maxMs: 40 } }),
    );
    expect(e.message).toMatch(/via "router"\): the jump host could not reach it \(.*\) \(2 attempts in/);
  });

  it('pools connections: overlapping runs share one session, and machines behind the router share the jump', async () => {
    const pool = createSshPool({ idleMs: 200 });
    try {
      const target = keyTarget(machine, { via: via() });
      const pids = await Promise.all(
        [1, 2, 3].map(() => pool.run(target, (c) => c.exec('echo $PPID', { timeoutMs: 5000 }))),
      );
      expect(pool.size).toBe(2);
      // One sshd session process served all three commands.
      expect(new Set(pids.map((p) => p.stdout)).size).toBe(1);
      await new Promise((r) => setTimeout(r, 600));
      expect(pool.size).toBe(0);
      expect((await pool.run(target, (c) => c.exec('echo again', { timeoutMs: 5000 }))).stdout).toBe('again\n');
    } finally {
      await pool.close();
    }
  });
});
