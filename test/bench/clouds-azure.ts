// The Azure half of bench:clouds (`npx tsx test/bench/clouds-azure.ts` runs it alone and prints): a 20-instance,
// 100-machine class deployed through the executor to the ARM test server (in a process of its own) with 150 ms per
// call and VM creations of 30-90 s, all time sped up BENCH_AZURE_SPEED times (8). Returns ARM calls per machine,
// the makespan against its dependency/concurrency lower bound (target <= 1.10), teardown, CPU and peak RSS.
// A loaded host skews it: each real millisecond the event loop is late counts x speed. BENCH_AZURE_TRACE=<instance>
// prints where the time went (per machine kind, and one instance's network calls).
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { createServices } from '../../server/services.ts';
import type { ArmServerOptions } from '../platforms/azure-server/server.ts';
import type { StandaloneReady, StandaloneReport } from '../platforms/azure-server/standalone.ts';
import { systemActor } from '../../server/model/audit.ts';

export interface CloudBenchRow {
  platform: 'azure';
  figure: string;
  value: number;
  unit: string;
  note?: string;
}

export interface AzureBenchOptions {
  /** Simulated seconds per real second. */
  speed?: number;
  instances?: number;
  /** Simulated latency of every call. */
  latencyMs?: number;
  /** The executor's per-platform concurrency (its default is 16). */
  concurrency?: number;
  seed?: number;
}

const scenario = `
glassdome: 1
name: cloud-bench
title: Cloud benchmark range
networks:
  - name: dmz
    cidr: 10.40.1.0/24
    internet: true
  - name: internal
    cidr: 10.40.2.0/24
  - name: attack
    cidr: 10.40.66.0/24
machines:
  - name: db
    size: medium
    networks: [internal]
  - name: app
    networks: [dmz, internal]
    dependsOn: [db]
  - name: web
    count: 2
    networks: [dmz]
    dependsOn: [app]
  - name: attacker
    os: kali-rolling
    networks: [attack]
`;

const here = path.dirname(fileURLToPath(import.meta.url));

/** The ARM test server in a child process; resolves once it listens. */
async function startServer(options: ArmServerOptions): Promise<{
  child: ChildProcess;
  ready: StandaloneReady;
  report(): Promise<StandaloneReport>;
  close(): Promise<void>;
}> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(here, '../platforms/azure-server/standalone.ts'), JSON.stringify(options)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`the ARM test server exited (${code}) before answering ${type}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next<StandaloneReady>('ready');
  return {
    child,
    ready,
    report() {
      const p = next<StandaloneReport>('report');
      child.send({ type: 'report' });
      return p;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

/**
 * The lower bound (simulated s) of the deployment's makespan on this server, from the durations the server drew;
 * every long-running operation costs its duration plus three calls (the request, the poll that sees it end, the
 * final read). The dependency chain: a machine's network (its NSG and one VNet change), its NICs, then, once every
 * machine it depends on is ready, its VM's creation and first boot. The executor's lanes of `concurrency` slots
 * (network steps on one, NIC creations on the other): after a step its machines still need their tail, so for every
 * tail threshold the steps with a longer tail need their work / slots before the end minus that tail (the
 * preemptive relaxation). The largest holds; none counts the driver's own choices (one VNet change at a time,
 * polling intervals), which are what the ratio measures.
 */
function lowerBound(
  plan: Plan,
  report: StandaloneReport,
  latencyMs: number,
  concurrency: number,
  subscriptionId: string,
) {
  const L = latencyMs / 1000;
  const first = new Map<string, number>();
  for (const op of report.operations)
    if (!first.has(op.target.toLowerCase())) first.set(op.target.toLowerCase(), op.simMs / 1000);
  const lro = (d: number) => d + 3 * L;
  const group = (instance: number) =>
    `/subscriptions/${subscriptionId}/resourceGroups/gd-${plan.deploymentId}-i${instance}`.toLowerCase();
  const vnetOps = new Map<number, number[]>();
  for (const [target, d] of first) {
    const m = /resourcegroups\/gd-[a-z0-9]+-i(\d+)\/providers\/microsoft\.network\/virtualnetworks\//.exec(target);
    if (m) vnetOps.set(Number(m[1]), [...(vnetOps.get(Number(m[1])) ?? []), d]);
  }
  const netStep = new Map<string, number>();
  for (const n of plan.networks) {
    if (n.kind !== 'isolated') continue;
    const nsg =
      first.get(
        `${group(n.instance)}/providers/microsoft.network/networksecuritygroups/${n.resourceName}-nsg`.toLowerCase(),
      ) ?? 0;
    netStep.set(n.key, L + lro(nsg) + L + lro(Math.min(...(vnetOps.get(n.instance) ?? [0]))));
  }
  const byKey = new Map(plan.machines.map((m) => [m.key, m]));
  const nicStep = (m: PlannedMachine) =>
    Math.max(
      ...m.nics.map((_, j) =>
        lro(
          first.get(
            `${group(m.instance)}/providers/microsoft.network/networkinterfaces/${m.resourceName}-nic${j}`.toLowerCase(),
          ) ?? 0,
        ),
      ),
    );
  /** From the start request to first boot's end. */
  const run = (m: PlannedMachine) =>
    L +
    (first.get(`${group(m.instance)}/providers/microsoft.compute/virtualmachines/${m.resourceName}`.toLowerCase()) ??
      0) +
    (report.firstBootMs[m.resourceName] ?? 0) / 1000 +
    2 * L;
  const memo = new Map<string, number>();
  const ready = (m: PlannedMachine): number => {
    const cached = memo.get(m.key);
    if (cached !== undefined) return cached;
    const created = Math.max(...m.nics.map((nic) => netStep.get(nic.networkKey) ?? 0)) + nicStep(m);
    const t = Math.max(created, ...m.dependsOn.map((k) => ready(byKey.get(k)!))) + run(m);
    memo.set(m.key, t);
    return t;
  };
  const chain = Math.max(...plan.machines.map(ready));
  const dependants = new Map<string, PlannedMachine[]>();
  for (const m of plan.machines) for (const k of m.dependsOn) dependants.set(k, [...(dependants.get(k) ?? []), m]);
  const afterMemo = new Map<string, number>();
  const after = (m: PlannedMachine): number =>
    afterMemo.get(m.key) ??
    afterMemo.set(m.key, Math.max(0, ...(dependants.get(m.key) ?? []).map((d) => run(d) + after(d)))).get(m.key)!;
  const slotBound = (jobs: Array<{ work: number; tail: number }>) => {
    jobs.sort((a, b) => b.tail - a.tail);
    let work = 0;
    let bound = 0;
    for (const j of jobs) {
      work += j.work;
      bound = Math.max(bound, work / concurrency + j.tail);
    }
    return Math.max(bound, (work + jobs.slice(-concurrency).reduce((a, j) => a + j.tail, 0)) / concurrency);
  };
  const networkLane = slotBound(
    plan.networks
      .filter((n) => n.kind === 'isolated')
      .map((n) => ({
        work: netStep.get(n.key)!,
        tail: Math.max(
          0,
          ...plan.machines
            .filter((m) => m.nics.some((x) => x.networkKey === n.key))
            .map((m) => nicStep(m) + run(m) + after(m)),
        ),
      })),
  );
  const createLane = slotBound(plan.machines.map((m) => ({ work: nicStep(m), tail: run(m) + after(m) })));
  return { chain, lanes: Math.max(networkLane, createLane), bound: Math.max(chain, networkLane, createLane) };
}

export async function runAzureCloudBench(opts: AzureBenchOptions = {}): Promise<CloudBenchRow[]> {
  const speed = opts.speed ?? Number(process.env.BENCH_AZURE_SPEED ?? 8);
  const instances = opts.instances ?? 20;
  const latencyMs = opts.latencyMs ?? 150;
  const concurrency = opts.concurrency ?? 16;
  const server = await startServer({
    speed,
    seed: opts.seed ?? 42,
    timing: {
      latencyMs,
      vmCreateMs: [30_000, 90_000],
      guestReadyMs: [20_000, 60_000],
      networkOpMs: [2_000, 6_000],
      nicOpMs: [1_000, 3_000],
      vmDeleteMs: [20_000, 40_000],
      rgDeleteMs: [30_000, 60_000],
    },
  });
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-bench-dir' }),
    db: openDb(':memory:'),
    runner: { concurrency, leaseMs: 5000 },
  });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  try {
    const { ready } = server;
    // The driver's waits are scaled like the server's time, so polling costs the same simulated time as on Azure.
    const platform = services.platforms.add(systemActor, {
      name: 'azure-bench',
      kind: 'azure',
      config: {
        tenantId: ready.tenantId,
        clientId: ready.clientId,
        subscriptionId: ready.subscriptionId,
        location: 'westeurope',
        armEndpoint: ready.url,
        authorityHost: ready.url,
        caFile: ready.caFile,
        pollIntervalMs: Math.round(2000 / speed),
        vmPollIntervalMs: Math.round(5000 / speed),
        pollMaxMs: Math.round(15_000 / speed),
      },
      secret: ready.clientSecret,
    });
    // Loading the SDKs happens once per process, in real time: measured apart, not multiplied by the speed.
    const tLoad = performance.now();
    await services.platforms.instance(platform.id);
    const loadMs = performance.now() - tLoad;
    const { id, plan } = createDeployment(services, {
      yaml: scenario,
      file: 'cloud-bench.yaml',
      platform: platform.id,
      instances,
    });
    const machines = plan.machines.length;
    const load = os.loadavg()[0]!;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const state = await services.runner.run(id);
    const deploySec = ((performance.now() - t0) / 1000) * speed;
    const cpu = process.cpuUsage(cpu0);
    loop.disable();
    if (state !== 'ready')
      throw new Error(`the deployment ended ${state}: ${services.deployments.get(id).error ?? ''}`);
    const afterDeploy = await server.report();
    if (process.env.BENCH_AZURE_TRACE) {
      const view = services.deployments.get(id);
      const wall0 = Date.now() - (performance.now() - t0);
      const sim = (iso: string | null) => (iso ? ((Date.parse(iso) - wall0) / 1000) * speed : NaN);
      const step = new Map(view.steps.map((st) => [st.key, st]));
      const vm = new Map(
        afterDeploy.operations
          .filter((op) => /virtualMachines/.test(op.target))
          .map((op) => [op.target.split('/').pop()!, op.simMs / 1000]),
      );
      const rows: Record<string, number[][]> = {};
      for (const m of plan.machines) {
        const s = (k: string) => step.get(`${m.key}:${k}`)!;
        const depsReady = Math.max(0, ...m.dependsOn.map((d) => sim(step.get(`${d}:ready`)!.endedAt)));
        const netsDone = Math.max(...m.nics.map((n) => sim(step.get(`net:${n.networkKey}`)!.endedAt)));
        const boot = (afterDeploy.firstBootMs[m.resourceName] ?? 0) / 1000;
        (rows[m.source] ??= []).push([
          sim(s('create').startedAt) - netsDone,
          sim(s('create').endedAt) - sim(s('create').startedAt),
          sim(s('start').startedAt) - Math.max(depsReady, sim(s('create').endedAt)),
          sim(s('address').endedAt) - sim(s('start').endedAt) - vm.get(m.resourceName)!,
          sim(s('ready').endedAt) - sim(s('address').endedAt) - boot,
        ]);
      }
      console.log(
        'per machine kind, mean simulated s: create queued | create took | start queued after deps | address lag after VM op | ready lag after boot',
      );
      for (const [k, list] of Object.entries(rows))
        console.log(
          k.padEnd(10),
          list[0]!.map((_, i) => (list.reduce((a, r) => a + r[i]!, 0) / list.length).toFixed(1).padStart(7)).join(' '),
        );
      const nets = view.steps.filter((st) => st.kind === 'network').map((st) => sim(st.endedAt) - sim(st.startedAt));
      const errors: Record<string, number> = {};
      for (const r of afterDeploy.requests)
        if (r.status >= 300 && r.status !== 404)
          errors[`${r.status} ${r.route}`] = (errors[`${r.status} ${r.route}`] ?? 0) + 1;
      console.log('answers >= 300 (not 404):', errors);
      const retried = view.steps.filter((st) => st.attempts > 1).map((st) => `${st.key} x${st.attempts}`);
      console.log('steps run more than once:', retried.length, retried.slice(0, 8).join(', '));
      for (const e of services.db.$client
        .prepare("SELECT step_key, message FROM events WHERE deployment_id = ? AND type = 'step.retry' LIMIT 5")
        .all(id) as Array<{ step_key: string; message: string }>)
        console.log('  retry', e.step_key, e.message);
      const inst = process.env.BENCH_AZURE_TRACE;
      const st0 = step.get(`net:i${inst}.internal`)!;
      console.log(`net:i${inst}.internal`, sim(st0.startedAt).toFixed(1), sim(st0.endedAt).toFixed(1));
      for (const r of afterDeploy.requests.filter(
        (r) =>
          r.path.includes(`-i${inst}`) && /networkSecurityGroups|virtualNetworks|resourcegroups\/[^/]+$/i.test(r.path),
      ))
        console.log(
          '  ',
          (((r.at - wall0) / 1000) * speed).toFixed(1),
          r.method,
          r.path.split('/').slice(-2).join('/'),
          r.status,
        );
      console.log(
        'network steps: mean',
        (nets.reduce((a, b) => a + b, 0) / nets.length).toFixed(1),
        'max',
        Math.max(...nets).toFixed(1),
        'last end',
        Math.max(...view.steps.filter((st) => st.kind === 'network').map((st) => sim(st.endedAt))).toFixed(1),
      );
    }
    const t1 = performance.now();
    const destroyed = await services.runner.destroy(id);
    const destroySec = ((performance.now() - t1) / 1000) * speed;
    const afterDestroy = await server.report();
    if (destroyed !== 'destroyed' || afterDestroy.inventory !== 0)
      throw new Error(`teardown ended ${destroyed} with ${afterDestroy.inventory} resources left`);

    const arm = (r: StandaloneReport['requests'][number]) =>
      r.route !== 'token' && r.route !== 'openid-configuration' && r.route !== 'blob';
    const deployCalls = afterDeploy.requests.filter(arm);
    const destroyCalls = afterDestroy.requests.slice(afterDeploy.requests.length).filter(arm);
    const vmPolls = deployCalls.filter((r) =>
      r.route.includes('Microsoft.Compute/locations/{location}/operations'),
    ).length;
    const throttled = afterDestroy.requests.filter((r) => r.status === 429).length;
    const lb = lowerBound(plan, afterDeploy, latencyMs, concurrency, ready.subscriptionId);
    const rssMb = Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1024 / 1024;
    return [
      {
        platform: 'azure',
        figure: 'machines',
        value: machines,
        unit: 'count',
        note: `${instances} instances x ${machines / instances}, speed x${speed}, ${latencyMs} ms per call, VM creation 30-90 s, first boot 20-60 s`,
      },
      {
        platform: 'azure',
        figure: 'ARM calls per machine (deploy)',
        value: deployCalls.length / machines,
        unit: 'calls',
        note: `${deployCalls.length} calls, of which ${vmPolls} polls of VM creations; ${afterDeploy.requests.filter((r) => r.route === 'blob').length} serial-log blob reads`,
      },
      {
        platform: 'azure',
        figure: 'ARM calls per machine (destroy)',
        value: destroyCalls.length / machines,
        unit: 'calls',
        note: `${throttled} throttled`,
      },
      { platform: 'azure', figure: 'makespan', value: deploySec, unit: 's (simulated)' },
      {
        platform: 'azure',
        figure: 'lower bound',
        value: lb.bound,
        unit: 's (simulated)',
        note: `dependency chain ${lb.chain.toFixed(1)} s, executor lanes (${concurrency}) ${lb.lanes.toFixed(1)} s`,
      },
      {
        platform: 'azure',
        figure: 'makespan / lower bound',
        value: deploySec / lb.bound,
        unit: 'ratio',
        note: 'target <= 1.10',
      },
      {
        platform: 'azure',
        figure: 'control-plane CPU per machine (deploy)',
        value: (cpu.user + cpu.system) / 1000 / machines,
        unit: 'ms',
        note: 'executor, driver and SDK in this process, first-boot media included',
      },
      {
        platform: 'azure',
        figure: 'event-loop delay p99 (deploy)',
        value: loop.percentile(99) / 1e6,
        unit: 'ms (real)',
        note: `host load average ${load.toFixed(1)} on ${os.cpus().length} CPUs when it started: each real ms late is x${speed} simulated`,
      },
      {
        platform: 'azure',
        figure: 'driver start (SDK load)',
        value: loadMs,
        unit: 'ms (real)',
        note: 'once per process, before the first deployment',
      },
      {
        platform: 'azure',
        figure: 'teardown',
        value: destroySec,
        unit: 's (simulated)',
        note: 'every VM deleted, then every instance resource group, verified gone',
      },
      { platform: 'azure', figure: 'resources created twice', value: afterDestroy.createdTwice.length, unit: 'count' },
      {
        platform: 'azure',
        figure: 'peak RSS',
        value: rssMb,
        unit: 'MB',
        note: 'this process: the appliance side (executor, driver, SDK); the ARM server runs in its own',
      },
    ];
  } finally {
    clearInterval(sampler);
    await services.close();
    await server.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const rows = await runAzureCloudBench();
  for (const r of rows)
    console.log(
      `${`${r.platform}  ${r.figure}`.padEnd(44)} ${(Number.isInteger(r.value) ? String(r.value) : r.value.toFixed(2)).padStart(9)} ${r.unit}${r.note ? `   (${r.note})` : ''}`,
    );
}
