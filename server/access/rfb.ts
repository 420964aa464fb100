// The RFB (VNC) handshakes the appliance does on the two sides of a console it relays: as a client towards the
// platform (RFB 3.8, VNC authentication with the platform's one-time password) and as a server towards the browser
// (RFB 3.8, security type None: the browser has already proved who it is to the appliance and never learns the
// password). After both, the bytes are relayed unchanged: ClientInit, ServerInit and everything after.
import type WebSocket from 'ws';
import { AppError } from '../errors.ts';
import { vncResponse } from './vnc-auth.ts';

/** Exact-length reads over a WebSocket's binary messages; what is read past the handshake is handed on by `rest()`. */
export interface MessageReader {
  read(n: number): Promise<Buffer>;
  /** Stops reading; returns the bytes received and not yet read. */
  release(): Buffer;
}

export function messageReader(ws: WebSocket, what: string, timeoutMs: number): MessageReader {
  const chunks: Buffer[] = [];
  let size = 0;
  let wake: (() => void) | undefined;
  let ended: string | undefined;
  const onMessage = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (!isBinary) return;
    const b = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    chunks.push(b);
    size += b.length;
    wake?.();
  };
  const onClose = () => {
    ended = `${what} closed the connection`;
    wake?.();
  };
  ws.on('message', onMessage);
  ws.on('close', onClose);
  return {
    async read(n) {
      const deadline = Date.now() + timeoutMs;
      while (size < n) {
        if (ended) throw new AppError('platform_error', `${ended} during the console handshake`);
        const left = deadline - Date.now();
        if (left <= 0)
          throw new AppError('timeout', `${what} did not finish the console handshake within ${timeoutMs / 1000} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      if (all.length > n) chunks.push(all.subarray(n));
      size = all.length - n;
      return all.subarray(0, n);
    },
    release() {
      ws.off('message', onMessage);
      ws.off('close', onClose);
      const rest = Buffer.concat(chunks);
      chunks.length = 0;
      size = 0;
      return rest;
    },
  };
}

const version38 = Buffer.from('RFB 003.008\n', 'latin1');

async function reasonOf(r: MessageReader): Promise<string> {
  const len = (await r.read(4)).readUInt32BE(0);
  return (await r.read(Math.min(len, 4096))).toString('utf8');
}

/**
 * Authenticates to the platform's VNC server as an RFB 3.8 client. Resolves once the server has accepted; the
 * caller relays from there (the browser's ClientInit is the next thing the server reads).
 */
export async function authenticateUpstream(
  r: MessageReader,
  send: (b: Buffer) => void,
  password: string,
  machine: string,
): Promise<void> {
  const fail = (why: string) => new AppError('platform_error', `Unable to open the console of "${machine}": ${why}`);
  const version = (await r.read(12)).toString('latin1');
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(version);
  if (!m || Number(m[1]) !== 3 || Number(m[2]) < 8)
    throw fail(`its VNC server speaks ${JSON.stringify(version.trim())}, not RFB 3.8`);
  send(version38);
  const count = (await r.read(1))[0]!;
  if (count === 0) throw fail(`its VNC server refused the connection: ${await reasonOf(r)}`);
  const types = [...(await r.read(count))];
  if (types.includes(2)) {
    send(Buffer.from([2]));
    send(vncResponse(password, await r.read(16)));
  } else if (types.includes(1)) send(Buffer.from([1]));
  else throw fail(`its VNC server offers security types ${types.join(', ')}, none of which the appliance speaks`);
  if ((await r.read(4)).readUInt32BE(0) !== 0)
    throw fail(`its VNC server refused the one-time password: ${await reasonOf(r)}`);
}

/** Greets the browser as an RFB 3.8 server with security type None (RFB 3.7 clients get no SecurityResult). */
export async function greetDownstream(r: MessageReader, send: (b: Buffer) => void): Promise<void> {
  send(version38);
  const v = (await r.read(12)).toString('latin1');
  const m = /^RFB 003\.(\d{3})\n$/.exec(v);
  const minor = m ? Number(m[1]) : 0;
  if (minor < 7)
    throw new AppError('invalid_input', `The browser speaks ${JSON.stringify(v.trim())}, not RFB 3.7 or 3.8`);
  send(Buffer.from([1, 1]));
  if ((await r.read(1))[0] !== 1)
    throw new AppError('invalid_input', 'The browser chose a security type that was not offered');
  if (minor >= 8) send(Buffer.from([0, 0, 0, 0]));
}
