// One SSH connection to a lab machine (ssh2): password or key, host keys pinned or trusted on first use, an optional
// jump through another host (the range router), bounded retries while a guest boots, then exec with exit code and
// output, an interactive shell, SFTP upload and download, TCP forwarding, keepalive and a clean close.
// Credentials come from the caller and never appear in a message; nor do command texts (they may carry secrets).
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { AppError, errorMessage } from '../errors.ts';
import { backoffDelay, type RetryPolicy } from '../platforms/shared/retry.ts';
import { sleep } from '../platforms/shared/wait.ts';
import { createHostVerifier, type HostKeyPolicy, type HostKeyVerdict } from './host-keys.ts';

export interface SshCredentials {
  username: string;
  password?: string;
  /** An OpenSSH or PEM private key. */
  privateKey?: string | Buffer;
  passphrase?: string;
}

export interface SshTarget {
  /** What errors call the host: the machine's name (`gd-d1-i1-web`, `router`). */
  name: string;
  host: string;
  port?: number;
  credentials: SshCredentials;
  hostKey: HostKeyPolicy;
  /** Reach this host through another one (ProxyJump): a direct-tcpip channel opened from it. */
  via?: SshTarget;
}

export interface SshConnectOptions {
  signal?: AbortSignal;
  /** Per attempt: TCP connect, handshake and authentication together. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Refused, reset and unreachable connections and handshakes that time out are tried again (a guest that is still
   * booting); authentication failures and host key mismatches never are. Default 5 attempts, 1 s to 10 s apart.
   */
  retry?: RetryPolicy;
  /** SSH-level keepalive interval (default 15 s); after 3 unanswered the connection is closed. 0 disables. */
  keepaliveMs?: number;
  onRetry?: (error: AppError, attempt: number) => void;
  /** An open connection to go through instead of connecting to `target.via` (not closed with this one). */
  jump?: SshConnection;
}

export interface SshExecOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Written to the command's standard input, which is then closed. */
  stdin?: string | Buffer;
  /** Each of stdout and stderr keeps at most its last this many bytes (default 4 MiB). */
  maxOutputBytes?: number;
  /** How errors name the command ("the guest agent install"): never the command text itself. */
  label?: string;
}

export interface SshExecResult {
  /** Null when the command was ended by a signal or the server sent no exit status. */
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

export interface SshShell {
  /** The terminal's byte stream, both ways (stderr is merged by the pseudo-terminal). */
  stream: Duplex;
  resize(cols: number, rows: number): void;
  close(): void;
  /** Settles when the channel has closed. */
  closed: Promise<void>;
}

export interface SshConnection {
  readonly target: SshTarget;
  /** The host key fingerprint the server presented (SHA256:...). */
  readonly hostKeyFingerprint: string;
  readonly isOpen: boolean;
  /** A non-zero exit is a result. Throws AppError('timeout') after `timeoutMs` (the command is sent KILL). */
  exec(command: string, o: SshExecOptions): Promise<SshExecResult>;
  /** An interactive shell on a pseudo-terminal, for a web terminal. */
  shell(o: { cols: number; rows: number; term?: string }): Promise<SshShell>;
  /** Writes a file over SFTP and sets its mode (default 0644), replacing what was there. */
  upload(
    remotePath: string,
    content: string | Buffer,
    o: { mode?: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<void>;
  download(remotePath: string, o: { timeoutMs: number; signal?: AbortSignal; maxBytes?: number }): Promise<Buffer>;
  /** A TCP stream to host:port opened by the remote machine (how a jump through it reaches the next host). */
  forwardOut(host: string, port: number, o: { timeoutMs: number; signal?: AbortSignal }): Promise<Duplex>;
  /** Called once when the connection closes, whoever closed it. */
  onClose(listener: () => void): void;
  /** Ends the session (and a jump connection it opened itself). Idempotent. */
  close(): Promise<void>;
}

const defaultRetry: RetryPolicy = { attempts: 5, baseMs: 1000, maxMs: 10_000 };

/** Connects, retrying what a booting guest does (refusals, resets, silence) within the bounds given. */
export async function connectSsh(target: SshTarget, o: SshConnectOptions = {}): Promise<SshConnection> {
  const policy = o.retry ?? defaultRetry;
  const timeoutMs = o.connectTimeoutMs ?? 10_000;
  const started = Date.now();
  let jump = o.jump;
  let ownJump: SshConnection | undefined;
  if (!jump && target.via) jump = ownJump = await connectSsh(target.via, { ...o, jump: undefined });
  try {
    for (let attempt = 1; ; attempt++) {
      o.signal?.throwIfAborted();
      try {
        const conn = await connectOnce(target, jump, timeoutMs, o);
        if (ownJump) conn.onClose(() => void ownJump.close());
        return conn;
      } catch (e) {
        const failure =
          e instanceof ConnectFailure ? e : new ConnectFailure(errorMessage(e), false, 'platform_error', undefined, e);
        const last = !failure.retryable || attempt >= policy.attempts || o.signal?.aborted === true;
        if (last) throw connectError(target, failure, attempt, Date.now() - started);
        o.onRetry?.(connectError(target, failure, attempt, Date.now() - started), attempt);
        await sleep(backoffDelay(attempt, policy), o.signal);
      }
    }
  } catch (e) {
    await ownJump?.close();
    throw e;
  }
}

export function describeTarget(t: SshTarget): string {
  return `machine "${t.name}" (${t.host}:${t.port ?? 22}${t.via ? ` via "${t.via.name}"` : ''})`;
}

class ConnectFailure extends Error {
  constructor(
    readonly reason: string,
    readonly retryable: boolean,
    readonly code: 'platform_error' | 'timeout' | 'internal',
    readonly hint?: string,
    cause?: unknown,
  ) {
    super(reason, cause === undefined ? undefined : { cause });
  }
}

function connectError(target: SshTarget, f: ConnectFailure, attempts: number, elapsedMs: number): AppError {
  const tries = attempts > 1 ? ` (${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)} s)` : '';
  return new AppError(f.code, `[ssh] Unable to connect to ${describeTarget(target)}: ${f.reason}${tries}`, {
    cause: f.cause ?? f,
    ...(f.hint ? { hint: f.hint } : {}),
  });
}

const retryableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
]);

function classify(
  err: Error & { code?: string; level?: string },
  verdict: HostKeyVerdict | undefined,
  target: SshTarget,
  timeoutMs: number,
): ConnectFailure {
  if (verdict?.state === 'changed') {
    return new ConnectFailure(
      `its host key has changed: it presented ${verdict.fingerprint}, expected ${verdict.expected.join(' or ') || '(no key pinned)'}`,
      false,
      'platform_error',
      'If the machine was rebuilt, forget its recorded host key and connect again; otherwise something may be intercepting the connection, so send it nothing.',
      err,
    );
  }
  if (verdict?.state === 'unrecorded')
    return new ConnectFailure(
      `its host key ${verdict.fingerprint} could not be recorded: ${errorMessage(verdict.cause)}`,
      false,
      'internal',
      undefined,
      verdict.cause,
    );
  if (err.level === 'client-authentication') {
    const how =
      [
        target.credentials.password !== undefined ? 'password' : '',
        target.credentials.privateKey !== undefined ? 'key' : '',
      ]
        .filter(Boolean)
        .join(' and ') || 'no credentials';
    return new ConnectFailure(
      `authentication as "${target.credentials.username}" failed (${how})`,
      false,
      'platform_error',
      "Check the user name and its password or key (the machine's Credentials).",
      err,
    );
  }
  if (err.level === 'client-timeout')
    return new ConnectFailure(
      `it did not answer within ${(timeoutMs / 1000).toFixed(1)} s`,
      true,
      'timeout',
      'Check that the machine is running, has this address, and that no firewall drops SSH.',
      err,
    );
  if (err.code && retryableCodes.has(err.code)) {
    const words: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ECONNRESET: 'connection reset',
      EHOSTUNREACH: 'host unreachable',
      ENETUNREACH: 'network unreachable',
      ETIMEDOUT: 'connection timed out',
    };
    return new ConnectFailure(
      words[err.code] ?? err.code,
      true,
      err.code === 'ETIMEDOUT' ? 'timeout' : 'platform_error',
      'Check that the machine is running and that its SSH server is started.',
      err,
    );
  }
  if (/Channel open failure|open failed|Connection refused/i.test(err.message)) {
    return new ConnectFailure(
      `the jump host could not reach it (${err.message.replace(/^\(SSH\) /, '')})`,
      true,
      'platform_error',
      'Check that the machine is up and that the router lets SSH through.',
      err,
    );
  }
  return new ConnectFailure(err.message, false, 'platform_error', undefined, err);
}

async function connectOnce(
  target: SshTarget,
  jump: SshConnection | undefined,
  timeoutMs: number,
  o: SshConnectOptions,
): Promise<SshConnection> {
  const { Client } = await import('ssh2');
  let sock: Duplex | undefined;
  if (jump) {
    try {
      sock = await jump.forwardOut(target.host, target.port ?? 22, {
        timeoutMs,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      if (e instanceof AppError && e.code === 'timeout')
        throw new ConnectFailure(
          `the jump host "${jump.target.name}" did not open a channel within ${(timeoutMs / 1000).toFixed(1)} s`,
          true,
          'timeout',
          undefined,
          e,
        );
      throw classify(
        e instanceof Error ? (e.cause instanceof Error ? e.cause : e) : new Error(String(e)),
        undefined,
        target,
        timeoutMs,
      );
    }
  }
  const client = new Client();
  const hostKey = createHostVerifier(target.hostKey);
  const { credentials: c } = target;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (e?: unknown): void => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('close', onEarlyClose);
      if (e === undefined) resolve();
      else {
        // Destroying a client mid-handshake emits one more 'error'; it must not go unheard.
        client.on('error', () => {});
        client.destroy();
        sock?.destroy();
        reject(e);
      }
    };
    const onReady = (): void => finish();
    const onError = (err: Error): void => finish(classify(err, hostKey.verdict(), target, timeoutMs));
    const onEarlyClose = (): void =>
      finish(new ConnectFailure('the server closed the connection during the handshake', true, 'platform_error'));
    const onAbort = (): void => finish(o.signal?.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('close', onEarlyClose);
    client.connect({
      ...(sock ? { sock } : { host: target.host, port: target.port ?? 22 }),
      username: c.username,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.privateKey !== undefined ? { privateKey: c.privateKey } : {}),
      ...(c.passphrase !== undefined ? { passphrase: c.passphrase } : {}),
      tryKeyboard: false,
      readyTimeout: timeoutMs,
      keepaliveInterval: o.keepaliveMs ?? 15_000,
      keepaliveCountMax: 3,
      hostVerifier: hostKey.verify,
    });
  });
  const verdict = hostKey.verdict();
  return openConnection(target, client, verdict?.state === 'accepted' ? verdict.fingerprint : '');
}

function openConnection(target: SshTarget, client: Client, fingerprint: string): SshConnection {
  let open = true;
  const closeListeners: Array<() => void> = [];
  let sftp: Promise<SFTPWrapper> | undefined;
  const closed = new Promise<void>((resolve) => {
    client.once('close', () => {
      open = false;
      for (const l of closeListeners.splice(0)) l();
      resolve();
    });
  });
  // Errors after the handshake (a keepalive timeout, a reset) are followed by 'close'; a listener keeps them from
  // being thrown as unhandled 'error' events.
  client.on('error', () => {});
  const name = `machine "${target.name}"`;

  const notOpen = (action: string): AppError =>
    new AppError('platform_error', `[ssh] Unable to ${action} on ${name}: the connection is closed`, {
      hint: 'Connect again.',
    });

  /** Runs `start` under a timeout and the signal; `cancel` undoes what it began when either fires first. */
  function bounded<T>(
    action: string,
    o: { timeoutMs: number; signal?: AbortSignal },
    start: (ok: (v: T) => void, fail: (e: unknown) => void) => void,
    cancel: () => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!open) return reject(notOpen(action));
      if (o.signal?.aborted) return reject(o.signal.reason);
      let done = false;
      const settle = (f: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        f();
      };
      const onAbort = (): void =>
        settle(() => {
          cancel();
          reject(o.signal?.reason);
        });
      const timer = setTimeout(
        () =>
          settle(() => {
            cancel();
            reject(
              new AppError(
                'timeout',
                `[ssh] Unable to ${action} on ${name}: it did not finish within ${(o.timeoutMs / 1000).toFixed(1)} s`,
              ),
            );
          }),
        o.timeoutMs,
      );
      o.signal?.addEventListener('abort', onAbort, { once: true });
      start(
        (v) => settle(() => resolve(v)),
        (e) => settle(() => reject(e)),
      );
    });
  }

  function openSftp(): Promise<SFTPWrapper> {
    sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((err, s) => {
        if (err) {
          sftp = undefined;
          reject(
            new AppError('platform_error', `[ssh] Unable to open SFTP on ${name}: ${err.message}`, {
              cause: err,
              hint: 'The SSH server needs an sftp subsystem.',
            }),
          );
        } else {
          s.once('close', () => (sftp = undefined));
          resolve(s);
        }
      });
    });
    return sftp;
  }

  const conn: SshConnection = {
    target,
    hostKeyFingerprint: fingerprint,
    get isOpen() {
      return open;
    },

    exec(command, o) {
      const label = o.label ?? 'a command';
      const max = o.maxOutputBytes ?? 4 * 1024 * 1024;
      let channel: ClientChannel | undefined;
      return bounded<SshExecResult>(
        `run ${label}`,
        o,
        (ok, fail) => {
          client.exec(command, (err, stream) => {
            if (err)
              return fail(
                new AppError('platform_error', `[ssh] Unable to run ${label} on ${name}: ${err.message}`, {
                  cause: err,
                }),
              );
            channel = stream;
            const out = tail(max);
            const errOut = tail(max);
            let exitCode: number | null = null;
            let exitSignal: string | undefined;
            stream.on('exit', (code: number | null, sig?: string) => {
              if (typeof code === 'number') exitCode = code;
              else if (sig) exitSignal = sig;
            });
            stream.on('data', (b: Buffer) => out.push(b));
            stream.stderr.on('data', (b: Buffer) => errOut.push(b));
            stream.on('close', () =>
              ok({
                exitCode,
                ...(exitSignal ? { signal: exitSignal } : {}),
                stdout: out.text(),
                stderr: errOut.text(),
                truncated: out.truncated || errOut.truncated,
              }),
            );
            stream.end(o.stdin ?? undefined);
          });
        },
        () => {
          if (channel) killChannel(channel);
        },
      );
    },

    shell(o) {
      return new Promise((resolve, reject) => {
        if (!open) return reject(notOpen('open a shell'));
        client.shell({ cols: o.cols, rows: o.rows, term: o.term ?? 'xterm-256color' }, (err, stream) => {
          if (err)
            return reject(
              new AppError('platform_error', `[ssh] Unable to open a shell on ${name}: ${err.message}`, { cause: err }),
            );
          const channelClosed = new Promise<void>((r) => stream.once('close', () => r()));
          resolve({
            stream,
            resize: (cols, rows) => stream.setWindow(rows, cols, 0, 0),
            close: () => stream.close(),
            closed: channelClosed,
          });
        });
      });
    },

    upload(remotePath, content, o) {
      let abandon = (): void => {};
      return bounded<void>(
        `upload "${remotePath}"`,
        o,
        (ok, fail) => {
          openSftp().then((s) => {
            abandon = () => s.end();
            s.writeFile(remotePath, content, { mode: o.mode ?? 0o644 }, (err) => {
              if (err)
                return fail(
                  new AppError('platform_error', `[ssh] Unable to upload "${remotePath}" to ${name}: ${err.message}`, {
                    cause: err,
                  }),
                );
              // The mode given at open applies only to a new file, and under the server's umask.
              s.chmod(remotePath, o.mode ?? 0o644, (e2) =>
                e2
                  ? fail(
                      new AppError(
                        'platform_error',
                        `[ssh] Unable to set the mode of "${remotePath}" on ${name}: ${e2.message}`,
                        { cause: e2 },
                      ),
                    )
                  : ok(),
              );
            });
          }, fail);
        },
        () => abandon(),
      );
    },

    download(remotePath, o) {
      const max = o.maxBytes ?? 64 * 1024 * 1024;
      let abandon = (): void => {};
      return bounded<Buffer>(
        `download "${remotePath}"`,
        o,
        (ok, fail) => {
          openSftp().then((s) => {
            abandon = () => s.end();
            s.stat(remotePath, (err, st) => {
              if (err)
                return fail(
                  new AppError(
                    /no such file/i.test(err.message) ? 'not_found' : 'platform_error',
                    `[ssh] Unable to download "${remotePath}" from ${name}: ${err.message}`,
                    { cause: err },
                  ),
                );
              if (st.size > max)
                return fail(
                  new AppError(
                    'invalid_input',
                    `[ssh] Unable to download "${remotePath}" from ${name}: it is ${st.size} bytes, more than the ${max} allowed`,
                  ),
                );
              s.readFile(remotePath, (e2, data) =>
                e2
                  ? fail(
                      new AppError(
                        'platform_error',
                        `[ssh] Unable to download "${remotePath}" from ${name}: ${e2.message}`,
                        { cause: e2 },
                      ),
                    )
                  : ok(data),
              );
            });
          }, fail);
        },
        () => abandon(),
      );
    },

    forwardOut(host, port, o) {
      let late: Duplex | undefined;
      let cancelled = false;
      return bounded<Duplex>(
        `open a channel to ${host}:${port}`,
        o,
        (ok, fail) => {
          client.forwardOut('127.0.0.1', 0, host, port, (err, stream) => {
            if (cancelled) return stream?.destroy();
            late = stream;
            if (err) fail(err);
            else ok(stream);
          });
        },
        () => {
          cancelled = true;
          late?.destroy();
        },
      );
    },

    onClose(listener) {
      if (!open) listener();
      else closeListeners.push(listener);
    },

    async close() {
      if (!open) return;
      client.end();
      const timer = setTimeout(() => client.destroy(), 2000);
      await closed;
      clearTimeout(timer);
    },
  };
  return conn;
}

/**
 * Sends the session's process SIGKILL, then closes the channel: closing alone leaves a command without a terminal
 * running. ssh2's ClientChannel.signal() sends nothing once stdin has been ended (it checks `writable`), and exec
 * always ends stdin; the protocol allows channel requests after EOF (RFC 4254 5.3), so the request goes through the
 * protocol object while the channel is open or only half-closed by us.
 */
function killChannel(channel: ClientChannel): void {
  const c = channel as unknown as {
    outgoing?: { state?: string; id?: number };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  if ((c.outgoing?.state === 'open' || c.outgoing?.state === 'eof') && c.outgoing.id !== undefined)
    c._client?._protocol?.signal(c.outgoing.id, 'KILL');
  channel.close();
}

/** Keeps the last `max` bytes written to it. */
function tail(max: number): { push(b: Buffer): void; text(): string; truncated: boolean } {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  return {
    push(b) {
      chunks.push(b);
      size += b.length;
      while (size > max && chunks.length > 0) {
        const first = chunks[0]!;
        const over = size - max;
        truncated = true;
        if (first.length <= over) {
          chunks.shift();
          size -= first.length;
        } else {
          chunks[0] = first.subarray(over);
          size -= over;
        }
      }
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
    get truncated() {
      return truncated;
    },
  };
}
