// Cuts documents into passages the index stores and ranks: Markdown by its headings, scenario YAML by its top-level
// sections and list items (comments kept), modules and deployments by record. Pure: text in, chunks out.
import { parseDocument } from 'yaml';

export type Collection = 'docs' | 'scenarios' | 'modules' | 'deployments';

export interface Chunk {
  collection: Collection;
  /** What the passage comes from: a repository path, `scenario:<name>`, `module:<id>`, `deployment:<id>`. */
  source: string;
  /** The document's title (its first Markdown heading, the scenario's title, the module's title...). */
  title: string;
  /** The headings above the passage, outermost first. */
  headings: string[];
  /** Where to read it: a repository path with a heading anchor or `#L<line>`, or the link the caller gave. */
  link: string;
  text: string;
}

export const defaultMaxChars = 1200;

/** The text a passage is embedded and matched as: its heading path, then its text. */
export function chunkContent(c: Pick<Chunk, 'headings' | 'text'>): string {
  return c.headings.length > 0 ? `${c.headings.join(' > ')}\n${c.text}` : c.text;
}

// ---- Markdown ----------------------------------------------------------------------------------------------------

export interface MarkdownInput {
  collection?: Collection;
  source: string;
  text: string;
  /** Base of the passage links; heading anchors are appended. Default: the source. */
  link?: string;
  maxChars?: number;
}

/** One chunk per section (split further at paragraph, then line, boundaries when longer than maxChars). */
export function chunkMarkdown(input: MarkdownInput): Chunk[] {
  const max = input.maxChars ?? defaultMaxChars;
  const base = input.link ?? input.source;
  const lines = input.text.replace(/\r\n?/g, '\n').split('\n');
  const sections: Array<{ headings: string[]; anchor: string; lines: string[] }> = [
    { headings: [], anchor: '', lines: [] },
  ];
  const stack: Array<{ level: number; text: string }> = [];
  const slugs = new Map<string, number>();
  let fence: string | undefined;
  for (const line of lines) {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (!fence) fence = f[1]![0]!.repeat(f[1]!.length);
      else if (line.trim().startsWith(fence)) fence = undefined;
    }
    const h = fence || f ? undefined : /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!h) {
      sections.at(-1)!.lines.push(line);
      continue;
    }
    const level = h[1]!.length;
    const text = plainHeading(h[2]!);
    while (stack.length > 0 && stack.at(-1)!.level >= level) stack.pop();
    stack.push({ level, text });
    sections.push({ headings: stack.map((s) => s.text), anchor: uniqueSlug(text, slugs), lines: [] });
  }
  const title = sections.find((s) => s.headings.length > 0)?.headings[0] ?? fileTitle(input.source);
  const chunks: Chunk[] = [];
  for (const s of sections) {
    const link = s.anchor ? `${base}#${s.anchor}` : base;
    for (const text of pack(blocks(s.lines), max)) {
      chunks.push({
        collection: input.collection ?? 'docs',
        source: input.source,
        title,
        headings: s.headings,
        link,
        text,
      });
    }
  }
  return chunks;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function slugify(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function uniqueSlug(heading: string, seen: Map<string, number>): string {
  const slug = slugify(heading);
  const n = seen.get(slug);
  seen.set(slug, (n ?? 0) + 1);
  return n === undefined ? slug : `${slug}-${n}`;
}

function plainHeading(s: string): string {
  return s
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*_]/g, '')
    .trim();
}

function fileTitle(source: string): string {
  return source.split('/').at(-1) ?? source;
}

/** Paragraphs (a fenced code block stays one block, blank lines and all). */
function blocks(lines: string[]): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let fence: string | undefined;
  const flush = () => {
    const text = cur.join('\n').trim();
    if (text) out.push(text);
    cur = [];
  };
  for (const line of lines) {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (!fence) {
        flush();
        fence = f[1]![0]!.repeat(f[1]!.length);
      } else if (line.trim().startsWith(fence)) {
        cur.push(line);
        fence = undefined;
        flush();
        continue;
      }
    }
    if (!fence && line.trim() === '') flush();
    else cur.push(line);
  }
  flush();
  return out;
}

/** Joins blocks into pieces of at most `max` characters; a longer block is cut at line, then word, boundaries. */
function pack(parts: string[], max: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const part of parts.flatMap((p) => (p.length > max ? cut(p, max) : [p]))) {
    if (cur && cur.length + 2 + part.length > max) {
      out.push(cur);
      cur = '';
    }
    cur = cur ? `${cur}\n\n${part}` : part;
  }
  if (cur) out.push(cur);
  return out;
}

function cut(text: string, max: number): string[] {
  return cutLines(text, max).map((p) => p.text);
}

/** Pieces of at most `max` characters cut at line (then word) boundaries, with the 0-based line each starts at. */
function cutLines(text: string, max: number): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let cur: { text: string; line: number } | undefined;
  text.split('\n').forEach((line, n) => {
    const units = line.length > max ? (line.match(new RegExp(`.{1,${max}}(\\s|$)|\\S+`, 'g')) ?? [line]) : [line];
    for (const u of units) {
      if (cur && cur.text.length + 1 + u.length > max) {
        if (cur.text.trim()) out.push(cur);
        cur = undefined;
      }
      cur = cur ? { text: `${cur.text}\n${u}`, line: cur.line } : { text: u, line: n };
    }
  });
  if (cur && cur.text.trim()) out.push(cur);
  return out;
}

// ---- Scenario YAML -----------------------------------------------------------------------------------------------

export interface ScenarioInput {
  source: string;
  yaml: string;
  /** Base of the passage links; `#L<first line>` is appended. Default: the source. */
  link?: string;
  maxChars?: number;
}

/**
 * One chunk per top-level key, with the comments written above it; a list section (networks, machines, rules)
 * longer than maxChars gives one chunk per item, named after the item's `name`. Short scalar keys are packed
 * together. Works on the text, so a file with errors is still indexed as written.
 */
export function chunkScenario(input: ScenarioInput): Chunk[] {
  const max = input.maxChars ?? defaultMaxChars;
  const lines = input.yaml.replace(/\r\n?/g, '\n').split('\n');
  const { name, title } = scenarioNames(input.yaml, input.source);
  const head = title && title !== name ? `${title} (${name})` : name;

  // Units: [start, end) line ranges, each a top-level key with the comment lines just above it.
  const starts: number[] = [];
  for (let i = 0; i < lines.length; i++) if (/^[A-Za-z_][\w-]*\s*:/.test(lines[i]!)) starts.push(i);
  const withComments = starts.map((s) => {
    let i = s;
    while (i > 0 && /^#/.test(lines[i - 1]!)) i--;
    return i;
  });
  // Whatever precedes the first key (a schema modeline, the file's opening comments) belongs to the first unit.
  if (withComments.length > 0) withComments[0] = 0;
  const units: Array<{ key: string; item?: string; from: number; to: number }> = [];
  withComments.forEach((from, n) => {
    const to = withComments[n + 1] ?? lines.length;
    const key = /^([A-Za-z_][\w-]*)/.exec(lines[starts[n]!]!)![1]!;
    const size = lines.slice(from, to).join('\n').length;
    const items = size > max ? listItems(lines, starts[n]! + 1, to) : [];
    if (items.length === 0) return units.push({ key, from, to });
    units.push({ key, from, to: items[0]!.from });
    for (const it of items) units.push({ key, item: it.name, from: it.from, to: it.to });
  });
  // A file with no top-level key at all (or only comments) is still one passage.
  if (units.length === 0) units.push({ key: '', from: 0, to: lines.length });

  const chunks: Chunk[] = [];
  let cur: { headings: string[]; from: number; text: string; scalar: boolean } | undefined;
  const flush = () => {
    if (cur && cur.text.trim()) {
      for (const piece of cur.text.length > max ? cutLines(cur.text, max) : [{ text: cur.text, line: 0 }]) {
        const link = `${input.link ?? input.source}#L${cur.from + piece.line + 1}`;
        chunks.push({
          collection: 'scenarios',
          source: input.source,
          title: head,
          headings: cur.headings,
          link,
          text: piece.text,
        });
      }
    }
    cur = undefined;
  };
  for (const u of units) {
    const text = lines.slice(u.from, u.to).join('\n').trimEnd();
    if (!text.trim()) continue;
    const scalar = !u.item && u.to - u.from <= 3;
    if (cur && cur.scalar && scalar && cur.text.length + 1 + text.length <= max) {
      cur.text += `\n${text}`;
      continue;
    }
    flush();
    cur = {
      headings: [head, ...(scalar ? [] : [u.key]), ...(u.item ? [u.item] : [])].filter(Boolean),
      from: u.from,
      text,
      scalar,
    };
  }
  flush();
  return chunks;
}

function scenarioNames(yaml: string, source: string): { name: string; title?: string } {
  const fallback = fileTitle(source).replace(/\.ya?ml$/, '');
  try {
    const v = parseDocument(yaml).toJS() as unknown;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const name = typeof o.name === 'string' ? o.name : fallback;
      return typeof o.title === 'string' ? { name, title: o.title } : { name };
    }
  } catch {
    // Unparseable YAML is still indexed, under its file name.
  }
  return { name: fallback };
}

/** The items of a block sequence between lines [from, to): each starts at a `- ` at the list's indentation. */
function listItems(lines: string[], from: number, to: number): Array<{ name: string; from: number; to: number }> {
  let indent = -1;
  const starts: number[] = [];
  for (let i = from; i < to; i++) {
    const m = /^(\s*)- /.exec(lines[i]!);
    if (!m) continue;
    if (indent < 0) indent = m[1]!.length;
    if (m[1]!.length === indent) {
      let s = i;
      // Comment lines at the item's indentation just above it belong to it.
      while (s - 1 > from && new RegExp(`^\\s{${indent}}#`).test(lines[s - 1]!)) s--;
      starts.push(s);
    }
  }
  return starts.map((s, n) => {
    const end = starts[n + 1] ?? to;
    const body = lines.slice(s, end).join('\n');
    const name = /(?:^|\n)\s*-?\s*name:\s*["']?([^"'\s#]+)/.exec(body)?.[1] ?? `item ${n + 1}`;
    return { name, from: s, to: end };
  });
}

// ---- Catalogue modules and deployments ----------------------------------------------------------------------------

export interface ModuleInput {
  id: string;
  title: string;
  category?: string;
  difficulty?: string;
  description?: string;
  cwe?: string[];
  cve?: string[];
  os?: { families?: string[]; images?: string[] };
  /** Any further text worth finding (marking guide, parameters, verify probe). */
  text?: string;
  link?: string;
}

export function chunkModule(m: ModuleInput, maxChars = defaultMaxChars): Chunk[] {
  const facts = [
    m.category && `Category: ${m.category}`,
    m.difficulty && `Difficulty: ${m.difficulty}`,
    m.cwe?.length && `CWE: ${m.cwe.join(', ')}`,
    m.cve?.length && `CVE: ${m.cve.join(', ')}`,
    (m.os?.families?.length || m.os?.images?.length) &&
      `OS: ${[...(m.os?.families ?? []), ...(m.os?.images ?? [])].join(', ')}`,
  ].filter(Boolean);
  const body = [facts.join('\n'), m.description, m.text].filter((s): s is string => !!s && s.trim() !== '');
  return pack(body, maxChars).map((text) => ({
    collection: 'modules' as const,
    source: `module:${m.id}`,
    title: m.title,
    headings: [m.title],
    link: m.link ?? `module:${m.id}`,
    text,
  }));
}

export interface DeploymentInput {
  id: string;
  /** The scenario's name. */
  name: string;
  state?: string;
  platform?: string;
  link?: string;
  error?: string;
  /** Its event log, oldest first. */
  events?: Array<{ at: string; type?: string; step?: string; message: string }>;
  /** Each failed step and its reason; `fix`, when known, is what resolved it. */
  failures?: Array<{ step: string; target?: string; reason: string; fix?: string }>;
}

/** One chunk per failure (so a repeated reason finds its earlier occurrences), and the log in pieces. */
export function chunkDeployment(d: DeploymentInput, maxChars = defaultMaxChars): Chunk[] {
  const title = `Deployment ${d.id} of ${d.name}`;
  const link = d.link ?? `deployment:${d.id}`;
  const base = { collection: 'deployments' as const, source: `deployment:${d.id}`, title, link };
  const chunks: Chunk[] = [];
  const summary = [`Scenario ${d.name}`, d.platform && `on ${d.platform}`, d.state && `ended ${d.state}`]
    .filter(Boolean)
    .join(' ');
  if (d.error) chunks.push({ ...base, headings: [title], text: `${summary}: ${d.error}` });
  for (const f of d.failures ?? []) {
    const text = `Step ${f.step}${f.target ? ` on ${f.target}` : ''} failed: ${f.reason}${f.fix ? `\nFix: ${f.fix}` : ''}`;
    chunks.push({ ...base, headings: [title, 'Failures', f.step], text });
  }
  const log = (d.events ?? []).map(
    (e) => `${e.at} ${e.type ? `${e.type} ` : ''}${e.step ? `${e.step}: ` : ''}${e.message}`,
  );
  for (const text of pack(log.length > 0 ? [log.join('\n')] : [], maxChars))
    chunks.push({ ...base, headings: [title, 'Log'], text });
  return chunks;
}
