// The placeholders of module files: `{{ name }}` and `{{ name | filter }}`, where name is a parameter, `os.<var>`,
// `ad.<value>`, `flag` or `host`. Parsing is separate from rendering so the loader can check every reference before any use.
import crypto from 'node:crypto';
import type { ParamValue } from '../model/vulnerability.ts';

// The AES-256 key every Group Policy Preferences cpassword is encrypted with, published by Microsoft in
// [MS-GPPREF] 2.2.1.1.4: which is why a cpassword in SYSVOL is as good as the password itself.
const gppKey = Buffer.from('4e9906e8fcb66cc9faf49310620ffee8f496e806cc057990209b09a433b66c1b', 'hex');

/** A Group Policy Preferences cpassword: UTF-16LE, AES-256-CBC with a zero IV, base64 without its padding. */
export function gppCpassword(plain: string): string {
  const cipher = crypto.createCipheriv('aes-256-cbc', gppKey, Buffer.alloc(16));
  const sealed = Buffer.concat([cipher.update(Buffer.from(plain, 'utf16le')), cipher.final()]);
  return sealed.toString('base64').replace(/=+$/, '');
}

export const filters = {
  /** One shell word: single-quoted, a list as several words. */
  sh: (v: string) => `'${v.replaceAll("'", `'\\''`)}'`,
  /** Text inside an XML attribute or element. */
  xml: (v: string) =>
    v
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replaceAll('"', '&quot;')
      .replaceAll("'", '&apos;'),
  /** Inside an SQL string literal ('...'). */
  sql: (v: string) => v.replaceAll("'", "''"),
  /** A URL path segment or query value. */
  url: (v: string) => encodeURIComponent(v),
  /** A literal inside a regular expression. */
  regex: (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  /** One PowerShell single-quoted string (its typographic quotes are quotes too, so they are doubled as well). */
  ps: (v: string) => `'${v.replace(/['\u2018\u2019\u201a\u201b]/g, '$&$&')}'`,
  /** The Group Policy Preferences cpassword of a password (for a Groups.xml in SYSVOL). */
  gpp: (v: string) => gppCpassword(v),
} as const;
export type FilterName = keyof typeof filters;

export interface Placeholder {
  name: string;
  filter?: FilterName;
  /** Offset of `{{` in the template text. */
  offset: number;
  /** The placeholder is the whole text (a list parameter then stands for several items). */
  whole: boolean;
}

export type ParsedTemplate = { placeholders: Placeholder[] } | { error: string; offset: number };

const placeholderPattern = /\{\{([^{}]*)\}\}/g;
const namePattern = /^((os|ad)\.[a-zA-Z][a-zA-Z0-9_]*|[a-zA-Z][a-zA-Z0-9_]*)$/;

export function parseTemplate(text: string): ParsedTemplate {
  const placeholders: Placeholder[] = [];
  for (const m of text.matchAll(placeholderPattern)) {
    const [rawName, rawFilter, ...rest] = m[1]!.split('|').map((s) => s.trim());
    if (rest.length > 0) return { error: `"${m[0]}" has more than one filter`, offset: m.index };
    if (!rawName || !namePattern.test(rawName))
      return { error: `"${m[0]}" does not name a parameter, os.<var>, ad.<value>, flag or host`, offset: m.index };
    if (rawFilter !== undefined && !(rawFilter in filters))
      return {
        error: `unknown filter "${rawFilter}" in "${m[0]}"; expected one of ${Object.keys(filters).join(', ')}`,
        offset: m.index,
      };
    placeholders.push({
      name: rawName,
      ...(rawFilter ? { filter: rawFilter as FilterName } : {}),
      offset: m.index,
      whole: m[0] === text,
    });
  }
  // A stray `{{` or `}}` left outside the placeholders is a typo, never literal text a module means.
  const outside = text.replace(placeholderPattern, (m) => ' '.repeat(m.length));
  const stray = [outside.indexOf('{{'), outside.indexOf('}}')].filter((i) => i >= 0);
  if (stray.length > 0) return { error: 'unbalanced "{{" or "}}"', offset: Math.min(...stray) };
  return { placeholders };
}

export type TemplateValues = Record<string, ParamValue | undefined>;

/** Renders a template; every name must have a value (the loader has checked them). Lists join with spaces. */
export function renderTemplate(text: string, values: TemplateValues): string {
  return text.replace(placeholderPattern, (_whole, inner: string) => {
    const [name, filter] = inner.split('|').map((s) => s.trim()) as [string, FilterName | undefined];
    const value = values[name];
    if (value === undefined) throw new Error(`template value "${name}" is missing`);
    const apply = (v: string) => (filter ? filters[filter](v) : v);
    return Array.isArray(value) ? value.map(apply).join(' ') : apply(String(value));
  });
}

/** Renders a list of templates; an item that is exactly a list-valued placeholder becomes that list's items. */
export function renderList(items: string[], values: TemplateValues): string[] {
  return items.flatMap((item) => {
    const m = /^\{\{\s*([^{}|]+?)\s*\}\}$/.exec(item);
    const value = m ? values[m[1]!] : undefined;
    if (Array.isArray(value)) return value;
    return [renderTemplate(item, values)];
  });
}
