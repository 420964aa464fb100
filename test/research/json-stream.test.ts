import { describe, expect, it } from 'vitest';
import {
  JsonScanError,
  parseErrorPosition,
  streamArray,
  type ArrayElement,
} from '../../server/research/json-stream.ts';

async function* chunksOf(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function collect(
  text: string,
  size = 1 << 20,
  key = 'vulnerabilities',
  header?: Map<string, string>,
): Promise<ArrayElement[]> {
  const out: ArrayElement[] = [];
  for await (const el of streamArray(chunksOf(text, size), key, header)) out.push(el);
  return out;
}

const doc = [
  '{',
  '  "format": "NVD_CVE", "count": 3, "nested": {"vulnerabilities": [1]},',
  '  "version": "2.0",',
  '  "vulnerabilities": [',
  '    {"cve": {"id": "A", "text": "brackets } ] { [ and \\"quotes\\" and \\\\"}},',
  '    {"cve": {"id": "B", "list": [1, 2, {"x": "é漢字"}]}} ,',
  '    "scalar", 42 ,',
  '    {"cve": {"id": "C"}}',
  '  ],',
  '  "timestamp": "t"',
  '}',
].join('\n');

describe('streamArray', () => {
  it('hands out each element of the top-level array with its line and column, and the top-level strings', async () => {
    const header = new Map<string, string>();
    const els = await collect(doc, 1 << 20, 'vulnerabilities', header);
    expect(els.map((e) => JSON.parse(e.text) as unknown)).toEqual([
      { cve: { id: 'A', text: 'brackets } ] { [ and "quotes" and \\' } },
      { cve: { id: 'B', list: [1, 2, { x: 'é漢字' }] } },
      'scalar',
      42,
      { cve: { id: 'C' } },
    ]);
    expect(els.map((e) => [e.index, e.line, e.column])).toEqual([
      [0, 5, 5],
      [1, 6, 5],
      [2, 7, 5],
      [3, 7, 15],
      [4, 8, 5],
    ]);
    expect(Object.fromEntries(header)).toEqual({ format: 'NVD_CVE', version: '2.0', timestamp: 't' });
  });

  it('gives the same elements whatever the chunk boundaries (escapes and multi-byte text split included)', async () => {
    const whole = await collect(doc);
    for (const size of [1, 2, 3, 5, 7, 16, 61]) expect(await collect(doc, size)).toEqual(whole);
  });

  it('reports a truncated input inside a record with where the record starts', async () => {
    const cut = doc.slice(0, doc.indexOf('"id": "B"') + 5);
    const err = await collect(cut).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JsonScanError);
    expect(err).toMatchObject({
      index: 1,
      message: 'the input ends inside record #1, which starts at line 6, column 5',
    });
  });

  it('reports an unterminated string at its line', async () => {
    const err = await collect('{"vulnerabilities": [\n{"a": "no end\n}]}').catch((e: unknown) => e);
    expect(err).toMatchObject({
      message: 'a string runs past the end of its line (unterminated string)',
      line: 2,
      index: 0,
    });
  });

  it('reports a document without the array, and one closed too often', async () => {
    await expect(collect('{"other": []}')).rejects.toThrow('the document has no top-level "vulnerabilities" array');
    await expect(collect('{"vulnerabilities": []}}')).rejects.toMatchObject({
      message: 'unexpected "}"',
      line: 1,
      column: 24,
    });
  });

  it('locates a JSON.parse error inside an element in the whole input', async () => {
    const text = '{"vulnerabilities": [\n  {"ok": 1},\n  {"a": 1,\n   "b": 2 "c": 3}\n]}';
    const els = await collect(text);
    const bad = els[1]!;
    let err: unknown;
    try {
      JSON.parse(bad.text);
    } catch (e) {
      err = e;
    }
    expect(parseErrorPosition(err, bad)).toEqual({ line: 4, column: 11 });
  });
});
