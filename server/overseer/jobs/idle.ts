// The idle job (every minute): a deployment with an idle shutdown whose pages and API have not been used and whose
// machines have had no CPU load for its limit has every machine stopped, with that reason in the audit log.
import { errorMessage } from '../../errors.ts';
import { overseerActor } from '../../model/audit.ts';
import { idleDecision } from '../checks/lifecycle.ts';
import type { OverseerContext } from '../context.ts';

export async function runIdle(ctx: OverseerContext): Promise<string> {
  const { lifecycle } = ctx.deps;
  const now = ctx.now();
  lifecycle.flushActivity();
  const candidates = lifecycle.scheduled().filter((l) => l.idleShutdownMinutes !== null);
  const ready = new Map(ctx.watch.load(['ready']).map((d) => [d.id, d.finishedAt]));
  const stopped: string[] = [];
  const failed: string[] = [];
  for (const l of candidates) {
    const decision = idleDecision(l, ready.get(l.deploymentId) ?? null, now);
    if (!decision.stop) continue;
    try {
      const r = await lifecycle.powerAll(
        overseerActor,
        l.deploymentId,
        'stop',
        `idle shutdown: no page or API activity and no CPU load for ${decision.idleMinutes} min (limit ${l.idleShutdownMinutes} min)`,
        now,
      );
      stopped.push(`${l.deploymentId} (${r.machines} machines)`);
    } catch (e) {
      failed.push(`${l.deploymentId}: ${errorMessage(e)}`);
    }
  }
  return [
    `${candidates.length} deployment(s) with an idle shutdown; ${stopped.length} stopped${stopped.length ? `: ${stopped.join(', ')}` : ''}`,
    ...(failed.length ? [`failed: ${failed.join('; ')}`] : []),
  ].join('; ');
}
