// The AWS part of bench:clouds: 20 instances x 5 machines (four levels of dependencies) and each instance's range
// router (the DMZ's egress goes through it), deployed and destroyed through the executor on an AWS platform pointed
// at moto, behind the test proxy, which adds BENCH_LATENCY_MS (150) to every call and plays the guests: each prints
// its first-boot line BENCH_BOOT_MS (30000) after its launch. BENCH_INSTANCES changes the instance count. moto does
// not throttle, so console reads may go at 100/s here (the driver's default is 10/s, for EC2's request limits).
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import type { Plan, PlannedMachine } from '../../server/model/plan.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { awsConfigSchema } from '../../server/platforms/aws/config.ts';
import { createServices } from '../../server/services.ts';
import { simulatedGuests, startEc2Proxy, type Ec2Call } from '../platforms/ec2-proxy.ts';
import { locateMoto, startMoto } from '../platforms/moto.ts';
import type { CloudBenchRow } from './clouds.bench.ts';
import { systemActor } from '../../server/model/audit.ts';

const scenario = `
glassdome: 1
name: bench-cloud
title: Cloud benchmark range
networks:
  - name: dmz
    cidr: 10.50.1.0/24
    internet: true
  - name: corp
    cidr: 10.50.2.0/24
  - name: attack
    cidr: 10.50.66.0/24
machines:
  - name: dc
    networks: [corp]
  - name: fs
    networks: [corp]
    dependsOn: [dc]
  - name: app
    networks: [dmz, corp]
    dependsOn: [fs]
  - name: web
    networks: [dmz]
    dependsOn: [app]
  - name: kali
    os: kali-rolling
    networks: [attack]
`;

const networkActions =
  /Vpc|Subnet|RouteTable|Route$|InternetGateway|SecurityGroup|AvailabilityZones|KeyPair|NatGateway|Address/;

function levels(plan: Plan): number {
  const byKey = new Map(plan.machines.map((m) => [m.key, m]));
  const memo = new Map<string, number>();
  const level = (m: PlannedMachine): number =>
    memo.get(m.key) ??
    (memo.set(m.key, 1 + Math.max(0, ...m.dependsOn.map((k) => level(byKey.get(k)!)))), memo.get(m.key)!);
  return Math.max(...plan.machines.map(level));
}

function byAction(calls: Ec2Call[]): string {
  const counts = new Map<string, number>();
  for (const c of calls) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([a, n]) => `${a} ${n}`)
    .join(', ');
}

/** Where the time goes, per dependency level and along the critical chain (BENCH_TRACE=1), in s from the start. */
function trace(
  plan: Plan,
  steps: Array<{ key: string; startedAt: string | null; endedAt: string | null }>,
  calls: Ec2Call[],
  t0: number,
  bootMs: number,
) {
  const byKey = new Map(steps.map((s) => [s.key, s]));
  const at = (k: string, e: 'startedAt' | 'endedAt') => (Date.parse(byKey.get(k)![e]!) - t0) / 1000;
  const machineOf = (c: Ec2Call) => {
    for (const [k, v] of c.params) if (v === 'glassdome:machine') return c.params.get(k.replace(/Key$/, 'Value'));
    return undefined;
  };
  const runs = new Map<string, Ec2Call>();
  for (const c of calls) if (c.action === 'RunInstances' && !c.fault) runs.set(machineOf(c) ?? '', c);
  const reads = new Map<string, number>();
  for (const c of calls)
    if (c.action === 'GetConsoleOutput')
      reads.set(c.params.get('InstanceId')!, (reads.get(c.params.get('InstanceId')!) ?? 0) + 1);
  const machines = new Map(plan.machines.map((m) => [m.key, m]));
  const memo = new Map<string, number>();
  const level = (m: PlannedMachine): number =>
    memo.get(m.key) ??
    (memo.set(m.key, 1 + Math.max(0, ...m.dependsOn.map((k) => level(machines.get(k)!)))), memo.get(m.key)!);
  const rows = plan.machines.map((m) => {
    const run = runs.get(m.resourceName)!;
    const startable = Math.max(
      at(`${m.key}:create`, 'endedAt'),
      ...m.dependsOn.map((d) => at(`${d}:ready`, 'endedAt')),
    );
    const launched = (run.answeredAt! - t0) / 1000;
    const ready = at(`${m.key}:ready`, 'endedAt');
    return {
      m,
      level: level(m),
      nets: Math.max(...m.nics.map((n) => at(`net:${n.networkKey}`, 'endedAt'))),
      created: at(`${m.key}:create`, 'endedAt'),
      startable,
      gate: at(`${m.key}:start`, 'startedAt') - startable,
      toRun: (run.at - t0) / 1000 - at(`${m.key}:start`, 'startedAt'),
      run: launched - (run.at - t0) / 1000,
      launched,
      overshoot: ready - launched - bootMs / 1000,
      ready,
      reads: reads.get(run.instanceIds![0]!) ?? 0,
    };
  });
  const f = (x: number) => x.toFixed(2);
  const stats = (xs: number[]) => `avg ${f(xs.reduce((a, b) => a + b, 0) / xs.length)} max ${f(Math.max(...xs))}`;
  for (let l = 1; l <= Math.max(...rows.map((r) => r.level)); l++) {
    const rs = rows.filter((r) => r.level === l);
    console.log(
      `level ${l} (${rs.length}): networks done ${stats(rs.map((r) => r.nets))}; created ${stats(rs.map((r) => r.created))}; startable ${stats(rs.map((r) => r.startable))}`,
    );
    console.log(
      `  startable->start step ${stats(rs.map((r) => r.gate))}; ->RunInstances sent ${stats(rs.map((r) => r.toRun))}; RunInstances ${stats(rs.map((r) => r.run))}`,
    );
    console.log(
      `  launched ${stats(rs.map((r) => r.launched))}; ready seen after boot ${stats(rs.map((r) => r.overshoot))}; console reads ${stats(rs.map((r) => r.reads))}`,
    );
  }
  const last = rows.reduce((a, b) => (b.ready > a.ready ? b : a));
  const byMachine = new Map(rows.map((r) => [r.m.key, r]));
  const chain = [last];
  while (chain[0]!.m.dependsOn.length > 0)
    chain.unshift(chain[0]!.m.dependsOn.map((k) => byMachine.get(k)!).reduce((a, b) => (b.ready > a.ready ? b : a)));
  console.log('critical chain:');
  for (const r of chain)
    console.log(
      `  ${r.m.key}: networks ${f(r.nets)} created ${f(r.created)} startable ${f(r.startable)} +gate ${f(r.gate)} +to run ${f(r.toRun)} +run ${f(r.run)} launched ${f(r.launched)} ready ${f(r.ready)} (+${f(r.overshoot)} after boot, ${r.reads} reads)`,
    );
  // API calls per second in the first 15 s, by kind: how long the preparation keeps the region's call slots busy.
  const kinds: Array<[string, RegExp]> = [
    ['network', networkActions],
    ['launch', /RunInstances/],
    ['wait', /DescribeInstances|GetConsoleOutput/],
    ['create', /LaunchTemplate|Image|InstanceType/],
  ];
  for (let sec = 0; sec < 15; sec++) {
    const inSec = calls.filter((c) => c.at - t0 >= sec * 1000 && c.at - t0 < (sec + 1) * 1000);
    console.log(
      `  ${sec}-${sec + 1}s: ${inSec.length} calls (${kinds.map(([k, re]) => `${k} ${inSec.filter((c) => re.test(c.action)).length}`).join(', ')})`,
    );
  }
}

export async function benchAws(): Promise<CloudBenchRow[]> {
  const instances = Number(process.env.BENCH_INSTANCES ?? 20);
  const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 150);
  const bootMs = Number(process.env.BENCH_BOOT_MS ?? 30_000);
  const located = await locateMoto();
  if ('skip' in located) return [{ cloud: 'aws', label: 'skipped', value: located.skip }];
  const moto = await startMoto(located.python);
  const proxy = await startEc2Proxy(moto.endpoint, { latencyMs });
  proxy.options.console = simulatedGuests(moto.client(), { bootMs, launchedAt: proxy.launchedAt });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-bench-clouds-'));
  const services = createServices({
    config: loadConfig({ GLASSDOME_DATA_DIR: dir }),
    db: openDb(':memory:'),
    runner: { concurrency: 32 },
  });
  const config = awsConfigSchema.parse({
    region: 'eu-west-1',
    accessKeyId: 'AKIABENCHBENCHBENCH0',
    endpoint: proxy.endpoint,
    poll: { minMs: 1000, maxMs: 3000, consoleReadsPerSec: 100 },
  });
  services.platforms.add(systemActor, { name: 'aws-bench', kind: 'aws', config, secret: 'bench-secret' });
  const rows: CloudBenchRow[] = [];
  const row = (label: string, value: string) => rows.push({ cloud: 'aws', label, value });
  try {
    // Once per process and not per deployment: loading the SDK (about 2 s) and moto setting up its region (3 s).
    await (await services.platforms.instance('aws-bench')).listOwned('warm-up');
    const { id, plan } = createDeployment(services, {
      yaml: scenario,
      file: 'bench-cloud.yaml',
      platform: 'aws-bench',
      instances,
    });
    const machines = plan.machines.length;
    const from = proxy.calls.length;
    const rss0 = process.resourceUsage().maxRSS;
    const t0 = performance.now();
    const t0Wall = Date.now();
    const final = await services.runner.run(id);
    const wallMs = performance.now() - t0;
    if (final !== 'ready') {
      const d = services.deployments.get(id);
      const first = d.steps.find((x) => x.state === 'failed');
      throw new Error(`deployment ended ${final}: ${d.error}${first ? `; ${first.key}: ${first.error}` : ''}`);
    }
    const deployCalls = proxy.calls.slice(from);
    if (process.env.BENCH_TRACE) {
      const steps = services.deployments.get(id).steps;
      trace(plan, steps, deployCalls, t0Wall, bootMs);
      // BENCH_TRACE=<file>.json: the steps and calls too, to look at afterwards.
      if (process.env.BENCH_TRACE.endsWith('.json'))
        fs.writeFileSync(
          process.env.BENCH_TRACE,
          JSON.stringify({
            t0: t0Wall,
            steps,
            calls: deployCalls.map((c) => ({ ...c, params: Object.fromEntries(c.params) })),
          }),
        );
    }

    // Lower bounds. Dependencies: a network takes two round trips at the least (VPC, then subnet), and each level of
    // the dependency chain a launch, the boot, and one console read. Concurrency: this run's calls, each a round
    // trip, at most maxConcurrentCalls in flight.
    const depth = levels(plan);
    const chainMs = 2 * latencyMs + depth * (2 * latencyMs + bootMs);
    const callRateMs = (deployCalls.length * latencyMs) / config.maxConcurrentCalls;
    const boundMs = Math.max(chainMs, callRateMs);
    const polls = deployCalls.filter((c) => c.action === 'DescribeInstances' || c.action === 'GetConsoleOutput');
    const networkCalls = deployCalls.filter((c) => networkActions.test(c.action));

    const t1 = performance.now();
    const destroyed = await services.runner.destroy(id);
    const destroyMs = performance.now() - t1;
    const destroyCalls = proxy.calls.length - from - deployCalls.length;

    row(
      'deployment',
      `${machines} machines (${instances} instances x ${machines / instances}), ${depth} dependency levels, ${latencyMs} ms per call, guests ready ${bootMs} ms after launch`,
    );
    row('wall time (s)', (wallMs / 1000).toFixed(1));
    row(
      'lower bound (s)',
      `${(boundMs / 1000).toFixed(1)}  (dependency chain ${(chainMs / 1000).toFixed(1)}, ${config.maxConcurrentCalls} calls in flight ${(callRateMs / 1000).toFixed(1)})`,
    );
    row('wall time / lower bound', `${(wallMs / boundMs).toFixed(3)}  (target <= 1.10)`);
    row(
      'API calls per machine',
      `${(deployCalls.length / machines).toFixed(1)}  (networks ${(networkCalls.length / machines).toFixed(1)}, waits ${(polls.length / machines).toFixed(1)}, other ${((deployCalls.length - networkCalls.length - polls.length) / machines).toFixed(1)})`,
    );
    row('calls by action', byAction(deployCalls));
    row(
      'destroy',
      `${destroyed} in ${(destroyMs / 1000).toFixed(1)} s, ${(destroyCalls / machines).toFixed(1)} calls per machine`,
    );
    row(
      'peak RSS after the run (MB)',
      `${(process.resourceUsage().maxRSS / 1024).toFixed(0)}  (${(rss0 / 1024).toFixed(0)} before it)`,
    );
    return rows;
  } finally {
    await services.close();
    await proxy.stop();
    await moto.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
