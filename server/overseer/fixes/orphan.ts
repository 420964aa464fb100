// The fix for `orphan`: a machine marked as Glassdome's that no deployment owns is destroyed, but only once it has
// been seen for the platform's grace period, and only when, asked again now, no deployment's plan claims its name.
import { errorMessage } from '../../errors.ts';
import { deploymentOfName } from '../../platforms/platform.ts';
import type { FixInput, FixOutcome } from './fix.ts';

export async function destroyOrphan({ finding, platform, policy, ctx, signal }: FixInput): Promise<FixOutcome> {
  const { resourceName, externalId } = finding;
  if (!externalId) return { state: 'failed', detail: 'the finding has no platform id' };
  // The convention is what makes it ours: a tag or a `gd-<deployment>-` name. Anything else is never touched.
  if (!finding.deploymentId && deploymentOfName(resourceName) === undefined)
    return { state: 'failed', detail: 'not marked as a Glassdome machine: left alone' };
  const due = Date.parse(finding.firstSeenAt) + policy.orphanGraceMinutes * 60_000;
  const now = ctx.now().getTime();
  if (now < due)
    return {
      state: 'waiting',
      detail: `destroyed after the grace period, at ${new Date(due).toISOString()} if it is still there`,
    };
  const claimed = ctx.watch
    .load()
    .find((d) => d.platformId === finding.platformId && d.machines.some((m) => m.resourceName === resourceName));
  if (claimed) return { state: 'waiting', detail: `deployment ${claimed.id} claims it now; left alone` };
  try {
    await platform.destroyMachine({ id: externalId, name: resourceName }, { signal });
    return { state: 'fixed', detail: `destroyed after ${policy.orphanGraceMinutes} min of grace` };
  } catch (e) {
    return { state: 'failed', detail: `destroying it failed: ${errorMessage(e)}` };
  }
}
