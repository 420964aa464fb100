// Keyword search over the passages: SQLite FTS5 with its BM25 ranking (Porter-stemmed words), title and headings
// weighted above the text. A question in free words becomes an OR of quoted terms, so no input is FTS5 syntax.
import type Database from 'better-sqlite3';
import type { Collection } from './chunking.ts';

/** BM25 column weights: a word in the title or heading path says more about a passage than one in its text. */
const weights = { title: 3, headings: 2, text: 1 };
const maxTerms = 32;

/** The FTS5 query for free text: each word quoted (so `AND`, `-` or `"` mean nothing special), joined by OR. */
export function ftsQuery(text: string): string | undefined {
  const words = [...new Set(text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [])].slice(0, maxTerms);
  return words.length > 0 ? words.map((w) => `"${w}"`).join(' OR ') : undefined;
}

export interface KeywordHit {
  id: number;
  /** SQLite's bm25() negated: higher is better. */
  bm25: number;
}

export function createKeywordIndex(db: Database.Database) {
  const rank = `bm25(chunks_fts, ${weights.title}, ${weights.headings}, ${weights.text})`;
  const all = db.prepare(
    `SELECT rowid AS id, ${rank} AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?`,
  );
  const byCollection = new Map<string, Database.Statement>();
  return {
    /** The best `limit` passages for `text`, best first; none when the text has no word. */
    search(text: string, limit: number, collections?: Collection[]): KeywordHit[] {
      const match = ftsQuery(text);
      if (!match) return [];
      let rows: Array<{ id: number; score: number }>;
      if (!collections || collections.length === 0) rows = all.all(match, limit) as typeof rows;
      else {
        const key = [...collections].sort().join(',');
        let stmt = byCollection.get(key);
        if (!stmt) {
          stmt = db.prepare(
            `SELECT chunks_fts.rowid AS id, ${rank} AS score FROM chunks_fts JOIN chunks ON chunks.id = chunks_fts.rowid
             WHERE chunks_fts MATCH ? AND chunks.collection IN (${collections.map(() => '?').join(',')}) ORDER BY score LIMIT ?`,
          );
          byCollection.set(key, stmt);
        }
        rows = stmt.all(match, ...[...collections].sort(), limit) as typeof rows;
      }
      return rows.map((r) => ({ id: r.id, bm25: -r.score }));
    },
  };
}

export type KeywordIndex = ReturnType<typeof createKeywordIndex>;
