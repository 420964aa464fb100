// YAML text in, data or located issues out: the parse and the zod-issue locating that module files share with
// the way scenario files report problems (file:line:col, a field path, every problem at once).
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import type { InputIssue, SourceLocation } from '../model/issues.ts';

export type Path = ReadonlyArray<PropertyKey>;

export interface YamlSource {
  data: unknown;
  /** The location of a field path (or of its nearest existing ancestor); with `atKey`, of the last key itself. */
  locate(path: Path, atKey?: boolean): SourceLocation;
  /** The location of a character offset inside the scalar at `path` (for a placeholder inside a template). */
  locateInside(path: Path, offset: number): SourceLocation;
}

export function parseYaml(text: string, file: string): { source?: YamlSource; issues: InputIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({
        path: '',
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        at: at(e.pos[0]),
      })),
    };
  }
  return {
    issues: [],
    source: {
      data: doc.toJS(),
      locate: (path, atKey = false) => at(nodeAt(doc, path, atKey)?.range?.[0] ?? 0),
      locateInside: (path, offset) => {
        const node = nodeAt(doc, path, false);
        // Only a plain or quoted single-line scalar maps offsets one to one; block scalars and escapes point at the start.
        if (!node || !isScalar(node) || !node.range) return at(0);
        const plain = node.type === 'PLAIN' || node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE';
        const quote = node.type === 'PLAIN' ? 0 : 1;
        const raw = text.slice(node.range[0], node.range[1]);
        return at(node.range[0] + (plain && !raw.includes('\\') && !raw.includes('\n') ? quote + offset : 0));
      },
    },
  };
}

function nodeAt(doc: Document, path: Path, atKey: boolean): YamlNode | undefined {
  let node: unknown = doc.contents;
  let best: YamlNode | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      if (last && atKey && isScalar(pair.key)) return pair.key;
      node = pair.value;
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isScalar(pair.key)) best = pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isPair(node)) break;
    } else break;
  }
  return best;
}

export function joinPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/** zod issues as located input issues; unknown keys are reported at the key, one issue each. */
export function zodIssues(error: z.ZodError, source: YamlSource, prefix: Path = []): InputIssue[] {
  const out: InputIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({
          path: joinPath([...path, key]),
          message: `unknown key "${key}"`,
          at: source.locate([...path, key], true),
        });
    } else {
      out.push({ path: joinPath(path), message: describe(issue), at: source.locate(path) });
    }
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (expected ${issue.expected})`;
  if (issue.code === 'invalid_union') {
    const messages = new Set<string>();
    for (const branch of issue.errors)
      for (const e of branch) messages.add(e.path.length ? `${joinPath(e.path)} ${e.message}` : e.message);
    return messages.size > 0 ? `does not match any allowed form: ${[...messages].join('; or ')}` : issue.message;
  }
  return issue.message;
}

export function sortIssues(issues: InputIssue[]): InputIssue[] {
  return issues.sort(
    (a, b) =>
      (a.at?.file ?? '').localeCompare(b.at?.file ?? '') ||
      (a.at?.line ?? 0) - (b.at?.line ?? 0) ||
      (a.at?.column ?? 0) - (b.at?.column ?? 0),
  );
}
