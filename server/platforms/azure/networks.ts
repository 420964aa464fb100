// Scenario networks on Azure: per instance a resource group and a VNet (both `gd-<deployment>-i<N>`), per network a
// subnet with its own NSG built from the firewall. Changes to one VNet are made one at a time (ARM refuses
// concurrent ones), each adding every subnet that is waiting by then. Deleting a network
// deletes its instance's resource group with everything left in it, then waits until ARM no longer knows it.
import { AppError } from '../../errors.ts';
import type { NetworkRef, NetworkSpec } from '../platform.ts';
import { pollUntil } from '../shared/wait.ts';
import type { Arm } from './clients.ts';
import type { AzureConfig } from './config.ts';
import { nsgRules } from './firewall.ts';
import { nsgName, ownerOf, ownerTags, resourceIds, tags, type Owner } from './names.ts';

/** The id of `uplink` networks: on a cloud the internet is there without creating anything. */
export const uplinkId = 'internet';

function contains(outer: string, inner: string): boolean {
  const parse = (c: string) => {
    const [ip, bits] = c.split('/');
    const size = 2 ** (32 - Number(bits));
    return { lo: ip!.split('.').reduce((a, x) => a * 256 + Number(x), 0), size };
  };
  const o = parse(outer);
  const i = parse(inner);
  return i.lo >= o.lo && i.lo + i.size <= o.lo + o.size;
}

export function createNetworks(arm: Arm, config: AzureConfig) {
  const ids = resourceIds(config.subscriptionId);
  const groups = new Map<string, Promise<void>>();
  const deletions = new Map<string, Promise<void>>();

  function ownerFor(name: string, deploymentId: string | undefined, action: string): Owner {
    const owner = ownerOf(name);
    if (!owner || (deploymentId !== undefined && owner.deploymentId !== deploymentId))
      throw new AppError(
        'invalid_input',
        `[azure] Unable to ${action} network "${name}": its name must be gd-<deployment>-i<instance>-<network>`,
      );
    return owner;
  }

  /**
   * Subnets wait for their VNet here. ARM takes one change of a VNet at a time, so one worker per VNet applies
   * whatever has queued since its last change in a single one (the networks of an instance arrive together).
   */
  interface Waiting {
    owner: Owner;
    spec: NetworkSpec;
    signal: AbortSignal | undefined;
    resolve: () => void;
    reject: (e: unknown) => void;
  }
  const queues = new Map<string, Waiting[]>();

  function addSubnet(owner: Owner, spec: NetworkSpec, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (fn: () => void) => {
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const queue = queues.get(owner.group);
      const item: Waiting = { owner, spec, signal, resolve: () => done(resolve), reject: (e) => done(() => reject(e)) };
      if (queue) return void queue.push(item);
      queues.set(owner.group, [item]);
      void drain(owner.group);
    });
  }

  async function drain(rg: string): Promise<void> {
    const queue = queues.get(rg)!;
    while (queue.length > 0) {
      const batch = queue.splice(0).filter((w) => !w.signal?.aborted);
      if (batch.length === 0) continue;
      try {
        await applySubnets(batch);
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    queues.delete(rg);
  }

  /** The instance's resource group, created (a synchronous PUT) once per driver. */
  function ensureGroup(owner: Owner, signal?: AbortSignal): Promise<void> {
    let p = groups.get(owner.group);
    if (!p) {
      p = arm
        .call(
          { action: 'create', resource: 'resource group', name: owner.group },
          (o) =>
            arm.resources.resourceGroups.createOrUpdate(
              owner.group,
              { location: config.location, tags: ownerTags(owner) },
              o,
            ),
          signal,
        )
        .then(() => undefined);
      groups.set(owner.group, p);
      p.catch(() => groups.delete(owner.group));
    }
    return p;
  }

  /** One change of the VNet that adds every subnet of `batch` it lacks (creating the VNet when there is none). */
  async function applySubnets(batch: Waiting[]): Promise<void> {
    const { owner, signal } = batch[0]!;
    const rg = owner.group;
    const names = batch.map((w) => w.spec.name).join(', ');
    const what = { action: 'create', resource: batch.length > 1 ? 'networks' : 'network', name: names };
    const subnetOf = (spec: NetworkSpec) => ({
      name: spec.name,
      addressPrefix: spec.cidr,
      networkSecurityGroup: { id: ids.nsg(rg, spec.name) },
      defaultOutboundAccess: Boolean(spec.internet),
    });
    const vnet = await arm.find(what, (o) => arm.network.virtualNetworks.get(rg, rg, o), signal);
    const todo: Waiting[] = [];
    for (const w of batch) {
      const existing = vnet?.subnets?.find((s) => s.name?.toLowerCase() === w.spec.name.toLowerCase());
      if (existing && existing.addressPrefix !== w.spec.cidr)
        w.reject(
          new AppError(
            'conflict',
            `[azure] Unable to create network "${w.spec.name}": it exists with address range ${existing.addressPrefix}, not ${w.spec.cidr}`,
            { hint: `Destroy the deployment's leftovers (resource group ${rg}) first.` },
          ),
        );
      else if (
        existing &&
        existing.networkSecurityGroup?.id?.toLowerCase() === ids.nsg(rg, w.spec.name).toLowerCase() &&
        existing.provisioningState === 'Succeeded'
      )
        w.resolve();
      else todo.push(w);
    }
    if (todo.length === 0) return;
    const space = vnet?.addressSpace?.addressPrefixes ?? [];
    const outside = todo.filter((w) => !space.some((a) => contains(a, w.spec.cidr)));
    if (vnet && todo.length === 1 && outside.length === 0) {
      await arm.lro(
        what,
        (o) => arm.network.subnets.beginCreateOrUpdate(rg, rg, todo[0]!.spec.name, subnetOf(todo[0]!.spec), o),
        signal,
      );
    } else {
      // The VNet is written again with the new ranges and every subnet it has (a PUT without a subnet deletes it).
      const kept = (vnet?.subnets ?? []).filter(
        (s) => !todo.some((w) => w.spec.name.toLowerCase() === s.name?.toLowerCase()),
      );
      const body = {
        location: config.location,
        tags: ownerTags(owner),
        addressSpace: { addressPrefixes: [...space, ...outside.map((w) => w.spec.cidr)] },
        subnets: [...kept, ...todo.map((w) => subnetOf(w.spec))],
      };
      await arm.lro(what, (o) => arm.network.virtualNetworks.beginCreateOrUpdate(rg, rg, body, o), signal);
    }
    for (const w of todo) w.resolve();
  }

  async function deleteGroup(owner: Owner, signal?: AbortSignal): Promise<void> {
    const rg = owner.group;
    const what = { action: 'delete', resource: 'resource group', name: rg };
    const group = await arm.find(what, (o) => arm.resources.resourceGroups.get(rg, o), signal);
    if (!group) return;
    if (group.tags?.[tags.deployment] !== owner.deploymentId)
      throw new AppError(
        'platform_error',
        `[azure] Unable to delete resource group "${rg}": it does not carry the tag ${tags.deployment}=${owner.deploymentId}, so Glassdome did not create it`,
        {
          hint: 'Delete or rename it yourself if it is not needed.',
        },
      );
    groups.delete(rg);
    try {
      await arm.lro(what, (o) => arm.resources.resourceGroups.beginDelete(rg, o), signal);
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'not_found')) throw e;
    }
    // Verified gone: the group (and so everything in it) is no longer known to ARM.
    const gone = await pollUntil(
      async () => ((await arm.find(what, (o) => arm.resources.resourceGroups.get(rg, o), signal)) ? undefined : true),
      {
        deadline: Date.now() + config.timeouts.operationMs,
        minMs: config.pollIntervalMs,
        maxMs: Math.max(config.pollIntervalMs, config.pollMaxMs),
        ...(signal ? { signal } : {}),
      },
    );
    if (!gone)
      throw new AppError(
        'timeout',
        `[azure] Unable to delete resource group "${rg}": it still exists after ${Math.round(config.timeouts.operationMs / 1000)} s`,
        { hint: 'See its Activity log in the Azure portal (a resource lock keeps a group from being deleted).' },
      );
  }

  return {
    async ensure(spec: NetworkSpec, signal?: AbortSignal): Promise<NetworkRef> {
      if (spec.kind === 'uplink') return { id: uplinkId, name: spec.name };
      const owner = ownerFor(spec.name, spec.deploymentId, 'create');
      const prefix = Number(spec.cidr.split('/')[1]);
      if (!(prefix <= 29))
        throw new AppError(
          'invalid_input',
          `[azure] Unable to create network "${spec.name}": ${spec.cidr} is smaller than the /29 Azure needs for a subnet`,
          { hint: 'Give the network a /29 or wider cidr (Azure also keeps 5 addresses of every subnet).' },
        );
      await ensureGroup(owner, signal);
      const nsg = nsgName(spec.name);
      await arm.lro(
        { action: 'create', resource: 'network security group', name: nsg },
        (o) =>
          arm.network.networkSecurityGroups.beginCreateOrUpdate(
            owner.group,
            nsg,
            {
              location: config.location,
              tags: { ...ownerTags(owner), [tags.network]: spec.name },
              securityRules: nsgRules({ ...spec, firewall: spec.range?.firewall }),
            },
            o,
          ),
        signal,
      );
      await addSubnet(owner, spec, signal);
      return { id: ids.subnet(owner.group, spec.name), name: spec.name };
    },

    /** Deletes the network's whole instance resource group (once, however many of its networks ask), verified gone. */
    async remove(ref: NetworkRef, signal?: AbortSignal): Promise<void> {
      if (ref.id === uplinkId) return;
      const owner = ownerFor(ref.name, undefined, 'delete');
      let p = deletions.get(owner.group);
      if (!p) {
        p = deleteGroup(owner, signal).finally(() => deletions.delete(owner.group));
        deletions.set(owner.group, p);
      }
      await p;
    },
  };
}

export type Networks = ReturnType<typeof createNetworks>;
