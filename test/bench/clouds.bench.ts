// npm run bench:clouds — a 20-instance, 100-machine deployment on each cloud driver, through the executor, against
// the cloud's stand-in with injected latency: API calls per machine, wall time against the dependency/concurrency
// lower bound (target <= 1.10), peak RSS. Prints the figures; never fails on them.
// Each cloud is a part: test/bench/clouds-aws.ts (moto), and test/bench/clouds-azure.ts (the ARM test server) when
// that file exists, exporting `benchAzure` (or a default function) that returns CloudBenchRow[].
import fs from 'node:fs';

export interface CloudBenchRow {
  cloud: string;
  label: string;
  value: string;
}

interface Part {
  cloud: string;
  file: string;
  exportName: string;
}

const parts: Part[] = [
  { cloud: 'aws', file: './clouds-aws.ts', exportName: 'benchAws' },
  { cloud: 'azure', file: './clouds-azure.ts', exportName: 'runAzureCloudBench' },
];

async function main() {
  const only = process.env.BENCH_CLOUDS?.split(',').map((c) => c.trim());
  const rows: CloudBenchRow[] = [];
  for (const part of parts) {
    if (only && !only.includes(part.cloud)) continue;
    if (!fs.existsSync(new URL(part.file, import.meta.url))) {
      console.log(`bench:clouds  ${part.cloud}: no ${part.file} yet, skipped`);
      continue;
    }
    // A path in a variable: the Azure part may not exist in this checkout, and must not be needed to compile.
    const file = part.file;
    const mod = (await import(file)) as Record<string, unknown>;
    const run = (mod[part.exportName] ?? mod.default) as (() => Promise<CloudBenchRow[]>) | undefined;
    if (typeof run !== 'function') {
      console.log(`bench:clouds  ${part.cloud}: ${part.file} exports no ${part.exportName}(), skipped`);
      continue;
    }
    try {
      // The Azure part reports { figure, value, unit, note }: shown in the same table.
      const got = (await run()).map((r) => {
        const x = r as unknown as { figure?: string; value: unknown; unit?: string; note?: string };
        return x.figure === undefined
          ? r
          : ({
              cloud: part.cloud,
              label: `${x.figure}${x.unit ? ` (${x.unit})` : ''}`,
              value: `${String(x.value)}${x.note ? `  ${x.note}` : ''}`,
            } as unknown as CloudBenchRow);
      });
      rows.push(...got);
      print(got);
    } catch (e) {
      console.log(`bench:clouds  ${part.cloud}: failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  console.log(
    `\nbench:clouds  process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB over ${rows.length ? [...new Set(rows.map((r) => r.cloud))].join(' + ') : 'nothing'}`,
  );
}

function print(rows: CloudBenchRow[]) {
  console.log('');
  for (const r of rows) console.log(`${`[${r.cloud}] ${r.label}`.padEnd(58)} ${r.value}`);
}

await main();
