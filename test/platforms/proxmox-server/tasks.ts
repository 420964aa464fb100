// Worker tasks and their UPIDs (pve-common UPID.pm): every async endpoint starts one, returns its UPID at once,
// and the task runs for a configurable time, logging lines and ending with `TASK OK` or `TASK ERROR: <msg>`.

export interface Task {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  endtime?: number;
  log: string[];
  /** Resolves when the task has stopped (never rejects). */
  done: Promise<void>;
  abort: AbortController;
}

export interface TaskContext {
  log(line: string): void;
  /** Waits `ms` (the simulated work); rejects when the task is stopped via DELETE. */
  sleep(ms: number): Promise<void>;
  /** The simulated work of the task, then an injected `taskError` fault if one was chosen for this request. */
  work(ms: number): Promise<void>;
  signal: AbortSignal;
}

export type Worker = (ctx: TaskContext) => Promise<void>;

export interface TaskRegistry {
  start(opts: { node: string; type: string; id: string; user: string; fault?: string }, worker: Worker): Task;
  get(upid: string): Task | undefined;
  list(): Task[];
  /** Resolves when no task is running: lets tests settle before asserting. */
  idle(): Promise<void>;
}

const upidPattern =
  /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

export function parseUpid(
  upid: string,
):
  { node: string; pid: number; pstart: number; starttime: number; type: string; id: string; user: string } | undefined {
  const m = upidPattern.exec(upid);
  if (!m) return undefined;
  return {
    node: m[1] ?? '',
    pid: parseInt(m[3] ?? '0', 16),
    pstart: parseInt(m[4] ?? '0', 16),
    starttime: parseInt(m[5] ?? '0', 16),
    type: m[6] ?? '',
    id: m[7] ?? '',
    user: m[8] ?? '',
  };
}

const hex = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, '0');

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('interrupted by signal'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('interrupted by signal'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createTaskRegistry(random: () => number): TaskRegistry {
  const tasks = new Map<string, Task>();
  let pid = 0x1000 + Math.floor(random() * 0x10000);
  const pstartBase = 0x100000 + Math.floor(random() * 0x100000);
  const running = new Set<Promise<void>>();

  return {
    start(opts, worker) {
      pid++;
      const starttime = Math.floor(Date.now() / 1000);
      const pstart = pstartBase + pid;
      const upid = `UPID:${opts.node}:${hex(pid, 8)}:${hex(pstart, 8)}:${hex(starttime, 8)}:${opts.type}:${opts.id}:${opts.user}:`;
      const abort = new AbortController();
      const task: Task = {
        upid,
        node: opts.node,
        pid,
        pstart,
        starttime,
        type: opts.type,
        id: opts.id,
        user: opts.user,
        status: 'running',
        log: [],
        abort,
        done: Promise.resolve(),
      };
      const ctx: TaskContext = {
        signal: abort.signal,
        log: (line) => void task.log.push(line),
        sleep: (ms) => sleep(ms, abort.signal),
        work: async (ms) => {
          await sleep(ms, abort.signal);
          if (opts.fault !== undefined) throw new Error(opts.fault);
        },
      };
      const run = (async () => {
        // Let the HTTP response with the UPID go out before the worker's first step, as with a forked worker.
        await new Promise((r) => setImmediate(r));
        try {
          await worker(ctx);
          task.exitstatus = 'OK';
        } catch (e) {
          // A parameter exception inside a worker is reported by its per-parameter lines (an approximation).
          const errors = (e as { errors?: Record<string, string> }).errors;
          const message = errors
            ? Object.entries(errors)
                .map(([k, v]) => `${k}: ${v}`)
                .join('\n')
            : e instanceof Error
              ? e.message
              : String(e);
          task.exitstatus = message.split('\n')[0] ?? message;
          for (const line of message.split('\n')) if (line) task.log.push(line);
        }
        task.log.push(task.exitstatus === 'OK' ? 'TASK OK' : `TASK ERROR: ${task.exitstatus}`);
        task.status = 'stopped';
        task.endtime = Math.floor(Date.now() / 1000);
      })();
      task.done = run;
      running.add(run);
      void run.finally(() => running.delete(run));
      tasks.set(upid, task);
      return task;
    },
    get: (upid) => tasks.get(upid),
    list: () => [...tasks.values()],
    async idle() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
