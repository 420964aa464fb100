// npm run bench:host — what this host charges for work done in short bursts between idle waits, which is how a
// deployment's control plane runs (each simulated task end wakes the process for a fraction of a millisecond). It
// prints the CPU of one timer wake-up, and of one commit shaped like the executor's (two step rows updated, two
// events inserted, in the real schema), done back to back and done after waits of 5, 20 and 50 ms. Where the spaced
// figures are several times the back-to-back one, bench:deploy's CPU per machine depends on its speed factor: that is
// the host, not the work, and comparing the two tells how much.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq, and } from 'drizzle-orm';
import { loadConfig } from '../../server/config.ts';
import { steps } from '../../server/db/schema.ts';
import { createDeployment } from '../../server/orchestrator/deployments.ts';
import { createServices } from '../../server/services.ts';

const scenario = `
glassdome: 1
name: host
title: Host bench
networks:
  - name: lan
    cidr: 10.70.0.0/24
machines:
  - name: node
    count: 4
    networks: [lan]
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'glassdome-host-'));
const services = createServices({ config: loadConfig({ GLASSDOME_DATA_DIR: dir }) });
const { id, plan } = createDeployment(services, {
  yaml: scenario,
  file: 'host.yaml',
  platform: 'simulator',
  instances: 1,
});
const keys = plan.steps.map((s) => s.key);
const { db, events } = services;

let n = 0;
const commit = db.$client.transaction(() => {
  const at = new Date().toISOString();
  for (let i = 0; i < 2; i++) {
    const key = keys[n++ % keys.length]!;
    db.update(steps)
      .set({ state: 'running', startedAt: at })
      .where(and(eq(steps.deploymentId, id), eq(steps.key, key)))
      .run();
    events.publish(id, 'step.started', 'started', key);
  }
});

const cpuUs = (c: NodeJS.CpuUsage) => c.user + c.system;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Mean CPU (µs) per iteration of `work` after a wait of `gapMs` (none: back to back). */
async function perIteration(count: number, gapMs: number, work: () => void): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    if (gapMs > 0) await wait(gapMs);
    work();
  }
  return cpuUs(process.cpuUsage(c0)) / count;
}

// Warm the statements and the JIT first.
await perIteration(2000, 0, () => commit.immediate());
const dense = await perIteration(2000, 0, () => commit.immediate());
console.log('bench:host  CPU per operation, microseconds (mean)');
console.log(`${'commit back to back'.padEnd(40)} ${dense.toFixed(0)}`);
for (const gap of [5, 20, 50]) {
  const count = Math.round(4000 / gap);
  const bare = await perIteration(count, gap, () => {});
  const spaced = await perIteration(count, gap, () => commit.immediate());
  console.log(`${`after ${gap} ms idle: wake-up alone`.padEnd(40)} ${bare.toFixed(0)}`);
  console.log(
    `${`after ${gap} ms idle: wake-up + commit`.padEnd(40)} ${spaced.toFixed(0)}  (the commit: ${(spaced - bare).toFixed(0)}, ${((spaced - bare) / dense).toFixed(1)}x back to back)`,
  );
}
const steal = fs.existsSync('/proc/stat')
  ? Number(fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)[8])
  : Number.NaN;
console.log(
  `steal time reported by the kernel: ${Number.isNaN(steal) ? 'unknown' : steal === 0 ? 'none (a hypervisor that preempts this VM is not accounted for: it shows as our CPU)' : `${steal} ticks`}`,
);
await services.close();
fs.rmSync(dir, { recursive: true, force: true });
