// The idle and expiry decisions, as data: given a deployment's lifecycle and a clock, what the overseer does now.
import type { DeploymentLifecycle } from '../../model/overseer.ts';
import type { DeploymentState } from '../../model/states.ts';

const hour = 3600_000;

/** Idle for at least its limit: no page or API activity and no CPU load since `since` (the latest of them). */
export function idleDecision(
  l: DeploymentLifecycle & { state: DeploymentState },
  readySince: string | null,
  now: Date,
): { stop: false } | { stop: true; idleMinutes: number } {
  if (l.idleShutdownMinutes === null || l.state !== 'ready' || l.idleStoppedAt !== null) return { stop: false };
  const since = [l.lastActivityAt, l.lastBusyAt, readySince]
    .filter((x): x is string => x !== null)
    .sort()
    .at(-1);
  if (!since) return { stop: false };
  const idle = (now.getTime() - Date.parse(since)) / 60_000;
  return idle >= l.idleShutdownMinutes ? { stop: true, idleMinutes: Math.floor(idle) } : { stop: false };
}

export type ExpiryAction = 'warn' | 'stop' | 'destroy';

/**
 * Where a deployment with an end date is: warned `warnHours` before, stopped at the end, destroyed `destroyGraceHours`
 * after. Each step happens once (the stage records it); a deployment found late skips to where it should be.
 */
export function expiryDecision(
  l: DeploymentLifecycle & { state: DeploymentState },
  now: Date,
): ExpiryAction | undefined {
  if (l.endsAt === null || l.state === 'destroyed' || l.state === 'destroying') return undefined;
  const ends = Date.parse(l.endsAt);
  const t = now.getTime();
  if (t >= ends + l.destroyGraceHours * hour) return l.expiryStage === 'destroyed' ? undefined : 'destroy';
  if (t >= ends) return l.expiryStage === 'stopped' || l.expiryStage === 'destroyed' ? undefined : 'stop';
  if (t >= ends - l.warnHours * hour) return l.expiryStage === 'none' ? 'warn' : undefined;
  return undefined;
}
