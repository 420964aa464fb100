// Web benchmark: with 1,000 machines in the database, the dashboard and a deployment page answer in under 50 ms at
// the 95th percentile; 100 SSE clients following one deployment all receive every event; the process's peak RSS
// stays under 250 MiB (its own: the SSE clients run in a process of their own). Prints the figures.
// Run: npm run bench:web
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
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
const rssGoal = 250 * 1024 * 1024;

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
/** This process's peak RSS so far (the kernel's high-water mark: no sampling misses a spike). */
const maxRss = () => process.resourceUsage().maxRSS * 1024;

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

const rssAfterSetup = maxRss();

async function measure(label: string, path: string) {
  for (let i = 0; i < 10; i++) await (await app.request(path, { headers: { Cookie: cookie } })).arrayBuffer();
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const res = await app.request(path, { headers: { Cookie: cookie } });
    // Read as a socket client would, in bytes: decoding the page into a string here would be this process's memory.
    const body = await res.arrayBuffer();
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    bytes = body.byteLength;
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
const rssAfterPages = maxRss();

// 100 SSE clients on real sockets, in a process of their own (web-clients.mjs), follow a fresh deployment from
// before it starts to its end.
const server = http.createServer(getRequestListener(app.fetch));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const followed = createDeployment(services, {
  yaml: scenario('followed', 50),
  file: 'followed.yaml',
  platform: 'simulator',
  instances: 2,
});
const browsers = spawn(process.execPath, [new URL('./web-clients.mjs', import.meta.url).pathname], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const exited = new Promise<never>((_, reject) =>
  browsers.once('exit', (code) => reject(new Error(`web-clients.mjs exited (${code}) before it answered`))),
);
const lines = createInterface({ input: browsers.stdout! });
const answer = <T>() => Promise.race([new Promise<T>((r) => lines.once('line', (l) => r(JSON.parse(l) as T))), exited]);
browsers.stdin!.write(
  `${JSON.stringify({ url: `${base}/deployments/${followed.id}/live?after=0`, cookie, clients: sseClients })}\n`,
);
await answer<{ open: number }>();
const followDeadline = Date.now() + 10_000;
while (app.live.followers(followed.id) < sseClients && Date.now() < followDeadline)
  await new Promise((r) => setTimeout(r, 20));
const rssBeforeRun = maxRss();
t0 = performance.now();
const followedState = await services.runner.run(followed.id);
const runMs = performance.now() - t0;
const expected = services.events.history(followed.id).map((e) => e.id);
// The last batch is flushed within the live module's flush interval; the clients wait for it (10 s at most).
browsers.stdin!.write(`${JSON.stringify({ expected })}\n`);
const { complete, fewest } = await answer<{ complete: number; fewest: number }>();
console.log(
  `SSE: ${sseClients} clients followed ${followed.id} (${followedState} in ${(runMs / 1000).toFixed(1)} s, ${expected.length} events): ${complete}/${sseClients} received every event (fewest: ${fewest})  ${complete === sseClients ? 'OK' : 'MISSING EVENTS'}`,
);
browsers.stdin!.end();
server.close();

const mem = process.memoryUsage();
const peak = maxRss();
console.log(
  `memory: peak RSS ${mb(peak)} (goal < ${mb(rssGoal)}; ${mb(rssAfterSetup)} after the setup deployment, ${mb(rssAfterPages)} after the pages, ${mb(rssBeforeRun)} with the clients connected); now ${mb(mem.rss)}, heap used ${mb(mem.heapUsed)}  ${peak < rssGoal ? 'OK' : 'OVER'}`,
);
await services.close();
const ok = dashP95 < targetMs && pageP95 < targetMs && listP95 < targetMs && complete === sseClients && peak < rssGoal;
console.log(ok ? 'bench:web passed' : 'bench:web FAILED');
process.exit(ok ? 0 : 1);
