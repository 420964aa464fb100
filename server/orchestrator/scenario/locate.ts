// Where a problem is in the file: the YAML node of a field path (or its nearest existing ancestor), its line and
// column, and the path written the way the docs write it (machines[0].networks[1].ip).
import { isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import type { InputIssue } from '../../model/issues.ts';

export type Path = ReadonlyArray<PropertyKey>;

export function joinPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

// A file with tens of thousands of keys gets as many issues: each lookup must not scan the mapping again.
const keyIndex = new WeakMap<YAMLMap, Map<unknown, Pair>>();
function pairOf(map: YAMLMap, key: PropertyKey): Pair | undefined {
  let index = keyIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) if (isScalar(p.key) && !index.has(p.key.value)) index.set(p.key.value, p);
    keyIndex.set(map, index);
  }
  return index.get(key);
}

/** Finds the YAML node for a path (or its nearest existing ancestor); with `atKey`, the key of the last segment. */
export function locateNode(
  doc: Document,
  path: Path,
  locate: (offset: number) => InputIssue['at'],
  atKey = false,
): InputIssue['at'] {
  let node: unknown = doc.contents;
  let best: YamlNode | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = pairOf(node, seg!);
      if (!pair) break;
      if (last && atKey && isScalar(pair.key)) {
        best = pair.key;
        break;
      }
      node = pair.value;
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isScalar(pair.key)) best = pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isPair(node)) break;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  return locate(offset);
}

/** Every key that repeats an earlier key of its mapping: its field path and where it starts. */
export function duplicateKeys(root: unknown): Array<{ path: PropertyKey[]; offset: number }> {
  const out: Array<{ path: PropertyKey[]; offset: number }> = [];
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const keyPath = [...path, String(pair.key.value)];
        if (seen.has(pair.key.value)) out.push({ path: keyPath, offset: pair.key.range?.[0] ?? 0 });
        else seen.add(pair.key.value);
        walk(pair.value, keyPath);
      }
    } else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
  };
  walk(root, []);
  return out;
}

export function sortIssues(issues: InputIssue[]): InputIssue[] {
  return issues.sort((a, b) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.column ?? 0) - (b.at?.column ?? 0));
}
