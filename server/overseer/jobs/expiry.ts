// The expiry job (every 5 minutes): a deployment with an end date is warned before it (event and audit), stopped at
// it, and destroyed its grace period after; each step once, audited as the overseer with the date that caused it.
import { errorMessage } from '../../errors.ts';
import { overseerActor } from '../../model/audit.ts';
import { expiryDecision } from '../checks/lifecycle.ts';
import type { OverseerContext } from '../context.ts';

export async function runExpiry(ctx: OverseerContext): Promise<string> {
  const { lifecycle, deployments, audit } = ctx.deps;
  const now = ctx.now();
  const done: string[] = [];
  const failed: string[] = [];
  const scheduled = lifecycle.scheduled().filter((l) => l.endsAt !== null);
  for (const l of scheduled) {
    const action = expiryDecision(l, now);
    if (!action) continue;
    const id = l.deploymentId;
    const ends = l.endsAt!;
    const destroyAt = new Date(Date.parse(ends) + l.destroyGraceHours * 3600_000).toISOString();
    try {
      if (action === 'warn') {
        const message = `ends at ${ends}: its machines stop then, and it is destroyed at ${destroyAt}`;
        audit.record(overseerActor, 'deployment.expiry-warn', `deployment:${id}`, message);
        ctx.publish(id, `expiry: ${message}`);
        lifecycle.setExpiryStage(id, 'warned');
      } else if (action === 'stop') {
        if (l.state === 'ready' || l.state === 'failed')
          await lifecycle.powerAll(overseerActor, id, 'stop', `expiry: the deployment ended at ${ends}`, now);
        else ctx.publish(id, `expiry: ended at ${ends}; it is ${l.state}, nothing to stop`);
        lifecycle.setExpiryStage(id, 'stopped');
      } else {
        const message = `ended at ${ends}, grace of ${l.destroyGraceHours} h over: destroying`;
        audit.record(overseerActor, 'deployment.expired', `deployment:${id}`, message);
        ctx.publish(id, `expiry: ${message}`);
        lifecycle.setExpiryStage(id, 'destroyed');
        // The end date was the confirmation; the teardown runs on in the background and records its own end.
        deployments
          .destroy(overseerActor, id, { confirm: true })
          .catch((e: unknown) => ctx.publish(id, `expiry: destroy failed: ${errorMessage(e)}`));
      }
      done.push(`${id}: ${action}`);
    } catch (e) {
      failed.push(`${id} (${action}): ${errorMessage(e)}`);
    }
  }
  return [
    `${scheduled.length} deployment(s) with an end date; ${done.length} acted on${done.length ? `: ${done.join(', ')}` : ''}`,
    ...(failed.length ? [`failed: ${failed.join('; ')}`] : []),
  ].join('; ');
}
