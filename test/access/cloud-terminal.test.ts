// The web terminal on AWS: the range router takes no SSH from the appliance, so a machine is dialled directly at its
// address, as on a cloud without a router; on premises the same machine goes through its router's uplink.
import { afterAll, expect, it } from 'vitest';
import { terminalTarget } from '../../server/access/terminal.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import type { Platform } from '../../server/platforms/platform.ts';
import { createServices } from '../../server/services.ts';

const yaml = `glassdome: 1
name: cloud-terminal
title: Cloud terminal
networks:
  - { name: dmz, cidr: 10.0.1.0/24, internet: true }
machines:
  - { name: web, networks: [dmz] }
`;

const s = createServices({
  config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-test-dir' }),
  db: openDb(':memory:'),
});
afterAll(() => s.close());

it('dials an AWS machine directly, not through its range router', async () => {
  s.platforms.add(systemActor, {
    name: 'aws-t',
    kind: 'aws',
    config: { region: 'eu-west-1', accessKeyId: 'AKIATESTTESTTEST0000', endpoint: 'http://127.0.0.1:9' },
    secret: 'test-secret',
  });
  const { id } = createDeployment(s, { yaml, file: 'cloud-terminal.yaml', platform: 'aws-t' });
  const plan = s.deployments.get(id).plan;
  expect(plan.machines.map((m) => m.key)).toEqual(['i1.router', 'i1.web']);
  const web = plan.machines.find((m) => m.key === 'i1.web')!;
  const noCall = new Proxy({} as Platform, {
    get: (_, p) => {
      throw new Error(`the terminal asked the platform for ${String(p)}`);
    },
  });
  const target = await terminalTarget(
    { db: s.db, box: s.box, platform: noCall },
    {
      deploymentId: id,
      state: 'ready',
      plan,
      platformId: 'aws-t',
      machine: web,
      ref: { id: 'i-1', name: web.resourceName },
      addresses: ['10.0.1.10'],
    },
    {},
  );
  expect(target).toMatchObject({ host: '10.0.1.10', port: 22, credentials: { username: 'glassdome' } });
  expect(target.via).toBeUndefined();
});
