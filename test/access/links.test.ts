// The small pieces under consoles and terminals, by value: VNC authentication's DES (checked against FIPS 81's
// example and OpenSSL), single-use links, the API's OpenAPI entries, and the command line in local mode.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGrants } from '../../server/access/grants.ts';
import { desEncryptBlock, vncKey, vncResponse } from '../../server/access/vnc-auth.ts';
import { main } from '../../server/cli/commands.ts';
import { loadConfig } from '../../server/config.ts';
import { AppError } from '../../server/errors.ts';
import { systemActor } from '../../server/model/audit.ts';
import { createServices } from '../../server/services.ts';
import { api, webTestApp } from '../web/helpers.ts';

const legacyDes = (() => {
  const r = spawnSync(
    'openssl',
    ['enc', '-des-ecb', '-K', '0000000000000000', '-nopad', '-provider', 'legacy', '-provider', 'default'],
    {
      input: Buffer.alloc(8),
    },
  );
  return r.status === 0;
})();

describe('VNC authentication', () => {
  it('encrypts the FIPS 81 example block', () => {
    expect(
      desEncryptBlock(Buffer.from('133457799BBCDFF1', 'hex'), Buffer.from('0123456789ABCDEF', 'hex')).toString('hex'),
    ).toBe('85e813540f0ab405');
  });

  it('keys DES with the first 8 bytes of the password, each byte bit-reversed', () => {
    expect(vncKey('ab').toString('hex')).toBe('8646000000000000');
    expect(vncKey('123456789').equals(vncKey('12345678'))).toBe(true);
  });

  it.skipIf(!legacyDes)('answers a challenge as OpenSSL DES-ECB does with the reversed key', () => {
    for (const password of ['PVEVNC:6', 'a`!?x~Z0', 'short']) {
      const challenge = crypto.randomBytes(16);
      const r = spawnSync(
        'openssl',
        [
          'enc',
          '-des-ecb',
          '-K',
          vncKey(password).toString('hex'),
          '-nopad',
          '-provider',
          'legacy',
          '-provider',
          'default',
        ],
        { input: challenge },
      );
      expect(vncResponse(password, challenge).equals(r.stdout)).toBe(true);
    }
  });
});

describe('single-use links', () => {
  const want = { kind: 'terminal' as const, userId: 'u1', deploymentId: 'd1', machineKey: 'i1.web' };
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as AppError).code;
    }
    return 'ok';
  };

  it('opens once, for its user and machine only', () => {
    const g = createGrants();
    const a = g.issue(want);
    expect(g.redeem(a.token, want)).toMatchObject(want);
    expect(code(() => g.redeem(a.token, want))).toBe('forbidden');
    const b = g.issue(want);
    expect(code(() => g.redeem(b.token, { ...want, userId: 'u2' }))).toBe('forbidden');
    expect(code(() => g.redeem(b.token, want))).toBe('forbidden'); // the failed try spent it
    const c = g.issue(want);
    expect(code(() => g.redeem(c.token, { ...want, machineKey: 'i2.web' }))).toBe('forbidden');
    const d = g.issue(want);
    expect(code(() => g.redeem(d.token, { ...want, kind: 'console' }))).toBe('forbidden');
  });

  it('expires, and keeps only hashes of the tokens', async () => {
    const g = createGrants({ ttlMs: 20 });
    const a = g.issue(want);
    await new Promise((r) => setTimeout(r, 40));
    expect(() => g.redeem(a.token, want)).toThrow('The terminal link has expired or was already used');
    const full = createGrants({ max: 2 });
    full.issue(want);
    full.issue(want);
    expect(code(() => full.issue(want))).toBe('rate_limited');
  });
});

describe('the access API and command line', () => {
  it('describes the console, terminal and VPN endpoints in the OpenAPI document', async () => {
    const { app } = webTestApp();
    const doc = (await api(app, 'GET', '/api/v1/openapi.json', undefined)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths['/api/v1/deployments/{id}/machines/{key}/console']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/api/v1/deployments/{id}/machines/{key}/terminal']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/api/v1/deployments/{id}/vpn/{instance}']!)).toEqual(['get']);
  });

  it('prints the terminal URL and writes the instructor VPN configuration in local mode', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-cli-access-'));
    const env = {
      GLASSDOME_DATA_DIR: dataDir,
      GLASSDOME_SIM_SPEED: '2000',
      GLASSDOME_PORT: '8443',
      GLASSDOME_HOST: '10.0.0.5',
    };
    const s = createServices({ config: loadConfig(env) });
    const yaml = `glassdome: 1\nname: cli-vpn\ntitle: CLI VPN\nnetworks:\n  - { name: lan, cidr: 10.61.1.0/24 }\nmachines:\n  - { name: web, networks: [lan] }\n  - { name: dc, os: windows-server-2022, networks: [lan] }\n`;
    const { id } = s.deployments.create(systemActor, { yaml, file: 'cli.yaml', platform: 'simulator', vpn: true });
    expect(await s.runner.run(id)).toBe('ready');
    await s.close();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const out: string[] = [];
    const err: string[] = [];
    const sink = (a: string[]) => ({ write: (x: string) => (a.push(x), true) }) as unknown as NodeJS.WritableStream;
    try {
      expect(await main(['access', 'terminal', `${id}/i1.web`], sink(out), sink(err)), err.join('')).toBe(0);
      expect(out.at(-1)).toBe(`https://10.0.0.5:8443/deployments/${id}/machines/i1.web/terminal\n`);
      expect(await main(['access', 'terminal', `${id}/i1.dc`], sink(out), sink(err))).toBe(2);
      expect(err.join('')).toContain('it runs Windows Server 2022');
      const file = path.join(dataDir, 'i1.conf');
      expect(await main(['access', 'vpn', `${id}/1`, '--out', file], sink(out), sink(err)), err.join('')).toBe(0);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8')).toContain('Address = 100.64.0.2/32');
      expect(await main(['access', 'vpn', `${id}`], sink(out), sink(err))).toBe(2);
      expect(err.at(-1)).toContain('access vpn needs DEPLOYMENT/INSTANCE');
    } finally {
      process.env = saved;
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
