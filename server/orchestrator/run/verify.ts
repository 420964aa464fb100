// What "ready" means beyond the guest's own word: a router's firewall read back through the platform's channel to
// the guest and compared with the plan. Where there is no channel, the router's first boot checked it itself (it
// fails its first boot otherwise), and the log says which of the two verified it.
import { checkRuleset, rulesetReadback } from '../../agents/lab-router.ts';
import { AppError, errorMessage } from '../../errors.ts';
import type { PlannedMachine } from '../../model/plan.ts';
import type { MachineRef, Platform } from '../../platforms/platform.ts';

/** Resolves with how the machine was verified; throws AppError('platform_error') when it is not as planned. */
export async function verifyMachine(
  platform: Platform,
  machine: PlannedMachine,
  ref: MachineRef,
  o: { signal: AbortSignal; timeoutMs: number },
): Promise<string | undefined> {
  if (machine.role !== 'router') return undefined;
  if (!platform.supports.guestExec || !platform.guestExec)
    return `firewall verified by the router's own first-boot check (${platform.kind} has no channel to read it back)`;
  let out;
  try {
    out = await platform.guestExec(ref, rulesetReadback, o);
  } catch (e) {
    if (o.signal.aborted) throw e;
    return `firewall verified by the router's own first-boot check; reading it back failed: ${errorMessage(e)}`;
  }
  if (out.exitCode !== 0)
    throw new AppError(
      'platform_error',
      `Router "${machine.key}" is not ready: \`${rulesetReadback.join(' ')}\` exited ${out.exitCode}: ${out.stderr.trim() || out.stdout.trim()}`,
    );
  const problems = checkRuleset(machine, out.stdout);
  if (problems.length > 0)
    throw new AppError(
      'platform_error',
      `Router "${machine.key}" is not ready: its firewall is not the scenario's: ${problems.join('; ')}`,
      {
        hint: 'Look at the router console and /var/log/cloud-init-output.log; its nftables file is /etc/nftables.conf.',
      },
    );
  return 'firewall read back through the guest channel and matches the plan';
}
