// Reading what a platform has, for a sweep: its batched inventory in one call where the driver has one, otherwise
// each known machine's state, a few at a time (and then orphans cannot be seen: the driver cannot list them).
import { errorMessage } from '../errors.ts';
import type { InventoryMachine, InventoryOptions, MachineRef, Platform } from '../platforms/platform.ts';
import { mapLimit } from '../platforms/shared/retry.ts';

export interface Observation {
  /** Machines by name. */
  byName: Map<string, InventoryMachine>;
  /** `inventory` (one batch) or `per machine`. */
  how: 'inventory' | 'per machine';
}

export async function observe(
  platform: Platform,
  known: Array<{ deploymentId: string; ref: MachineRef }>,
  opts: InventoryOptions & { concurrency: number },
): Promise<Observation> {
  if (platform.inventory) {
    const all = await platform.inventory(opts);
    return { byName: new Map(all.map((m) => [m.name, m])), how: 'inventory' };
  }
  const byName = new Map<string, InventoryMachine>();
  await mapLimit(known, opts.concurrency, async ({ deploymentId, ref }) => {
    try {
      const s = await platform.getMachineState(ref, opts.signal ? { signal: opts.signal } : {});
      if (s.power === 'missing') return;
      byName.set(ref.name, {
        id: ref.id,
        name: ref.name,
        deploymentId,
        owner: 'tag',
        power: s.power,
        addresses: s.addresses,
        // Without a batch the only sign of the agent is the addresses it reports.
        ...(s.power === 'running' && s.addresses.length > 0 ? { agent: true } : {}),
      });
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw new Error(`reading ${ref.name}: ${errorMessage(e)}`, { cause: e });
    }
  });
  return { byName, how: 'per machine' };
}
