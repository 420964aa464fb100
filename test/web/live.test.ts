// Following a deployment live: every follower gets every event in SSE messages that are encoded once and shared by
// all followers of one scope, a trainee's messages carry only their instance, and the page's model of a thousand
// machines is built once per change of the deployment, its rows rendered once.
import { describe, expect, it } from 'vitest';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { deploymentModel } from '../../server/web/deployment-model.ts';
import { createLive, patchMessage, type LiveMessage } from '../../server/web/live.tsx';
import { MachineRow } from '../../views/partials/deployment-rows.tsx';
import { testServices, twoTierScenario } from '../orchestrator/helpers.ts';

/** The HTML of one SSE message: its data lines, joined as an EventSource joins them. */
function dataOf(m: LiveMessage): string {
  return new TextDecoder()
    .decode(m.frame)
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6))
    .join('\n');
}

const eventIds = (html: string) => [...html.matchAll(/data-event-id="(\d+)"/g)].map((m) => Number(m[1]));

async function until(done: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(done()).toBe(true);
}

describe('live deployment pages', () => {
  it('writes a patch as SSE does: one data line per line of HTML, the event id last, a blank line after', () => {
    const m = patchMessage(42, '<li>a</li>\n<li>b</li>\r\n<li>c</li>');
    expect(m.id).toBe(42);
    expect(new TextDecoder().decode(m.frame)).toBe(
      'event: patch\ndata: <li>a</li>\ndata: <li>b</li>\ndata: <li>c</li>\nid: 42\n\n',
    );
  });

  it('sends every event to every follower, one shared message per batch and scope; a trainee sees only their instance', async () => {
    const services = testServices();
    const web = { ...services, options: {} };
    const live = createLive(web, { flushMs: 20 });
    const { id } = createDeployment(services, {
      yaml: twoTierScenario,
      file: 'two-tier.yaml',
      platform: 'simulator',
      instances: 2,
    });
    const staff = Array.from({ length: 5 }, () => [] as LiveMessage[]);
    const trainee: LiveMessage[] = [];
    const stops = [];
    for (const got of staff)
      stops.push(
        await live.follow(id, 0, { scope: 'all', window: {}, canManage: true, csrf: 'c', send: (m) => got.push(m) }),
      );
    stops.push(
      await live.follow(id, 0, {
        scope: Object.assign(new Set([1]), { concealed: new Set<string>() }),
        window: {},
        canManage: false,
        csrf: 't',
        send: (m) => trainee.push(m),
      }),
    );
    expect(live.followers(id)).toBe(6);

    expect(await services.runner.run(id)).toBe('ready');
    const stored = services.events.history(id);
    const last = stored.at(-1)!.id;
    await until(() => staff.every((got) => got.at(-1)?.id === last) && trainee.at(-1)?.id === last);

    for (const got of staff) {
      expect(got.length).toBe(staff[0]!.length);
      // The same bytes, not equal copies: 100 followers hold one message, not 100.
      got.forEach((m, i) => expect(m.frame).toBe(staff[0]![i]!.frame));
      expect(new Set(got.flatMap((m) => eventIds(dataOf(m))))).toEqual(new Set(stored.map((e) => e.id)));
    }
    const html = staff[0]!.map(dataOf).join('');
    expect(html).toMatch(/id="dep-summary"[^>]*data-state="ready"/);
    expect(html).toContain('id="m-i2_web-1"');

    const theirs = trainee.map(dataOf).join('');
    expect(trainee[0]!.frame).not.toBe(staff[0]![0]!.frame);
    expect(theirs).toContain('id="m-i1_web-1"');
    expect(theirs).not.toContain('m-i2_');
    // Of what is not a step of instance 1, a trainee sees only the deployment's state changes.
    const visible = stored.filter((e) => (e.stepKey ? /^(net:)?i1\./.test(e.stepKey) : e.type === 'deployment'));
    expect(new Set(eventIds(theirs))).toEqual(new Set(visible.map((e) => e.id)));

    for (const stop of stops) stop();
    expect(live.followers(id)).toBe(0);
    await services.close();
  });

  it("builds a deployment's machines once per change: pages share them and their rendered rows until it changes", async () => {
    const services = testServices();
    const web = { ...services, options: {} };
    const { id, plan } = createDeployment(services, {
      yaml: twoTierScenario,
      file: 'two-tier.yaml',
      platform: 'simulator',
      instances: 2,
    });
    expect(await services.runner.run(id)).toBe('ready');

    const first = deploymentModel(web, id, 'all', { limit: 2 });
    const again = deploymentModel(web, id, 'all', { limit: 2 });
    expect(first.machines).toHaveLength(2);
    expect(first.windowTotal).toBe(plan.machines.length);
    expect(first.counts.machinesTotal).toBe(plan.machines.length);
    expect(first.counts.machinesReady).toBe(plan.machines.length);
    expect(first.counts.stepsDone).toBe(plan.steps.length);
    expect(again.machines[0]).toBe(first.machines[0]);
    const row = MachineRow({ m: first.machines[0]!, deploymentId: id });
    expect(MachineRow({ m: again.machines[0]!, deploymentId: id })).toBe(row);
    expect(String(row)).toContain('data-state="ready"');

    // A trainee's page counts only their instance, and its window pages through them.
    const mine = plan.machines.filter((m) => m.instance === 1);
    const theirs = deploymentModel(web, id, Object.assign(new Set([1]), { concealed: new Set<string>() }), {
      offset: 1,
      limit: 10,
    });
    expect(theirs.counts.machinesTotal).toBe(mine.length);
    expect(theirs.machines.map((m) => m.key)).toEqual(
      deploymentModel(web, id, 'all', { instance: 1 })
        .machines.slice(1)
        .map((m) => m.key),
    );
    expect(theirs.counts.stepsTotal).toBe(plan.steps.filter((s) => !/^(net:)?i2\./.test(s.key)).length);

    expect(await services.runner.destroy(id)).toBe('destroyed');
    const after = deploymentModel(web, id, 'all', { limit: 2 });
    expect(after.machines[0]).not.toBe(first.machines[0]);
    expect(after.counts.machinesDestroyed).toBe(plan.machines.length);
    expect(after.networks.every((n) => n.state === 'destroyed')).toBe(true);
    expect(String(MachineRow({ m: after.machines[0]!, deploymentId: id }))).toContain('data-state="destroyed"');
    await services.close();
  });
});
