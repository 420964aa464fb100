// Web benchmark: with 1,000 machines in the database, the dashboard and a deployment page answer in under 50 ms at
// the 95th percentile; 100 SSE clients following one deployment all receive every event. Prints figures and RSS.
// Run: npm run bench:web
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { createServices } from '../../server/services.ts';
import { systemActor } from '../../server/model/audit.ts';

const targetMs = 50;
const samples = 200;
const sseClients = 100;

function scenario(name: string, perInstance: number) {
  return `glassdome: 1
name: ${name}
title: Benchmark ${name}
networks:
  - name: lan
    cidr: 10.60.0.0/22
machines:
  - name: node
    count: ${perInstance}
    networks: [lan]
`;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

const services = createServices({
  config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-bench-dir', GLASSDOME_SIM_SPEED: '20000' }),
  db: openDb(':memory:'),
  runner: { retry: { attempts: 8, baseMs: 50, maxMs: 500 }, concurrency: 64 },
});
services.platforms.update(systemActor, 'simulator', {
  config: { speed: 20000, cloneSlotsPerStorage: 64, capacity: { cpus: 4096, memoryMb: 8 * 1024 * 1024 } },
});
const app = createApp(services);
const admin = await app.web.users.create(systemActor, {
  username: 'admin',
  password: 'benchmark password',
  role: 'admin',
});
app.web.setup.complete(systemActor);
const { token: session } = app.web.sessions.start(admin.id, 'bench');
const cookie = `gd_session=${session}`;

// 1,000 machines: 10 instances of 100, deployed for real on the simulator so steps, resources and events exist.
let t0 = performance.now();
const big = createDeployment(services, {
  yaml: scenario('thousand', 100),
  file: 'thousand.yaml',
  platform: 'simulator',
  instances: 10,
});
const bigState = await services.runner.run(big.id);
const machineCount = (
  services.db.$client.prepare("SELECT count(*) AS n FROM resources WHERE kind = 'machine'").get() as { n: number }
).n;
const eventCount = (services.db.$client.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
console.log(
  `setup: ${machineCount} machines deployed (${bigState}) with ${eventCount} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

async function measure(label: string, path: string) {
  for (let i = 0; i < 10; i++) await (await app.request(path, { headers: { Cookie: cookie } })).text();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const res = await app.request(path, { headers: { Cookie: cookie } });
    const body = await res.text();
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    bytes = body.length;
  }
  const p95 = pct(times, 95);
  console.log(
    `${label.padEnd(18)} p50 ${pct(times, 50).toFixed(1)} ms  p95 ${p95.toFixed(1)} ms  max ${Math.max(...times).toFixed(1)} ms  (${samples} requests, ${(bytes / 1024).toFixed(0)} KiB)  ${p95 < targetMs ? 'OK' : `OVER ${targetMs} ms`}`,
  );
  return p95;
}

const dashP95 = await measure('dashboard', '/');
const pageP95 = await measure('deployment page', `/deployments/${big.id}`);
const listP95 = await measure('deployments list', '/deployments');

// 100 SSE clients on a real socket follow a fresh deployment from before it starts to its end.
const server = http.createServer(getRequestListener(app.fetch));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const followed = createDeployment(services, {
  yaml: scenario('followed', 50),
  file: 'followed.yaml',
  platform: 'simulator',
  instances: 2,
});
const received: Array<Set<number>> = [];
const controllers: AbortController[] = [];
const readers = Array.from({ length: sseClients }, async (_, i) => {
  const seen = new Set<number>();
  received[i] = seen;
  const controller = new AbortController();
  controllers.push(controller);
  const res = await fetch(`${base}/deployments/${followed.id}/live?after=0`, {
    headers: { Cookie: cookie },
    signal: controller.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of decoder.decode(value, { stream: true }).matchAll(/data-event-id="(\d+)"/g))
        seen.add(Number(m[1]));
    }
  } catch {
    // Aborted at the end.
  }
});
while (app.live.followers(followed.id) < sseClients) await new Promise((r) => setTimeout(r, 20));
t0 = performance.now();
const followedState = await services.runner.run(followed.id);
const runMs = performance.now() - t0;
const expected = services.events.history(followed.id).map((e) => e.id);
// The last batch is flushed within the live module's flush interval; allow for delivery.
const deadline = Date.now() + 10_000;
while (Date.now() < deadline && received.some((s) => s.size < expected.length))
  await new Promise((r) => setTimeout(r, 50));
const complete = received.filter((s) => expected.every((id) => s.has(id))).length;
const minSeen = Math.min(...received.map((s) => s.size));
console.log(
  `SSE: ${sseClients} clients followed ${followed.id} (${followedState} in ${(runMs / 1000).toFixed(1)} s, ${expected.length} events): ${complete}/${sseClients} received every event (fewest: ${minSeen})  ${complete === sseClients ? 'OK' : 'MISSING EVENTS'}`,
);
for (const c of controllers) c.abort();
await Promise.allSettled(readers);
server.close();

clearInterval(sampler);
const mem = process.memoryUsage();
console.log(`memory: RSS ${mb(mem.rss)} now, ${mb(Math.max(peakRss, mem.rss))} peak; heap used ${mb(mem.heapUsed)}`);
await services.close();
const ok = dashP95 < targetMs && pageP95 < targetMs && listP95 < targetMs && complete === sseClients;
console.log(ok ? 'bench:web passed' : 'bench:web FAILED');
process.exit(ok ? 0 : 1);
