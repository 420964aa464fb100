// The VM side of a console for the Proxmox test server, as QEMU's VNC server speaks it behind `qm vncproxy`: RFB 3.8,
// VNC authentication with the vncproxy password, ClientInit/ServerInit, then raw-encoded framebuffer updates of a
// small text screen that echoes the keys it is sent. Every key event and cut text is recorded for the tests.
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { vncResponse } from '../../../server/access/vnc-auth.ts';
import { glyph } from './glyphs.ts';

export interface ConsoleRecord {
  vmid: number;
  /** X keysyms of key presses, in order. */
  keys: number[];
  cutText: string[];
  authFailures: number;
  /** Framebuffer updates sent. */
  updates: number;
  /** The client's pixel format was set (noVNC always sets one). */
  pixelFormatSet: boolean;
}

export interface RfbScreen {
  width: number;
  height: number;
  name: string;
  banner: string[];
}

interface PixelFormat {
  bpp: number;
  bigEndian: boolean;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

/** Reads exact byte counts from a WebSocket's binary messages (frames split RFB messages anywhere). */
function byteReader(ws: WebSocket) {
  const chunks: Buffer[] = [];
  let size = 0;
  let waiter: (() => void) | undefined;
  let closed = false;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    chunks.push(data);
    size += data.length;
    waiter?.();
  });
  ws.on('close', () => {
    closed = true;
    waiter?.();
  });
  return async function read(n: number): Promise<Buffer> {
    while (size < n) {
      if (closed) throw new Error('closed');
      await new Promise<void>((r) => (waiter = r));
      waiter = undefined;
    }
    const all = Buffer.concat(chunks);
    chunks.length = 0;
    chunks.push(all.subarray(n));
    size = all.length - n;
    return all.subarray(0, n);
  };
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** Serves one RFB session on `ws` until either side closes. */
export async function serveRfb(
  ws: WebSocket,
  password: string,
  screen: RfbScreen,
  record: ConsoleRecord,
): Promise<void> {
  const read = byteReader(ws);
  const send = (b: Buffer) => ws.readyState === ws.OPEN && ws.send(b, { binary: true });
  const typed: string[] = [''];
  try {
    send(Buffer.from('RFB 003.008\n'));
    const version = (await read(12)).toString('latin1');
    if (!/^RFB 003\.00[78]\n$/.test(version)) return void ws.close();
    send(Buffer.from([1, 2])); // one security type: VNC authentication
    if ((await read(1))[0] !== 2) return void ws.close();
    const challenge = randomBytes(16);
    send(challenge);
    const answer = await read(16);
    if (!answer.equals(vncResponse(password, challenge))) {
      record.authFailures++;
      const reason = Buffer.from('Authentication failed');
      send(Buffer.concat([u32(1), u32(reason.length), reason]));
      return void ws.close();
    }
    send(u32(0));
    await read(1); // ClientInit: shared flag
    let pf: PixelFormat = { bpp: 32, bigEndian: false, redShift: 16, greenShift: 8, blueShift: 0 };
    const name = Buffer.from(screen.name);
    send(
      Buffer.concat([
        u16(screen.width),
        u16(screen.height),
        Buffer.from([32, 24, 0, 1]),
        u16(255),
        u16(255),
        u16(255),
        Buffer.from([16, 8, 0, 0, 0, 0]),
        u32(name.length),
        name,
      ]),
    );
    let pending: { x: number; y: number; w: number; h: number } | undefined;
    let dirty = true;
    const flush = () => {
      if (!pending || !dirty) return;
      const { x, y, w, h } = pending;
      pending = undefined;
      dirty = false;
      const pixels = render(screen, typed);
      const body = Buffer.alloc(w * h * 4);
      for (let row = 0; row < h; row++)
        for (let col = 0; col < w; col++) {
          const rgb = pixels[(y + row) * screen.width + (x + col)]!;
          const v =
            (((rgb >> 16) & 0xff) << pf.redShift) |
            (((rgb >> 8) & 0xff) << pf.greenShift) |
            ((rgb & 0xff) << pf.blueShift);
          if (pf.bigEndian) body.writeUInt32BE(v >>> 0, (row * w + col) * 4);
          else body.writeUInt32LE(v >>> 0, (row * w + col) * 4);
        }
      send(Buffer.concat([Buffer.from([0, 0]), u16(1), u16(x), u16(y), u16(w), u16(h), u32(0), body]));
      record.updates++;
    };
    for (;;) {
      const type = (await read(1))[0];
      if (type === 0) {
        const b = await read(19);
        const bpp = b[3]!;
        if (bpp !== 32 || b[6] !== 1) return void ws.close(); // QEMU would convert; this server draws 32-bit colour
        pf = { bpp, bigEndian: b[5] !== 0, redShift: b[13]!, greenShift: b[14]!, blueShift: b[15]! };
        record.pixelFormatSet = true;
        dirty = true;
      } else if (type === 2) {
        const b = await read(3);
        await read(b.readUInt16BE(1) * 4);
      } else if (type === 3) {
        const b = await read(9);
        const incremental = b[0] !== 0;
        const req = { x: b.readUInt16BE(1), y: b.readUInt16BE(3), w: b.readUInt16BE(5), h: b.readUInt16BE(7) };
        pending = {
          x: Math.min(req.x, screen.width),
          y: Math.min(req.y, screen.height),
          w: Math.min(req.w, screen.width - req.x),
          h: Math.min(req.h, screen.height - req.y),
        };
        if (!incremental) dirty = true;
        flush();
      } else if (type === 4) {
        const b = await read(7);
        const down = b[0] !== 0;
        const keysym = b.readUInt32BE(3);
        if (!down) continue;
        record.keys.push(keysym);
        if (keysym === 0xff0d) typed.push('');
        else if (keysym === 0xff08) typed[typed.length - 1] = typed.at(-1)!.slice(0, -1);
        else if (keysym >= 0x20 && keysym <= 0x7e) typed[typed.length - 1] += String.fromCharCode(keysym);
        dirty = true;
        flush();
      } else if (type === 5) {
        await read(5);
      } else if (type === 6) {
        const b = await read(7);
        record.cutText.push((await read(b.readUInt32BE(3))).toString('latin1'));
      } else return void ws.close(1002, `unknown RFB client message ${type}`);
    }
  } catch {
    // The client went away mid-message: the session is over.
  }
}

/** The screen as 0xRRGGBB pixels: a banner, then a prompt with what was typed, in the 5x7 font at twice its size. */
function render(screen: RfbScreen, typed: string[]): Uint32Array {
  const px = new Uint32Array(screen.width * screen.height).fill(0x10233d);
  const scale = 2;
  const draw = (text: string, x0: number, y0: number, colour: number) => {
    [...text].forEach((ch, i) => {
      glyph(ch).forEach((row, gy) =>
        row.forEach((on, gx) => {
          if (!on) return;
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale; dx++) {
              const x = x0 + i * 6 * scale + gx * scale + dx;
              const y = y0 + gy * scale + dy;
              if (x < screen.width && y < screen.height) px[y * screen.width + x] = colour;
            }
        }),
      );
    });
  };
  screen.banner.forEach((line, i) => draw(line, 12, 12 + i * 20, 0x9fd3ff));
  const lines = typed.slice(-4);
  lines.forEach((line, i) =>
    draw(
      `${i === 0 && typed.length <= 4 ? 'LOGIN: ' : '> '}${line}${i === lines.length - 1 ? '_' : ''}`,
      12,
      12 + (screen.banner.length + 1 + i) * 20,
      0xffffff,
    ),
  );
  return px;
}
