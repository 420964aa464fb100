// `npm run bench:appliance`: the appliance's figures, from the last runs of the scripts that measure them:
// build time and OVA/qcow2 sizes (appliance/build.sh -> figures.json), boot to wizard and idle memory on the image
// (appliance/verify.sh -> verify-<seed>-<accel>.json), and the offline bundle's size by part (its manifest.json).
//   BUNDLE=/path/to/bundle npm run bench:appliance
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './dist.ts';
import { readManifest, sizeByPart } from '../offline-bundle/manifest.ts';

const dir = path.join(repoRoot, 'build', 'appliance');
const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const mmss = (s: number) => `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
const read = <T>(f: string): T | undefined =>
  fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as T) : undefined;

interface Figures {
  version: string;
  accelerator: string;
  base: string;
  seconds: { total: number; base: number; stage: number; packer: number };
  bytes: { ova: number; qcow2: number };
  builtAt: string;
}
interface Verify {
  image: string;
  accel: string;
  seed: string;
  bootToBannerSec: number;
  bootToWizardSec: number;
  setupSec: number;
  deploySec: number;
  idleRssMb: number;
  rssAfterDeployMb: number;
  at: string;
}

const f = read<Figures>(path.join(dir, 'figures.json'));
console.log('Appliance build (appliance/build.sh)');
if (!f) console.log('  no figures yet: run appliance/build.sh');
else {
  console.log(`  ${f.version}, ${f.accelerator.toUpperCase()}, base from ${f.base}, built ${f.builtAt}`);
  console.log(
    `  build time      ${mmss(f.seconds.total)} (base disk ${mmss(f.seconds.base)}, app ${mmss(f.seconds.stage)}, packer + packaging ${mmss(f.seconds.packer)})`,
  );
  console.log(`  OVA             ${mib(f.bytes.ova)}`);
  console.log(`  qcow2           ${mib(f.bytes.qcow2)}`);
}

console.log('Appliance image under QEMU (appliance/verify.sh)');
const verifies = fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => /^verify-.*\.json$/.test(x)) : [];
if (!verifies.length) console.log('  no runs yet: run appliance/verify.sh');
for (const v of verifies.map((x) => read<Verify>(path.join(dir, x))!)) {
  console.log(`  ${v.image}, ${v.accel.toUpperCase()}, seed ${v.seed}, ${v.at}`);
  console.log(
    `    boot to console banner ${v.bootToBannerSec.toFixed(0)} s, boot to wizard ${v.bootToWizardSec.toFixed(0)} s (goal under KVM: 60 s)`,
  );
  console.log(`    idle server RSS ${v.idleRssMb} MB (goal 150 MB), after a deployment ${v.rssAfterDeployMb} MB`);
  console.log(`    setup ${v.setupSec.toFixed(1)} s, web-dmz on the simulator ${v.deploySec.toFixed(0)} s`);
}

console.log('Offline bundle (offline-bundle/collect.sh)');
const bundle = process.env.BUNDLE ?? path.join(repoRoot, 'build', 'offline-bundle');
if (!fs.existsSync(path.join(bundle, 'manifest.json')))
  console.log(
    `  no bundle at ${bundle}: run offline-bundle/collect.sh --out ${path.relative(process.cwd(), bundle)} (or set BUNDLE)`,
  );
else {
  const m = readManifest(bundle);
  const by = sizeByPart(m);
  const total = Object.values(by).reduce((a, b) => a + b, 0);
  console.log(`  ${bundle}: ${m.files.length} files, ${mib(total)}, collected ${m.createdAt}`);
  for (const [part, n] of Object.entries(by)) console.log(`    ${part.padEnd(10)} ${mib(n).padStart(9)}`);
  for (const x of m.missing) console.log(`    ${x.part.padEnd(10)} missing: ${x.reason.slice(0, 120)}`);
  for (const r of m.references) console.log(`    iso        by reference: ${r.name}`);
}
