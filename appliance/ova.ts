// Packages a disk image as an OVA (streamOptimized VMDK, the OVF 1.0 descriptor, a SHA-256 manifest, tarred with the
// descriptor first) and checks an OVA the way an importer would: the tar, the descriptor, references, sizes, hashes.
//   node --import tsx appliance/ova.ts package --disk DISK --out FILE.ova [--name glassdome --version V ...]
//   node --import tsx appliance/ova.ts check FILE.ova
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkOvf,
  networkProperties,
  ovfDescriptor,
  streamOptimizedFormat,
  type OvfSpec,
  type OvfSummary,
} from './ovf.ts';

const block = 512;
/** ustar stores sizes in 11 octal digits. */
const maxTarFile = 8 ** 11 - 1;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function tarHeader(name: string, size: number, mtime: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: file name "${name}" is longer than 100 bytes`);
  if (size > maxTarFile) throw new Error(`tar: ${name} is ${size} bytes, above ustar's 8 GiB`);
  const h = Buffer.alloc(block);
  h.write(name, 0, 'utf8');
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write('root', 265);
  h.write('root', 297);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** Writes a ustar archive holding `files` in the given order (the OVF descriptor must come first). */
export async function writeTar(out: string, files: Array<{ name: string; path: string }>): Promise<void> {
  const fd = fs.openSync(out, 'w');
  try {
    const mtime = Math.floor(Date.now() / 1000);
    for (const f of files) {
      const size = fs.statSync(f.path).size;
      fs.writeSync(fd, tarHeader(f.name, size, mtime));
      for await (const chunk of fs.createReadStream(f.path, { highWaterMark: 1 << 20 }))
        fs.writeSync(fd, chunk as Buffer);
      const pad = (block - (size % block)) % block;
      if (pad) fs.writeSync(fd, Buffer.alloc(pad));
    }
    fs.writeSync(fd, Buffer.alloc(block * 2));
  } finally {
    fs.closeSync(fd);
  }
}

export interface TarEntry {
  name: string;
  size: number;
  /** Byte offset of the content in the archive. */
  offset: number;
  type: string;
}

/** Lists a tar archive's entries (ustar and GNU headers, checksums verified). */
export function listTar(file: string): TarEntry[] {
  const fd = fs.openSync(file, 'r');
  const total = fs.fstatSync(fd).size;
  const entries: TarEntry[] = [];
  try {
    let pos = 0;
    const h = Buffer.alloc(block);
    while (pos + block <= total) {
      fs.readSync(fd, h, 0, block, pos);
      if (h.every((b) => b === 0)) break;
      let sum = 0;
      for (let k = 0; k < block; k++) sum += k >= 148 && k < 156 ? 32 : h[k]!;
      const stored = parseInt(h.toString('latin1', 148, 156).replace(/[\0 ]/g, '') || 'x', 8);
      if (sum !== stored) throw new Error(`tar: bad header checksum at byte ${pos}`);
      const cstr = (a: number, b: number) => h.toString('utf8', a, b).replace(/\0.*$/s, '');
      const prefix = h.toString('latin1', 257, 262) === 'ustar' ? cstr(345, 500) : '';
      const name = prefix ? `${prefix}/${cstr(0, 100)}` : cstr(0, 100);
      const size = parseInt(cstr(124, 136).trim() || '0', 8);
      const type = String.fromCharCode(h[156] || 48);
      entries.push({ name, size, offset: pos + block, type });
      pos += block + Math.ceil(size / block) * block;
    }
    if (pos > total) throw new Error(`tar: ${path.basename(file)} is truncated`);
  } finally {
    fs.closeSync(fd);
  }
  return entries;
}

async function hashRange(file: string, start: number, size: number, algo: string): Promise<string> {
  const h = crypto.createHash(algo);
  if (size > 0)
    for await (const c of fs.createReadStream(file, { start, end: start + size - 1, highWaterMark: 1 << 20 }))
      h.update(c as Buffer);
  return h.digest('hex');
}

function readRange(file: string, start: number, size: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(size);
    fs.readSync(fd, b, 0, size, start);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses a manifest: `SHA256(name)= hex` lines (SHA1 and SHA512 too, as OVF tools write them). */
export function parseManifest(text: string): {
  entries: Map<string, { algo: string; hex: string }>;
  problems: string[];
} {
  const entries = new Map<string, { algo: string; hex: string }>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((l, n) => {
    if (!l.trim()) return;
    const m = /^(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$/.exec(l);
    if (!m) problems.push(`manifest line ${n + 1} is not "SHA256(file)= hash"`);
    else entries.set(m[2]!, { algo: m[1]!.toLowerCase(), hex: m[3]!.toLowerCase() });
  });
  return { entries, problems };
}

export interface OvaCheck {
  ok: boolean;
  problems: string[];
  summary?: OvfSummary;
  entries: TarEntry[];
}

/**
 * Checks `file` as an importer would: regular files with plain names, the descriptor first and alone, a manifest
 * covering every other file with hashes that verify, every reference present with its declared size, and the disks
 * streamOptimized VMDKs. Reports every problem, naming the file concerned.
 */
export async function checkOva(file: string): Promise<OvaCheck> {
  const problems: string[] = [];
  let entries: TarEntry[];
  try {
    entries = listTar(file);
  } catch (e) {
    return { ok: false, problems: [e instanceof Error ? e.message : String(e)], entries: [] };
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const e of entries) {
    if (e.type !== '0') problems.push(`${e.name}: not a regular file (tar type ${e.type})`);
    if (e.name.includes('/')) problems.push(`${e.name}: OVA members must be plain file names`);
  }
  if (byName.size !== entries.length) problems.push('the archive holds the same name twice');
  const ovfs = entries.filter((e) => e.name.endsWith('.ovf'));
  if (entries[0]?.name.endsWith('.ovf') !== true)
    problems.push(`the first member is ${entries[0]?.name ?? 'missing'}, not the OVF descriptor`);
  if (ovfs.length !== 1) problems.push(`${ovfs.length} OVF descriptors (expected one)`);
  const desc = ovfs[0];
  if (!desc) return { ok: false, problems, entries };
  const { summary, problems: ovfProblems } = checkOvf(readRange(file, desc.offset, desc.size).toString('utf8'));
  problems.push(...ovfProblems.map((p) => `${desc.name}: ${p}`));

  const mfName = desc.name.replace(/\.ovf$/, '.mf');
  const mf = byName.get(mfName);
  if (!mf) problems.push(`no manifest ${mfName}`);
  else {
    if (entries[1]?.name !== mfName) problems.push(`${mfName} should follow the descriptor`);
    const { entries: hashes, problems: mfProblems } = parseManifest(
      readRange(file, mf.offset, mf.size).toString('utf8'),
    );
    problems.push(...mfProblems.map((p) => `${mfName}: ${p}`));
    for (const e of entries) {
      if (e.name === mfName || e.name.endsWith('.cert')) continue;
      const want = hashes.get(e.name);
      if (!want) {
        problems.push(`${e.name}: not in the manifest`);
        continue;
      }
      const got = await hashRange(file, e.offset, e.size, want.algo);
      if (got !== want.hex)
        problems.push(`${e.name}: ${want.algo.toUpperCase()} ${got} does not match the manifest (${want.hex})`);
    }
    for (const name of hashes.keys())
      if (!byName.has(name)) problems.push(`${mfName} lists ${name}, which is not in the archive`);
  }
  if (summary) {
    for (const f of summary.files) {
      const e = byName.get(f.href);
      if (!e) problems.push(`${f.href}: referenced by the descriptor but not in the archive`);
      else if (f.size !== undefined && f.size !== e.size)
        problems.push(`${f.href}: ${e.size} bytes, the descriptor says ${f.size}`);
    }
    const referenced = new Set(summary.files.map((f) => f.href));
    for (const e of entries)
      if (e !== desc && e !== mf && !e.name.endsWith('.cert') && !referenced.has(e.name))
        problems.push(`${e.name}: in the archive but not referenced`);
    for (const d of summary.disks) {
      const f = summary.files.find((x) => x.id === d.fileRef);
      const e = f && byName.get(f.href);
      if (!e) continue;
      if (d.format === streamOptimizedFormat) {
        const head = readRange(file, e.offset, Math.min(e.size, block));
        // Sparse extent header: magic, version, flags, capacity (u64 @12), ..., descriptor offset and size in
        // sectors (u64 @28, @36); the embedded descriptor names the create type.
        const magicOk = head.length >= 44 && head.toString('latin1', 0, 4) === 'KDMV';
        const dOff = magicOk ? Number(head.readBigUInt64LE(28)) * block : 0;
        const dLen = magicOk
          ? Math.min(Number(head.readBigUInt64LE(36)) * block, 64 * 1024, Math.max(0, e.size - dOff))
          : 0;
        const descriptor = dLen > 0 ? readRange(file, e.offset + dOff, dLen).toString('latin1') : '';
        if (!magicOk) problems.push(`${e.name}: not a VMDK (no KDMV magic)`);
        else if (!/createType="streamOptimized"/.test(descriptor))
          problems.push(`${e.name}: VMDK is not streamOptimized`);
        else {
          // The sparse header's capacity is in 512-byte sectors (little-endian u64 at byte 12).
          const sectors = Number(head.readBigUInt64LE(12));
          if (sectors * 512 !== d.capacityBytes)
            problems.push(`${e.name}: VMDK capacity ${sectors * 512} bytes, the descriptor says ${d.capacityBytes}`);
        }
      }
    }
  }
  return { ok: problems.length === 0, problems, ...(summary ? { summary } : {}), entries };
}

function run(cmd: string, args: string[], timeoutMs: number): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

export interface PackageOptions {
  disk: string;
  out: string;
  name: string;
  version: string;
  fullVersion?: string;
  cpus?: number;
  memoryMb?: number;
  annotation?: string;
}

export interface Packaged {
  ova: string;
  ovf: string;
  vmdkBytes: number;
  ovaBytes: number;
  capacityBytes: number;
}

/** Converts `disk` (any format qemu-img reads) and writes the OVA; the working files stay beside it in `<out>.d/`. */
export async function packageOva(o: PackageOptions): Promise<Packaged> {
  const base = path.basename(o.out).replace(/\.ova$/, '');
  const dir = `${o.out}.d`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const vmdkName = `${base}-disk1.vmdk`;
  const vmdk = path.join(dir, vmdkName);
  run(
    'qemu-img',
    ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized,adapter_type=lsilogic,hwversion=6', o.disk, vmdk],
    3_600_000,
  );
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', vmdk], 60_000)) as { 'virtual-size': number };
  const vmdkBytes = fs.statSync(vmdk).size;
  const spec: OvfSpec = {
    name: o.name,
    product: { name: 'Glassdome', vendor: 'Glassdome', version: o.version, fullVersion: o.fullVersion ?? o.version },
    annotation:
      o.annotation ?? 'Glassdome cyber range appliance. Open the console for the address and the one-time setup code.',
    cpus: o.cpus ?? 2,
    memoryMb: o.memoryMb ?? 4096,
    disk: { href: vmdkName, fileBytes: vmdkBytes, capacityBytes: info['virtual-size'] },
    network: {
      name: 'VM Network',
      description: 'The network the appliance is reached on and reaches the hypervisors from',
    },
    hardware: 'vmx-14',
    // CIM 96 is "Debian 64-Bit"; debian11_64Guest is the newest Debian id ESXi 7.0 knows (ESXi 8 accepts it too).
    guest: { cimOsId: 96, vmwOsType: 'debian11_64Guest', description: 'Debian GNU/Linux 12 (64-bit)' },
    properties: networkProperties,
  };
  const ovfName = `${base}.ovf`;
  const ovf = path.join(dir, ovfName);
  fs.writeFileSync(ovf, ovfDescriptor(spec));
  const mfName = `${base}.mf`;
  const lines: string[] = [];
  for (const [name, p] of [
    [ovfName, ovf],
    [vmdkName, vmdk],
  ] as const)
    lines.push(`SHA256(${name})= ${await hashRange(p, 0, fs.statSync(p).size, 'sha256')}`);
  fs.writeFileSync(path.join(dir, mfName), `${lines.join('\n')}\n`);
  await writeTar(o.out, [
    { name: ovfName, path: ovf },
    { name: mfName, path: path.join(dir, mfName) },
    { name: vmdkName, path: vmdk },
  ]);
  return { ova: o.out, ovf, vmdkBytes, ovaBytes: fs.statSync(o.out).size, capacityBytes: info['virtual-size'] };
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      disk: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string', default: 'glassdome' },
      version: { type: 'string', default: '0.0.0' },
      'full-version': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [cmd, target] = positionals;
  if (cmd === 'package' && values.disk && values.out) {
    const r = await packageOva({
      disk: values.disk,
      out: path.resolve(values.out),
      name: values.name,
      version: values.version,
      ...(values['full-version'] ? { fullVersion: values['full-version'] } : {}),
    });
    console.log(
      values.json
        ? JSON.stringify(r)
        : `ova: ${r.ova} (${(r.ovaBytes / 2 ** 20).toFixed(0)} MiB, disk ${(r.capacityBytes / 2 ** 30).toFixed(0)} GiB virtual)`,
    );
  } else if (cmd === 'check' && target) {
    const r = await checkOva(target);
    if (values.json) console.log(JSON.stringify({ ok: r.ok, problems: r.problems, summary: r.summary }, null, 2));
    else {
      for (const p of r.problems) console.error(`ova: ${p}`);
      if (r.ok)
        console.log(
          `ova: ${path.basename(target)} is valid: ${r.entries.map((e) => e.name).join(', ')}; ${r.summary?.cpus} vCPU, ${r.summary?.memoryMb} MB, properties ${r.summary?.properties.map((p) => p.key).join(', ')}`,
        );
    }
    process.exitCode = r.ok ? 0 : 1;
  } else {
    console.error('usage: ova.ts package --disk DISK --out FILE.ova [--name N --version V] | check FILE.ova [--json]');
    process.exitCode = 2;
  }
}
