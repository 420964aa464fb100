// How long clones take when Proxmox answers 30% of clone requests with a lock timeout: the driver's real retry policy
// (1 s base, 15 s cap, equal jitter) and clone slots (2 per storage) against the schema-checking test server.
// Whether attempt n of machine m fails is drawn from (seed, m, n), so every run of a seed fails the same attempts and
// two versions of the driver compare on time alone. Prints the worst machine's attempts and time, median, makespan.
// Run: npx tsx test/platforms/proxmox-retries.bench.ts   (BENCH_RUNS, BENCH_MACHINES, BENCH_FAILURE, BENCH_CLONE_MS)
import { createHash } from 'node:crypto';
import { proxmoxConfigSchema } from '../../server/platforms/proxmox/config.ts';
import { createProxmoxPlatform } from '../../server/platforms/proxmox/driver.ts';
import { schemaMissingReason, startProxmoxServer } from './proxmox-server/index.ts';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const machines = Number(process.env.BENCH_MACHINES ?? 20);
const failure = Number(process.env.BENCH_FAILURE ?? 0.3);
const cloneMs = Number(process.env.BENCH_CLONE_MS ?? 1000);

interface Run {
  worstAttempts: number;
  worstMs: number;
  medianMs: number;
  makespanMs: number;
  retries: number;
}

const draw = (text: string) => createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;

async function once(seed: number): Promise<Run> {
  const tries = new Map<string, number>();
  const s = await startProxmoxServer({
    seed,
    templates: [{ vmid: 9000, name: 'ubuntu-2204-template' }],
    storages: [{ id: 'local-lvm', cloneSlots: 2 }],
    timing: { authFailDelayMs: 0, taskMs: { qmclone: cloneMs, qmconfig: 50, default: 20 } },
    faults: [
      {
        effect: 'http500',
        method: 'POST',
        endpoint: '/nodes/{node}/qemu/{vmid}/clone',
        when: (params) => {
          const name = String(params.name);
          const n = (tries.get(name) ?? 0) + 1;
          tries.set(name, n);
          return draw(`${seed}/${name}/${n}`) < failure;
        },
        message: "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout",
      },
    ],
  });
  const p = createProxmoxPlatform(
    proxmoxConfigSchema.parse({
      url: s.url,
      auth: { mode: 'token', tokenId: s.tokens[0]!.tokenid },
      tls: { fingerprint: s.fingerprint },
      node: 'pve',
      templates: { 'ubuntu-22.04': 9000 },
    }),
    { secret: s.tokens[0]!.secret },
  );
  try {
    const t0 = Date.now();
    const times = await Promise.all(
      Array.from({ length: machines }, async (_, i) => {
        const start = Date.now();
        await p.createMachine({
          deploymentId: 'bench',
          name: `gd-bench-i1-m${i}`,
          hostname: `m${i}`,
          os: 'ubuntu-22.04',
          cpus: 1,
          memoryMb: 1024,
          diskGb: 10,
          nics: [{ network: { id: 'vmbr0:3001', name: 'lan' }, mac: `02:00:00:00:01:${(i + 16).toString(16)}` }],
        });
        return Date.now() - start;
      }),
    );
    const makespanMs = Date.now() - t0;
    const attempts = new Map<string, number>();
    for (const r of s.requests)
      if (r.method === 'POST' && r.endpoint === '/nodes/{node}/qemu/{vmid}/clone')
        attempts.set(String(r.params.name), (attempts.get(String(r.params.name)) ?? 0) + 1);
    const sorted = [...times].sort((a, b) => a - b);
    return {
      worstAttempts: Math.max(...attempts.values()),
      worstMs: sorted.at(-1)!,
      medianMs: sorted[Math.floor(sorted.length / 2)]!,
      makespanMs,
      retries: p.stats().retries,
    };
  } finally {
    await p.close();
    await s.close();
  }
}

const missing = schemaMissingReason('9.1');
if (missing) {
  console.log(`skipped: ${missing}`);
  process.exit(0);
}
console.log(
  `${machines} clones of ${cloneMs} ms, 2 clone slots, ${Math.round(failure * 100)}% of clone requests fail with a lock timeout; driver retry policy: 20 attempts, 1 s base, 15 s cap`,
);
const all: Run[] = [];
for (let i = 0; i < runs; i++) {
  const r = await once(11 + i);
  all.push(r);
  console.log(
    `run ${i + 1}: worst machine ${r.worstAttempts} attempts, ${(r.worstMs / 1000).toFixed(1)} s; median ${(r.medianMs / 1000).toFixed(1)} s; makespan ${(r.makespanMs / 1000).toFixed(1)} s; ${r.retries} retries`,
  );
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `over ${runs} runs: worst attempts ${Math.max(...all.map((r) => r.worstAttempts))}, worst machine ${(Math.max(...all.map((r) => r.worstMs)) / 1000).toFixed(1)} s, median of worst ${(med(all.map((r) => r.worstMs)) / 1000).toFixed(1)} s, median makespan ${(med(all.map((r) => r.makespanMs)) / 1000).toFixed(1)} s`,
);
