// A browser console relayed through the appliance: the platform's console (a ticket asked with the platform's own
// credentials) on one side, the browser's WebSocket on the other, RFB handshakes done on both (rfb.ts), then bytes
// relayed both ways with backpressure. A failure before the relay reaches the browser as an RFB failure reason, so
// noVNC shows the message; the browser never sees the platform's address, credentials or ticket.
import type WebSocket from 'ws';
import { AppError, errorMessage } from '../errors.ts';
import type { Platform } from '../platforms/platform.ts';
import { authenticateUpstream, greetDownstream, messageReader, type MessageReader } from './rfb.ts';
import { requireReachable, type AccessTarget } from './targets.ts';

/** pveproxy refuses client frames over 128 KiB; a bigger browser message (a long paste) is cut into pieces. */
const maxUpstreamFrame = 64 * 1024;
/** Bytes buffered towards a slow side before the other side is paused. */
const highWater = 4 * 1024 * 1024;

/** Why a platform kind has no console here, for the refusal. */
export function noConsoleHint(kind: string): string {
  if (kind === 'esxi')
    return 'ESXi 7 and later have no VNC console; their WebMKS console is not built into Glassdome (see server/platforms/esxi/README.md). Use the terminal on Linux machines.';
  if (kind === 'aws' || kind === 'azure')
    return 'Cloud consoles (EC2 serial console, Azure serial console) are not built into Glassdome. Use the terminal on Linux machines.';
  return 'Use the terminal on Linux machines.';
}

/** Opens the platform console and authenticates to it; the caller relays. */
export async function openUpstream(
  platform: Platform,
  t: AccessTarget,
  o: { signal?: AbortSignal; handshakeMs: number },
): Promise<{ socket: WebSocket; reader: MessageReader }> {
  const ref = requireReachable(t, 'console');
  if (!platform.consoleTicket)
    throw new AppError(
      'invalid_input',
      `Unable to open the console of "${t.machine.key}": ${platform.kind} platforms have no browser console here`,
      {
        hint: noConsoleHint(platform.kind),
      },
    );
  const ticket = await platform.consoleTicket(ref, o.signal ? { signal: o.signal } : {});
  const socket = await ticket.connect(o.signal ? { signal: o.signal } : {});
  const reader = messageReader(socket, 'the platform console', o.handshakeMs);
  try {
    await authenticateUpstream(reader, (b) => socket.send(b), ticket.password, t.machine.key);
  } catch (e) {
    reader.release();
    socket.terminate();
    throw e;
  }
  return { socket, reader };
}

/** Tells a browser's RFB client why there is no console (security types: none, with the reason), then closes. */
export async function refuseDownstream(browser: WebSocket, reader: MessageReader, reason: string): Promise<void> {
  try {
    browser.send(Buffer.from('RFB 003.008\n', 'latin1'));
    await reader.read(12);
    const text = Buffer.from(reason.slice(0, 400));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(text.length);
    browser.send(Buffer.concat([Buffer.from([0]), len, text]));
  } catch {
    // The browser left first.
  } finally {
    reader.release();
    browser.close(4000, reason.slice(0, 120));
  }
}

/**
 * Greets the browser, then relays both ways until either side closes. Resolves when the relay has ended, with the
 * side that ended it.
 */
export async function relay(
  browser: WebSocket,
  browserReader: MessageReader,
  upstream: { socket: WebSocket; reader: MessageReader },
): Promise<string> {
  await greetDownstream(browserReader, (b) => browser.send(b));
  const fromBrowser = browserReader.release();
  const fromUpstream = upstream.reader.release();
  const up = upstream.socket;
  const sendUp = (b: Buffer) => {
    for (let i = 0; i < b.length; i += maxUpstreamFrame) up.send(b.subarray(i, i + maxUpstreamFrame));
  };
  if (fromBrowser.length > 0) sendUp(fromBrowser);
  if (fromUpstream.length > 0) browser.send(fromUpstream);
  return new Promise<string>((resolve) => {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      clearInterval(pump);
      if (up.readyState === up.OPEN || up.readyState === up.CONNECTING) up.close();
      if (browser.readyState === browser.OPEN) browser.close(1000, why.slice(0, 120));
      resolve(why);
    };
    // A side that cannot keep up pauses the other until its buffer drains.
    const pump = setInterval(() => {
      if (up.isPaused && browser.bufferedAmount < highWater / 2) up.resume();
      if (browser.isPaused && up.bufferedAmount < highWater / 2) browser.resume();
    }, 50);
    pump.unref();
    up.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      browser.send(data);
      if (browser.bufferedAmount > highWater) up.pause();
    });
    browser.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      sendUp(Buffer.isBuffer(data) ? data : Buffer.from(data));
      if (up.bufferedAmount > highWater) browser.pause();
    });
    up.on('close', () => finish('the platform closed the console'));
    up.on('error', (e) => finish(`the platform console failed: ${errorMessage(e)}`));
    browser.on('close', () => finish('the browser closed the console'));
    browser.on('error', (e) => finish(`the browser connection failed: ${errorMessage(e)}`));
  });
}
