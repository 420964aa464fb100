// Reads the elements of one top-level array of a JSON document as it streams in (NVD feeds are hundreds of MB):
// each element's text is handed out alone with its line and column, so a damaged record is reported where it is
// and the others still parse. Only one element, never the file, is held in memory.

export interface ArrayElement {
  /** 0-based position in the array. */
  index: number;
  text: string;
  /** 1-based line and column of the element's first character. */
  line: number;
  column: number;
}

/** The document's structure is broken at this point; elements before it were handed out. */
export class JsonScanError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'JsonScanError';
  }
}

/** An element larger than this is not a CVE record but a sign of unbalanced brackets: the scan stops there. */
export const maxElementChars = 16 * 1024 * 1024;

const OPEN_OBJ = 123; // {
const CLOSE_OBJ = 125; // }
const OPEN_ARR = 91; // [
const CLOSE_ARR = 93; // ]
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const NEWLINE = 10;

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;
const structural = /[{}[\],:"\n]/g;
const inStringStop = /["\\\n]/g;

function firstNonSpace(s: string, from: number, to: number): number {
  for (let k = from; k < to; k++) if (!isSpace(s.charCodeAt(k))) return k;
  return -1;
}

/**
 * Yields the elements of the array under top-level `key` of a JSON object read from `chunks`. Top-level string
 * members met on the way (e.g. "format", "version") are put in `header`. Throws JsonScanError when the structure is
 * broken (brackets, an unterminated string, the end of input inside an element, no such array).
 */
export async function* streamArray(
  chunks: AsyncIterable<string>,
  key: string,
  header?: Map<string, string>,
): AsyncGenerator<ArrayElement> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let line = 1;
  let lineStart = 0; // absolute offset of the current line's first character
  let base = 0; // absolute offset of the current chunk's first character

  // Top-level strings: a key, or the value of the key before the colon.
  let capture: string[] | undefined;
  let captureFrom = 0;
  let lastKey: string | undefined;
  let afterColon = false;

  let inTarget = false;
  let found = false;
  let index = 0;
  let elem: { parts: string[]; from: number; size: number; line: number; column: number; scalar: boolean } | undefined;

  const startElem = (i: number, scalar: boolean) => {
    elem = { parts: [], from: i, size: 0, line, column: base + i - lineStart + 1, scalar };
  };

  for await (const chunk of chunks) {
    const n = chunk.length;
    if (elem) elem.from = 0;
    if (capture) captureFrom = 0;
    let i = 0;
    while (i < n) {
      if (inString) {
        if (escaped) {
          escaped = false;
          i++;
          continue;
        }
        // Native regex search to the next character that matters inside a string: far faster than a JS loop.
        inStringStop.lastIndex = i;
        const m = inStringStop.exec(chunk);
        if (!m) break;
        const j = m.index;
        const c = chunk.charCodeAt(j);
        i = j + 1;
        if (c === BACKSLASH) escaped = true;
        else if (c === NEWLINE) {
          throw new JsonScanError(
            'a string runs past the end of its line (unterminated string)',
            line,
            base + j - lineStart + 1,
            elem ? index : undefined,
          );
        } else {
          inString = false;
          if (capture) {
            capture.push(chunk.slice(captureFrom, j));
            const str = capture.join('');
            capture = undefined;
            if (afterColon && lastKey !== undefined) {
              header?.set(lastKey, str);
              afterColon = false;
            } else lastKey = str;
          }
        }
        continue;
      }
      structural.lastIndex = i;
      const m = structural.exec(chunk);
      const j = m ? m.index : n;
      // A number, true, false or null between elements of the target is an element of its own.
      if (inTarget && depth === 1 && !elem && j > i) {
        const k = firstNonSpace(chunk, i, j);
        if (k >= 0) startElem(k, true);
      }
      if (!m) break;
      i = j + 1;
      const c = chunk.charCodeAt(j);
      let done: ArrayElement | undefined;
      switch (c) {
        case NEWLINE:
          line++;
          lineStart = base + j + 1;
          break;
        case QUOTE:
          inString = true;
          if (inTarget && depth === 1 && !elem) startElem(j, true);
          if (depth === 1 && !inTarget) {
            capture = [];
            captureFrom = j + 1;
          }
          break;
        case OPEN_OBJ:
        case OPEN_ARR:
          if (depth === 1 && c === OPEN_ARR && afterColon && lastKey === key && !found) {
            inTarget = true;
            found = true;
            afterColon = false;
            // The array itself does not count as a level: its elements are at depth 1 of the target.
            break;
          }
          if (inTarget && depth === 1 && !elem) startElem(j, false);
          if (depth === 1) afterColon = false;
          depth++;
          break;
        case CLOSE_OBJ:
        case CLOSE_ARR:
          if (inTarget && depth === 1) {
            if (c !== CLOSE_ARR)
              throw new JsonScanError(`"}" closes the "${key}" array`, line, base + j - lineStart + 1);
            if (elem) done = finish(chunk, j - 1);
            inTarget = false;
            break;
          }
          depth--;
          if (depth < 0)
            throw new JsonScanError(`unexpected "${String.fromCharCode(c)}"`, line, base + j - lineStart + 1);
          if (inTarget && depth === 1 && elem && !elem.scalar) done = finish(chunk, j);
          break;
        case COMMA:
          if (inTarget && depth === 1 && elem) done = finish(chunk, j - 1);
          if (depth === 1) afterColon = false;
          break;
        case COLON:
          if (depth === 1 && !inTarget) afterColon = true;
          break;
      }
      if (done) yield done;
    }
    if (elem) {
      elem.parts.push(chunk.slice(elem.from));
      elem.size += n - elem.from;
      if (elem.size > maxElementChars) {
        throw new JsonScanError(
          `record #${index} is over ${maxElementChars / 1024 / 1024} MB: its brackets are probably unbalanced`,
          elem.line,
          elem.column,
          index,
        );
      }
    }
    if (capture) capture.push(chunk.slice(captureFrom));
    base += n;
  }
  const column = base - lineStart + 1;
  if (elem)
    throw new JsonScanError(
      `the input ends inside record #${index}, which starts at line ${elem.line}, column ${elem.column}`,
      line,
      column,
      index,
    );
  if (inString || depth !== 0 || inTarget)
    throw new JsonScanError('the input ends before the JSON document does (truncated?)', line, column);
  if (!found) throw new JsonScanError(`the document has no top-level "${key}" array`, line, column);

  function finish(chunk: string, end: number): ArrayElement {
    const e = elem!;
    elem = undefined;
    const text = e.parts.join('') + chunk.slice(e.from, end + 1);
    return { index: index++, text: e.scalar ? text.trimEnd() : text, line: e.line, column: e.column };
  }
}

/** Where a JSON.parse error points inside an element, as a line and column of the whole input. */
export function parseErrorPosition(e: unknown, el: ArrayElement): { line: number; column: number } {
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : String(e));
  if (!m) return { line: el.line, column: el.column };
  const pos = Math.min(Number(m[1]), el.text.length);
  const before = el.text.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  const lines = before.split('\n').length - 1;
  return lines === 0 ? { line: el.line, column: el.column + pos } : { line: el.line + lines, column: pos - nl };
}
