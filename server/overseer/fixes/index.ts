// The fixes, keyed by the finding kind they repair: each idempotent (a machine already running, an agent already
// answering, an orphan already gone is success), each told the finding, the platform's policy and the clock.
// The caller (overseer.ts) decides by policy whether to run one, audits what it did with its reason, and backs off.
import type { Finding, FixableFindingKind, OverseerPolicy } from '../../model/overseer.ts';
import type { Platform } from '../../platforms/platform.ts';
import type { OverseerContext } from '../context.ts';
import { fixGuestAgentFinding } from './guest-agent-missing.ts';
import { rebuildMissingMachine } from './machine-missing.ts';
import { destroyOrphan } from './orphan.ts';
import { restartStoppedMachine } from './power-off.ts';
import { reloadTestingMode } from './testing-mode-missing.ts';

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

export const fixes: Record<FixableFindingKind, Fixer> = {
  'power-off': restartStoppedMachine,
  'guest-agent-missing': fixGuestAgentFinding,
  'testing-mode-missing': reloadTestingMode,
  'machine-missing': rebuildMissingMachine,
  orphan: destroyOrphan,
};
