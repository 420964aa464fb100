// The appliance's front door under abuse: bodies bounded before they are read, sign-in throttled without locking
// anyone out, safe redirects after sign-in, a private data folder, and passwords that can be changed and reset.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { systemActor } from '../../server/model/audit.ts';
import { createServices } from '../../server/services.ts';
import { safeNext } from '../../server/web/routes/auth-routes.tsx';
import { bodyLimits } from '../../server/web/security.ts';
import { api, Client, password, setUpAppliance, webTestApp, type TestApp } from './helpers.ts';

/** Serves the app on 127.0.0.1 so requests can come from other loopback addresses (127.0.0.2, ...) and stream bodies. */
async function serve(app: TestApp) {
  const server = http.createServer(getRequestListener(app.fetch));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A browser signing in from `from`: the sign-in page first (for its CSRF token and cookie), then the form. */
async function signIn(port: number, username: string, pw: string, from: string) {
  const page = await new Promise<{ cookie: string; token: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/login', localAddress: from }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({
            cookie: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; '),
            token: /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? '',
          }),
        );
      })
      .on('error', reject);
  });
  const body = new URLSearchParams({ username, password: pw, _csrf: page.token }).toString();
  return new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/login',
        method: 'POST',
        localAddress: from,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': Buffer.byteLength(body),
          Cookie: page.cookie,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('request bodies', () => {
  let app: TestApp;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    ({ app } = webTestApp());
    await setUpAppliance(app);
    ({ server, port } = await serve(app));
  });
  afterAll(() => server.close());

  it('refuses a 200 MB streamed sign-in body after its first 64 KiB, with 413 naming the limit, memory bounded', async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const status = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      // No Content-Length: the body is chunked, so only reading it can tell its size.
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/login',
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        },
      );
      req.on('error', () => undefined);
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      let sent = 0;
      const pump = () => {
        while (sent < 200) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      req.on('response', () => (sent = 200));
      pump();
      setTimeout(() => reject(new Error('no answer')), 30_000).unref();
    });
    expect(status.status).toBe(413);
    expect(status.text).toContain(`larger than ${bodyLimits.default / 1024} KiB`);
    expect((process.memoryUsage().rss - before) / 2 ** 20).toBeLessThan(64);
  });

  it('refuses by Content-Length without reading, and lets a scenario upload be as large as a scenario may be', async () => {
    const big = await app.request('/api/v1/me', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(50 * 2 ** 20) },
      body: 'x',
    });
    expect(big.status).toBe(413);
    const c = new Client(app);
    await c.login('teacher', password);
    await c.get('/scenarios');
    // 50 MB of scenario: refused whole, and the answer does not send it back.
    const huge = await c.post('/scenarios', { yaml: `glassdome: 1\n# ${'x'.repeat(50 * 2 ** 20)}\n` });
    expect(huge.status).toBe(413);
    expect(huge.text.length).toBeLessThan(20_000);
    // 900 KB is a scenario the format allows: it reaches validation (and is refused there for its content).
    const large = await c.post('/scenarios', { yaml: `glassdome: 1\nname: big\n# ${'x'.repeat(900_000)}\n` });
    expect(large.status).toBe(422);
  });

  it('answers an alias bomb through the API with the located problem, not a 500', async () => {
    const { tokens } = {
      tokens: {
        t: app.web.tokens.create(systemActor, app.web.users.list().find((u) => u.username === 'teacher')!.id, 'bomb')
          .token,
      },
    };
    let yaml = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n';
    for (let i = 1; i < 9; i++)
      yaml += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(',')}]\n`;
    const r = await api(app, 'POST', '/api/v1/scenarios', tokens.t, { yaml });
    expect(r.status).toBe(400);
    expect(r.body.error.issues[0].message).toMatch(/alias bomb/);
  });
});

describe('sign-in throttling', () => {
  it('keeps counting an address that failed for other names when it signs in with its own', async () => {
    const { app } = webTestApp();
    await setUpAppliance(app);
    const { server, port } = await serve(app);
    try {
      // Password spraying from one address: 19 failures over several names, a success with the sprayer's own account
      // (which used to reset the address's counter), then the 20th failure: the address waits.
      const names = ['admin', 'teacher', 'bob', 'carol', 'dave', 'erin', 'frank'];
      for (let i = 0; i < 19; i++)
        expect(await signIn(port, names[i % names.length]!, `guess ${i}`, '127.0.0.3')).toBe(401);
      expect(await signIn(port, 'alice', password, '127.0.0.3')).toBe(303);
      expect(await signIn(port, 'grace', 'guess 20', '127.0.0.3')).toBe(401);
      expect(await signIn(port, 'teacher', password, '127.0.0.3')).toBe(429);
    } finally {
      server.close();
    }
  });

  it('never locks the admin out: failures for the admin from one address do not stop it signing in from another', async () => {
    const { app } = webTestApp();
    await setUpAppliance(app);
    const { server, port } = await serve(app);
    try {
      for (let i = 0; i < 10; i++) await signIn(port, 'admin', `wrong ${i}`, '127.0.0.4');
      expect(await signIn(port, 'admin', password, '127.0.0.4')).toBe(429);
      expect(await signIn(port, 'admin', password, '127.0.0.5')).toBe(303);
    } finally {
      server.close();
    }
  });
});

describe('where sign-in leads', () => {
  it.each([
    ['/deployments/abc?x=1#m', '/deployments/abc?x=1#m'],
    ['//evil.example/x', '/'],
    ['/\t/evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['/%0a/evil.example', '/%0a/evil.example'],
    ['https://evil.example/', '/'],
    ['/./\\/evil.example', '/'],
    ['javascript:alert(1)', '/'],
  ])('accepts only same-origin paths: %j -> %j', (next, expected) => {
    expect(safeNext(next)).toBe(expected);
  });
});

describe('the data folder', () => {
  it('is created private, and an existing folder made readable by others is put right at start', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-modes-'));
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x', { mode: 0o644 });
    const s = createServices({ config: loadConfig({ GLASSDOME_DATA_DIR: dir }) });
    s.db.$client.prepare('SELECT 1').get();
    try {
      const mode = (f: string) => fs.statSync(path.join(dir, f)).mode & 0o777;
      expect(mode('.')).toBe(0o700);
      expect(mode('notes.txt')).toBe(0o600);
      expect(mode('glassdome.db')).toBe(0o600);
      expect(mode('glassdome.db-wal')).toBe(0o600);
      expect(mode('appliance.key')).toBe(0o600);
    } finally {
      void s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('passwords', () => {
  it('lets a user change their own password with the current one; their other sessions end, this one stays', async () => {
    const { app } = webTestApp();
    const { clients } = await setUpAppliance(app);
    const other = new Client(app);
    await other.login('alice', password);
    const me = clients.trainee;
    await me.get('/account');
    const wrong = await me.post('/account/password', {
      current: 'not it',
      password: 'a new long password',
      confirm: 'a new long password',
    });
    expect(wrong.status).toBe(422);
    expect(wrong.text).toContain('this is not your current password');
    await me.get('/account');
    const ok = await me.post('/account/password', {
      current: password,
      password: 'a new long password',
      confirm: 'a new long password',
    });
    expect(ok.location).toBe('/account?saved=1');
    expect((await me.get('/account')).status).toBe(200);
    expect((await other.get('/account')).location).toMatch(/^\/login/);
    expect(
      (await new Client(app).post('/login', { username: 'alice', password: 'a new long password' })).status,
    ).not.toBe(401);
    expect(app.web.audit.list().find((e) => e.action === 'user.password')?.detail).toMatch(
      /1 other session\(s\) ended/,
    );
  });

  it('adds a user from the form only when the password was typed the same twice, and never echoes it', async () => {
    const { app } = webTestApp();
    const { clients } = await setUpAppliance(app);
    const admin = clients.admin;
    await admin.get('/settings/users');
    const typo = await admin.post('/settings/users', {
      username: 'dora',
      password: 'a long password 1',
      confirm: 'a long pasword 1',
      role: 'trainee',
    });
    expect(typo.status).toBe(422);
    expect(typo.text).toContain('the passwords differ');
    expect(typo.text).toContain('value="dora"');
    expect(typo.text).not.toContain('a long password 1');
    expect(app.web.users.list().map((u) => u.username)).not.toContain('dora');
    await admin.get('/settings/users');
    const ok = await admin.post('/settings/users', {
      username: 'dora',
      password: 'a long password 1',
      confirm: 'a long password 1',
      role: 'trainee',
    });
    expect(ok.status).toBe(303);
    expect((await new Client(app).post('/login', { username: 'dora', password: 'a long password 1' })).status).not.toBe(
      401,
    );
  });

  it("revokes a user's API tokens when an admin resets the password, and says so", async () => {
    const { app } = webTestApp();
    const { users, tokens } = await setUpAppliance(app);
    expect((await api(app, 'GET', '/api/v1/me', tokens.trainee)).status).toBe(200);
    const r = await api(app, 'PATCH', `/api/v1/users/${users.trainee.id}`, tokens.admin, {
      password: 'reset by the admin 1',
    });
    expect(r.status).toBe(200);
    expect((await api(app, 'GET', '/api/v1/me', tokens.trainee)).status).toBe(401);
    expect(app.web.audit.list().find((e) => e.action === 'user.update')?.detail).toBe(
      'password reset, 1 API token(s) revoked',
    );
  });

  it('changes your own password through the API as well', async () => {
    const { app } = webTestApp();
    const { tokens } = await setUpAppliance(app);
    expect(
      (
        await api(app, 'POST', '/api/v1/me/password', tokens.instructor, {
          current: 'nope',
          password: 'another long password',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await api(app, 'POST', '/api/v1/me/password', tokens.instructor, {
          current: password,
          password: 'another long password',
        })
      ).status,
    ).toBe(204);
  });
});
