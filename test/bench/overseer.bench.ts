// npm run bench:overseer — one appliance with 500 deployments / 2,000 machines (3 machines and a router each) on the
// simulator, every platform call answered after a realistic latency (BENCH_LATENCY_MS, default 20 ms), 1% of the
// machines powered off behind the appliance's back. Measures a full health + drift sweep (as at a minute that is a
// multiple of 5, when both fire): wall time, platform calls, CPU; the dashboard's p95 while it runs; peak RSS.
// Targets: sweep < 10 s, peak RSS < 250 MB for the whole process.
// The deployments are seeded as the executor leaves them (planned by the real planner, every step done, resources
// recorded, the simulator's inventory holding each machine running with its NICs and each router's own nftables
// file), not deployed one by one: deploying 2,000 machines is bench:deploy's subject, not this one's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildRouterFiles } from '../../server/agents/lab-router.ts';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { Plan } from '../../server/model/plan.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import type { Platform } from '../../server/platforms/platform.ts';
import { createServices } from '../../server/services.ts';

const deployments = Number(process.env.BENCH_DEPLOYMENTS ?? 500);
const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 20);
const offShare = 0.01;
const targets = { sweepMs: 10_000, rssMb: 250 };

const mb = (n: number) => (n / 1024 / 1024).toFixed(0);
const pct = (xs: number[], p: number) =>
  xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

const scenario = `
glassdome: 1
name: bench-range
title: Overseer benchmark range
networks:
  - { name: lan, cidr: 10.50.1.0/24 }
  - { name: dmz, cidr: 10.50.2.0/24, internet: true }
machines:
  - { name: web, networks: [dmz, lan] }
  - { name: db, networks: [lan] }
  - { name: kali, os: kali-rolling, networks: [dmz] }
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-bench-overseer-'));
const services = createServices({
  config: loadConfig({ GLASSDOME_DATA_DIR: dir, GLASSDOME_SIM_SPEED: '20' }),
  overseer: { log: () => {} },
});
const { db } = services;
services.platforms.update(systemActor, 'simulator', {
  config: { speed: 20, callLatencyMs: latencyMs, capacity: { cpus: 65_536, memoryMb: 64 * 1024 * 1024 } },
});
// Two VLANs per deployment: the default pool (2000-2999) and one more.
services.ipam.addVlanPool(systemActor, 3000, 3999);
const simId = services.platforms.get('simulator').id;

// ------------------------------------------------------------------------------------------------ seeding
let t0 = performance.now();
const now = Date.now();
let nextId = 1000;
const insertMachine = db.$client.prepare(
  "INSERT INTO sim_machines (platform_id, id, name, deployment_id, power, cpus, memory_mb, addresses, snapshots, busy_until, storage, ready_at, address_at, first_boot, nics) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, '[]', 0, 'local-lvm', ?, ?, ?, ?)",
);
const insertNetwork = db.$client.prepare(
  'INSERT INTO sim_networks (platform_id, id, name, deployment_id, vlan) VALUES (?, ?, ?, ?, ?)',
);
const insertResource = db.$client.prepare(
  "INSERT INTO resources (deployment_id, key, kind, name, external_id, addresses, state) VALUES (?, ?, ?, ?, ?, ?, 'present')",
);
const ids: string[] = [];
for (let i = 0; i < deployments; i++) {
  const { id, plan } = createDeployment(services, { yaml: scenario, file: 'bench.yaml', platform: 'simulator' });
  ids.push(id);
  db.$client.transaction(() => {
    const netIds = new Map<string, string>();
    for (const n of (plan as Plan).networks) {
      const netId = n.kind === 'uplink' ? 'vmbr0' : `vmbr0.${n.vlan}`;
      netIds.set(n.key, netId);
      if (n.kind !== 'uplink') insertNetwork.run(simId, netId, n.resourceName, id, n.vlan ?? null);
      insertResource.run(id, n.key, 'network', n.resourceName, netId, null);
    }
    for (const m of plan.machines) {
      const vmid = String(nextId++);
      const addresses = m.nics.map((n) => n.ip ?? `203.0.113.${(nextId % 250) + 1}`);
      const userData =
        m.role === 'router'
          ? `#cloud-config\nwrite_files:\n  - path: /etc/nftables.conf\n    content: ${JSON.stringify(buildRouterFiles(m).nftables)}\n`
          : '#cloud-config\n';
      insertMachine.run(
        simId,
        vmid,
        m.resourceName,
        id,
        m.size.cpus,
        m.size.memoryMb,
        JSON.stringify(addresses),
        now - 60_000,
        now - 60_000,
        userData,
        JSON.stringify(m.nics.map((n) => ({ network: netIds.get(n.networkKey)!, mac: n.mac }))),
      );
      insertResource.run(id, m.key, 'machine', m.resourceName, vmid, JSON.stringify(addresses));
    }
    db.$client.prepare("UPDATE steps SET state = 'done' WHERE deployment_id = ?").run(id);
    db.$client
      .prepare("UPDATE deployments SET state = 'ready', finished_at = ? WHERE id = ?")
      .run(new Date().toISOString(), id);
  })();
}
const machines = db.$client.prepare("SELECT count(*) FROM resources WHERE kind = 'machine'").pluck().get() as number;
console.log(
  `setup: ${deployments} deployments, ${machines} machines seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s; simulator call latency ${latencyMs} ms`,
);

// ------------------------------------------------------------------------------------------------ call counting
const calls = new Map<string, number>();
const instance = services.platforms.instance.bind(services.platforms);
const wrapped = new Map<string, Platform>();
services.platforms.instance = async (idOrName: string) => {
  const p = await instance(idOrName);
  let w = wrapped.get(idOrName);
  if (!w) {
    w = new Proxy(p, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || prop === 'close') return v;
        return (...args: unknown[]) => {
          calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    wrapped.set(idOrName, w);
  }
  return w;
};
const countCalls = () => {
  const out = Object.fromEntries(calls);
  calls.clear();
  const total = Object.values(out).reduce((a, b) => a + b, 0);
  return `${total} platform calls (${Object.entries(out)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')})`;
};

async function sweep(jobs: Array<'health' | 'drift'>) {
  calls.clear();
  const cpu = process.cpuUsage();
  const t = performance.now();
  const runs = await Promise.all(jobs.map((j) => services.overseer.run(systemActor, j)));
  const wall = performance.now() - t;
  const used = process.cpuUsage(cpu);
  for (const r of runs)
    if (r.state !== 'ran' || r.run.result !== 'ok') throw new Error(`sweep failed: ${JSON.stringify(r)}`);
  return { wall, cpuMs: (used.user + used.system) / 1000, calls: countCalls(), runs };
}

const rssAfterSetup = process.memoryUsage().rss;
// Baseline: the first health sweep records every machine's health (2,000 rows) and opens nothing.
const first = await sweep(['health']);
console.log(
  `health, first sweep: ${(first.wall / 1000).toFixed(2)} s wall, ${first.cpuMs.toFixed(0)} ms CPU, ${first.calls}`,
);

// Faults behind the appliance's back: 1% of the machines powered off on the platform.
const sim = await instance('simulator');
const victims = ids.slice(0, Math.round(machines * offShare));
for (const id of victims) {
  const r = services.deployments.get(id).resources.find((x) => x.key === 'i1.web')!;
  await sim.stopMachine({ id: r.externalId!, name: r.name });
}

// The dashboard, signed in as an admin, measured alone and while a full sweep runs.
const app = createApp(services);
const admin = await app.web.users.create(systemActor, {
  username: 'admin',
  password: 'benchmark password',
  role: 'admin',
});
app.web.setup.complete(systemActor);
const cookie = `gd_session=${app.web.sessions.start(admin.id, 'bench').token}`;
async function dashboardWhile(until: () => boolean, min = 30) {
  const times: number[] = [];
  while (!until() || times.length < min) {
    const t = performance.now();
    const res = await app.request('/', { headers: { Cookie: cookie } });
    await res.text();
    if (res.status !== 200) throw new Error(`dashboard: ${res.status}`);
    times.push(performance.now() - t);
    // Requests arrive from sockets, between other work: without this the loop would run on microtasks alone and
    // starve the sweep's timers (its calls' latency), which no browser can do.
    await new Promise((r) => setImmediate(r));
  }
  return times;
}
await dashboardWhile(() => true, 10); // warm-up: compiled code, the platform check the dashboard caches
const idle = await dashboardWhile(() => true, 100);

// The full sweep alone (its own CPU), then again with the dashboard asked for all along (its latency).
const result = await sweep(['health', 'drift']);
let done = false;
const loaded = sweep(['health', 'drift']).finally(() => (done = true));
const during = await dashboardWhile(() => done, 5);
const underLoad = await loaded;
const health = result.runs[0]!.state === 'ran' ? result.runs[0]!.run : undefined;
const drift = result.runs[1]!.state === 'ran' ? result.runs[1]!.run : undefined;
console.log(
  `full health + drift sweep: ${(result.wall / 1000).toFixed(2)} s wall (target < ${targets.sweepMs / 1000} s), ${result.cpuMs.toFixed(0)} ms CPU, ${result.calls}`,
);
console.log(`  health: ${health?.durationMs} ms: ${health?.summary}`);
console.log(`  drift:  ${drift?.durationMs} ms: ${drift?.summary}`);
const open = services.overseer.findings.list({ state: 'open' });
console.log(
  `  findings: ${open.length} open (${open.filter((f) => f.kind === 'power-off').length} power-off, expected ${victims.length})`,
);
const steady = await sweep(['health']);
console.log(
  `health, steady sweep: ${(steady.wall / 1000).toFixed(2)} s wall, ${steady.cpuMs.toFixed(0)} ms CPU, ${steady.calls}`,
);
console.log(
  `dashboard: p50 ${pct(idle, 50).toFixed(1)} ms, p95 ${pct(idle, 95).toFixed(1)} ms alone (${idle.length} requests); ` +
    `p50 ${pct(during, 50).toFixed(1)} ms, p95 ${pct(during, 95).toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms during a full sweep ` +
    `(${during.length} requests; that sweep took ${(underLoad.wall / 1000).toFixed(2)} s)`,
);

clearInterval(sampler);
const rss = process.memoryUsage().rss;
peakRss = Math.max(peakRss, rss);
const heap = process.memoryUsage();
console.log(
  `memory: RSS ${mb(rssAfterSetup)} MiB after seeding, ${mb(rss)} MiB now, ${mb(peakRss)} MiB peak (target < ${targets.rssMb} MiB); heap used ${mb(heap.heapUsed)} of ${mb(heap.heapTotal)} MiB`,
);
await services.close();
fs.rmSync(dir, { recursive: true, force: true });
const ok =
  result.wall < targets.sweepMs &&
  peakRss < targets.rssMb * 1024 * 1024 &&
  open.filter((f) => f.kind === 'power-off').length === victims.length;
console.log(ok ? 'bench:overseer passed' : 'bench:overseer FAILED');
process.exit(ok ? 0 : 1);
