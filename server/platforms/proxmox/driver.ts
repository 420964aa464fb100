// The Proxmox VE driver: VMs cloned from cloud-init templates over the REST API, isolated networks as VLAN tags or
// SDN VNets, the full first-boot data through snippets or a NoCloud seed ISO (first-boot.ts), state, addresses and
// programs in the guest through the QEMU guest agent, ownership through the `gd-<deployment>` tag.
import { AppError } from '../../errors.ts';
import type { CallOptions, MachineRef, MachineState, OwnedResource, Platform } from '../platform.ts';
import { readCapacity } from './capacity.ts';
import { listSnippets, type SnippetStore } from './cloud-init.ts';
import { causeText, createPveClient, type CallOpts } from './client.ts';
import { createConsole } from './console.ts';
import { proxmoxConfigSchema, type ProxmoxConfig } from './config.ts';
import { checkConnection } from './connection.ts';
import { createFirstBoot, describeDelivery } from './first-boot.ts';
import { createGuest } from './guest.ts';
import { readInventory } from './inventory.ts';
import { createMachines, unable, type VmRow } from './machines.ts';
import { createNetworks } from './networks.ts';
import { withRetry } from '../shared/retry.ts';
import { deploymentTag, parseTags } from './vm-config.ts';

export { proxmoxConfigSchema };

export interface ProxmoxDeps {
  /** The API token secret (auth mode token) or the password (mode password), from the sealed platform record. */
  secret?: string;
}

export type ProxmoxPlatform = Platform & {
  /** Counters for tests and logs: transient errors retried, SDN applies made. */
  stats(): { retries: number; sdnApplies: number };
};

const configId = /^[a-z][a-z0-9_-]{1,39}$/i;

export function createProxmoxPlatform(config: ProxmoxConfig, deps: ProxmoxDeps): ProxmoxPlatform {
  const api = createPveClient(config, deps.secret);
  const snippets: SnippetStore | undefined = config.snippets
    ? { storage: config.snippets.storage, dir: config.snippets.path }
    : undefined;
  const firstBoot = createFirstBoot(api, config);
  const machines = createMachines(api, config, firstBoot);
  const networks = createNetworks(api, config);
  const guest = createGuest(api, config, machines.locate);
  const consoles = createConsole(api, machines.locate);
  const o = (opts?: CallOptions): CallOpts => (opts?.signal ? { signal: opts.signal } : {});
  const vmPath = (r: VmRow) => `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
  const retry = <T>(fn: () => Promise<T>, opts?: CallOptions) => withRetry(config.retry, fn, o(opts));

  async function existing(ref: MachineRef, action: string, opts?: CallOptions): Promise<VmRow> {
    const vm = await machines.locate(ref, o(opts));
    if (!vm) throw new AppError('not_found', `[proxmox] Unable to ${action} VM "${ref.name}": it does not exist`);
    return vm;
  }

  function snapName(ref: MachineRef, name: string): string {
    if (!configId.test(name))
      throw new AppError(
        'invalid_input',
        `[proxmox] Unable to snapshot VM "${ref.name}": "${name}" is not a valid snapshot name`,
        { hint: 'Use 2-40 letters, digits, - or _, starting with a letter.' },
      );
    return name;
  }

  return {
    kind: 'proxmox',
    supports: { snapshots: true, guestExec: true },
    // Clones go to one target storage (linked clones stay on their template's), each limited to this many at once.
    cloneSlots: config.cloneSlotsPerStorage,

    stats: () => ({ retries: machines.retries, sdnApplies: networks.applies }),

    testConnection: (opts) => checkConnection(api, config, firstBoot, o(opts)),

    async firstBootDelivery(opts) {
      try {
        return describeDelivery(await firstBoot.check(o(opts)));
      } catch (e) {
        throw unable('check first-boot delivery of', config.node, e, 'node');
      }
    },

    async capacity(opts) {
      try {
        return await retry(() => readCapacity(api, config, o(opts)), opts);
      } catch (e) {
        throw unable('read the capacity of', config.node, e, 'node');
      }
    },

    async consoleTicket(ref, opts) {
      try {
        return await consoles.ticket(ref, opts);
      } catch (e) {
        throw unable('open the console of', ref.name, e);
      }
    },

    async guestExec(ref, argv, opts) {
      return guest.exec(ref, argv, { ...o(opts), timeoutMs: opts.timeoutMs });
    },

    async ensureNetwork(spec, opts) {
      try {
        return await networks.ensure(spec, o(opts));
      } catch (e) {
        throw unable('create', spec.name, e, 'network');
      }
    },

    async deleteNetwork(ref, opts) {
      try {
        await networks.remove(ref, o(opts));
      } catch (e) {
        throw unable('delete', ref.name, e, 'network');
      }
    },

    createMachine: (spec, opts) => machines.create(spec, o(opts)),
    startMachine: (ref, opts) => machines.start(ref, o(opts)),
    stopMachine: (ref, opts) => machines.stop(ref, opts?.force === true, o(opts)),
    destroyMachine: (ref, opts) => machines.destroy(ref, o(opts)),

    async getMachineState(ref, opts): Promise<MachineState> {
      try {
        const vm = await machines.locate(ref, o(opts));
        if (!vm) return { power: 'missing', addresses: [] };
        const st = await retry(
          () => api.get<{ status: string; qmpstatus?: string }>(`${vmPath(vm)}/status/current`, {}, o(opts)),
          opts,
        );
        const power = st.qmpstatus === 'paused' ? 'paused' : st.status === 'running' ? 'running' : 'stopped';
        return {
          power,
          addresses: power === 'running' ? await guest.addressesNow({ ...vm, status: 'running' }, o(opts)) : [],
        };
      } catch (e) {
        if (e instanceof AppError && /does not exist/.test(causeText(e))) return { power: 'missing', addresses: [] };
        throw unable('read the state of', ref.name, e);
      }
    },

    waitForAddress: (ref, opts) =>
      guest.waitForAddress(ref, {
        ...o(opts),
        timeoutMs: opts.timeoutMs,
        ...(opts.expect ? { expect: opts.expect } : {}),
      }),
    waitForReady: (ref, opts) => guest.waitForReady(ref, { ...o(opts), timeoutMs: opts.timeoutMs }),

    async createSnapshot(ref, name, opts) {
      try {
        const vm = await existing(ref, 'snapshot', opts);
        const snapname = snapName(ref, name);
        await retry(async () => {
          try {
            await api.waitTask(await api.post<string>(`${vmPath(vm)}/snapshot`, { snapname }, o(opts)), o(opts));
          } catch (e) {
            if (e instanceof AppError && /already used/.test(e.message))
              throw new AppError('conflict', `[proxmox] snapshot "${name}" already exists`, { cause: e });
            throw e;
          }
        }, opts);
      } catch (e) {
        throw unable('snapshot', ref.name, e);
      }
    },

    async listSnapshots(ref, opts) {
      try {
        const vm = await existing(ref, 'list snapshots of', opts);
        const rows = await retry(
          () => api.get<Array<{ name: string; snaptime?: number }>>(`${vmPath(vm)}/snapshot`, {}, o(opts)),
          opts,
        );
        // The list always ends with the pseudo-entry `current` ("You are here!").
        return rows
          .filter((r) => r.name !== 'current')
          .map((r) => ({
            name: r.name,
            ...(r.snaptime ? { createdAt: new Date(r.snaptime * 1000).toISOString() } : {}),
          }));
      } catch (e) {
        throw unable('list snapshots of', ref.name, e);
      }
    },

    async revertSnapshot(ref, name, opts) {
      try {
        const vm = await existing(ref, 'revert', opts);
        await retry(
          async () =>
            api.waitTask(
              await api.post<string>(
                `${vmPath(vm)}/snapshot/${encodeURIComponent(snapName(ref, name))}/rollback`,
                {},
                o(opts),
              ),
              o(opts),
            ),
          opts,
        );
      } catch (e) {
        throw unable(`revert to snapshot "${name}"`, ref.name, e);
      }
    },

    async deleteSnapshot(ref, name, opts) {
      try {
        const vm = await machines.locate(ref, o(opts));
        if (!vm) return;
        await retry(async () => {
          try {
            await api.waitTask(
              await api.del<string>(`${vmPath(vm)}/snapshot/${encodeURIComponent(snapName(ref, name))}`, {}, o(opts)),
              o(opts),
            );
          } catch (e) {
            if (!(e instanceof AppError && /does not exist/.test(causeText(e)))) throw e; // already gone: done
          }
        }, opts);
      } catch (e) {
        throw unable(`delete snapshot "${name}" of`, ref.name, e);
      }
    },

    async listOwned(deploymentId, opts): Promise<OwnedResource[]> {
      const tag = deploymentTag(deploymentId);
      const prefix = `gd-${deploymentId}-`;
      try {
        const rows = await machines.resources(o(opts));
        // Tagged VMs, and VMs of the deployment's name that a killed process cloned but never got to tag.
        const vms = rows.filter(
          (r) =>
            !(r.template === 1 || r.template === true) &&
            (parseTags(r.tags).includes(tag) || (r.name ?? '').startsWith(prefix)),
        );
        const nets = await retry(() => networks.owned(deploymentId, o(opts)), opts);
        const files = snippets ? await listSnippets(snippets, prefix) : [];
        // A seed ISO goes with its VM; one whose VM is gone (an interrupted create or destroy) is listed by itself.
        const names = new Set(vms.map((r) => r.name));
        const isos = (await machines.seedIsos(prefix, o(opts))).filter(
          (i) => !names.has(i.file.slice(0, -'-seed.iso'.length)),
        );
        return [
          ...vms
            .sort((a, b) => a.vmid - b.vmid)
            .map((r) => ({ kind: 'machine' as const, id: String(r.vmid), name: r.name ?? `VM ${r.vmid}` })),
          ...nets,
          ...files.map((f) => ({ kind: 'other' as const, id: `${snippets!.storage}:snippets/${f}`, name: f })),
          ...isos.map((i) => ({ kind: 'other' as const, id: i.volid, name: i.file })),
        ];
      } catch (e) {
        throw unable('list resources of', deploymentId, e, 'deployment');
      }
    },

    async inventory(opts) {
      try {
        return await readInventory(api, config, opts);
      } catch (e) {
        throw unable('read the inventory of', config.node, e, 'node');
      }
    },

    async close() {
      api.close();
    },
  };
}
