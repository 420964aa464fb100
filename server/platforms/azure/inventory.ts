// What is Glassdome's on Azure, found by tags (so a process that crashed, or another one, finds it without any memory
// of having made it). listOwned: a deployment's instance resource groups, and in each the machines and networks named
// by their resources' tags; a group with nothing tagged left in it is reported as a network, so teardown deletes it.
// The inventory the overseer sweeps read: the subscription's VMs, their run-time statuses and NICs in three listings,
// the VM sizes of the region (read once), and on request each running VM's instance view for its VM Agent.
import type { NetworkInterface } from '@azure/arm-network';
import type { VirtualMachine, VirtualMachineInstanceView } from '@azure/arm-compute';
import {
  deploymentOfName,
  type InventoryMachine,
  type InventoryOptions,
  type OwnedResource,
  type PowerState,
} from '../platform.ts';
import { mapLimit } from '../shared/retry.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { azureError } from './errors.ts';
import { powerOf } from './machines.ts';
import { parseResourceId, resourceIds, tags } from './names.ts';
import type { Region } from './region.ts';

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

/** Instance views read at once: enough for a few hundred VMs in seconds, few enough for ARM's read limits. */
const followUps = 8;

interface Mark {
  deploymentId: string;
  owner: 'tag' | 'name';
}

/** Whose a resource is: its deployment tag, else the deployment its `gd-<deployment>-` name carries. */
function markOf(resourceTags: Record<string, string> | undefined, name: string): Mark | undefined {
  const tagged = resourceTags?.[tags.deployment];
  if (tagged) return { deploymentId: tagged, owner: 'tag' };
  const named = deploymentOfName(name);
  return named ? { deploymentId: named, owner: 'name' } : undefined;
}

/** A subnet id in the form the driver's NetworkRef has (ARM may echo its fixed segments in another case). */
function subnetRef(id: string): string {
  const p = id.split('/');
  if (p.length !== 11) return id;
  const fixed = [
    '',
    'subscriptions',
    p[2],
    'resourceGroups',
    p[4],
    'providers',
    'Microsoft.Network',
    'virtualNetworks',
  ];
  const canonical = [...fixed, p[8], 'subnets', p[10]] as string[];
  return p.every((x, i) => x.toLowerCase() === canonical[i]!.toLowerCase()) ? canonical.join('/') : id;
}

/** The VM Agent's answer: Ready, Not Ready, or nothing to tell (no agent status in the view). */
function agentReady(view: VirtualMachineInstanceView | undefined): boolean | undefined {
  const status = view?.vmAgent?.statuses?.[0]?.displayStatus;
  return status === 'Ready' ? true : status === 'Not Ready' ? false : undefined;
}

const powerState = (view: VirtualMachineInstanceView | undefined): PowerState =>
  powerOf(view) === 'running' ? 'running' : 'stopped';

export function createInventory(arm: Arm, config: AzureConfig, region: Region) {
  const ids = resourceIds(config.subscriptionId);
  const here = (location: string | undefined) =>
    (location ?? '').replace(/\s+/g, '').toLowerCase() === config.location.replace(/\s+/g, '').toLowerCase();

  return async function inventory(opts: InventoryOptions = {}): Promise<InventoryMachine[]> {
    const { signal } = opts;
    const wanted = opts.deploymentIds ? new Set(opts.deploymentIds) : undefined;
    if (wanted?.size === 0) return [];
    const listing = <T>(resource: string, list: (o: { abortSignal?: AbortSignal }) => AsyncIterable<T>) =>
      arm.call(
        { action: 'list', resource, name: config.subscriptionId },
        async (o) => {
          const out: T[] = [];
          for await (const x of list(o)) out.push(x);
          return out;
        },
        signal,
      );
    // Three listings of the whole subscription, whatever the number of instance resource groups: the VMs' models
    // (size, NICs, tags), their run-time statuses (ARM gives these in a list only with statusOnly, not with
    // $expand=instanceView), and the NICs (subnets, addresses, and the NICs of machines whose VM is not created yet).
    const [models, statuses, nicList, sizes] = await Promise.all([
      listing('VMs of subscription', (o) => arm.compute.virtualMachines.listAll(o)),
      listing('VM statuses of subscription', (o) => arm.compute.virtualMachines.listAll({ ...o, statusOnly: 'true' })),
      listing('network interfaces of subscription', (o) => arm.network.networkInterfaces.listAll(o)),
      region.sizes(signal),
    ]);
    const statusOf = new Map(statuses.map((v) => [(v.id ?? '').toLowerCase(), v.instanceView]));
    const nics = new Map(nicList.map((n) => [(n.id ?? '').toLowerCase(), n]));

    interface Seen extends Mark {
      vm: VirtualMachine;
      group: string;
      view?: VirtualMachineInstanceView;
      /** From the instance view read for it: power and VM Agent. */
      full?: VirtualMachineInstanceView;
      gone?: boolean;
    }
    const seen: Seen[] = [];
    for (const vm of models) {
      const group = parseResourceId(vm.id ?? '')?.group;
      if (!vm.name || !group || !here(vm.location)) continue;
      const mark = markOf(vm.tags, vm.name);
      if (!mark || (wanted && !wanted.has(mark.deploymentId))) continue;
      const view = statusOf.get(vm.id!.toLowerCase());
      seen.push({ vm, group, ...mark, ...(view ? { view } : {}) });
    }
    // A VM created between the two VM listings has no status yet; a running one's VM Agent is only in its own view.
    await mapLimit(
      seen.filter((x) => !x.view || (opts.guest && powerState(x.view) === 'running')),
      followUps,
      async (x) => {
        const needed = !x.view;
        try {
          const full = await arm.find(
            { action: 'read', resource: 'VM', name: x.vm.name! },
            (o) => arm.compute.virtualMachines.instanceView(x.group, x.vm.name!, o),
            signal,
          );
          if (full) x.full = full;
          else x.gone = true;
        } catch (e) {
          signal?.throwIfAborted();
          // Without its power the machine cannot be reported; without its agent, the agent is unknown.
          if (needed) throw e;
        }
      },
    );

    const sizeOf = new Map(sizes.offered.map((z) => [z.name.toLowerCase(), z]));
    const out: InventoryMachine[] = [];
    const vmKeys = new Set<string>();
    for (const x of seen) {
      vmKeys.add(`${x.group}/${x.vm.name}`.toLowerCase());
      // Deleted since it was listed: not reported (nor as a machine whose VM is still to come, from its NICs as they
      // were listed before); the next sweep sees what is left of it.
      if (x.gone) continue;
      const power = powerState(x.full ?? x.view);
      const size = sizeOf.get((x.vm.hardwareProfile?.vmSize ?? '').toLowerCase());
      const attached = (x.vm.networkProfile?.networkInterfaces ?? []).map((r) => nics.get((r.id ?? '').toLowerCase()));
      // A NIC missing from the listing (made or deleted meanwhile): its addresses and networks are not known.
      const known = attached.every((n) => n !== undefined) ? (attached as NetworkInterface[]) : undefined;
      const agent = power === 'running' ? agentReady(x.full) : false;
      out.push({
        id: x.vm.id!,
        name: x.vm.name!,
        deploymentId: x.deploymentId,
        owner: x.owner,
        power,
        ...(size ? { cpus: size.vcpus, memoryMb: Math.round(size.memoryGb * 1024), size: size.name } : {}),
        ...(power !== 'running'
          ? { addresses: [] }
          : known
            ? { addresses: known.flatMap((n) => (n.ipConfigurations ?? []).flatMap((c) => c.privateIPAddress ?? [])) }
            : {}),
        ...(opts.guest && agent !== undefined ? { agent } : {}),
        ...(opts.config && known ? { nics: known.map(nicOf) } : {}),
      });
    }
    // Machines created and not started yet: their NICs exist (tagged with the machine) and their VM does not.
    const waiting = new Map<string, { group: string; name: string; mark: Mark; nics: NetworkInterface[] }>();
    for (const n of nicList) {
      const machine = n.tags?.[tags.machine];
      const group = parseResourceId(n.id ?? '')?.group;
      if (!machine || !group || !here(n.location) || vmKeys.has(`${group}/${machine}`.toLowerCase())) continue;
      const mark = markOf(n.tags, machine);
      if (!mark || (wanted && !wanted.has(mark.deploymentId))) continue;
      const key = `${group}/${machine}`.toLowerCase();
      const entry = waiting.get(key) ?? { group, name: machine, mark, nics: [] };
      entry.nics.push(n);
      waiting.set(key, entry);
    }
    for (const w of waiting.values()) {
      const index = (n: NetworkInterface) => Number(/-nic(\d+)$/.exec(n.name ?? '')?.[1] ?? 0);
      out.push({
        id: ids.vm(w.group, w.name),
        name: w.name,
        ...w.mark,
        power: 'stopped',
        addresses: [],
        ...(opts.guest ? { agent: false } : {}),
        ...(opts.config ? { nics: w.nics.sort((a, b) => index(a) - index(b)).map(nicOf) } : {}),
      });
    }
    return out;
  };
}

/** A NIC as the inventory reports it: the subnet (the driver's NetworkRef id) of its primary configuration, its MAC. */
function nicOf(n: NetworkInterface): { network: string; mac?: string } {
  const configs = n.ipConfigurations ?? [];
  const primary = configs.find((c) => c.primary) ?? configs[0];
  const mac = n.macAddress?.replaceAll('-', ':').toLowerCase();
  return { network: subnetRef(primary?.subnet?.id ?? ''), ...(mac ? { mac } : {}) };
}
