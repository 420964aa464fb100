// "Seen before": a deployment whose machine fails the way an earlier deployment's did is told so on its stream, with
// the earlier deployment and what fixed it there, from the knowledge base (keyword search here: no model installed).
import { afterEach, describe, expect, it } from 'vitest';
import { systemActor } from '../../server/model/audit.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { reasonKey, seenBeforeLine } from '../../server/overseer/seen-before.ts';
import type { Services } from '../../server/services.ts';
import { testServices, twoTierScenario } from '../orchestrator/helpers.ts';

let s: Services | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('seen before', () => {
  it('names the earlier deployment that failed the same way, and the retry that fixed it there', async () => {
    s = testServices({ faults: { failMachines: ['db'] } });
    const watch = s.overseer.watchFailures()!;
    const deploy = () =>
      createDeployment(s!, { yaml: twoTierScenario, file: 'two-tier.yaml', platform: 'simulator', instances: 1 }).id;
    const overseerLines = (id: string) =>
      s!.events
        .history(id)
        .filter((e) => e.type === 'overseer')
        .map((e) => [e.stepKey, e.message]);

    // The first failure has nothing before it: nothing is said.
    const first = deploy();
    expect(await s.runner.run(first)).toBe('failed');
    await watch.settled();
    expect(overseerLines(first)).toEqual([]);
    // It is fixed by a retry once the cause is gone, and the knowledge base learns both.
    s.platforms.update(systemActor, 'simulator', { config: { speed: 2000 } });
    expect(await s.runner.retryFailed(first)).toBe('ready');
    await s.knowledge.refresh(systemActor);

    s.platforms.update(systemActor, 'simulator', { config: { speed: 2000, faults: { failMachines: ['db'] } } });
    const second = deploy();
    expect(await s.runner.run(second)).toBe('failed');
    await watch.settled();
    expect(overseerLines(second)).toEqual([
      [
        'i1.db:create',
        `seen before: Deployment ${first} of two-tier (/deployments/${first}): Step i1.db:create on i1.db failed: ` +
          `[simulator] Unable to clone VM "gd-${first}-i1-db": template disk is unreadable (injected permanent failure); ` +
          'likely fix: The step succeeded when run again (attempt 1).',
      ],
    ]);
    // Unrelated failures are not matched to it.
    expect(await s.knowledge.similarFailures('the certificate of the LDAP server expired')).toEqual([]);
  });

  it('tells repeats apart by their reason without the deployment id, and shortens long reasons', () => {
    expect(reasonKey('Unable to clone VM "gd-ab12cd-i1-db":  template')).toBe(
      reasonKey('Unable to clone VM "gd-zz99yy-i1-db": template'),
    );
    const line = seenBeforeLine({
      title: 'Deployment x of y',
      link: '/deployments/x',
      text: `Step a failed: ${'e'.repeat(400)}`,
    });
    expect(line.length).toBeLessThan(320);
    expect(line).toMatch(/…$/);
  });
});
