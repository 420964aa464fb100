// An AWS deployment's page and topology before it runs: the range router's edge network and how each network's
// internet goes (via the router), as the plan says; nothing is asked of AWS to draw them.
import { afterAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { systemActor } from '../../server/model/audit.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { setUpAppliance, webTestApp } from './helpers.ts';

const { services, app } = webTestApp();
afterAll(() => services.close());

it("shows the AWS range router's edge network and the DMZ's internet via the router", async () => {
  const { clients } = await setUpAppliance(app);
  app.web.platforms.add(systemActor, {
    name: 'aws-page',
    kind: 'aws',
    config: { region: 'eu-west-1', accessKeyId: 'AKIATESTTESTTEST0000', endpoint: 'http://127.0.0.1:9' },
    secret: 'test-secret',
  });
  const yaml = readFileSync('server/scenarios/web-dmz.yaml', 'utf8');
  const { id } = createDeployment(services, { yaml, file: 'web-dmz.yaml', platform: 'aws-page' });
  const page = await clients.instructor.get(`/deployments/${id}`);
  expect(page.status).toBe(200);
  const row = (name: string) => new RegExp(`<tr id="[^"]*"><td>${name}</td>[\\s\\S]*?</tr>`).exec(page.text)?.[0] ?? '';
  expect(row('dmz')).toContain('<td>via router</td>');
  expect(row('uplink')).toContain('10.30.0.0/28');
  expect(row('uplink')).toContain('<td>yes</td>');
  expect(row('internal')).not.toContain('via');
  const topology = await clients.instructor.get(`/deployments/${id}/topology`);
  expect(topology.status).toBe(200);
  expect(topology.text).toContain('internet egress');
  expect(topology.text).not.toMatch(/>uplink</);
});
