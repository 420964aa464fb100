// Trainee access benchmark: 50 web terminals open at once through one appliance (SSH jumping through the range
// router, as in a class): the appliance's added RSS per session, and the keystroke echo latency (p50/p95/p99) over
// loopback with every session typing at once. The clients run in their own process. Needs root (test/ssh/sshd.ts).
// Run: npm run bench:access   (BENCH_SESSIONS, BENCH_ROUNDS change the figures' set-up)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { openDb } from '../../server/db/client.ts';
import { systemActor } from '../../server/model/audit.ts';
import type { PlannedMachine } from '../../server/model/plan.ts';
import { machineStatus } from '../../server/orchestrator/deployment-reads.ts';
import { machinePasswords } from '../../server/orchestrator/passwords.ts';
import { createServices } from '../../server/services.ts';
import { link, serve } from '../access/helpers.ts';
import { startSshd, sshdUsable } from '../ssh/sshd.ts';
import { setUpAppliance } from '../web/helpers.ts';

const sessions = Number(process.env.BENCH_SESSIONS ?? 50);
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const labPassword = 'Bench-lab-password-1';

const avail = await sshdUsable();
if (!('ok' in avail) || !avail.asRoot) {
  console.log(`bench:access skipped: ${'skip' in avail ? avail.skip : 'password logins to the test sshd need root'}`);
  process.exit(0);
}

const scenario = `
glassdome: 1
name: bench-access
title: Access benchmark
networks:
  - { name: lan, cidr: 10.80.1.0/24 }
  - { name: dmz, cidr: 10.80.2.0/24, internet: true }
machines:
  - name: web
    networks: [lan]
    users: [{ name: lab, password: "${labPassword}" }]
`;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  return process.memoryUsage();
};

const routes = new Map<string, { host: string; port: number }>();
const services = createServices({
  config: loadConfig({ GLASSDOME_DATA_DIR: '/nonexistent-bench-dir', GLASSDOME_SIM_SPEED: '20000' }),
  db: openDb(':memory:'),
  access: { terminal: { route: (host, port) => routes.get(host) ?? { host, port } } },
});
const app = createApp(services);
const ctx = await setUpAppliance(app);
const { id } = services.deployments.create(systemActor, {
  yaml: scenario,
  file: 'bench-access.yaml',
  platform: 'simulator',
  assignments: { '1': ctx.users.trainee.id },
});
if ((await services.runner.run(id)) !== 'ready') throw new Error('the benchmark deployment did not become ready');
const view = services.deployments.get(id);
const secret = services.box.open(
  (services.db.$client.prepare('SELECT secret FROM deployments WHERE id = ?').get(id) as { secret: string }).secret,
);
const router = view.plan.machines.find((m) => m.key === 'i1.router') as PlannedMachine;
const jump = await startSshd({
  account: { user: 'glassdome', password: machinePasswords(router, secret, scenario).glassdome! },
  extraConfig: ['MaxStartups 100:30:200'],
});
const lab = await startSshd({
  account: { user: 'lab', password: labPassword },
  extraConfig: ['MaxStartups 100:30:200'],
});
const uplink = machineStatus(view)
  .find((m) => m.key === 'i1.router')!
  .addresses.find((a) => a.startsWith('203.0.113.'))!;
routes.set(uplink, { host: '127.0.0.1', port: jump.port });
routes.set('10.80.1.10', { host: '127.0.0.1', port: lab.port });
const web = await serve(app);
const alice = ctx.clients.trainee;
const cookie = [...alice.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

async function runClients(n: number, typingRounds: number, onOpen: () => Promise<void>): Promise<number[]> {
  const sockets: string[] = [];
  for (let i = 0; i < n; i++) {
    const l = await link(alice, id, 'i1.web', 'terminal');
    if (l.status !== 200) throw new Error(`link: ${l.status} ${JSON.stringify(l.body)}`);
    sockets.push(`${web.base.replace('http', 'ws')}${l.body.socket}`);
  }
  const child = spawn(process.execPath, [new URL('./access-clients.mjs', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((r) => lines.once('line', r));
  child.stdin!.write(`${JSON.stringify({ sockets, cookie, origin: web.base, rounds: typingRounds })}\n`);
  const opened = JSON.parse(await next()) as { open: number };
  if (opened.open !== n) throw new Error(`only ${opened.open} of ${n} sessions opened`);
  await onOpen();
  child.stdin!.write('go\n');
  const { latencies } = JSON.parse(await next()) as { latencies: number[] };
  await new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 100 && services.access.live.list().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  return latencies;
}

// Warm up: the SSH, WebSocket and terminal code paths load and compile once, outside the measurement.
await runClients(2, 5, async () => {});
const base = await settle();
let open = base;
const latencies = await runClients(sessions, rounds, async () => {
  if (services.access.live.list().length !== sessions) throw new Error('sessions are not all open in the appliance');
  open = await settle();
});

const perSession = (open.rss - base.rss) / sessions;
console.log(`bench:access: ${sessions} web terminals through one appliance (SSH via the range router), loopback`);
console.log(`  appliance RSS: ${mib(base.rss)} MiB before, ${mib(open.rss)} MiB with ${sessions} sessions open`);
console.log(
  `  added RSS per session: ${(perSession / 1024).toFixed(0)} KiB (heap ${((open.heapUsed - base.heapUsed) / sessions / 1024).toFixed(0)} KiB of it)`,
);
console.log(
  `  keystroke echo latency, ${latencies.length} keystrokes, all ${sessions} sessions typing at once: p50 ${pct(latencies, 50).toFixed(1)} ms, p95 ${pct(latencies, 95).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
);

await web.close();
await services.close();
await jump.stop();
await lab.stop();
process.exit(0);
