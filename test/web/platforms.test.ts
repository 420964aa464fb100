// Removing a platform: refused while it has deployments that are not destroyed, and for the built-in simulator;
// otherwise it goes, with the records of its destroyed deployments, and the removal is audited.
import { beforeAll, describe, expect, it } from 'vitest';
import { api, setUpAppliance, twoTierScenario, waitForState, webTestApp, type TestApp } from './helpers.ts';
import { systemActor } from '../../server/model/audit.ts';

describe('platform removal', () => {
  let app: TestApp;
  let ctx: Awaited<ReturnType<typeof setUpAppliance>>;

  beforeAll(async () => {
    ({ app } = webTestApp());
    ctx = await setUpAppliance(app);
  });

  it('refuses while a deployment on it is not destroyed, naming it, then removes it and its destroyed records', async () => {
    const lab = app.web.platforms.add(systemActor, { name: 'lab-sim', kind: 'simulator', config: { speed: 2000 } });
    const created = await api(app, 'POST', '/api/v1/deployments', ctx.tokens.instructor, {
      yaml: twoTierScenario,
      platform: 'lab-sim',
      instances: 1,
    });
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    await waitForState(app, id, ['ready']);

    const refused = await api(app, 'DELETE', `/api/v1/platforms/${lab.id}`, ctx.tokens.admin);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain(`${id} (ready)`);
    expect(app.web.platforms.get(lab.id).name).toBe('lab-sim');
    expect((await api(app, 'DELETE', `/api/v1/platforms/${lab.id}`, ctx.tokens.instructor)).status).toBe(403);

    expect((await api(app, 'POST', `/api/v1/deployments/${id}/destroy`, ctx.tokens.instructor)).status).toBeLessThan(
      300,
    );
    await waitForState(app, id, ['destroyed']);
    expect((await api(app, 'DELETE', `/api/v1/platforms/${lab.id}`, ctx.tokens.admin)).status).toBe(204);
    expect(() => app.web.platforms.get(lab.id)).toThrow(/does not exist/);
    const count = (table: string) =>
      (
        app.web.db.$client.prepare(`SELECT count(*) AS n FROM ${table} WHERE deployment_id = ?`).get(id) as {
          n: number;
        }
      ).n;
    expect([count('steps'), count('events'), count('resources')]).toEqual([0, 0, 0]);
    const audit = (await api(app, 'GET', '/api/v1/audit', ctx.tokens.admin)).body as Array<{
      action: string;
      target: string;
      detail: string;
    }>;
    expect(audit.find((e) => e.action === 'platform.delete')).toMatchObject({
      target: 'platform:lab-sim',
      detail: '1 destroyed deployment record(s) removed',
    });
  });

  it('keeps the built-in simulator, and asks the settings page for a confirmation', async () => {
    const sim = app.web.platforms.get('simulator');
    const refused = await api(app, 'DELETE', `/api/v1/platforms/${sim.id}`, ctx.tokens.admin);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('built-in simulator cannot be removed');
    expect((await ctx.clients.admin.get(`/settings/platforms/${sim.id}`)).text).not.toContain('Remove platform');

    const spare = app.web.platforms.add(systemActor, { name: 'spare', kind: 'simulator', config: {} });
    const admin = ctx.clients.admin;
    expect((await admin.get(`/settings/platforms/${spare.id}`)).text).toContain('Remove platform');
    const unconfirmed = await admin.post(`/settings/platforms/${spare.id}/delete`, {});
    expect(unconfirmed.status).toBe(422);
    expect(unconfirmed.text).toContain('Tick the box to confirm the removal.');
    expect(app.web.platforms.get(spare.id).name).toBe('spare');
    const removed = await admin.post(`/settings/platforms/${spare.id}/delete`, { confirm: 'yes' });
    expect(removed.status).toBe(303);
    expect(removed.location).toBe('/settings/platforms');
    expect(app.web.platforms.list().map((p) => p.name)).not.toContain('spare');
  });
});
