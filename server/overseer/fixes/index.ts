// The fixes, keyed by the finding kind they repair: each idempotent (a machine already running, an agent already
// answering, an orphan already gone is success), each told the finding, the platform's policy and the clock.
// The caller (overseer.ts) decides by policy whether to run one, audits what it did with its reason, and backs off.
import type { FixableFindingKind } from '../../model/overseer.ts';
import type { Fixer } from './fix.ts';
import { fixGuestAgentFinding } from './guest-agent-missing.ts';
import { rebuildMissingMachine } from './machine-missing.ts';
import { destroyOrphan } from './orphan.ts';
import { restartStoppedMachine } from './power-off.ts';
import { reloadTestingMode } from './testing-mode-missing.ts';
import { applyVpnPeers } from './vpn-peers-stale.ts';

export type { FixInput, FixOutcome, Fixer } from './fix.ts';

export const fixes: Record<FixableFindingKind, Fixer> = {
  'power-off': restartStoppedMachine,
  'guest-agent-missing': fixGuestAgentFinding,
  'testing-mode-missing': reloadTestingMode,
  'vpn-peers-stale': applyVpnPeers,
  'machine-missing': rebuildMissingMachine,
  orphan: destroyOrphan,
};
