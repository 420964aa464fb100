// The AWS inventory the overseer sweeps read: every instance and every machine not launched yet (its launch template)
// whose tags or `gd-<deployment>-` name say it is Glassdome's, from two paginated DescribeInstances (by tag, by name)
// and one DescribeLaunchTemplates; sizes from DescribeInstanceTypes (once per type); on request the instance status
// checks (DescribeInstanceStatus, 100 instances a call) and the NICs' networks (each subnet's tag, read once).
import type { Filter, Instance, InstanceStatus, LaunchTemplate, Tag } from '@aws-sdk/client-ec2';
import { deploymentOfName, type InventoryMachine, type InventoryOptions, type PowerState } from '../platform.ts';
import { describeAll, type Ec2 } from './client.ts';
import { hasCode } from './errors.ts';
import type { Images } from './images.ts';
import { tagKeys, tagValue } from './tags.ts';
import { toView, type InstanceView } from './watch.ts';

/** As machines.ts reads an instance's state: a machine on its way up or down still runs. */
const powerOf: Record<string, PowerState> = {
  pending: 'running',
  running: 'running',
  stopping: 'running',
  stopped: 'stopped',
};

/** EC2's limits: pages of 1000 instances and 200 launch templates, 100 ids a status call, 200 values a filter. */
const instancePage = 1000;
const templatePage = 200;
const statusBatch = 100;
const filterValues = 200;

export interface InventoryDeps {
  ec2: Ec2;
  images: Pick<Images, 'describeTypes'>;
}

interface Found {
  name: string;
  deploymentId: string;
  owner: 'tag' | 'name';
  view?: InstanceView;
  instance?: Instance;
  template?: LaunchTemplate;
}

/** Whose a resource is: its deployment tag, else the deployment its `gd-<deployment>-` name carries. */
function ownerOf(tags: Tag[] | undefined, name: string): Pick<Found, 'deploymentId' | 'owner'> | undefined {
  const tagged = tagValue(tags, tagKeys.deployment);
  if (tagged) return { deploymentId: tagged, owner: 'tag' };
  const named = deploymentOfName(name);
  return named ? { deploymentId: named, owner: 'name' } : undefined;
}

/** Instance status check -> whether the guest answers: `ok` yes, `impaired` no, anything else cannot be told yet. */
function answers(s: InstanceStatus | undefined): boolean | undefined {
  const status = s?.InstanceStatus?.Status;
  return status === 'ok' ? true : status === 'impaired' ? false : undefined;
}

export function createInventory({ ec2, images }: InventoryDeps) {
  /** Subnet id -> the network it is (its glassdome:network tag): subnets never change networks, so asked once. */
  const networkOfSubnet = new Map<string, string>();

  /** The instance status of each running instance; one that EC2 does not know (yet, or any more) is left out. */
  async function statuses(ids: string[], signal?: AbortSignal): Promise<Map<string, InstanceStatus>> {
    const out = new Map<string, InstanceStatus>();
    const o = signal ? { signal } : {};
    for (let i = 0; i < ids.length; i += statusBatch) {
      let batch = ids.slice(i, i + statusBatch);
      // A just-launched instance can be unknown to DescribeInstanceStatus for a while (EC2 is eventually
      // consistent), and one id it does not know fails the whole call: drop the ids it names, ask again.
      for (let tries = 0; batch.length > 0 && tries < 4; tries++) {
        try {
          const r = await ec2.call('DescribeInstanceStatus', { InstanceIds: batch }, o);
          for (const s of r.InstanceStatuses ?? []) if (s.InstanceId) out.set(s.InstanceId, s);
          break;
        } catch (e) {
          signal?.throwIfAborted();
          if (!hasCode(e, 'InvalidInstanceID.NotFound')) throw e;
          const unknown = new Set(String((e as Error).message).match(/i-[0-9a-f]+/g) ?? []);
          const rest = batch.filter((id) => !unknown.has(id));
          if (rest.length === batch.length) break;
          batch = rest;
        }
      }
    }
    return out;
  }

  /**
   * Each subnet's network (its glassdome:network tag, else its Name, else its id), asked for the unknown ones; the
   * subnets no machine is on any more are forgotten.
   */
  async function networks(subnetIds: string[], signal?: AbortSignal): Promise<void> {
    const used = new Set(subnetIds);
    for (const id of networkOfSubnet.keys()) if (!used.has(id)) networkOfSubnet.delete(id);
    const missing = [...used].filter((id) => !networkOfSubnet.has(id));
    for (let i = 0; i < missing.length; i += filterValues) {
      // By filter, not SubnetIds: a subnet deleted meanwhile is then left out instead of failing the call.
      const subnets = await describeAll(
        ec2,
        'DescribeSubnets',
        { Filters: [{ Name: 'subnet-id', Values: missing.slice(i, i + filterValues) }] },
        (r) => r.Subnets,
        signal ? { signal } : {},
      );
      for (const s of subnets)
        networkOfSubnet.set(s.SubnetId!, tagValue(s.Tags, tagKeys.network) ?? tagValue(s.Tags, 'Name') ?? s.SubnetId!);
    }
  }

  return async function inventory(opts: InventoryOptions = {}): Promise<InventoryMachine[]> {
    const { signal } = opts;
    const o = signal ? { signal } : {};
    const wanted = opts.deploymentIds ? new Set(opts.deploymentIds) : undefined;
    if (wanted?.size === 0) return [];
    const few = wanted && wanted.size <= filterValues;
    const names = few ? [...wanted].map((d) => `gd-${d}-*`) : ['gd-*'];
    // EC2 joins filters with AND, and its documented filters have no OR across tags: the instances marked by their
    // deployment tag and those named gd-<deployment>-... (whose Name someone may have changed, or whose tags are gone)
    // are two listings, merged. Terminated instances linger in listings for an hour; shutting-down ones are leaving.
    const instances = (filter: Filter) =>
      describeAll(
        ec2,
        'DescribeInstances',
        {
          Filters: [filter, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }],
          MaxResults: instancePage,
        },
        (r) => r.Reservations,
        o,
      );
    const [tagged, named, templates] = await Promise.all([
      instances(
        few
          ? { Name: `tag:${tagKeys.deployment}`, Values: [...wanted] }
          : { Name: 'tag-key', Values: [tagKeys.deployment] },
      ),
      instances({ Name: 'tag:Name', Values: names }),
      // A machine's launch template is named after it.
      describeAll(
        ec2,
        'DescribeLaunchTemplates',
        { Filters: [{ Name: 'launch-template-name', Values: names }], MaxResults: templatePage },
        (r) => r.LaunchTemplates,
        o,
      ),
    ]);
    const listed = new Map<string, Instance>();
    for (const i of [...tagged, ...named].flatMap((r) => r.Instances ?? [])) listed.set(i.InstanceId!, i);

    const found = new Map<string, Found>();
    for (const i of listed.values()) {
      const view = toView(i);
      const owner = ownerOf(i.Tags, view.name);
      if (!owner) continue;
      const prev = found.get(view.name);
      // Two instances of one machine (a launch retried elsewhere): the newest is the machine, as its waits see it.
      if (prev?.view && (prev.view.launchedAt?.getTime() ?? 0) >= (view.launchedAt?.getTime() ?? 0)) continue;
      found.set(view.name, { name: view.name, ...owner, view, instance: i });
    }
    for (const t of templates) {
      const name = t.LaunchTemplateName!;
      const owner = ownerOf(t.Tags, name);
      const have = found.get(name);
      if (have) {
        have.template = t;
        if (owner?.owner === 'tag' && have.owner === 'name') Object.assign(have, owner);
      } else if (owner) found.set(name, { name, ...owner, template: t });
    }
    const ours = [...found.values()].filter((f) => !wanted || wanted.has(f.deploymentId));

    const views = ours.flatMap((f) => (f.view ? [f.view] : []));
    const [types, status] = await Promise.all([
      images.describeTypes([...new Set(views.map((v) => v.type).filter(Boolean))], o),
      opts.guest
        ? statuses(
            views.filter((v) => v.state === 'running').map((v) => v.id),
            signal,
          )
        : undefined,
      opts.config
        ? networks(
            ours.flatMap((f) => (f.instance?.NetworkInterfaces ?? []).flatMap((n) => (n.SubnetId ? [n.SubnetId] : []))),
            signal,
          )
        : undefined,
    ]);
    const sizes = new Map(types.map((t) => [t.type, t]));

    return ours.map((f): InventoryMachine => {
      const v = f.view;
      const base = {
        // The id Glassdome holds for a machine is its launch template's (createMachine's MachineRef).
        id: f.template?.LaunchTemplateId ?? v!.id,
        name: f.name,
        deploymentId: f.deploymentId,
        owner: f.owner,
      };
      if (!v) {
        // Created and never launched: stopped, as getMachineState reports it; its NICs' networks are on its template.
        const nets = (tagValue(f.template?.Tags, tagKeys.networks) ?? '').split(',').filter(Boolean);
        return {
          ...base,
          power: 'stopped',
          addresses: [],
          ...(opts.guest ? { agent: false } : {}),
          ...(opts.config ? { nics: nets.map((network) => ({ network })) } : {}),
        };
      }
      const power = powerOf[v.state] ?? 'stopped';
      const size = sizes.get(v.type);
      return {
        ...base,
        power,
        ...(size ? { cpus: size.vcpus, memoryMb: size.memoryMb, size: size.type } : {}),
        // The private addresses are in the listing itself, whatever was asked.
        addresses: v.state === 'running' ? v.privateIps : [],
        ...(opts.guest ? agentOf(v, status!) : {}),
        ...(opts.config
          ? {
              nics: [...(f.instance!.NetworkInterfaces ?? [])]
                .sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0))
                .map((n) => ({
                  network: networkOfSubnet.get(n.SubnetId ?? '') ?? n.SubnetId ?? '',
                  ...(n.MacAddress ? { mac: n.MacAddress.toLowerCase() } : {}),
                })),
            }
          : {}),
      };
    });
  };
}

/** A stopped guest does not answer; a running one as its status check says, when it says anything. */
function agentOf(v: InstanceView, status: Map<string, InstanceStatus>): { agent?: boolean } {
  if (powerOf[v.state] !== 'running') return { agent: false };
  const a = v.state === 'running' ? answers(status.get(v.id)) : undefined;
  return a === undefined ? {} : { agent: a };
}
