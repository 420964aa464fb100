// The fix for `machine-missing`: a machine the deployment created is gone from the platform; build it again from
// the plan (every open `machine-missing` of the deployment at once), through the executor like any deployment.
import { errorMessage } from '../../errors.ts';
import type { FixInput, FixOutcome } from './fix.ts';

export async function rebuildMissingMachine({ finding, ctx }: FixInput): Promise<FixOutcome> {
  const { deploymentId, machineKey } = finding;
  if (!deploymentId || !machineKey) return { state: 'failed', detail: 'the finding names no machine' };
  const { runner, deployments } = ctx.deps;
  if (runner.isRunning(deploymentId)) return { state: 'waiting', detail: 'the deployment is being worked on already' };
  const state = deployments.get(deploymentId).state;
  if (state !== 'ready')
    return {
      state: 'failed',
      detail: `the deployment is ${state}: retry it (or destroy it) instead of rebuilding one machine`,
    };
  const keys = [
    ...new Set([
      machineKey,
      ...ctx.findings.openOf(deploymentId, 'machine-missing').flatMap((f) => f.machineKey ?? []),
    ]),
  ].sort();
  try {
    const final = await runner.rebuild(deploymentId, keys);
    return final === 'ready'
      ? { state: 'fixed', detail: `built ${keys.join(', ')} again from the plan` }
      : { state: 'failed', detail: `rebuilding ${keys.join(', ')} ended ${final}` };
  } catch (e) {
    return { state: 'failed', detail: `rebuilding failed: ${errorMessage(e)}` };
  }
}
