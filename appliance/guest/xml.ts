// A small, strict XML reader for the two documents the appliance handles: OVF descriptors (built and checked on the
// build host) and the OVF environment ESXi hands the guest. Well-formedness errors throw with the line; namespaces are
// resolved, so callers match on (namespace URI, local name) whatever prefixes the producer chose.

export interface XmlElement {
  /** Namespace URI ('' when none). */
  ns: string;
  local: string;
  /** Attributes keyed `{uri}local` (or `local` without a namespace). */
  attrs: Map<string, string>;
  children: XmlElement[];
  text: string;
  line: number;
}

export class XmlError extends Error {}

const entities: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const nameRe = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/;

function decode(s: string, line: number): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);|&/g, (m, ref: string | undefined) => {
    if (!ref) throw new XmlError(`line ${line}: bare '&'`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const v = entities[ref];
    if (v === undefined) throw new XmlError(`line ${line}: unknown entity &${ref};`);
    return v;
  });
}

export const xmlNs = 'http://www.w3.org/XML/1998/namespace';

export function parseXml(src: string): XmlElement {
  let i = 0;
  let line = 1;
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) if (src.charCodeAt(i + k) === 10) line++;
    i += n;
  };
  const fail = (msg: string): never => {
    throw new XmlError(`line ${line}: ${msg}`);
  };
  const skipUntil = (end: string, what: string) => {
    const j = src.indexOf(end, i);
    if (j < 0) fail(`unterminated ${what}`);
    advance(j + end.length - i);
  };
  const skipSpace = () => {
    const m = /^\s*/.exec(src.slice(i, i + 4096));
    advance(m ? m[0].length : 0);
  };
  if (src.charCodeAt(0) === 0xfeff) i = 1;

  interface Raw {
    qname: string;
    attrs: Array<[string, string]>;
    scope: Map<string, string>;
    el: XmlElement;
  }
  const stack: Raw[] = [];
  let root: XmlElement | undefined;
  const resolve = (qname: string, scope: Map<string, string>, isAttr: boolean): { ns: string; local: string } => {
    const c = qname.indexOf(':');
    if (c < 0) return { ns: isAttr ? '' : (scope.get('') ?? ''), local: qname };
    const prefix = qname.slice(0, c);
    if (prefix === 'xml') return { ns: xmlNs, local: qname.slice(c + 1) };
    const ns = scope.get(prefix);
    if (ns === undefined) fail(`undeclared namespace prefix "${prefix}" in <${qname}>`);
    return { ns: ns!, local: qname.slice(c + 1) };
  };

  while (i < src.length) {
    if (src.startsWith('<?', i)) {
      skipUntil('?>', 'processing instruction');
    } else if (src.startsWith('<!--', i)) {
      skipUntil('-->', 'comment');
    } else if (src.startsWith('<![CDATA[', i)) {
      const j = src.indexOf(']]>', i);
      if (j < 0) fail('unterminated CDATA');
      const top = stack.at(-1);
      if (!top) fail('CDATA outside the root element');
      top!.el.text += src.slice(i + 9, j);
      advance(j + 3 - i);
    } else if (src.startsWith('<!DOCTYPE', i)) {
      fail('DOCTYPE is not accepted');
    } else if (src.startsWith('</', i)) {
      advance(2);
      const m = nameRe.exec(src.slice(i, i + 256));
      if (!m) fail('bad closing tag');
      advance(m![0].length);
      skipSpace();
      if (src[i] !== '>') fail(`expected '>' after </${m![0]}`);
      advance(1);
      const top = stack.pop();
      if (!top || top.qname !== m![0]) fail(`</${m![0]}> does not close <${top?.qname ?? '(nothing)'}>`);
      if (stack.length === 0) root = top!.el;
    } else if (src[i] === '<') {
      if (root) fail('content after the root element');
      const startLine = line;
      advance(1);
      const m = nameRe.exec(src.slice(i, i + 256));
      if (!m) fail('bad tag name');
      const qname = m![0];
      advance(qname.length);
      const attrs: Array<[string, string]> = [];
      let selfClosing = false;
      for (;;) {
        const before = i;
        skipSpace();
        if (src.startsWith('/>', i)) {
          advance(2);
          selfClosing = true;
          break;
        }
        if (src[i] === '>') {
          advance(1);
          break;
        }
        if (i === before) fail(`expected whitespace in <${qname}>`);
        const a = nameRe.exec(src.slice(i, i + 256));
        if (!a) fail(`bad attribute in <${qname}>`);
        advance(a![0].length);
        skipSpace();
        if (src[i] !== '=') fail(`attribute ${a![0]} has no value`);
        advance(1);
        skipSpace();
        const q = src[i];
        if (q !== '"' && q !== "'") fail(`attribute ${a![0]} is not quoted`);
        const end = src.indexOf(q!, i + 1);
        if (end < 0) fail(`unterminated attribute ${a![0]}`);
        const raw = src.slice(i + 1, end);
        if (raw.includes('<')) fail(`'<' in attribute ${a![0]}`);
        if (attrs.some(([k]) => k === a![0])) fail(`duplicate attribute ${a![0]} in <${qname}>`);
        attrs.push([a![0], decode(raw, line)]);
        advance(end + 1 - i);
      }
      const scope = new Map(stack.at(-1)?.scope ?? []);
      for (const [k, v] of attrs) {
        if (k === 'xmlns') scope.set('', v);
        else if (k.startsWith('xmlns:')) scope.set(k.slice(6), v);
      }
      const { ns, local } = resolve(qname, scope, false);
      const el: XmlElement = { ns, local, attrs: new Map(), children: [], text: '', line: startLine };
      for (const [k, v] of attrs) {
        if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
        const r = resolve(k, scope, true);
        const key = r.ns ? `{${r.ns}}${r.local}` : r.local;
        if (el.attrs.has(key)) fail(`duplicate attribute ${key} in <${qname}>`);
        el.attrs.set(key, v);
      }
      const parent = stack.at(-1);
      if (parent) parent.el.children.push(el);
      if (selfClosing) {
        if (!parent) root = el;
      } else stack.push({ qname, attrs, scope, el });
    } else {
      const j = src.indexOf('<', i);
      const chunk = src.slice(i, j < 0 ? src.length : j);
      const top = stack.at(-1);
      if (!top) {
        if (chunk.trim()) fail('text outside the root element');
      } else top.el.text += decode(chunk, line);
      advance(chunk.length);
    }
  }
  if (stack.length) fail(`<${stack.at(-1)!.qname}> is not closed`);
  if (!root) fail('no root element');
  return root!;
}

/** Children (or all descendants with `deep`) named (ns, local). */
export function findAll(el: XmlElement, ns: string, local: string, deep = false): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) {
    if (c.ns === ns && c.local === local) out.push(c);
    if (deep) out.push(...findAll(c, ns, local, true));
  }
  return out;
}

export function find(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  return el.children.find((c) => c.ns === ns && c.local === local);
}

export function attr(el: XmlElement, ns: string, local: string): string | undefined {
  return el.attrs.get(ns ? `{${ns}}${local}` : local);
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
