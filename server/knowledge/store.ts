// knowledge.db: the passages, their vectors and the FTS5 table over them, in a SQLite file of its own. Everything in it
// is derived from the sources and can be rebuilt, so a damaged file is set aside and started afresh, never repaired.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage } from '../errors.ts';
import type { Chunk, Collection } from './chunking.ts';

const schemaVersion = '2';

export interface StoredChunk extends Chunk {
  id: number;
}

export interface Store {
  readonly db: Database.Database;
  readonly file: string;
  meta(key: string): string | undefined;
  setMeta(key: string, value: string | undefined): void;
  /** hash -> id of the chunks held for a collection. */
  hashes(collection: Collection): Map<string, number>;
  /** Replaces chunks in one transaction: deletes `remove`, inserts `add` (without vectors); returns the new ids. */
  apply(remove: number[], add: Array<{ hash: string; chunk: Chunk }>): number[];
  setVectors(rows: Array<{ id: number; vector: Float32Array }>): void;
  clearVectors(): void;
  /** Chunks with an id above `after` that have no vector yet, in id order, at most `limit`. */
  unembedded(after: number, limit: number): Array<{ id: number; chunk: Chunk }>;
  countUnembedded(): number;
  embeddedIds(): Set<number>;
  /** Every stored vector, for rebuilding the graph. */
  vectors(): IterableIterator<{ id: number; vector: Float32Array }>;
  get(ids: number[]): Map<number, StoredChunk>;
  collectionOf(): Map<number, Collection>;
  counts(): Record<Collection, number>;
  close(): void;
}

/** The identity of a chunk: the same text under the same heading of the same source keeps its id and vector. */
export function chunkHash(c: Chunk, occurrence: number): string {
  return crypto
    .createHash('sha256')
    .update(
      [c.collection, c.source, c.title, c.headings.join('\u0001'), c.link, c.text, String(occurrence)].join('\u0000'),
    )
    .digest('hex');
}

/**
 * Opens the store, creating it if needed. A file SQLite reports as damaged (or that fails its quick check) is renamed
 * to `<file>.corrupt-<time>` and replaced by an empty one; `warn` is told, and the next ingest fills it again.
 */
export function openStore(file: string, warn: (message: string) => void): Store {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    return attempt(file);
  } catch (e) {
    if (!isCorruption(e)) throw e;
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(file, aside);
    for (const ext of ['-wal', '-shm']) fs.rmSync(`${file}${ext}`, { force: true });
    warn(
      `The knowledge index ${file} was damaged (${errorMessage(e)}); it was moved to ${aside} and started afresh: it fills again at the next ingest.`,
    );
    return attempt(file);
  }
}

function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    e instanceof CorruptStore ||
    (typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB'))
  );
}

class CorruptStore extends Error {}

function attempt(file: string): Store {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CorruptStore(`quick_check: ${String(check)}`);
    migrate(db);
    return storeOn(db, file);
  } catch (e) {
    db.close();
    throw e;
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const version = (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined)
    ?.value;
  if (version === schemaVersion) return;
  // A derived index: another layout is dropped and built again rather than migrated.
  db.exec(`
    DROP TABLE IF EXISTS chunks_fts;
    DROP TABLE IF EXISTS chunk_vectors;
    DROP TABLE IF EXISTS chunks;
    DELETE FROM meta;
    CREATE TABLE chunks (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      hash TEXT NOT NULL UNIQUE,
      collection TEXT NOT NULL,
      source TEXT NOT NULL,
      title TEXT NOT NULL,
      headings TEXT NOT NULL,
      link TEXT NOT NULL,
      text TEXT NOT NULL
    );
    CREATE INDEX chunks_collection ON chunks (collection, source);
    -- Apart from the passages: a vector arrives after its passage, and a row that grows in place splits its page.
    CREATE TABLE chunk_vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(title, headings, text, content='chunks', content_rowid='id', tokenize='porter unicode61');
    CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
      INSERT INTO chunks_fts (rowid, title, headings, text) VALUES (new.id, new.title, new.headings, new.text);
    END;
    CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
      INSERT INTO chunks_fts (chunks_fts, rowid, title, headings, text) VALUES ('delete', old.id, old.title, old.headings, old.text);
      DELETE FROM chunk_vectors WHERE id = old.id;
    END;
  `);
  db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(schemaVersion);
}

interface Row {
  id: number;
  collection: Collection;
  source: string;
  title: string;
  headings: string;
  link: string;
  text: string;
}

const toChunk = (r: Row): StoredChunk => ({
  id: r.id,
  collection: r.collection,
  source: r.source,
  title: r.title,
  headings: JSON.parse(r.headings) as string[],
  link: r.link,
  text: r.text,
});

const toVector = (b: Buffer): Float32Array =>
  new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

function storeOn(db: Database.Database, file: string): Store {
  const q = {
    meta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    delMeta: db.prepare('DELETE FROM meta WHERE key = ?'),
    hashes: db.prepare('SELECT hash, id FROM chunks WHERE collection = ?').raw(),
    insert: db.prepare(
      'INSERT INTO chunks (hash, collection, source, title, headings, link, text) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    remove: db.prepare('DELETE FROM chunks WHERE id = ?'),
    setVector: db.prepare('INSERT OR REPLACE INTO chunk_vectors (id, vector) VALUES (?, ?)'),
    unembedded: db.prepare(
      'SELECT id, collection, source, title, headings, link, text FROM chunks WHERE id > ? AND NOT EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.id = chunks.id) ORDER BY id LIMIT ?',
    ),
    countUnembedded: db.prepare('SELECT (SELECT count(*) FROM chunks) - (SELECT count(*) FROM chunk_vectors)').pluck(),
    embeddedIds: db.prepare('SELECT id FROM chunk_vectors').pluck(),
    vectors: db.prepare('SELECT id, vector FROM chunk_vectors'),
    collections: db.prepare('SELECT id, collection FROM chunks').raw(),
    counts: db.prepare('SELECT collection, count(*) FROM chunks GROUP BY collection').raw(),
  };
  const apply = db.transaction((remove: number[], add: Array<{ hash: string; chunk: Chunk }>) => {
    for (const id of remove) q.remove.run(id);
    return add.map(({ hash, chunk: c }) =>
      Number(
        q.insert.run(hash, c.collection, c.source, c.title, JSON.stringify(c.headings), c.link, c.text).lastInsertRowid,
      ),
    );
  });
  const setVectors = db.transaction((rows: Array<{ id: number; vector: Float32Array }>) => {
    for (const r of rows) q.setVector.run(r.id, Buffer.from(r.vector.buffer, r.vector.byteOffset, r.vector.byteLength));
  });
  return {
    db,
    file,
    meta: (key) => q.meta.get(key) as string | undefined,
    setMeta(key, value) {
      if (value === undefined) q.delMeta.run(key);
      else q.setMeta.run(key, value);
    },
    hashes: (collection) => new Map((q.hashes.all(collection) as Array<[string, number]>).map(([h, id]) => [h, id])),
    apply: (remove, add) => apply(remove, add),
    setVectors: (rows) => setVectors(rows),
    clearVectors: () => void db.exec('DELETE FROM chunk_vectors'),
    unembedded: (after, limit) =>
      (q.unembedded.all(after, limit) as Row[]).map((r) => ({ id: r.id, chunk: toChunk(r) })),
    countUnembedded: () => q.countUnembedded.get() as number,
    embeddedIds: () => new Set(q.embeddedIds.all() as number[]),
    *vectors() {
      for (const r of q.vectors.iterate() as IterableIterator<{ id: number; vector: Buffer }>)
        yield { id: r.id, vector: toVector(r.vector) };
    },
    get(ids) {
      const out = new Map<number, StoredChunk>();
      if (ids.length === 0) return out;
      const rows = db
        .prepare(
          `SELECT id, collection, source, title, headings, link, text FROM chunks WHERE id IN (${ids.map(() => '?').join(',')})`,
        )
        .all(...ids) as Row[];
      for (const r of rows) out.set(r.id, toChunk(r));
      return out;
    },
    collectionOf: () => new Map(q.collections.all() as Array<[number, Collection]>),
    counts() {
      const out: Record<Collection, number> = { docs: 0, scenarios: 0, modules: 0, deployments: 0 };
      for (const [c, n] of q.counts.all() as Array<[Collection, number]>) out[c] = n;
      return out;
    },
    close: () => db.close(),
  };
}
