// The approximate nearest-neighbour index over passage vectors: hnswlib's HNSW graph in cosine space, labelled by
// chunk id, saved atomically to one file whose SHA-256 the caller keeps, so a damaged file is never read.
import crypto from 'node:crypto';
import fs from 'node:fs';
import hnswlib, { type HierarchicalNSW } from 'hnswlib-node';
import { errorMessage } from '../errors.ts';

export interface HnswParams {
  /** Links per node (twice that on the bottom layer): memory grows with it, and recall in high dimensions too. */
  m: number;
  /** Candidate list while inserting: build time against graph quality. */
  efConstruction: number;
  /** Candidate list while searching (at least k): latency against recall. */
  efSearch: number;
}

// Chosen with `npm run bench:knowledge` (50,000 points of 384 dimensions, BENCH_HNSW_SWEEP=1): on low-rank vectors
// (the hard embedding-like set) recall@10 is 0.81 at M=8, 0.92 at M=12, 0.96 at M=16 with efSearch 100, 0.995 with
// efSearch 200 and 0.995 at M=32. M=16 keeps links at ~128 bytes per point beside 1,536 of vector; efSearch 200 buys
// the margin over 0.95 while a fused search stays at p95 11 ms on a loaded 2-core host. efConstruction 200 against
// 100: 0.960 against 0.956, kept since it is paid once per passage.
export const defaultHnsw: HnswParams = { m: 16, efConstruction: 200, efSearch: 200 };

const seed = 100;

export interface VectorIndex {
  readonly dims: number;
  /** Live (not deleted) points. */
  size(): number;
  /** Deleted points still taking a slot until a new point reuses it. */
  deleted(): number;
  has(label: number): boolean;
  labels(): IterableIterator<number>;
  add(label: number, vector: Float32Array): void;
  remove(label: number): void;
  /** The k nearest live points, nearest first, with cosine similarity; `allow` filters labels during the search. */
  search(
    vector: Float32Array,
    k: number,
    allow?: (label: number) => boolean,
  ): Array<{ label: number; similarity: number }>;
  /** Writes the index to `file` (through a temporary file and a rename) and returns the file's SHA-256. */
  save(file: string): string;
}

export function createVectorIndex(dims: number, params: HnswParams, capacity = 1024): VectorIndex {
  const index = new hnswlib.HierarchicalNSW('cosine', dims);
  index.initIndex({
    maxElements: Math.max(16, capacity),
    m: params.m,
    efConstruction: params.efConstruction,
    randomSeed: seed,
    allowReplaceDeleted: true,
  });
  return wrap(index, dims, params, new Set());
}

export type LoadResult = { index: VectorIndex } | { problem: string };

/**
 * Reads the index saved in `file` if its SHA-256 is `sha256` and its dimensions are `dims`; otherwise says why not
 * (the caller rebuilds it from the stored vectors). Live labels are then made to match `live`: points not in it are
 * deleted, and the caller adds what is missing.
 */
export function loadVectorIndex(
  file: string,
  dims: number,
  params: HnswParams,
  sha256: string | undefined,
  live: Set<number>,
): LoadResult {
  if (!fs.existsSync(file)) return { problem: `${file} does not exist` };
  if (!sha256) return { problem: `no checksum is recorded for ${file}` };
  // The native reader trusts the sizes written in the file: only bytes known to be the ones written are given to it.
  const actual = sha256File(file);
  if (actual !== sha256) return { problem: `${file} does not match its recorded checksum (damaged or partly written)` };
  const index = new hnswlib.HierarchicalNSW('cosine', dims);
  try {
    index.readIndexSync(file, true);
  } catch (e) {
    return { problem: `${file} could not be read: ${errorMessage(e)}` };
  }
  if (index.getNumDimensions() !== dims)
    return { problem: `${file} holds ${index.getNumDimensions()}-dimension vectors, the model gives ${dims}` };
  const present = new Set<number>();
  for (const label of index.getIdsList()) {
    if (live.has(label)) present.add(label);
    else {
      try {
        index.markDelete(label);
      } catch {
        // Already deleted: hnswlib lists deleted labels until their slot is reused.
      }
    }
  }
  return { index: wrap(index, dims, params, present) };
}

export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function wrap(index: HierarchicalNSW, dims: number, params: HnswParams, live: Set<number>): VectorIndex {
  index.setEf(params.efSearch);
  return {
    dims,
    size: () => live.size,
    deleted: () => index.getCurrentCount() - live.size,
    has: (label) => live.has(label),
    labels: () => live.values(),
    add(label, vector) {
      if (live.has(label)) return;
      // A slot of a deleted point is reused first; the index grows only when none is left.
      if (index.getCurrentCount() - live.size === 0 && index.getCurrentCount() >= index.getMaxElements()) {
        index.resizeIndex(Math.ceil(index.getMaxElements() * 1.5) + 16);
      }
      index.addPoint(Array.from(vector), label, true);
      live.add(label);
    },
    remove(label) {
      if (!live.delete(label)) return;
      index.markDelete(label);
    },
    search(vector, k, allow) {
      const n = Math.min(k, live.size);
      if (n === 0) return [];
      index.setEf(Math.max(params.efSearch, n));
      const r = allow ? index.searchKnn(Array.from(vector), n, allow) : index.searchKnn(Array.from(vector), n);
      return r.neighbors.map((label, i) => ({ label, similarity: 1 - r.distances[i]! }));
    },
    save(file) {
      const tmp = `${file}.tmp-${process.pid}`;
      index.writeIndexSync(tmp);
      const sum = sha256File(tmp);
      fs.renameSync(tmp, file);
      return sum;
    },
  };
}
