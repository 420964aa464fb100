// Builds the cloud-init NoCloud seed that ESXi and Proxmox (without snippets) attach as a CD: an ISO 9660 image with a
// Joliet tree, volume id `cidata`, holding user-data, meta-data and network-config in its root. Pure and in-process (no
// xorriso/genisoimage on the appliance); the layout `genisoimage -volid cidata -joliet` writes, minus Rock Ridge.

const SECTOR = 2048;

export interface SeedFiles {
  userData: string;
  metaData: string;
  networkConfig: string;
}

interface Entry {
  /** ISO 9660 level 1 name (8.3, upper case) with version. */
  iso: string;
  /** Joliet name as the guest sees it. */
  joliet: string;
  data: Buffer;
  extent: number;
}

const both32 = (b: Buffer, off: number, v: number) => {
  b.writeUInt32LE(v, off);
  b.writeUInt32BE(v, off + 4);
};
const both16 = (b: Buffer, off: number, v: number) => {
  b.writeUInt16LE(v, off);
  b.writeUInt16BE(v, off + 2);
};
const sectors = (n: number) => Math.ceil(n / SECTOR);

function ucs2be(s: string): Buffer {
  const b = Buffer.from(s, 'utf16le');
  b.swap16();
  return b;
}

/** A text field padded with spaces: a-/d-characters in the primary descriptor, UCS-2 BE in the Joliet one. */
function field(b: Buffer, off: number, len: number, s: string, joliet: boolean): void {
  if (joliet) {
    for (let i = 0; i < len; i += 2) b.writeUInt16BE(0x20, off + i);
    ucs2be(s).copy(b, off, 0, Math.min(len, s.length * 2));
  } else {
    b.fill(0x20, off, off + len);
    b.write(s.slice(0, len), off, 'ascii');
  }
}

/** 7-byte directory-record date (UTC). */
function recordDate(d: Date): Buffer {
  return Buffer.from([
    d.getUTCFullYear() - 1900,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  ]);
}

/** 17-byte volume-descriptor date "YYYYMMDDHHMMSScc" + zone; all zeros means "not specified". */
function volumeDate(d: Date | undefined): Buffer {
  if (!d) return Buffer.concat([Buffer.from('0000000000000000', 'ascii'), Buffer.from([0])]);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
  return Buffer.concat([Buffer.from(s, 'ascii'), Buffer.from([0])]);
}

function dirRecord(name: Buffer, extent: number, size: number, isDir: boolean, date: Date): Buffer {
  const len = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(len);
  r[0] = len;
  both32(r, 2, extent);
  both32(r, 10, size);
  recordDate(date).copy(r, 18);
  r[25] = isDir ? 2 : 0;
  both16(r, 28, 1);
  r[32] = name.length;
  name.copy(r, 33);
  return r;
}

function directory(self: number, entries: Entry[], joliet: boolean, date: Date): Buffer {
  const dir = Buffer.alloc(SECTOR);
  let off = 0;
  for (const rec of [
    dirRecord(Buffer.from([0]), self, SECTOR, true, date),
    dirRecord(Buffer.from([1]), self, SECTOR, true, date),
    ...entries.map((e) =>
      dirRecord(joliet ? ucs2be(e.joliet) : Buffer.from(e.iso, 'ascii'), e.extent, e.data.length, false, date),
    ),
  ]) {
    rec.copy(dir, off);
    off += rec.length;
  }
  return dir;
}

/** One-entry path table (the root only), little- or big-endian. */
function pathTable(rootExtent: number, bigEndian: boolean): Buffer {
  const t = Buffer.alloc(SECTOR);
  t[0] = 1;
  if (bigEndian) {
    t.writeUInt32BE(rootExtent, 2);
    t.writeUInt16BE(1, 6);
  } else {
    t.writeUInt32LE(rootExtent, 2);
    t.writeUInt16LE(1, 6);
  }
  return t;
}

function volumeDescriptor(o: {
  joliet: boolean;
  volumeId: string;
  totalSectors: number;
  pathL: number;
  pathM: number;
  root: number;
  date: Date;
}): Buffer {
  const d = Buffer.alloc(SECTOR);
  d[0] = o.joliet ? 2 : 1;
  d.write('CD001', 1, 'ascii');
  d[6] = 1;
  field(d, 8, 32, '', o.joliet);
  field(d, 40, 32, o.volumeId, o.joliet);
  both32(d, 80, o.totalSectors);
  // "%/E": UCS-2 level 3, which marks the supplementary descriptor as Joliet.
  if (o.joliet) d.write('%/E', 88, 'ascii');
  both16(d, 120, 1);
  both16(d, 124, 1);
  both16(d, 128, SECTOR);
  both32(d, 132, 10);
  d.writeUInt32LE(o.pathL, 140);
  d.writeUInt32BE(o.pathM, 148);
  dirRecord(Buffer.from([0]), o.root, SECTOR, true, o.date).copy(d, 156);
  field(d, 190, 128, '', o.joliet);
  field(d, 318, 128, '', o.joliet);
  field(d, 446, 128, '', o.joliet);
  field(d, 574, 128, 'GLASSDOME', o.joliet);
  field(d, 702, 37, '', o.joliet);
  field(d, 739, 37, '', o.joliet);
  field(d, 776, 37, '', o.joliet);
  volumeDate(o.date).copy(d, 813);
  volumeDate(o.date).copy(d, 830);
  volumeDate(undefined).copy(d, 847);
  volumeDate(undefined).copy(d, 864);
  d[881] = 1;
  return d;
}

/** The seed image. Deterministic for a given `date`. */
export function buildSeedIso(files: SeedFiles, date: Date = new Date()): Buffer {
  // Sectors: 16 volume descriptor set (PVD, Joliet SVD, terminator), path tables, two root directories, then file data.
  const [pvd, svd, term, pathL, pathM, jPathL, jPathM, root, jRoot] = [16, 17, 18, 19, 20, 21, 22, 23, 24] as const;
  // Sorted by name, as both trees require; the 8.3 names sort the same way as the real ones.
  const entries: Entry[] = [
    { iso: 'METADATA.;1', joliet: 'meta-data', data: Buffer.from(files.metaData, 'utf8'), extent: 0 },
    { iso: 'NETWORKC.;1', joliet: 'network-config', data: Buffer.from(files.networkConfig, 'utf8'), extent: 0 },
    { iso: 'USERDATA.;1', joliet: 'user-data', data: Buffer.from(files.userData, 'utf8'), extent: 0 },
  ];
  let next = jRoot + 1;
  for (const e of entries) {
    e.extent = next;
    next += sectors(e.data.length);
  }
  const total = next;
  const img = Buffer.alloc(total * SECTOR);
  const put = (sector: number, b: Buffer) => b.copy(img, sector * SECTOR);
  const volumeId = 'cidata';
  put(pvd, volumeDescriptor({ joliet: false, volumeId, totalSectors: total, pathL, pathM, root, date }));
  put(
    svd,
    volumeDescriptor({ joliet: true, volumeId, totalSectors: total, pathL: jPathL, pathM: jPathM, root: jRoot, date }),
  );
  const t = Buffer.alloc(SECTOR);
  t[0] = 255;
  t.write('CD001', 1, 'ascii');
  t[6] = 1;
  put(term, t);
  put(pathL, pathTable(root, false));
  put(pathM, pathTable(root, true));
  put(jPathL, pathTable(jRoot, false));
  put(jPathM, pathTable(jRoot, true));
  put(root, directory(root, entries, false, date));
  put(jRoot, directory(jRoot, entries, true, date));
  for (const e of entries) put(e.extent, e.data);
  return img;
}
