// Isolated segments on Proxmox. VLAN mode: a tag on the VLAN-aware bridge, nothing to create, so each segment
// is recorded as an empty resource pool named after it (listable by teardown and the overseer). SDN mode: one
// VNet per segment in a VLAN zone; changes stay pending until PUT /cluster/sdn, which is cluster-wide, synchronous
// and slow, so applies are coalesced: every change made within the debounce window rides on one apply. A zone the
// driver created (marked by an empty pool, zones have no comment) goes with the last VNet in it; any other stays.
import { AppError } from '../../errors.ts';
import type { NetworkRef, NetworkSpec, OwnedResource } from '../platform.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import { sleep } from '../shared/wait.ts';
import { withRetry } from '../shared/retry.ts';
import { networkId, vnetId } from './vm-config.ts';

const poolComment = 'Glassdome network';

/** The pool that records that Glassdome created an SDN zone (and may remove it once no VNet is left in it). */
export function zoneMarker(zone: string): string {
  return `glassdome-sdn-zone-${zone}`;
}

export interface Networks {
  ensure(spec: NetworkSpec, o: CallOpts): Promise<NetworkRef>;
  remove(ref: NetworkRef, o: CallOpts): Promise<void>;
  owned(deploymentId: string, o: CallOpts): Promise<OwnedResource[]>;
}

interface VnetRow {
  vnet: string;
  zone?: string;
  tag?: number;
  alias?: string;
  state?: 'new' | 'changed' | 'deleted';
  pending?: { alias?: string; zone?: string; tag?: number };
}

/** One apply for every change requested within `debounceMs`; a change requested during an apply waits for the next. */
export function createSdnApplier(api: PveClient, debounceMs: number, retry: ProxmoxConfig['retry']) {
  let collecting: Promise<void> | undefined;
  let last: Promise<void> = Promise.resolve();
  let applies = 0;
  return {
    /** Resolves once an apply that started after this call has finished. */
    request(o: CallOpts): Promise<void> {
      if (!collecting) {
        const previous = last;
        const self: { batch?: Promise<void> } = {};
        const batch: Promise<void> = (async () => {
          await sleep(debounceMs);
          await previous.catch(() => undefined);
          // From here on, new changes wait for the next apply: this one may already miss them.
          if (collecting === self.batch) collecting = undefined;
          applies++;
          await withRetry(retry, async () => api.waitTask(await api.put<string>('/cluster/sdn')));
        })();
        self.batch = batch;
        batch.catch(() => undefined); // reported to each waiter, not as an unhandled rejection
        collecting = batch;
        last = batch;
      }
      const p = collecting;
      if (!o.signal) return p;
      const signal = o.signal;
      return Promise.race([
        p,
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
      ]);
    },
    get count() {
      return applies;
    },
  };
}

export function createNetworks(api: PveClient, config: ProxmoxConfig): Networks & { readonly applies: number } {
  const net = config.network;
  const applier = net.mode === 'sdn' ? createSdnApplier(api, net.applyDebounceMs, config.retry) : undefined;
  let zoneReady: Promise<boolean> | undefined;
  const retry = <T>(fn: () => Promise<T>, o: CallOpts) => withRetry(config.retry, fn, o);

  const uplink = (): NetworkRef => {
    const bridge = config.uplink.bridge ?? config.bridge;
    return { id: networkId(bridge, config.uplink.vlan), name: networkId(bridge, config.uplink.vlan) };
  };

  // VNet creations run together; the check that removes an empty zone runs alone, after the creations in flight and
  // before any new one, so the last VNet's deletion never removes the zone under a VNet being created. Checks asked
  // for while one waits to start share it (8 deletions: 2 checks, not 8); the slow apply runs outside all of this.
  let creators = 0;
  const creatorsDone: Array<() => void> = [];
  let zoneCheck: Promise<boolean> | undefined;
  let queuedCheck: Promise<boolean> | undefined;

  async function creating<T>(fn: () => Promise<T>): Promise<T> {
    while (zoneCheck) await zoneCheck.catch(() => undefined);
    creators++;
    try {
      return await fn();
    } finally {
      if (--creators === 0) for (const done of creatorsDone.splice(0)) done();
    }
  }

  function checkZone(zone: string, o: CallOpts): Promise<boolean> {
    if (queuedCheck) return queuedCheck;
    const previous = zoneCheck;
    const self: { run?: Promise<boolean> } = {};
    const run = (async () => {
      await previous?.catch(() => undefined);
      if (queuedCheck === self.run) queuedCheck = undefined;
      while (creators > 0) await new Promise<void>((resolve) => creatorsDone.push(resolve));
      return removeZoneIfEmpty(zone, o);
    })();
    self.run = run;
    queuedCheck = run;
    zoneCheck = run;
    void run.then(
      () => (zoneCheck = zoneCheck === run ? undefined : zoneCheck),
      () => (zoneCheck = zoneCheck === run ? undefined : zoneCheck),
    );
    return run;
  }

  const createdPool = async (poolid: string, comment: string, o: CallOpts) => {
    try {
      await api.post('/pools', { poolid, comment }, o);
    } catch (e) {
      if (!(e instanceof AppError && /already exists/.test(e.message))) throw e; // a retry finds it: done
    }
  };

  /** Creates the VLAN zone when it is missing; true when that needs an apply. */
  async function ensureZone(zone: string, o: CallOpts): Promise<boolean> {
    const zones = await retry(() => api.get<Array<{ zone: string }>>('/cluster/sdn/zones', {}, o), o);
    if (zones.some((z) => z.zone === zone)) return false;
    // The marker first: a zone without it would be taken for the administrator's and left behind forever.
    await retry(() => createdPool(zoneMarker(zone), `Glassdome SDN zone ${zone} on ${config.bridge}`, o), o);
    await retry(async () => {
      try {
        await api.post('/cluster/sdn/zones', { zone, type: 'vlan', bridge: config.bridge }, o);
      } catch (e) {
        if (!(e instanceof AppError && /already defined|already exists/.test(e.message))) throw e;
      }
    }, o);
    return true;
  }

  /** Deletes the zone when Glassdome created it and no VNet is left in it; true when that needs an apply. */
  async function removeZoneIfEmpty(zone: string, o: CallOpts): Promise<boolean> {
    const left = (await retry(() => vnets(o), o)).filter(
      (v) => v.state !== 'deleted' && (v.pending?.zone ?? v.zone) === zone,
    );
    if (left.length > 0) return false;
    const pools = await retry(() => api.get<Array<{ poolid: string }>>('/pools', {}, o), o);
    if (!pools.some((p) => p.poolid === zoneMarker(zone))) return false; // not ours: it stays
    zoneReady = undefined;
    const zones = await retry(() => api.get<Array<{ zone: string }>>('/cluster/sdn/zones', {}, o), o);
    if (zones.some((z) => z.zone === zone))
      await retry(async () => {
        try {
          await api.del(`/cluster/sdn/zones/${encodeURIComponent(zone)}`, {}, o);
        } catch (e) {
          if (!(e instanceof AppError && e.code === 'not_found')) throw e;
        }
      }, o);
    await retry(async () => {
      try {
        await api.del('/pools', { poolid: zoneMarker(zone) }, o);
      } catch (e) {
        if (!(e instanceof AppError && e.code === 'not_found')) throw e;
      }
    }, o);
    return true;
  }

  async function vnets(o: CallOpts): Promise<VnetRow[]> {
    return api.get<VnetRow[]>('/cluster/sdn/vnets', { pending: 1 }, o);
  }

  const aliasOf = (v: VnetRow) => v.pending?.alias ?? v.alias;

  return {
    get applies() {
      return applier?.count ?? 0;
    },

    async ensure(spec, o) {
      if (spec.kind === 'uplink') return uplink();
      if (spec.vlan === undefined)
        throw new AppError(
          'invalid_input',
          `[proxmox] Unable to create network "${spec.name}": no VLAN was allocated for it`,
          { hint: 'Isolated networks on Proxmox need a VLAN tag from the pool.' },
        );
      const vlan = spec.vlan;
      if (net.mode === 'vlan') {
        await retry(async () => {
          try {
            await api.post(
              '/pools',
              { poolid: spec.name, comment: `${poolComment} on ${config.bridge} VLAN ${vlan}` },
              o,
            );
          } catch (e) {
            // A retry that finds the pool already there is done.
            if (!(e instanceof AppError && /already exists/.test(e.message))) throw e;
          }
        }, o);
        return { id: networkId(config.bridge, vlan), name: spec.name };
      }
      const zone = net.zone;
      const id = vnetId(spec.name);
      const needsApply = await creating(async () => {
        for (let attempt = 1; ; attempt++) {
          zoneReady ??= ensureZone(zone, o).catch((e: unknown) => {
            zoneReady = undefined;
            throw e;
          });
          const zoneNeedsApply = await zoneReady;
          const existing = (await retry(() => vnets(o), o)).find((v) => v.vnet === id);
          if (existing && aliasOf(existing) !== spec.name)
            throw new AppError(
              'conflict',
              `[proxmox] Unable to create network "${spec.name}": SDN VNet ${id} already carries "${aliasOf(existing) ?? 'another network'}"`,
            );
          try {
            if (!existing || existing.state === 'deleted')
              await retry(async () => {
                try {
                  await api.post('/cluster/sdn/vnets', { vnet: id, zone, tag: vlan, alias: spec.name }, o);
                } catch (e) {
                  if (!(e instanceof AppError && /already defined/.test(e.message))) throw e;
                }
              }, o);
          } catch (e) {
            // Another process removed the (empty) zone since this one made sure of it: make it again, once.
            if (attempt > 1 || !(e instanceof AppError && /zone '[^']*' does(?:n't| not) exist/.test(e.message)))
              throw e;
            zoneReady = undefined;
            continue;
          }
          return zoneNeedsApply || !existing || existing.state !== undefined;
        }
      });
      if (needsApply) await applier!.request(o);
      return { id, name: spec.name };
    },

    async remove(ref, o) {
      if (net.mode === 'vlan') {
        if (!/^gd-/.test(ref.name)) return; // the uplink: nothing of ours
        await retry(async () => {
          try {
            await api.del('/pools', { poolid: ref.name }, o);
          } catch (e) {
            if (!(e instanceof AppError && e.code === 'not_found')) throw e;
          }
        }, o);
        return;
      }
      if (!/^g[0-9a-z]{7}$/.test(ref.id)) return;
      const zone = net.zone;
      const existing = (await retry(() => vnets(o), o)).find((v) => v.vnet === ref.id);
      if (existing && existing.state !== 'deleted') {
        await retry(async () => {
          try {
            await api.del(`/cluster/sdn/vnets/${encodeURIComponent(ref.id)}`, {}, o);
          } catch (e) {
            if (!(e instanceof AppError && e.code === 'not_found')) throw e;
          }
        }, o);
      }
      // Also when the VNet was already gone: an interrupted teardown may have left the zone.
      const zoneRemoved = await checkZone(zone, o);
      if (existing !== undefined || zoneRemoved) await applier!.request(o);
    },

    async owned(deploymentId, o) {
      const prefix = `gd-${deploymentId}-`;
      if (net.mode === 'vlan') {
        const pools = await api.get<Array<{ poolid: string; comment?: string }>>('/pools', {}, o);
        return pools
          .filter((p) => p.poolid.startsWith(prefix) && (p.comment ?? '').startsWith(poolComment))
          .map((p) => ({
            kind: 'network' as const,
            id: networkId(config.bridge, Number(/VLAN (\d+)/.exec(p.comment ?? '')?.[1])),
            name: p.poolid,
          }));
      }
      return (await vnets(o))
        .filter((v) => v.state !== 'deleted' && (aliasOf(v) ?? '').startsWith(prefix))
        .map((v) => ({ kind: 'network' as const, id: v.vnet, name: aliasOf(v)! }));
    },
  };
}
