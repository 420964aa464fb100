// Packer's post-processor (packer/appliance.pkr.hcl): turns the built disk into the two deliverables, an OVA for
// ESXi (checked before it is kept) and a compressed qcow2 for Proxmox, with a SHA256SUMS file beside them.
//   node --import tsx appliance/package.ts --disk build/appliance/packer/glassdome.qcow2 --out build/appliance \
//     --version V
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkOva, packageOva } from './ova.ts';

async function sha256(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

const { values } = parseArgs({
  options: { disk: { type: 'string' }, out: { type: 'string' }, version: { type: 'string', default: '0.0.0' } },
});
if (!values.disk || !values.out) {
  console.error('usage: package.ts --disk DISK.qcow2 --out DIR [--version V]');
  process.exit(2);
}
if (!fs.existsSync(values.disk)) {
  console.error(`package: ${values.disk} does not exist (did the Packer build produce a disk?)`);
  process.exit(1);
}
const out = path.resolve(values.out);
fs.mkdirSync(out, { recursive: true });
const name = `glassdome-${values.version}`;
const t0 = Date.now();
const qcow2 = path.join(out, `${name}.qcow2`);
const r = spawnSync('qemu-img', ['convert', '-c', '-O', 'qcow2', values.disk, `${qcow2}.part`], {
  stdio: 'inherit',
  timeout: 3_600_000,
});
if (r.status !== 0) {
  console.error(`package: qemu-img convert to qcow2 failed (${r.status ?? r.signal})`);
  process.exit(1);
}
fs.renameSync(`${qcow2}.part`, qcow2);
const ova = await packageOva({
  disk: values.disk,
  out: path.join(out, `${name}.ova`),
  name: 'glassdome',
  version: values.version.replace(/\+.*$/, ''),
  fullVersion: values.version,
});
const check = await checkOva(ova.ova);
if (!check.ok) {
  for (const p of check.problems) console.error(`package: ${p}`);
  fs.renameSync(ova.ova, `${ova.ova}.invalid`);
  process.exit(1);
}
fs.rmSync(`${ova.ova}.d`, { recursive: true, force: true });
const sums = [`${await sha256(ova.ova)}  ${path.basename(ova.ova)}`, `${await sha256(qcow2)}  ${path.basename(qcow2)}`];
fs.writeFileSync(path.join(out, 'SHA256SUMS'), `${sums.join('\n')}\n`);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
console.log(
  `package: ${path.basename(ova.ova)} ${mib(ova.ovaBytes)} (checked), ${path.basename(qcow2)} ${mib(fs.statSync(qcow2).size)}, in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
