// The fix for `testing-mode-missing`: an instance in testing mode whose router no longer holds the egress block
// (it rebooted: the block is loaded at runtime) gets it loaded again and read back.
import { errorMessage } from '../../errors.ts';
import type { FixInput, FixOutcome } from './fix.ts';

export async function reloadTestingMode({ finding, ctx }: FixInput): Promise<FixOutcome> {
  const { deploymentId, machineKey } = finding;
  const instance = Number(/^i(\d+)\./.exec(machineKey ?? '')?.[1]);
  if (!deploymentId || !Number.isInteger(instance)) return { state: 'failed', detail: 'the finding names no router' };
  try {
    return { state: 'fixed', detail: await ctx.deps.testing.reapply(deploymentId, instance) };
  } catch (e) {
    return { state: 'failed', detail: errorMessage(e) };
  }
}
