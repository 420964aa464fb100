// What a deployment owns on Azure, found by tags (so a process that crashed, or another one, finds it without
// any memory of having made it): its instance resource groups, and in each the machines and networks named by
// their resources' tags. A group with nothing tagged left in it is reported as a network, so teardown deletes it.
import type { OwnedResource } from '../platform.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { azureError } from './errors.ts';
import { resourceIds, tags } from './names.ts';

const odata = (s: string) => s.replaceAll("'", "''");

export async function listOwned(
  arm: Arm,
  config: AzureConfig,
  deploymentId: string,
  signal?: AbortSignal,
): Promise<OwnedResource[]> {
  const ids = resourceIds(config.subscriptionId);
  const o = signal ? { abortSignal: signal } : {};
  const what = { action: 'list', resource: 'resources of deployment', name: deploymentId };
  const groups: string[] = [];
  try {
    for await (const g of arm.resources.resourceGroups.list({
      filter: `tagName eq '${tags.deployment}' and tagValue eq '${odata(deploymentId)}'`,
      ...o,
    }))
      if (g.name) groups.push(g.name);
  } catch (e) {
    throw azureError(e, what, arm.hints, signal);
  }
  const perGroup = await Promise.all(
    groups.map(async (rg): Promise<OwnedResource[]> => {
      const machines = new Set<string>();
      const networks = new Set<string>();
      try {
        for await (const r of arm.resources.resources.listByResourceGroup(rg, o)) {
          const m = r.tags?.[tags.machine];
          const n = r.tags?.[tags.network];
          if (m) machines.add(m);
          if (n) networks.add(n);
        }
      } catch (e) {
        // Deleted between the two listings.
        if ((e as { statusCode?: number }).statusCode === 404 && !signal?.aborted) return [];
        throw azureError(e, what, arm.hints, signal);
      }
      const out: OwnedResource[] = [
        ...[...machines].map((name): OwnedResource => ({ kind: 'machine', id: ids.vm(rg, name), name })),
        ...[...networks].map((name): OwnedResource => ({ kind: 'network', id: ids.subnet(rg, name), name })),
      ];
      return out.length > 0 ? out : [{ kind: 'network', id: ids.group(rg), name: rg }];
    }),
  );
  return perGroup.flat().sort((a, b) => a.name.localeCompare(b.name));
}
