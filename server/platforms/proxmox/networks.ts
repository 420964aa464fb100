// Isolated segments on Proxmox. VLAN mode: a tag on the VLAN-aware bridge, nothing to create, so each segment
// is recorded as an empty resource pool named after it (listable by teardown and the overseer). SDN mode: one
// VNet per segment in a VLAN zone; changes stay pending until PUT /cluster/sdn, which is cluster-wide, synchronous
// and slow, so applies are coalesced: every change made within the debounce window rides on one apply.
import { AppError } from '../../errors.ts';
import type { NetworkRef, NetworkSpec, OwnedResource } from '../platform.ts';
import type { CallOpts, PveClient } from './client.ts';
import type { ProxmoxConfig } from './config.ts';
import { sleep } from '../shared/wait.ts';
import { withRetry } from '../shared/retry.ts';
import { networkId, vnetId } from './vm-config.ts';

const poolComment = 'Glassdome network';

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

  /** Creates the VLAN zone when it is missing; true when that needs an apply. */
  async function ensureZone(zone: string, o: CallOpts): Promise<boolean> {
    const zones = await api.get<Array<{ zone: string }>>('/cluster/sdn/zones', {}, o);
    if (zones.some((z) => z.zone === zone)) return false;
    try {
      await api.post('/cluster/sdn/zones', { zone, type: 'vlan', bridge: config.bridge }, o);
    } catch (e) {
      if (!(e instanceof AppError && /already defined|already exists/.test(e.message))) throw e;
    }
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
      zoneReady ??= ensureZone(net.zone, o).catch((e: unknown) => {
        zoneReady = undefined;
        throw e;
      });
      const zoneNeedsApply = await zoneReady;
      const id = vnetId(spec.name);
      const existing = (await retry(() => vnets(o), o)).find((v) => v.vnet === id);
      if (existing && aliasOf(existing) !== spec.name)
        throw new AppError(
          'conflict',
          `[proxmox] Unable to create network "${spec.name}": SDN VNet ${id} already carries "${aliasOf(existing) ?? 'another network'}"`,
        );
      if (!existing || existing.state === 'deleted') {
        await retry(async () => {
          try {
            await api.post('/cluster/sdn/vnets', { vnet: id, zone: net.zone, tag: vlan, alias: spec.name }, o);
          } catch (e) {
            if (!(e instanceof AppError && /already defined/.test(e.message))) throw e;
          }
        }, o);
      }
      if (zoneNeedsApply || !existing || existing.state !== undefined) await applier!.request(o);
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
      const existing = (await retry(() => vnets(o), o)).find((v) => v.vnet === ref.id);
      if (!existing) return;
      if (existing.state !== 'deleted') {
        await retry(async () => {
          try {
            await api.del(`/cluster/sdn/vnets/${encodeURIComponent(ref.id)}`, {}, o);
          } catch (e) {
            if (!(e instanceof AppError && e.code === 'not_found')) throw e;
          }
        }, o);
      }
      await applier!.request(o);
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
