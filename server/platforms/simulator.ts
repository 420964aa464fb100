// The built-in simulator: a real platform modelled on a Proxmox node, not a test double. Operations are tasks with
// seeded, reproducible durations (divided by a speed factor); clones per storage are bounded; capacity is finite;
// faults can be injected; the inventory lives in SQLite, so a restarted process sees the machines it had and
// clones that were running finish on time, as they would on a hypervisor.
import crypto from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { simMachines, simNetworks } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { sleep } from './shared/wait.ts';
import { runSimulatedGuest, type SimulatedGuestState } from './simulated-guest.ts';
import type {
  CallOptions,
  InventoryMachine,
  MachineRef,
  MachineSpec,
  MachineState,
  NetworkRef,
  NetworkSpec,
  OwnedResource,
  Platform,
} from './platform.ts';

const range = z
  .tuple([z.number().nonnegative(), z.number().nonnegative()])
  .refine(([a, b]) => a <= b, 'expected [min, max] with min <= max');

export const simulatorConfigSchema = z.strictObject({
  speed: z
    .number()
    .positive()
    .default(20)
    .describe('How much faster than real time simulated work runs: 1 is real time, 20 turns a minute into 3 s.'),
  callLatencyMs: z
    .number()
    .min(0)
    .max(10_000)
    .default(0)
    .describe(
      "Real milliseconds each API call takes before it is answered (not divided by speed): a remote hypervisor's RTT.",
    ),
  seed: z
    .number()
    .int()
    .default(1)
    .describe('Seed of the random durations and faults: the same seed gives the same run.'),
  storages: z
    .array(z.string().min(1))
    .min(1)
    .default(['local-lvm'])
    .describe('Storage names offered to deployments, comma-separated.'),
  // Two, as the Proxmox driver defaults to: more concurrent clones per storage make a real Proxmox storage lock time out.
  cloneSlotsPerStorage: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe('Clones one storage runs at once, like a Proxmox storage lock (1-64).'),
  onCloneBusy: z
    .enum(['wait', 'fail'])
    .default('wait')
    .describe('When every clone slot is busy: wait for one, or fail after the lock timeout as Proxmox does.'),
  lockTimeoutSec: z
    .number()
    .positive()
    .default(60)
    .describe('Seconds a clone waits for a busy storage before failing (with "fail").'),
  capacity: z
    .strictObject({
      cpus: z.number().int().min(1).default(512),
      memoryMb: z
        .number()
        .int()
        .min(256)
        .default(2 * 1024 * 1024),
    })
    .default({ cpus: 512, memoryMb: 2 * 1024 * 1024 })
    .describe('What the simulated cluster can hold, as JSON: {"cpus": 512, "memoryMb": 2097152}.'),
  faults: z
    .strictObject({
      /** Probability that a call fails with a transient error, a lock timeout, or a rate-limit answer. */
      transient: z.number().min(0).max(1).default(0),
      lockTimeout: z.number().min(0).max(1).default(0),
      rateLimit: z.number().min(0).max(1).default(0),
      /** Hostnames or machine names whose clone always fails. */
      failMachines: z.array(z.string()).default([]),
    })
    .default({ transient: 0, lockTimeout: 0, rateLimit: 0, failMachines: [] })
    .describe(
      'Faults to rehearse recovery, as JSON: probabilities 0-1 of transient, lockTimeout and rateLimit answers, ' +
        'and failMachines, names whose clone always fails.',
    ),
  durations: z
    .strictObject({
      cloneSec: range.default([20, 40]),
      bootSec: range.default([30, 60]),
      cloudInitSec: range.default([30, 90]),
      powerSec: range.default([1, 3]),
    })
    .default({ cloneSec: [20, 40], bootSec: [30, 60], cloudInitSec: [30, 90], powerSec: [1, 3] })
    .describe('Real-time seconds [min, max] of clone, boot, cloud-init and power steps, as JSON (divided by speed).'),
});

export type SimulatorConfig = z.output<typeof simulatorConfigSchema>;
export type SimulatorConfigInput = z.input<typeof simulatorConfigSchema>;

type Op = 'clone' | 'boot' | 'cloudInit' | 'power';

/** Seeded duration in simulated seconds for one operation of one machine: the same whatever the order of calls. */
export function simulatedSeconds(config: SimulatorConfig, machineName: string, op: Op): number {
  const [lo, hi] = {
    clone: config.durations.cloneSec,
    boot: config.durations.bootSec,
    cloudInit: config.durations.cloudInitSec,
    power: config.durations.powerSec,
  }[op];
  return lo + (hi - lo) * stableHash(`${config.seed}/${stableName(machineName)}/${op}`);
}

/** The storage a machine is cloned onto when its options name none: a hash of its name. */
export function storageFor(config: SimulatorConfig, machineName: string): string {
  return config.storages[Math.floor(stableHash(stableName(machineName)) * config.storages.length)]!;
}

// Every deployment of a scenario draws the same values for the same machine names: computed once.
const hashes = new Map<string, number>();

/** unitHash() of a text without a deployment id in it, remembered. */
function stableHash(text: string): number {
  let u = hashes.get(text);
  if (u === undefined) {
    u = unitHash(text);
    // Bounded by the machine names of the scenarios deployed; cleared should a long-lived process see very many.
    if (hashes.size >= 100_000) hashes.clear();
    hashes.set(text, u);
  }
  return u;
}

/** A machine's name without its deployment id, so the same scenario draws the same durations in every deployment. */
function stableName(name: string): string {
  return name.replace(/^gd-[a-z0-9]+-/, '');
}

function unitHash(text: string): number {
  return crypto.hash('sha256', text, 'buffer').readUInt32BE(0) / 2 ** 32;
}

const inventoryColumns =
  'id, name, deployment_id AS deploymentId, power, busy_until AS busyUntil, address_at AS addressAt, ready_at AS readyAt, addresses';
const batchColumns =
  'id, name, deployment_id AS deploymentId, power, address_at AS addressAt, addresses, cpus, memory_mb AS memoryMb, cpu_load AS cpuLoad, nics';

/** What the batched inventory reads of a machine; `addresses` and `nics` are stored JSON arrays. */
interface BatchRow {
  id: string;
  name: string;
  deploymentId: string;
  power: string;
  addressAt: number | null;
  addresses: string;
  cpus: number;
  memoryMb: number;
  cpuLoad: number;
  nics: string;
}

/** What the hot paths read of a machine; `addresses` is the stored JSON array. */
interface InventoryRow {
  id: string;
  name: string;
  deploymentId: string;
  power: string;
  busyUntil: number;
  addressAt: number | null;
  readyAt: number | null;
  addresses: string;
}

export function createSimulatorPlatform(
  input: SimulatorConfigInput,
  deps: { db: Db; platformId: string },
): Platform & { readonly timeScale: number } {
  const config = simulatorConfigSchema.parse(input);
  const { db, platformId } = deps;
  const scale = 1 / config.speed;
  const ms = (seconds: number) => Math.round(seconds * 1000 * scale);

  // The hot paths (every machine's create, start and waits) use plain prepared statements over the few columns they
  // need: this inventory is read thousands of times in a large deployment.
  const q = {
    byName: db.$client.prepare<[string, string], InventoryRow>(
      `SELECT ${inventoryColumns} FROM sim_machines WHERE platform_id = ? AND name = ?`,
    ),
    byId: db.$client.prepare<[string, string], InventoryRow>(
      `SELECT ${inventoryColumns} FROM sim_machines WHERE platform_id = ? AND id = ?`,
    ),
    totals: db.$client.prepare<[string], { cpus: number; memoryMb: number; maxId: number }>(
      'SELECT coalesce(sum(cpus), 0) AS cpus, coalesce(sum(memory_mb), 0) AS memoryMb, coalesce(max(cast(id AS integer)), 99) AS maxId FROM sim_machines WHERE platform_id = ?',
    ),
    // The clones still running on a storage, latest end first; each slot is busy until the latest clone placed on it.
    busyClones: db.$client
      .prepare<[string, string, number], number>(
        'SELECT busy_until FROM sim_machines WHERE platform_id = ? AND storage = ? AND busy_until > ? ORDER BY busy_until DESC',
      )
      .pluck(),
    insert: db.$client.prepare(
      "INSERT INTO sim_machines (platform_id, id, name, deployment_id, power, cpus, memory_mb, addresses, snapshots, busy_until, storage, first_boot, nics) VALUES (@platformId, @id, @name, @deploymentId, 'stopped', @cpus, @memoryMb, @addresses, '[]', @busyUntil, @storage, @firstBoot, @nics)",
    ),
    all: db.$client.prepare<[string], BatchRow>(`SELECT ${batchColumns} FROM sim_machines WHERE platform_id = ?`),
    vlans: db.$client.prepare<[string], { id: string; vlan: number | null }>(
      'SELECT id, vlan FROM sim_networks WHERE platform_id = ?',
    ),
    guest: db.$client.prepare<[string, string], { firstBoot: string | null; guest: string | null }>(
      'SELECT first_boot AS firstBoot, guest FROM sim_machines WHERE platform_id = ? AND id = ?',
    ),
    setGuest: db.$client.prepare('UPDATE sim_machines SET guest = ? WHERE platform_id = ? AND id = ?'),
    // The guest forgets what was loaded after boot when it powers off; the files it wrote stay on its disk.
    forgetLoaded: db.$client.prepare(
      "UPDATE sim_machines SET guest = json_remove(json_set(guest, '$.loaded', json('[]')), '$.wireguard') WHERE platform_id = ? AND id = ? AND guest IS NOT NULL",
    ),
    draw: db.$client
      .prepare<[string, string], number>(
        'INSERT INTO sim_draws (platform_id, key, n) VALUES (?, ?, 1) ON CONFLICT (platform_id, key) DO UPDATE SET n = n + 1 RETURNING n',
      )
      .pluck(),
    setPower: db.$client.prepare(
      'UPDATE sim_machines SET power = ?, address_at = ?, ready_at = ? WHERE platform_id = ? AND id = ?',
    ),
  };
  const row = (name: string) => q.byName.get(platformId, name);
  const rowById = (id: string) => q.byId.get(platformId, id);
  const noFaults = config.faults.transient + config.faults.lockTimeout + config.faults.rateLimit === 0;
  /** The round trip of one API call; nothing at all when there is none (the deploy benchmark's hot paths). */
  const rtt = config.callLatencyMs;
  const call = (signal?: AbortSignal) => (rtt > 0 ? sleep(rtt, signal) : undefined);

  /**
   * Injected faults, drawn from the seed, the action, the machine and how many times the action was tried on it. The
   * count is kept in SQLite, so a retry (in this process or the next) meets a fresh draw, and a fresh appliance with
   * the same seed replays the same run (the deployment's id is left out of the draw).
   */
  function maybeFail(action: string, name: string, vmid: string) {
    if (noFaults) return;
    const n = q.draw.get(platformId, `${action}/${name}`)!;
    const u = unitHash(`${config.seed}/fault/${action}/${stableName(name)}/${n}`);
    const { transient, lockTimeout, rateLimit } = config.faults;
    if (u < lockTimeout)
      throw new AppError(
        'transient',
        `[simulator] Unable to ${action} VM "${name}": can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`,
      );
    if (u < lockTimeout + rateLimit)
      throw new AppError(
        'rate_limited',
        `[simulator] Unable to ${action} VM "${name}": too many requests (429), retry later`,
      );
    if (u < lockTimeout + rateLimit + transient)
      throw new AppError('transient', `[simulator] Unable to ${action} VM "${name}": 596 Connection timed out`);
  }

  async function waitUntil(at: number, signal?: AbortSignal) {
    // Timers run on a monotonic clock and may fire a millisecond before Date.now() reaches `at`: wait the rest.
    for (let delay = at - Date.now(); delay > 0; delay = at - Date.now()) await sleep(delay, signal);
  }

  function machineRow(ref: MachineRef) {
    return rowById(ref.id) ?? row(ref.name);
  }

  function snapshotsOf(id: string) {
    return (
      db
        .select({ snapshots: simMachines.snapshots })
        .from(simMachines)
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.id, id)))
        .get()?.snapshots ?? []
    );
  }

  async function waitFor(
    ref: MachineRef,
    field: 'addressAt' | 'readyAt',
    what: string,
    opts: CallOptions & { timeoutMs: number },
  ) {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const m = machineRow(ref);
      if (!m)
        throw new AppError(
          'not_found',
          `[simulator] Unable to wait for ${what} of VM "${ref.name}": it does not exist`,
        );
      if (m.power !== 'running' || m[field] === null)
        throw new AppError(
          'platform_error',
          `[simulator] Unable to wait for ${what} of VM "${ref.name}": it is not running`,
        );
      const at = m[field]!;
      if (at <= Date.now()) return m;
      if (at > deadline) {
        await waitUntil(deadline, opts.signal);
        throw new AppError(
          'timeout',
          `[simulator] VM "${ref.name}" reported no ${what} within ${Math.round(opts.timeoutMs / scale / 1000)} s`,
        );
      }
      await waitUntil(at, opts.signal);
    }
  }

  return {
    kind: 'simulator',
    supports: { snapshots: true, guestExec: true },
    timeScale: scale,
    cloneSlots: config.storages.length * config.cloneSlotsPerStorage,

    async testConnection() {
      const machines = db.select().from(simMachines).where(eq(simMachines.platformId, platformId)).all();
      const usedMem = machines.reduce((s, m) => s + m.memoryMb, 0);
      return {
        ok: true,
        product: 'Glassdome simulator',
        version: '1',
        details: [
          `speed x${config.speed}, seed ${config.seed}`,
          `${config.storages.length} storage(s), ${config.cloneSlotsPerStorage} concurrent clones each (${config.onCloneBusy === 'wait' ? 'excess clones queue' : `excess clones fail after ${config.lockTimeoutSec} s`})`,
          `${machines.length} machines, ${usedMem} of ${config.capacity.memoryMb} MiB memory allocated`,
        ],
        choices: { nodes: ['sim'], storages: config.storages, networks: ['vmbr0'] },
      };
    },

    async capacity(opts) {
      await call(opts?.signal);
      const used = q.totals.get(platformId)!;
      const { cpus, memoryMb } = config.capacity;
      return {
        cpus: Math.max(0, cpus - used.cpus),
        memoryMb: Math.max(0, memoryMb - used.memoryMb),
        detail: `configured capacity ${cpus} vCPUs and ${memoryMb} MiB, less ${used.cpus} vCPUs and ${used.memoryMb} MiB its machines take (no storage limit)`,
      };
    },

    async ensureNetwork(spec: NetworkSpec, opts?: CallOptions): Promise<NetworkRef> {
      await call(opts?.signal);
      if (spec.kind === 'uplink') return { id: 'vmbr0', name: 'vmbr0' };
      return db.$client
        .transaction((): NetworkRef => {
          const existing = db
            .select()
            .from(simNetworks)
            .where(and(eq(simNetworks.platformId, platformId), eq(simNetworks.name, spec.name)))
            .get();
          if (existing) return { id: existing.id, name: existing.name };
          if (spec.vlan !== undefined) {
            const clash = db
              .select()
              .from(simNetworks)
              .where(and(eq(simNetworks.platformId, platformId), eq(simNetworks.vlan, spec.vlan)))
              .get();
            if (clash)
              throw new AppError(
                'conflict',
                `[simulator] Unable to create network "${spec.name}": VLAN ${spec.vlan} already carries network "${clash.name}"`,
              );
          }
          const id = `vmbr0.${spec.vlan ?? spec.name}`;
          db.insert(simNetworks)
            .values({ platformId, id, name: spec.name, deploymentId: spec.deploymentId, vlan: spec.vlan ?? null })
            .run();
          return { id, name: spec.name };
        })
        .immediate();
    },

    async deleteNetwork(ref: NetworkRef, opts?: CallOptions) {
      await call(opts?.signal);
      if (ref.id === 'vmbr0') return;
      db.delete(simNetworks)
        .where(and(eq(simNetworks.platformId, platformId), eq(simNetworks.name, ref.name)))
        .run();
    },

    async createMachine(spec: MachineSpec, opts?: CallOptions): Promise<MachineRef> {
      await call(opts?.signal);
      const storage = typeof spec.options?.storage === 'string' ? spec.options.storage : storageFor(config, spec.name);
      // The fault draw is written on its own, never rolled back with a failed placement: a retry draws anew.
      if (!noFaults && !row(spec.name)) maybeFail('clone', spec.name, 'new');
      // One transaction finds a machine of that name (a retried call) or places a new clone: one read, one commit.
      const placed = db.$client
        .transaction((): Pick<InventoryRow, 'id' | 'name' | 'deploymentId' | 'busyUntil'> | undefined => {
          const existing = row(spec.name);
          if (existing) return existing;
          if (
            config.faults.failMachines.includes(spec.hostname) ||
            config.faults.failMachines.includes(spec.name) ||
            spec.options?.failAlways === true
          )
            throw new AppError(
              'platform_error',
              `[simulator] Unable to clone VM "${spec.name}": template disk is unreadable (injected permanent failure)`,
            );
          const { cpus, memoryMb: mem, maxId } = q.totals.get(platformId)!;
          if (cpus + spec.cpus > config.capacity.cpus || mem + spec.memoryMb > config.capacity.memoryMb)
            throw new AppError(
              'platform_error',
              `[simulator] Unable to clone VM "${spec.name}": not enough capacity (${config.capacity.cpus - cpus} vCPUs and ${config.capacity.memoryMb - mem} MiB free, ${spec.cpus} vCPUs and ${spec.memoryMb} MiB asked)`,
              {
                hint: 'Deploy fewer instances or raise the platform capacity.',
              },
            );
          // Clones queue per storage: each slot is busy until the latest clone placed on it ends.
          const now = Date.now();
          const busy = q.busyClones.all(platformId, storage, now);
          const start = busy.length < config.cloneSlotsPerStorage ? now : busy[config.cloneSlotsPerStorage - 1]!;
          if (config.onCloneBusy === 'fail' && start - now > ms(config.lockTimeoutSec)) return undefined;
          const placed = {
            id: String(maxId + 1),
            name: spec.name,
            deploymentId: spec.deploymentId,
            busyUntil: start + ms(simulatedSeconds(config, spec.name, 'clone')),
          };
          q.insert.run({
            platformId,
            id: placed.id,
            name: spec.name,
            deploymentId: spec.deploymentId,
            cpus: spec.cpus,
            memoryMb: spec.memoryMb,
            addresses: JSON.stringify(
              spec.nics.map((n, i) => n.ip ?? `203.0.113.${1 + Math.floor(unitHash(`${spec.name}/${i}`) * 250)}`),
            ),
            busyUntil: placed.busyUntil,
            storage,
            firstBoot: spec.cloudInit?.userData ?? null,
            nics: JSON.stringify(spec.nics.map((n) => ({ network: n.network.id, mac: n.mac }))),
          });
          return placed;
        })
        .immediate();
      if (!placed)
        throw new AppError(
          'transient',
          `[simulator] Unable to clone VM "${spec.name}": can't lock file '/var/lock/pve-manager/pve-storage-${storage}' - got timeout`,
        );
      if (placed.deploymentId !== spec.deploymentId)
        throw new AppError(
          'conflict',
          `[simulator] Unable to clone VM "${spec.name}": the name belongs to deployment ${placed.deploymentId}`,
        );
      await waitUntil(placed.busyUntil, opts?.signal);
      return { id: placed.id, name: placed.name };
    },

    async startMachine(ref, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m) throw new AppError('not_found', `[simulator] Unable to start VM "${ref.name}": it does not exist`);
      if (m.busyUntil > Date.now())
        throw new AppError('transient', `[simulator] Unable to start VM "${ref.name}": VM is locked (clone)`);
      if (m.power === 'running') return;
      maybeFail('start', ref.name, m.id);
      // The machine runs from the start task on, as `qm status` reports it; the task itself takes the power-on time.
      const poweredAt = Date.now() + ms(simulatedSeconds(config, ref.name, 'power'));
      const addressAt = poweredAt + ms(simulatedSeconds(config, ref.name, 'boot'));
      q.setPower.run(
        'running',
        addressAt,
        addressAt + ms(simulatedSeconds(config, ref.name, 'cloudInit')),
        platformId,
        m.id,
      );
      await waitUntil(poweredAt, opts?.signal);
    },

    async stopMachine(ref, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m || m.power === 'stopped') return;
      q.setPower.run('stopped', null, null, platformId, m.id);
      q.forgetLoaded.run(platformId, m.id);
    },

    async getMachineState(ref, opts): Promise<MachineState> {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m) return { power: 'missing', addresses: [] };
      const up = m.power === 'running' && m.addressAt !== null && m.addressAt <= Date.now();
      return { power: m.power as MachineState['power'], addresses: up ? (JSON.parse(m.addresses) as string[]) : [] };
    },

    async waitForAddress(ref, opts) {
      const addresses = JSON.parse((await waitFor(ref, 'addressAt', 'address', opts)).addresses) as string[];
      const missing = (opts.expect ?? []).filter((a) => !addresses.includes(a));
      if (missing.length > 0)
        throw new AppError(
          'timeout',
          `[simulator] VM "${ref.name}" did not report ${missing.join(', ')} (it reports ${addresses.join(', ') || 'nothing'})`,
        );
      return addresses;
    },

    async guestExec(ref, argv, opts) {
      await call(opts.signal);
      const m = machineRow(ref);
      if (!m)
        throw new AppError('not_found', `[simulator] Unable to run a command in VM "${ref.name}": it does not exist`);
      if (m.power !== 'running')
        throw new AppError(
          'platform_error',
          `[simulator] Unable to run a command in VM "${ref.name}": it is not running`,
        );
      // As the Platform contract says (and Proxmox answers): an agent that does not answer yet is a passing condition.
      if (m.addressAt === null || m.addressAt > Date.now())
        throw new AppError(
          'transient',
          `[simulator] Unable to run a command in VM "${ref.name}": QEMU guest agent is not running`,
        );
      await sleep(Math.min(ms(0.5), opts.timeoutMs), opts.signal);
      const g = q.guest.get(platformId, m.id);
      const out = runSimulatedGuest(
        g?.firstBoot ?? null,
        g?.guest ? (JSON.parse(g.guest) as SimulatedGuestState) : null,
        argv,
      );
      if (out.guest) q.setGuest.run(JSON.stringify(out.guest), platformId, m.id);
      return out.result;
    },

    async firstBootDelivery() {
      return {
        method: 'simulated NoCloud drive',
        complete: true,
        detail: 'the whole user data reaches the modelled guest',
      };
    },

    async waitForReady(ref, opts) {
      await waitFor(ref, 'readyAt', 'first-boot completion', opts);
    },

    async createSnapshot(ref, name, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m) throw new AppError('not_found', `[simulator] Unable to snapshot VM "${ref.name}": it does not exist`);
      const existing = snapshotsOf(m.id);
      if (existing.some((s) => s.name === name))
        throw new AppError(
          'conflict',
          `[simulator] Unable to snapshot VM "${ref.name}": snapshot "${name}" already exists`,
        );
      const files = (JSON.parse(q.guest.get(platformId, m.id)?.guest ?? 'null') as SimulatedGuestState | null)?.files;
      const snapshots = [
        ...existing,
        { name, createdAt: new Date().toISOString(), power: m.power, ...(files ? { guest: { files } } : {}) },
      ];
      db.update(simMachines)
        .set({ snapshots })
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.id, m.id)))
        .run();
    },

    async listSnapshots(ref, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m)
        throw new AppError('not_found', `[simulator] Unable to list snapshots of VM "${ref.name}": it does not exist`);
      return snapshotsOf(m.id).map((s) => ({ name: s.name, createdAt: s.createdAt }));
    },

    async revertSnapshot(ref, name, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      const snap = m ? snapshotsOf(m.id).find((s) => s.name === name) : undefined;
      if (!m || !snap)
        throw new AppError(
          'not_found',
          `[simulator] Unable to revert VM "${ref.name}" to "${name}": ${m ? 'no such snapshot' : 'the VM does not exist'}`,
        );
      const now = Date.now();
      const addressAt = snap.power === 'running' ? now + ms(simulatedSeconds(config, ref.name, 'power')) : null;
      // A snapshot without memory: the guest boots again from the disk it had, with the files it had then.
      db.update(simMachines)
        .set({
          power: snap.power,
          addressAt,
          readyAt: addressAt,
          guest: { files: snap.guest?.files ?? {}, loaded: [] },
        })
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.id, m.id)))
        .run();
    },

    async deleteSnapshot(ref, name, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m) return;
      db.update(simMachines)
        .set({ snapshots: snapshotsOf(m.id).filter((s) => s.name !== name) })
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.id, m.id)))
        .run();
    },

    async destroyMachine(ref, opts) {
      await call(opts?.signal);
      const m = machineRow(ref);
      if (!m) return;
      // A clone still running holds the lock; a hypervisor makes the delete wait for it.
      await waitUntil(m.busyUntil, opts?.signal);
      maybeFail('destroy', ref.name, m.id);
      db.delete(simMachines)
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.id, m.id)))
        .run();
    },

    async listOwned(deploymentId, opts): Promise<OwnedResource[]> {
      await call(opts?.signal);
      const machines = db
        .select()
        .from(simMachines)
        .where(and(eq(simMachines.platformId, platformId), eq(simMachines.deploymentId, deploymentId)))
        .all();
      const networks = db
        .select()
        .from(simNetworks)
        .where(and(eq(simNetworks.platformId, platformId), eq(simNetworks.deploymentId, deploymentId)))
        .all();
      return [
        ...machines.map((m) => ({ kind: 'machine' as const, id: m.id, name: m.name })),
        ...networks.map((n) => ({ kind: 'network' as const, id: n.id, name: n.name })),
      ];
    },

    // One query over the whole inventory: the batch a hypervisor's list call would be.
    async inventory(opts): Promise<InventoryMachine[]> {
      await call(opts?.signal);
      const wanted = opts?.deploymentIds ? new Set(opts.deploymentIds) : undefined;
      const vlans = opts?.config ? new Map(q.vlans.all(platformId).map((n) => [n.id, n.vlan])) : undefined;
      const now = Date.now();
      const out: InventoryMachine[] = [];
      for (const m of q.all.all(platformId)) {
        if (wanted && !wanted.has(m.deploymentId)) continue;
        const up = m.power === 'running' && m.addressAt !== null && m.addressAt <= now;
        out.push({
          id: m.id,
          name: m.name,
          deploymentId: m.deploymentId,
          owner: 'tag',
          power: m.power as InventoryMachine['power'],
          cpus: m.cpus,
          memoryMb: m.memoryMb,
          cpuLoad: m.power === 'running' ? m.cpuLoad : 0,
          // The modelled guest agent answers once the guest has booted, as the address it reports shows.
          ...(opts?.guest ? { agent: up, addresses: up ? (JSON.parse(m.addresses) as string[]) : [] } : {}),
          ...(vlans
            ? {
                nics: (JSON.parse(m.nics) as Array<{ network: string; mac: string }>).map((n) => {
                  const vlan = vlans.get(n.network);
                  return { network: n.network, mac: n.mac, ...(vlan == null ? {} : { vlan }) };
                }),
              }
            : {}),
        });
      }
      return out;
    },

    async close() {},
  };
}

export { simulatedGuestCommand } from './simulated-guest.ts';
