// The Proxmox driver's console against the test server: vncproxy and vncwebsocket as PVE 9.1 and 8.4 answer them,
// the RFB 3.8 handshake with the one-time password, a framebuffer update, and the refusals (powered off, gone,
// a ticket used twice or too late, a wrong password).
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { authenticateUpstream, messageReader } from '../../server/access/rfb.ts';
import { AppError } from '../../server/errors.ts';
import { driver, server, spec, useCleanups } from './proxmox-harness.ts';
import { schemaMissingReason, type PveVersion } from './proxmox-server/index.ts';

const { track, cleanups } = useCleanups();

/** Completes the RFB client side through ServerInit and one full framebuffer update; returns the screen size. */
async function firstFrame(ws: WebSocket, password: string) {
  const r = messageReader(ws, 'the test console', 5000);
  await authenticateUpstream(r, (b) => ws.send(b), password, 'web');
  ws.send(Buffer.from([1])); // ClientInit, shared
  const init = await r.read(24);
  const name = (await r.read(init.readUInt32BE(20))).toString();
  const [w, h] = [init.readUInt16BE(0), init.readUInt16BE(2)];
  ws.send(Buffer.from([3, 0, 0, 0, 0, 0, w >> 8, w & 0xff, h >> 8, h & 0xff])); // FramebufferUpdateRequest
  const head = await r.read(4);
  expect(head[0]).toBe(0);
  const rect = await r.read(12);
  const pixels = await r.read(rect.readUInt16BE(4) * rect.readUInt16BE(6) * 4);
  r.release();
  return {
    w,
    h,
    name,
    rect: { w: rect.readUInt16BE(4), h: rect.readUInt16BE(6), encoding: rect.readInt32BE(8) },
    pixels,
  };
}

for (const version of ['9.1', '8.4'] as PveVersion[]) {
  const missing = schemaMissingReason(version);
  if (missing) console.warn(`[skip] Proxmox ${version} console: ${missing}`);
  describe.skipIf(missing !== undefined)(`proxmox ${version} console`, () => {
    async function runningVm(extra: Parameters<typeof server>[0] = {}) {
      const s = track(await server({ version, ...extra }));
      const p = track(driver(s, { isoStorage: 'local' }));
      const ref = await p.createMachine(spec('cons1', 'web'));
      await p.startMachine(ref);
      return { s, p, ref };
    }

    it('hands out a ticket whose socket speaks RFB 3.8 with the one-time password and sends a frame', async () => {
      const { s, p, ref } = await runningVm();
      const ticket = await p.consoleTicket!(ref);
      expect(ticket.protocol).toBe('vnc');
      // PVE 9 generates an 8-character password; 8.4 (before its April 2026 update) uses the ticket itself.
      if (version === '9.1') expect(ticket.password).toMatch(/^[!-`]{8}$/);
      else expect(ticket.password).toMatch(/^PVEVNC:/);
      const ws = await ticket.connect();
      cleanups.push(() => ws.terminate());
      expect(ws.protocol).toBe('binary');
      const f = await firstFrame(ws, ticket.password);
      expect(f.name).toBe(ref.name);
      expect(f.rect).toEqual({ w: f.w, h: f.h, encoding: 0 });
      expect(f.pixels.length).toBe(640 * 200 * 4);
      expect(s.consoles.records.get(Number(ref.id))?.updates).toBe(1);
      const calls = s.requests.filter((r) => /vnc/.test(r.path));
      expect(calls.map((r) => `${r.method} ${r.endpoint} ${r.status}`)).toEqual([
        'POST /nodes/{node}/qemu/{vmid}/vncproxy 200',
        'GET /nodes/{node}/qemu/{vmid}/vncwebsocket 101',
      ]);
      expect(calls[0]!.params).toEqual({ websocket: '1' });
      expect(s.stats().invalid).toEqual([]);
    });

    it('refuses a powered-off VM before asking for a ticket, and a VM that is gone', async () => {
      const { s, p, ref } = await runningVm();
      await p.stopMachine(ref, { force: true });
      const off = await p.consoleTicket!(ref).catch((e: unknown) => e as AppError);
      expect(off).toBeInstanceOf(AppError);
      expect((off as AppError).code).toBe('conflict');
      expect((off as AppError).message).toBe(
        `[proxmox] Unable to open the console of VM "${ref.name}": it is powered off`,
      );
      expect(s.requests.some((r) => r.path.endsWith('/vncproxy'))).toBe(false);
      await p.destroyMachine(ref);
      const gone = await p.consoleTicket!(ref).catch((e: unknown) => e as AppError);
      expect((gone as AppError).code).toBe('not_found');
    });

    it('lets a ticket open one socket only, and not after its time', async () => {
      const { s, p, ref } = await runningVm();
      const t = await p.consoleTicket!(ref);
      const ws = await t.connect();
      cleanups.push(() => ws.terminate());
      await expect(t.connect()).rejects.toThrow(/already used/);
      s.consoles.ticketMs = 0;
      const late = await p.consoleTicket!(ref);
      await new Promise((r) => setTimeout(r, 5));
      const e = await late.connect().catch((x: unknown) => x as AppError);
      expect((e as AppError).code).toBe('unauthorized');
      expect((e as AppError).message).toContain('permission denied - invalid PVEVNC ticket');
    });

    it('works without VM.Console except for consoles, which are refused naming the privilege', async () => {
      const { allPrivileges } = await import('./proxmox-server/auth.ts');
      const privs = allPrivileges.filter((p) => p !== 'VM.Console');
      const s = track(
        await server({
          version,
          auth: { tokens: [{ tokenid: 'glassdome@pve!lab', secret: 'b1c2d3e4-0000-4000-8000-000000000001', privs }] },
        }),
      );
      const p = track(driver(s, { isoStorage: 'local' }));
      const report = await p.testConnection();
      expect(report.details).toContain(
        'consoles: VM.Console is not granted on /vms, so browser consoles will be refused (the terminal still works)',
      );
      expect(report.details.some((d) => /missing privileges/.test(d))).toBe(false);
      const ref = await p.createMachine(spec('cons1', 'web'));
      await p.startMachine(ref);
      const e = (await p.consoleTicket!(ref).catch((x: unknown) => x)) as AppError;
      expect(e.code).toBe('forbidden');
      expect(e.message).toContain(`[proxmox] Unable to open the console of VM "${ref.name}": Permission check failed`);
      expect(e.hint).toContain('VM.Console');
    });

    it('fails the handshake with a wrong password, saying so', async () => {
      const { s, p, ref } = await runningVm();
      const t = await p.consoleTicket!(ref);
      const ws = await t.connect();
      cleanups.push(() => ws.terminate());
      const r = messageReader(ws, 'the test console', 5000);
      await expect(authenticateUpstream(r, (b) => ws.send(b), 'wrongpw!', 'web')).rejects.toThrow(
        'Unable to open the console of "web": its VNC server refused the one-time password: Authentication failed',
      );
      expect(s.consoles.records.get(Number(ref.id))?.authFailures).toBe(1);
    });
  });
}
