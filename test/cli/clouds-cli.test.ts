// The bundled web DMZ with two instances through the command line on each cloud: the platform added from a config
// file with its secret from the environment, its probe, the deployment to ready and its destruction, after which
// nothing is left in moto's state or the ARM test server's resource list.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedGuests } from '../platforms/ec2-proxy.ts';
import { motoState, region, startAwsTarget } from '../platforms/aws/helpers.ts';
import { opensslMissingReason, startArmServer } from '../platforms/azure-server/index.ts';
import { run } from './run-cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-cli-clouds-'));
const saved = { ...process.env };
beforeAll(() => {
  process.env.GLASSDOME_DATA_DIR = dir;
});
afterAll(() => {
  process.env = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Adds the platform, probes it, deploys web-dmz twice over and destroys it, all with the CLI; returns nothing. */
async function roundTrip(kind: 'aws' | 'azure', name: string, config: Record<string, unknown>, secret: string) {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  process.env.GLASSDOME_PLATFORM_SECRET = secret;
  try {
    const added = await run('platforms', 'add', kind, '--name', name, '--config', file);
    expect(added.code, added.err).toBe(0);
  } finally {
    delete process.env.GLASSDOME_PLATFORM_SECRET;
  }
  const probe = await run('platforms', 'test', name);
  expect(probe.code, `${probe.out}${probe.err}`).toBe(0);
  expect(`${probe.out}${probe.err}`).not.toContain(secret);

  const deployed = await run(
    'deploy',
    'server/scenarios/web-dmz.yaml',
    '--platform',
    name,
    '--instances',
    '2',
    '--wait',
  );
  expect(deployed.code, `${deployed.out}${deployed.err}`).toBe(0);
  expect(deployed.out).toContain('final state: ready');
  const id = /deployment (\w+):/.exec(deployed.out)![1]!;
  const status = JSON.parse((await run('status', id, '--json')).out) as {
    machines: Array<{ key: string; state: string }>;
  };
  expect(status.machines.filter((m) => m.state === 'ready').length).toBe(status.machines.length);
  const destroyed = await run('destroy', id);
  expect(destroyed.code, destroyed.err).toBe(0);
  expect(destroyed.out).toContain('final state: destroyed');
  return { id, machines: status.machines.map((m) => m.key).sort() };
}

describe('web-dmz x2 through the CLI', () => {
  it('on AWS (moto): the range routers included, and moto left as it was', { timeout: 240_000 }, async (ctx) => {
    const t = await startAwsTarget();
    if ('skip' in t) {
      console.warn(`[skip] the CLI on AWS: ${t.skip}`);
      return ctx.skip();
    }
    try {
      t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 300 });
      const baseline = await motoState(t.ec2);
      const r = await roundTrip(
        'aws',
        'aws-moto',
        { region, accessKeyId: 'AKIATESTTESTTEST0000', endpoint: t.proxy.endpoint, poll: { minMs: 100, maxMs: 300 } },
        'moto-secret-access-key',
      );
      expect(r.machines).toEqual(
        ['attacker', 'db', 'router', 'web-1', 'web-2'].flatMap((m) => [`i1.${m}`, `i2.${m}`]).sort(),
      );
      expect(await motoState(t.ec2)).toEqual(baseline);
    } finally {
      await t.stop();
    }
  });

  const armMissing = opensslMissingReason();
  if (armMissing) console.warn(`[skip] the CLI on Azure: ${armMissing}`);
  it.skipIf(armMissing !== undefined)(
    'on Azure (the ARM test server): nothing left in its resource list',
    { timeout: 240_000 },
    async () => {
      const arm = await startArmServer({ speed: 1000 });
      try {
        const r = await roundTrip(
          'azure',
          'azure-lab',
          {
            tenantId: arm.tenantId,
            clientId: arm.clientId,
            subscriptionId: arm.subscriptionId,
            location: 'westeurope',
            armEndpoint: arm.url,
            authorityHost: arm.url,
            caFile: arm.caFile,
            pollIntervalMs: 20,
            vmPollIntervalMs: 20,
            pollMaxMs: 200,
          },
          arm.clientSecret,
        );
        expect(r.machines).toHaveLength(8);
        expect(arm.inventory()).toEqual([]);
        expect(arm.createdTwice()).toEqual([]);
      } finally {
        await arm.close();
      }
    },
  );
});
