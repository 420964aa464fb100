// Machines on EC2. Creating one records it, checked and complete, as a launch template named after it (EC2 cannot
// hold a machine that never ran, and a machine must not boot before what it depends on is ready); the first start
// launches the instance from it. A launch short of capacity moves the whole instance (range) to another zone while
// nothing of it runs yet. Readiness is the first-boot line on the instance's console output.
import crypto from 'node:crypto';
import type { RequestLaunchTemplateData, ResponseLaunchTemplateData, RunInstancesRequest } from '@aws-sdk/client-ec2';
import { AppError } from '../../errors.ts';
import { firstBootOutcome, readyMarker, type FirstBootOutcome } from '../../model/first-boot.ts';
import type { CallOptions, MachineRef, MachineSpec, MachineState, PowerState } from '../platform.ts';
import { backoffDelay, isTransient } from '../shared/retry.ts';
import { sleep } from '../shared/wait.ts';
import { copyKey, createCopyBoots, nextReadIn } from './boot-reads.ts';
import { describeAll } from './client.ts';
import { ensureRouterAddress } from './egress.ts';
import { codeOf, hasCode, isCapacity, isNotFound } from './errors.ts';
import type { Images } from './images.ts';
import { groupFor, internetId, type Networks } from './networks.ts';
import { firstAsk, waitForNoInstances, type AwsContext, type Ranges } from './ranges.ts';
import { byTag, liveInstanceStates, rangeOf, tagKeys, tagSpec, tagsOf, tagValue } from './tags.ts';
import { describeMachines, type InstanceView, type Watcher } from './watch.ts';

/** EC2 takes at most 16 KB of user data, before base64. */
export const maxUserDataBytes = 16 * 1024;

interface Template {
  id: string;
  deploymentId: string;
  /** The NICs' networks, in order. */
  networks: string[];
  /** A range router's: the networks whose default route goes through it. */
  routesFor: string[];
  /** A range router's: the VPN's tunnel network, which every network of its instance routes to it. */
  vpnCidr?: string;
  data: RequestLaunchTemplateData | ResponseLaunchTemplateData;
}

const powerOf: Record<string, PowerState> = {
  pending: 'running',
  running: 'running',
  stopping: 'running',
  stopped: 'stopped',
  'shutting-down': 'stopped',
};

export function createMachines(ctx: AwsContext, ranges: Ranges, networks: Networks, images: Images, watcher: Watcher) {
  const { ec2, config } = ctx;
  const templates = new Map<string, Template>();
  /** Machines this process created and has not launched yet: no instance can exist, so a start need not look. */
  const unlaunched = new Set<string>();
  /** Instance types whose console output cannot be asked for with Latest (not Nitro-based). */
  const noLatest = new Set<string>();
  /** When the next console read of this platform may go (reads are spaced to poll.consoleReadsPerSec). */
  let nextRead = 0;
  /** When this process saw RunInstances answer for machines whose first boot has not been seen to end yet. */
  const launchedHere = new Map<string, number>();
  /** When copies of machines were seen ready: their copies' reads are timed on it (boot-reads.ts). */
  const copyBoots = createCopyBoots();

  async function findTemplate(ref: MachineRef, o?: CallOptions): Promise<Template | undefined> {
    const cached = templates.get(ref.name);
    if (cached) return cached;
    let found;
    try {
      found = (await ec2.call('DescribeLaunchTemplates', { LaunchTemplateNames: [ref.name] }, o)).LaunchTemplates?.[0];
    } catch (e) {
      if (isNotFound(e) || hasCode(e, 'InvalidLaunchTemplateName.NotFoundException')) return undefined;
      throw e;
    }
    if (!found) return undefined;
    const v = await ec2.call(
      'DescribeLaunchTemplateVersions',
      { LaunchTemplateId: found.LaunchTemplateId!, Versions: ['$Latest'] },
      o,
    );
    const t: Template = {
      id: found.LaunchTemplateId!,
      deploymentId: tagValue(found.Tags, tagKeys.deployment) ?? '',
      networks: (tagValue(found.Tags, tagKeys.networks) ?? '').split(',').filter(Boolean),
      routesFor: (tagValue(found.Tags, tagKeys.routes) ?? '').split(',').filter(Boolean),
      ...(tagValue(found.Tags, tagKeys.vpn) ? { vpnCidr: tagValue(found.Tags, tagKeys.vpn)! } : {}),
      data: v.LaunchTemplateVersions?.[0]?.LaunchTemplateData ?? {},
    };
    templates.set(ref.name, t);
    return t;
  }

  /** Whether the machine's template exists, asked of EC2 (the instance's teardown may have taken it). */
  async function exists(name: string, o?: CallOptions): Promise<{ id: string } | undefined> {
    try {
      const t = (await ec2.call('DescribeLaunchTemplates', { LaunchTemplateNames: [name] }, o)).LaunchTemplates?.[0];
      if (t) return { id: t.LaunchTemplateId! };
    } catch (e) {
      if (!isNotFound(e) && !hasCode(e, 'InvalidLaunchTemplateName.NotFoundException')) throw e;
    }
    templates.delete(name);
    unlaunched.delete(name);
    return undefined;
  }

  async function current(name: string, o?: CallOptions): Promise<InstanceView | undefined> {
    return (await describeMachines(ec2, [name], o)).get(name);
  }

  /** Waits until the machine's instance is in one of `states` (or gone, when `gone`); false at the deadline. */
  async function waitState(
    ref: MachineRef,
    states: string[],
    timeoutMs: number,
    o?: CallOptions,
    gone = false,
  ): Promise<{ done: boolean; last: InstanceView | undefined }> {
    return watcher.until(ref.name, (v) => (v ? states.includes(v.state) : gone), {
      timeoutMs,
      ...(o?.signal ? { signal: o.signal } : {}),
    });
  }

  async function launch(ref: MachineRef, t: Template, o?: CallOptions): Promise<void> {
    const rn = rangeOf(t.deploymentId, ref.name);
    const type = String(t.data.InstanceType);
    let staleRetried = false;
    // Bounded: each capacity failure moves the range to a zone it has not been in, and there are few zones.
    for (let attempt = 0; attempt < 12; attempt++) {
      const nets = await Promise.all(t.networks.map((n) => networks.lookup(n, t.deploymentId, o)));
      const subnets = nets.map((n) => n.subnetId);
      const params = runParams(t, subnets);
      try {
        await ctx.lock(rn.name, () => runOnce(ref, params, o), o?.signal);
        if (t.routesFor.length > 0 || t.vpnCidr) await routeThrough(ref, t, o);
        return;
      } catch (e) {
        if (isCapacity(e)) {
          const zone = nets[0]?.zone ?? '';
          const move = await ctx.lock(rn.name, () => ranges.moveUnlocked(rn, zone, type, o), o?.signal);
          networks.forgetRange(rn.name);
          if (move.moved) continue;
          throw new AppError(
            'transient',
            `[aws] ${codeOf(e)} for ${type} in ${zone}, and the instance cannot move to another zone: ${move.why}`,
            {
              cause: e,
              hint: 'AWS frees capacity over time: the start is retried. Or choose another instance type (platform.aws.instanceType).',
            },
          );
        }
        if (!staleRetried && hasCode(e, 'InvalidSubnetID.NotFound')) {
          // The range moved zones under us (another machine's launch): look its subnets up again.
          staleRetried = true;
          networks.forgetRange(rn.name);
          continue;
        }
        throw e;
      }
    }
    throw new AppError('platform_error', `[aws] Gave up launching after moving through every zone of ${config.region}`);
  }

  /**
   * Terminates an instance by its id, when it is live and its Name is still `ref.name` (the `gd-<deployment>-` name
   * that made the inventory report it), and waits until EC2 has; anything else named so is left alone, and said.
   */
  async function destroyNamedOnly(ref: MachineRef, o?: CallOptions): Promise<void> {
    const byId = { Filters: [{ Name: 'instance-id', Values: [ref.id] }] };
    const inst = (
      await describeAll(
        ec2,
        'DescribeInstances',
        { ...byId, Filters: [...byId.Filters, liveInstanceStates] },
        (r) => r.Reservations,
        o,
      )
    ).flatMap((r) => r.Instances ?? [])[0];
    if (!inst) return;
    const name = tagValue(inst.Tags, 'Name');
    if (name !== ref.name)
      throw new AppError(
        'conflict',
        `[aws] Instance ${ref.id} is now named "${name ?? ''}", not "${ref.name}": left alone`,
        {
          hint: 'It was renamed since the inventory saw it; look at it in the EC2 console.',
        },
      );
    if (inst.State?.Name !== 'shutting-down') {
      try {
        await ec2.call('TerminateInstances', { InstanceIds: [ref.id] }, o);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    await waitForNoInstances(ctx, byId.Filters, `Instance ${ref.id} ("${ref.name}")`, o);
  }

  /**
   * A range router, once launched: its interface stops checking source and destination (it forwards the lab's
   * traffic), and the default route of the networks it serves points at that interface. Idempotent; done on every
   * start the executor asks for, so a router launched again (a new interface) takes its routes back.
   */
  async function routeThrough(
    ref: MachineRef,
    r: Pick<Template, 'deploymentId' | 'networks' | 'routesFor' | 'vpnCidr'>,
    o?: CallOptions,
  ): Promise<void> {
    const seen = await watcher.until(ref.name, (v) => v?.primaryEni !== undefined, {
      timeoutMs: config.timeouts.callMs,
      ...(o?.signal ? { signal: o.signal } : {}),
    });
    const eni = seen.last?.primaryEni;
    if (!eni)
      throw new AppError('transient', `[aws] Range router "${ref.name}" has no network interface yet`, {
        hint: 'EC2 attaches it at launch; the start is retried.',
      });
    await ec2.call(
      'ModifyNetworkInterfaceAttribute',
      { NetworkInterfaceId: eni, SourceDestCheck: { Value: false } },
      { ...o, urgent: true },
    );
    await Promise.all(r.routesFor.map((n) => networks.routeVia(n, eni, o)));
    if (config.routerAddress === 'elastic')
      await ensureRouterAddress(ctx, rangeOf(r.deploymentId, ref.name), ref.name, eni, o);
    const tunnel = r.vpnCidr;
    if (!tunnel) return;
    // The VPN's peers are answered through the router from every network of the instance but its own.
    const all = await networks.rangeNetworks(rangeOf(r.deploymentId, ref.name), o);
    await Promise.all(all.filter((n) => !r.networks.includes(n)).map((n) => networks.routeVia(n, eni, o, tunnel)));
  }

  /**
   * RunInstances, retried on throttling and lost answers; before each retry the machine's instance is looked for by
   * its tag, so an instance whose answer was lost is found, not launched again (the ClientToken does the same on EC2,
   * for as long as EC2 keeps it).
   */
  async function runOnce(ref: MachineRef, params: RunInstancesRequest, o?: CallOptions): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await ec2.call('RunInstances', params, { ...o, retry: false, urgent: true });
        launchedHere.set(ref.name, Date.now());
        return;
      } catch (e) {
        if (!isTransient(e) || isCapacity(e) || attempt >= config.retry.attempts) throw e;
        await sleep(backoffDelay(attempt, config.retry), o?.signal);
        if (await current(ref.name, o)) return;
      }
    }
  }

  async function consoleText(v: InstanceView, o?: CallOptions): Promise<string> {
    const now = Date.now();
    const at = Math.max(now, nextRead);
    nextRead = at + 1000 / config.poll.consoleReadsPerSec;
    if (at > now) await sleep(at - now, o?.signal);
    const latest = !noLatest.has(v.type);
    try {
      const r = await ec2.call(
        'GetConsoleOutput',
        { InstanceId: v.id, ...(latest ? { Latest: true } : {}) },
        { ...o, urgent: true },
      );
      return Buffer.from(r.Output ?? '', 'base64').toString('utf8');
    } catch (e) {
      // Only Nitro-based types give the latest output; the others answer with an error and their buffered output.
      if (
        latest &&
        (hasCode(e, 'UnsupportedOperation') ||
          (e instanceof AppError && e.code === 'invalid_input' && /latest/i.test(e.message)))
      ) {
        noLatest.add(v.type);
        return consoleText(v, o);
      }
      throw e;
    }
  }

  return {
    async create(spec: MachineSpec, o?: CallOptions): Promise<MachineRef> {
      // Whether it exists, and what it would be made of, asked at once: the second answer is cached for the next.
      // In a VPC this process made, a machine asked for the first time cannot have a template yet.
      const rn = rangeOf(spec.deploymentId, spec.name);
      const unseen = firstAsk(ranges.known(rn.name), `machine:${spec.name}`);
      const [existing, typed] = await Promise.all([
        unseen ? undefined : exists(spec.name, o),
        images.instanceType(spec, o).then(
          (type) => ({ type }),
          (error: unknown) => ({ error }),
        ),
      ]);
      if (existing) return { id: existing.id, name: spec.name };
      if ('error' in typed) throw typed.error;
      const { type } = typed;
      const userData = spec.cloudInit?.userData;
      if (userData && Buffer.byteLength(userData) > maxUserDataBytes)
        throw new AppError(
          'invalid_input',
          `[aws] its first-boot user data is ${Buffer.byteLength(userData)} bytes; EC2 takes at most ${maxUserDataBytes}`,
          { hint: 'Move large files out of the scenario (fetch them at first boot), or bake them into the image.' },
        );
      if (spec.nics.length === 0) throw new AppError('invalid_input', '[aws] a machine needs at least one network');
      const routesFor = spec.routesFor ?? [];
      if ((routesFor.length > 0 || spec.vpnCidr) && spec.nics.length !== 1)
        throw new AppError(
          'invalid_input',
          '[aws] a range router has exactly one network interface, on its edge network',
        );
      if (spec.nics.some((n) => n.network.id === internetId))
        throw new AppError(
          'invalid_input',
          "[aws] a NIC on the platform's outside network: on AWS, give the machine a network with internet instead",
          { hint: 'Set internet: true on one of its scenario networks.' },
        );
      const image = await images.image(spec, type, o);
      const nets = await Promise.all(spec.nics.map((n) => networks.lookup(n.network.name, spec.deploymentId, o)));
      if (new Set(nets.map((n) => n.vpcId)).size > 1)
        throw new AppError('invalid_input', '[aws] its NICs are on networks of different lab instances');
      const keyName = spec.sshPublicKey ? await ranges.ensureKeyPair(rn, spec.sshPublicKey, o) : undefined;
      const tags = tagsOf(rn, spec.name, { [tagKeys.machine]: spec.name });
      const data: RequestLaunchTemplateData = {
        ImageId: image.id,
        InstanceType: type.type as RequestLaunchTemplateData['InstanceType'],
        ...(keyName ? { KeyName: keyName } : {}),
        ...(userData ? { UserData: Buffer.from(userData).toString('base64') } : {}),
        NetworkInterfaces: spec.nics.map((nic, i) => ({
          DeviceIndex: i,
          SubnetId: nets[i]!.subnetId,
          Groups: [groupFor(nets[i]!, nic.ip)],
          ...(nic.ip ? { PrivateIpAddress: nic.ip } : {}),
          // EC2 gives a public address at launch only to a machine with a single NIC.
          ...(i === 0 && nets.length === 1 && nets[0]!.publicAddresses ? { AssociatePublicIpAddress: true } : {}),
          DeleteOnTermination: true,
        })),
        BlockDeviceMappings: [
          {
            DeviceName: image.rootDevice,
            Ebs: { VolumeSize: Math.max(spec.diskGb, image.rootGb), VolumeType: 'gp3', DeleteOnTermination: true },
          },
        ],
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        TagSpecifications: (['instance', 'volume', 'network-interface'] as const).map((t) => tagSpec(t, tags)),
      };
      const networkNames = spec.nics.map((n) => n.network.name);
      let id: string;
      try {
        const r = await ec2.call(
          'CreateLaunchTemplate',
          {
            LaunchTemplateName: spec.name,
            ClientToken: crypto
              .createHash('sha256')
              .update(`${spec.deploymentId}/${spec.name}`)
              .digest('hex')
              .slice(0, 64),
            LaunchTemplateData: data,
            TagSpecifications: [
              tagSpec('launch-template', [
                ...tags,
                { Key: tagKeys.networks, Value: networkNames.join(',') },
                ...(routesFor.length > 0 ? [{ Key: tagKeys.routes, Value: routesFor.join(',') }] : []),
                ...(spec.vpnCidr ? [{ Key: tagKeys.vpn, Value: spec.vpnCidr }] : []),
              ]),
            ],
          },
          o,
        );
        id = r.LaunchTemplate!.LaunchTemplateId!;
      } catch (e) {
        if (!hasCode(e, 'InvalidLaunchTemplateName.AlreadyExistsException')) throw e;
        const again = await exists(spec.name, o);
        if (!again) throw e;
        return { id: again.id, name: spec.name };
      }
      templates.set(spec.name, {
        id,
        deploymentId: spec.deploymentId,
        networks: networkNames,
        routesFor,
        ...(spec.vpnCidr ? { vpnCidr: spec.vpnCidr } : {}),
        data,
      });
      unlaunched.add(spec.name);
      return { id, name: spec.name };
    },

    async start(ref: MachineRef, o?: CallOptions & { spec?: MachineSpec }): Promise<void> {
      const cached = templates.get(ref.name);
      if (cached && unlaunched.has(ref.name)) {
        await launch(ref, cached, o);
        unlaunched.delete(ref.name);
        return;
      }
      const v = await current(ref.name, o);
      // A resumed deployment's router may have launched without its routes being set: set them (idempotent).
      const spec = o?.spec;
      const router =
        spec && (spec.routesFor?.length || spec.vpnCidr)
          ? {
              deploymentId: spec.deploymentId,
              networks: spec.nics.map((n) => n.network.name),
              routesFor: spec.routesFor ?? [],
              ...(spec.vpnCidr ? { vpnCidr: spec.vpnCidr } : {}),
            }
          : undefined;
      if (v && router && (v.state === 'pending' || v.state === 'running')) await routeThrough(ref, router, o);
      if (v) {
        if (v.state === 'pending' || v.state === 'running') return;
        if (v.state === 'shutting-down')
          throw new AppError('transient', `[aws] VM "${ref.name}" is being terminated (${v.id})`, {
            hint: 'It is being destroyed; start it again once that is done.',
          });
        if (v.state === 'stopping') await waitState(ref, ['stopped'], config.timeouts.shutdownMs, o, true);
        try {
          await ec2.call('StartInstances', { InstanceIds: [v.id] }, { ...o, urgent: true });
        } catch (e) {
          if (!hasCode(e, 'IncorrectInstanceState')) throw e;
          throw new AppError('transient', `[aws] VM "${ref.name}" cannot be started yet (${v.id}, ${v.state})`, {
            cause: e,
          });
        }
        // A router started again keeps its interface; its address and routes are checked all the same.
        if (router) await routeThrough(ref, router, o);
        return;
      }
      const t = await findTemplate(ref, o);
      if (!t) throw new AppError('not_found', `[aws] VM "${ref.name}" does not exist`);
      await launch(ref, t, o);
    },

    async stop(ref: MachineRef, force: boolean, o?: CallOptions): Promise<void> {
      let v = await current(ref.name, o);
      if (v?.state === 'pending')
        v = (await waitState(ref, ['running', 'stopped', 'stopping'], config.timeouts.shutdownMs, o, true)).last;
      if (!v || v.state === 'stopped' || v.state === 'shutting-down') return;
      const stopAndWait = async (hard: boolean, timeoutMs: number) => {
        try {
          await ec2.call('StopInstances', { InstanceIds: [v!.id], ...(hard ? { Force: true } : {}) }, o);
        } catch (e) {
          if (!hasCode(e, 'IncorrectInstanceState')) throw e;
        }
        return (await waitState(ref, ['stopped', 'shutting-down'], timeoutMs, o, true)).done;
      };
      if (v.state !== 'stopping' && (await stopAndWait(force, config.timeouts.shutdownMs))) return;
      if (
        v.state === 'stopping' &&
        (await waitState(ref, ['stopped', 'shutting-down'], config.timeouts.shutdownMs, o, true)).done
      )
        return;
      if (!(await stopAndWait(true, config.timeouts.terminateMs)))
        throw new AppError(
          'timeout',
          `[aws] VM "${ref.name}" (${v.id}) did not stop within ${Math.round((config.timeouts.shutdownMs + config.timeouts.terminateMs) / 1000)} s`,
        );
    },

    async state(ref: MachineRef, o?: CallOptions): Promise<MachineState> {
      const v = await current(ref.name, o);
      if (v) {
        const power = powerOf[v.state] ?? 'stopped';
        // The public address too, where it has one: a VPN's peers reach the range router there.
        return {
          power,
          addresses: v.state === 'running' ? [...v.privateIps, ...(v.publicIp ? [v.publicIp] : [])] : [],
        };
      }
      return (await exists(ref.name, o)) ? { power: 'stopped', addresses: [] } : { power: 'missing', addresses: [] };
    },

    async waitForAddress(
      ref: MachineRef,
      o: CallOptions & { timeoutMs: number; expect?: string[] },
    ): Promise<string[]> {
      const expected = o.expect ?? [];
      const r = await watcher.until(
        ref.name,
        (v) => v?.state === 'running' && v.privateIps.length > 0 && expected.every((a) => v.privateIps.includes(a)),
        o,
      );
      if (r.done && r.last) return r.last.privateIps;
      const missing = expected.filter((a) => !r.last?.privateIps.includes(a));
      if (r.last?.state === 'running' && r.last.privateIps.length > 0 && missing.length > 0)
        throw new AppError(
          'timeout',
          `[aws] VM "${ref.name}" did not report its planned address ${missing.join(', ')} within ${Math.round(o.timeoutMs / 1000)} s; it reports ${r.last.privateIps.join(', ')}`,
        );
      if (!r.last && !(await exists(ref.name, o)))
        throw new AppError('not_found', `[aws] VM "${ref.name}" does not exist`);
      throw new AppError(
        'timeout',
        `[aws] VM "${ref.name}" did not reach running with an address within ${Math.round(o.timeoutMs / 1000)} s (${r.last ? `${r.last.id} is ${r.last.state}` : 'no instance: it was never started'})`,
        {
          hint: 'Look at the instance in the EC2 console (its state reason says why it did not start).',
        },
      );
    },

    async waitForReady(ref: MachineRef, o: CallOptions & { timeoutMs: number }): Promise<void> {
      const deadline = Date.now() + o.timeoutMs;
      const up = await watcher.until(ref.name, (v) => v?.state === 'running', o);
      if (!up.done || !up.last)
        throw new AppError(
          'timeout',
          `[aws] VM "${ref.name}" was not running within ${Math.round(o.timeoutMs / 1000)} s (${up.last ? up.last.state : 'no instance'})`,
        );
      const v = up.last;
      // EC2's LaunchTime is to the second: the time this process launched it is closer, when it did.
      const mine = launchedHere.get(ref.name);
      const launched = mine ?? Math.min(Date.now(), v.launchedAt?.getTime() ?? Date.now());
      const copies = copyKey(ref.name, v.type, v.image);
      let outcome: FirstBootOutcome;
      let now: number;
      for (;;) {
        const sent = Date.now();
        outcome = firstBootOutcome(await consoleText(v, o), ref.name);
        now = Date.now();
        if (outcome || now >= deadline) break;
        const next = (t: number) => t + nextReadIn(t - launched, sent - launched, config.poll, copyBoots.get(copies));
        let at = next(now);
        // A copy seen ready meanwhile may bring the read forward.
        while (await copyBoots.wait(copies, Math.min(at, deadline) - Date.now(), o.signal))
          at = Math.min(at, next(Date.now()));
      }
      if (outcome?.state === 'ready') {
        if (mine !== undefined) copyBoots.seen(copies, now - mine);
        launchedHere.delete(ref.name);
        return;
      }
      if (outcome?.state === 'failed')
        throw new AppError('platform_error', `[aws] VM "${ref.name}" failed its first boot: ${outcome.reason}`, {
          hint: "The reason comes from the machine's own checks; its console output (EC2 > Get system log) has the details.",
        });
      const last = await current(ref.name, o).catch(() => undefined);
      throw new AppError(
        'timeout',
        `[aws] VM "${ref.name}" did not report the end of its first boot within ${Math.round(o.timeoutMs / 1000)} s: its console output has no "${readyMarker} ${ref.name}" line (${v.id}, ${last?.state ?? 'gone'})`,
        {
          hint: "EC2 refreshes the console output of older (non-Nitro) instance types only every few minutes; otherwise check the machine's console output and cloud-init's log.",
        },
      );
    },

    async destroy(ref: MachineRef, o?: CallOptions): Promise<void> {
      const found = (
        await describeAll(
          ec2,
          'DescribeInstances',
          { Filters: [byTag(tagKeys.machine, ref.name), liveInstanceStates] },
          (r) => r.Reservations,
          o,
        )
      ).flatMap((r) => r.Instances ?? []);
      // An orphan only its Name says is Glassdome's (the inventory's owner 'name'), asked for by its instance id.
      if (found.length === 0 && /^i-[0-9a-f]+$/.test(ref.id)) {
        await destroyNamedOnly(ref, o);
        return;
      }
      const live = found.filter((i) => i.State?.Name !== 'shutting-down').map((i) => i.InstanceId!);
      if (live.length) {
        try {
          await ec2.call('TerminateInstances', { InstanceIds: live }, o);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      if (found.length) {
        const r = await waitState(ref, [], config.timeouts.terminateMs, o, true);
        if (!r.done)
          throw new AppError(
            'timeout',
            `[aws] VM "${ref.name}" did not terminate within ${Math.round(config.timeouts.terminateMs / 1000)} s (${r.last?.id}, ${r.last?.state})`,
          );
      }
      // The template goes last: while it exists, the machine is still listed, so an interrupted destroy is redone.
      const t = await exists(ref.name, o);
      templates.delete(ref.name);
      unlaunched.delete(ref.name);
      launchedHere.delete(ref.name);
      if (!t) return;
      try {
        await ec2.call('DeleteLaunchTemplate', { LaunchTemplateId: t.id }, o);
      } catch (e) {
        if (!isNotFound(e) && !hasCode(e, 'InvalidLaunchTemplateName.NotFoundException')) throw e;
      }
    },
  };
}

export type Machines = ReturnType<typeof createMachines>;

/** RunInstances for a machine: its template's settings, on the subnets its networks have now. */
function runParams(t: Template, subnets: string[]): RunInstancesRequest {
  const d = t.data;
  const nics = (d.NetworkInterfaces ?? []).map((n, i) => ({
    DeviceIndex: n.DeviceIndex ?? i,
    SubnetId: subnets[i] ?? n.SubnetId,
    Groups: n.Groups,
    ...(n.PrivateIpAddress ? { PrivateIpAddress: n.PrivateIpAddress } : {}),
    ...(n.AssociatePublicIpAddress ? { AssociatePublicIpAddress: true } : {}),
    DeleteOnTermination: true,
  }));
  return {
    // EC2 applies the template; the same settings are given outright too, since emulators (moto) read only a few.
    LaunchTemplate: { LaunchTemplateId: t.id, Version: '$Latest' },
    ImageId: d.ImageId,
    InstanceType: d.InstanceType,
    MinCount: 1,
    MaxCount: 1,
    // The same launch asked twice (a lost answer, a resumed run) gives the same instance; another zone is another launch.
    ClientToken: crypto
      .createHash('sha256')
      .update(`${t.id}/${subnets.join(',')}`)
      .digest('hex')
      .slice(0, 64),
    ...(d.KeyName ? { KeyName: d.KeyName } : {}),
    ...(d.UserData ? { UserData: d.UserData } : {}),
    NetworkInterfaces: nics,
    BlockDeviceMappings: (d.BlockDeviceMappings ?? []).map((b) => ({
      DeviceName: b.DeviceName,
      Ebs: { VolumeSize: b.Ebs?.VolumeSize, VolumeType: b.Ebs?.VolumeType, DeleteOnTermination: true },
    })),
    MetadataOptions: {
      HttpTokens: d.MetadataOptions?.HttpTokens ?? 'required',
      HttpEndpoint: d.MetadataOptions?.HttpEndpoint ?? 'enabled',
    },
    TagSpecifications: (d.TagSpecifications ?? []).map((s) => ({ ResourceType: s.ResourceType, Tags: s.Tags })),
  };
}
