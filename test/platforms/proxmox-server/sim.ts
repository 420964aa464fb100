// What every endpoint handler receives: the validated request and the simulator (state, tasks, locks, timing),
// plus the checks PVE repeats in many handlers (VM lookup, config lock, flock with timeout).
import type { ConsoleState } from './console-handlers.ts';
import type { LockMode, LockTable } from './locks.ts';
import { configMissing, dieError, PveError, vmLockTimeout } from './pve-error.ts';
import type { MethodInfo, Params, PveSchema, PveVersion } from './schema.ts';
import type { ClusterState, GuestBehaviour, GuestProgram, VmState } from './state.ts';
import type { Task, TaskRegistry, Worker } from './tasks.ts';

export interface Timing {
  /** How long each task type runs (qmclone, qmstart, ...); `default` for the rest. */
  taskMs: Record<string, number>;
  /** Per-VM flock wait (PVE: 10 s) for config changes, delete, template, start. */
  lockTimeoutMs: number;
  /** The clone worker's flock wait on source and target (PVE: 1 s). */
  cloneLockTimeoutMs: number;
  /** How long a clone waits for a storage lock slot before `can't lock file '/var/lock/pve-manager/pve-storage-<id>'`. */
  storageLockTimeoutMs: number;
  /** pveproxy delays 401 answers by 3 s; 0 in tests. */
  authFailDelayMs: number;
  /** Ticket lifetime (PVE: 2 h); short in tests to exercise renewal. */
  ticketLifetimeMs: number;
  /** How long `agent/exec` commands run before exec-status reports them exited. */
  execMs: number;
}

export const defaultTiming: Timing = {
  taskMs: { default: 50, qmclone: 300, qmcreate: 200, qmstart: 100, qmshutdown: 150, qmdestroy: 100 },
  lockTimeoutMs: 10_000,
  cloneLockTimeoutMs: 1_000,
  storageLockTimeoutMs: 10_000,
  authFailDelayMs: 3_000,
  ticketLifetimeMs: 7_200_000,
  execMs: 50,
};

export interface Sim {
  version: PveVersion;
  schema: PveSchema;
  state: ClusterState;
  tasks: TaskRegistry;
  locks: LockTable;
  timing: Timing;
  random: () => number;
  /** SHA-256 fingerprint of the server certificate, as /nodes reports it. */
  fingerprint: string;
  /** Guest behaviour given to VMs created through the API. */
  guest: GuestBehaviour;
  /** Memory of every node, GiB (nodes report 16 logical CPUs). */
  nodeMemoryGb: number;
  /** agent/exec processes by VM and pid. */
  execs: Map<string, { startedAt: number; argv: string[]; program: GuestProgram }>;
  /** vncproxy workers waiting for or serving their connection, and what each VM's console received. */
  consoles: ConsoleState;
  /** The server certificate (PEM): vncproxy's `cert`. */
  certificate: string;
}

export interface HandlerContext {
  sim: Sim;
  params: Params;
  info: MethodInfo;
  endpoint: string;
  /** `root@pam` or `user@realm!token`: the UPID user. */
  user: string;
  isRoot: boolean;
  /** The caller's privileges (every path), for GET /access/permissions. */
  privs: ReadonlySet<string>;
  /** Set when a `taskError` fault was picked for this request: the worker fails with it. */
  taskFault?: string;
  /** The file of a multipart upload (POST .../upload), already parsed like pveproxy does. */
  upload?: { data: Buffer };
}

export type Handler = (ctx: HandlerContext) => unknown;

/** A response with top-level fields beside `data`, like the task log's `total`. */
export class Envelope {
  constructor(
    readonly data: unknown,
    readonly extra: Record<string, unknown>,
  ) {}
}

export function str(p: Params, key: string): string {
  const v = p[key];
  if (v === undefined) throw new PveError(500, `[proxmox-server] handler read missing parameter ${key}`);
  return String(v);
}

export function num(p: Params, key: string): number {
  return Number(str(p, key));
}

export function flag(p: Params, key: string): boolean | undefined {
  const v = p[key];
  return v === undefined ? undefined : v === true || v === 1 || v === '1';
}

/** The VM on `{node}`; the wrong node gives the same error as a missing VM, since the config path is per node. */
export function getVm(ctx: HandlerContext): VmState {
  const node = str(ctx.params, 'node');
  const vmid = num(ctx.params, 'vmid');
  const vm = ctx.sim.state.vms.get(vmid);
  if (!vm || vm.node !== node) throw configMissing(node, vmid);
  return vm;
}

export function checkNode(ctx: HandlerContext): string {
  const node = str(ctx.params, 'node');
  if (!ctx.sim.state.nodes.has(node))
    throw dieError(
      `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
    );
  return node;
}

/** AbstractConfig::check_lock: `VM is locked (<lock>)` unless root passes skiplock. */
export function checkLock(ctx: HandlerContext, vm: VmState): void {
  const lock = vm.config.lock;
  if (lock === undefined) return;
  if (flag(ctx.params, 'skiplock')) return;
  throw dieError(`VM is locked (${lock})`);
}

export function checkSkiplock(ctx: HandlerContext): void {
  if (flag(ctx.params, 'skiplock') && !ctx.isRoot)
    throw new PveError(400, 'Parameter verification failed.', {
      errors: { skiplock: 'Only root may use this option.' },
    });
}

/** Runs `fn` under the VM's flock (`/var/lock/qemu-server/lock-<id>.conf`), failing with PVE's timeout text. */
export async function withVmLock<T>(
  sim: Sim,
  vmid: number,
  mode: LockMode,
  timeoutMs: number,
  fn: () => T | Promise<T>,
): Promise<T> {
  const release = await sim.locks.acquire(`vm:${vmid}`, mode, timeoutMs, () => vmLockTimeout(vmid));
  try {
    return await fn();
  } finally {
    release();
  }
}

export function taskMs(sim: Sim, type: string): number {
  return sim.timing.taskMs[type] ?? sim.timing.taskMs.default ?? 50;
}

/** Starts a worker on `node` and returns its UPID, the handler's response. */
export function startTask(ctx: HandlerContext, node: string, type: string, id: string, worker: Worker): string {
  const task: Task = ctx.sim.tasks.start({ node, type, id, user: ctx.user, fault: ctx.taskFault }, worker);
  return task.upid;
}
