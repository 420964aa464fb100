// Waiting on instances without one API call per machine per poll: every waiter of the driver is served by one
// DescribeInstances per tick (up to 200 machines a call), filtered by the machines' tags.
import type { Instance } from '@aws-sdk/client-ec2';
import { AppError } from '../../errors.ts';
import { describeAll, type Ec2 } from './client.ts';
import { byTag, liveInstanceStates, tagKeys, tagValue } from './tags.ts';

export interface InstanceView {
  id: string;
  name: string;
  /** pending, running, stopping, stopped, shutting-down. */
  state: string;
  privateIps: string[];
  zone: string;
  type: string;
  image: string;
  launchedAt?: Date;
  /** The network interface at device index 0, once EC2 has attached it. */
  primaryEni?: string;
  /** The instance's public IPv4 address, when it has one. */
  publicIp?: string;
  /** Whether that interface checks source and destination (EC2's default is true). */
  sourceDestCheck?: boolean;
}

interface Waiter {
  name: string;
  test: (v: InstanceView | undefined) => boolean;
  deadline: number;
  resolve: (r: { done: boolean; last: InstanceView | undefined }) => void;
  reject: (e: unknown) => void;
}

export function toView(i: Instance): InstanceView {
  const nics = (i.NetworkInterfaces ?? []).sort(
    (a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0),
  );
  const ips = nics
    .flatMap((n) => (n.PrivateIpAddresses ?? [{ PrivateIpAddress: n.PrivateIpAddress }]).map((p) => p.PrivateIpAddress))
    .filter((ip): ip is string => !!ip);
  return {
    id: i.InstanceId!,
    name: tagValue(i.Tags, tagKeys.machine) ?? tagValue(i.Tags, 'Name') ?? i.InstanceId!,
    state: i.State?.Name ?? 'pending',
    privateIps: ips.length ? [...new Set(ips)] : i.PrivateIpAddress ? [i.PrivateIpAddress] : [],
    zone: i.Placement?.AvailabilityZone ?? '',
    type: i.InstanceType ?? '',
    image: i.ImageId ?? '',
    ...(i.LaunchTime ? { launchedAt: i.LaunchTime } : {}),
    ...(i.PublicIpAddress ? { publicIp: i.PublicIpAddress } : {}),
    ...(nics[0]?.NetworkInterfaceId
      ? {
          primaryEni: nics[0].NetworkInterfaceId,
          sourceDestCheck: nics[0].SourceDestCheck ?? i.SourceDestCheck ?? true,
        }
      : {}),
  };
}

/** The live instance of each machine name (the newest, should there be several). */
export async function describeMachines(
  ec2: Ec2,
  names: string[],
  o?: { signal?: AbortSignal; urgent?: boolean },
): Promise<Map<string, InstanceView>> {
  const out = new Map<string, InstanceView>();
  for (let i = 0; i < names.length; i += 200) {
    const chunk = names.slice(i, i + 200);
    const rs = await describeAll(
      ec2,
      'DescribeInstances',
      { Filters: [byTag(tagKeys.machine, ...chunk), liveInstanceStates] },
      (r) => r.Reservations,
      o,
    );
    for (const inst of rs.flatMap((r) => r.Instances ?? [])) {
      const v = toView(inst);
      const prev = out.get(v.name);
      if (!prev || (v.launchedAt?.getTime() ?? 0) > (prev.launchedAt?.getTime() ?? 0)) out.set(v.name, v);
    }
  }
  return out;
}

/** A new waiter is looked at within this much of the last look, not a whole tick later (ms). */
const soonMs = 250;

export function createWatcher(ec2: Ec2, tickMs: number) {
  const waiters = new Set<Waiter>();
  /** The last state seen of each machine a waiter asked for, and when: a fresh one answers a new waiter at once. */
  const seen = new Map<string, { at: number; view: InstanceView | undefined }>();
  let timer: NodeJS.Timeout | undefined;
  let timerAt = 0;
  let lastTick = 0;
  let closed = false;
  let running = false;

  function schedule(ms: number) {
    if (running || closed || waiters.size === 0) return;
    const at = Date.now() + ms;
    if (timer && timerAt <= at) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      void tick();
    }, ms);
  }

  async function tick() {
    const batch = [...waiters];
    if (batch.length === 0) return;
    let views: Map<string, InstanceView>;
    running = true;
    lastTick = Date.now();
    try {
      views = await describeMachines(ec2, [...new Set(batch.map((w) => w.name))], { urgent: true });
    } catch (e) {
      for (const w of batch) {
        waiters.delete(w);
        w.reject(e);
      }
      return;
    } finally {
      running = false;
      schedule(tickMs);
    }
    const now = Date.now();
    for (const w of batch) seen.set(w.name, { at: lastTick, view: views.get(w.name) });
    for (const w of batch) {
      if (!waiters.has(w)) continue;
      const v = views.get(w.name);
      let done: boolean;
      try {
        done = w.test(v);
      } catch (e) {
        waiters.delete(w);
        w.reject(e);
        continue;
      }
      if (done || now >= w.deadline) {
        waiters.delete(w);
        w.resolve({ done, last: v });
      }
    }
    for (const [name, x] of seen)
      if (now - x.at > tickMs && ![...waiters].some((w) => w.name === name)) seen.delete(name);
  }

  return {
    /**
     * Resolves when `test` accepts the machine's live instance (undefined when it has none), or at the deadline
     * with `done: false` and the last state seen. `test` may throw to end the wait with that error.
     */
    until(
      name: string,
      test: (v: InstanceView | undefined) => boolean,
      o: { timeoutMs: number; signal?: AbortSignal },
    ): Promise<{ done: boolean; last: InstanceView | undefined }> {
      if (closed) return Promise.reject(new AppError('platform_error', '[aws] The driver is closed'));
      return new Promise((resolve, reject) => {
        const signal = o.signal;
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = () => {
          waiters.delete(w);
          reject(signal!.reason);
        };
        const w: Waiter = {
          name,
          test,
          deadline: Date.now() + o.timeoutMs,
          resolve: (r) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
          reject: (e) => {
            signal?.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
        // What the last tick saw, if it is recent and already enough (the address, then readiness, of one machine).
        const fresh = seen.get(name);
        if (fresh && Date.now() - fresh.at < tickMs) {
          try {
            if (test(fresh.view)) return resolve({ done: true, last: fresh.view });
          } catch (e) {
            return reject(e);
          }
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.add(w);
        // Looked at soon (new waiters arriving together share the call), yet no more often than every soonMs.
        schedule(Math.max(50, lastTick + soonMs - Date.now()));
      });
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const w of waiters) w.reject(new AppError('platform_error', '[aws] The driver was closed while waiting'));
      waiters.clear();
    },
  };
}

export type Watcher = ReturnType<typeof createWatcher>;
