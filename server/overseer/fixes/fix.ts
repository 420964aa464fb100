// What a fix is given and what it answers: the finding, its platform and policy, the overseer's context, a signal.
import type { Finding, OverseerPolicy } from '../../model/overseer.ts';
import type { Platform } from '../../platforms/platform.ts';
import type { OverseerContext } from '../context.ts';

export interface FixInput {
  finding: Finding;
  platform: Platform;
  policy: OverseerPolicy;
  ctx: OverseerContext;
  signal: AbortSignal;
}

/**
 * `fixed`: done (the next sweep confirms it); `failed`: tried and did not work (tried again later, with backoff);
 * `waiting`: nothing done yet on purpose (an orphan inside its grace period, a rebuild already running).
 */
export interface FixOutcome {
  state: 'fixed' | 'failed' | 'waiting';
  detail: string;
}

export type Fixer = (input: FixInput) => Promise<FixOutcome>;
