// Reciprocal rank fusion: one ranking from several (vector similarity, BM25), each list counting 1 / (k0 + rank).
// Ranks, not scores, are combined, so a cosine similarity and a BM25 score never need a common scale.

/** The constant of Cormack, Clarke and Büttcher (2009): it damps the weight of the very first ranks. */
export const rrfK = 60;

export interface Ranked {
  id: number;
  /** 1-based rank in each input list, null where the list does not hold the id. */
  ranks: Array<number | null>;
  fused: number;
}

/** Fuses lists of ids, each ordered best first; of two equal sums, the one with the better best rank comes first. */
export function fuseRanks(lists: number[][], k0 = rrfK): Ranked[] {
  const byId = new Map<number, Ranked>();
  lists.forEach((list, li) => {
    list.forEach((id, i) => {
      let r = byId.get(id);
      if (!r) byId.set(id, (r = { id, ranks: lists.map(() => null), fused: 0 }));
      if (r.ranks[li] !== null) return;
      r.ranks[li] = i + 1;
      r.fused += 1 / (k0 + i + 1);
    });
  });
  const best = (r: Ranked) => Math.min(...r.ranks.map((x) => x ?? Infinity));
  return [...byId.values()].sort((a, b) => b.fused - a.fused || best(a) - best(b));
}
