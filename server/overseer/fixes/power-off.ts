// The fix for `power-off`: a machine that should run was stopped outside the appliance; start it again.
import { errorMessage } from '../../errors.ts';
import type { FixInput, FixOutcome } from './fix.ts';

export async function restartStoppedMachine({ finding, platform, ctx, signal }: FixInput): Promise<FixOutcome> {
  const { deploymentId, machineKey, externalId, resourceName } = finding;
  if (!deploymentId || !machineKey || !externalId) return { state: 'failed', detail: 'the finding names no machine' };
  // Asked again now: someone may have stopped it on purpose since the sweep.
  if (ctx.deps.lifecycle.desiredPower(deploymentId).get(machineKey) === 'stopped')
    return { state: 'waiting', detail: 'it was stopped on purpose since; nothing to do' };
  try {
    await platform.startMachine({ id: externalId, name: resourceName }, { signal });
    return { state: 'fixed', detail: 'started it again' };
  } catch (e) {
    return { state: 'failed', detail: `starting it failed: ${errorMessage(e)}` };
  }
}
