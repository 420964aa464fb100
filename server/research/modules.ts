// From CVEs and machine descriptions to catalogue modules, as pure functions over the catalogue passed in: a CVE maps
// to modules by CVE id, CWE and product; "a web server on Ubuntu 22.04" maps to the modules that fit it, with reasons.
import { osCatalog, type OsFamily } from '../model/catalog.ts';
import { normalizeName } from './cve-formats.ts';

/**
 * What the research agent needs of a vulnerability module (the Reaper catalogue's entries are read through this
 * shape). `products` names the software the module installs or misconfigures, as in CPE (`openssh`, `redis`, `vsftpd`).
 */
export interface ModuleRef {
  id: string;
  title: string;
  category: string;
  difficulty?: string;
  description?: string;
  cwe?: string[];
  cve?: string[];
  os?: { families?: string[]; images?: string[] };
  products?: string[];
}

/**
 * The fields of a Reaper catalogue module (server/reaper/module-schema.ts, VulnerabilityModule) read here, so that
 * its modules are passed as they are: `fromCatalogueModule(m)` gives the ModuleRef.
 */
export interface CatalogueModuleLike {
  id: string;
  title: string;
  category: string;
  difficulty?: string;
  summary?: string;
  references?: { cwe?: string[]; cve?: string[] };
  /** OS keys (ubuntu-22.04) or families (debian). */
  os: string[];
  vars?: Record<string, Record<string, string | string[]>>;
  apply?: { packages?: string[] };
}

// Debian/Ubuntu package names to the CPE product they install.
const packageProducts: Array<[RegExp, string]> = [
  [/^apache2$/, 'http_server'],
  [/^(libapache2-mod-php|php)[\d.]*(-.*)?$/, 'php'],
  [/^nginx(-.*)?$/, 'nginx'],
  [/^tomcat\d*(-.*)?$/, 'tomcat'],
  [/^mariadb-(server|client)$/, 'mariadb'],
  [/^mysql-(server|client)$/, 'mysql'],
  [/^postgresql(-\d+)?$/, 'postgresql'],
  [/^redis-server$/, 'redis'],
  [/^openssh-(server|client|sftp-server)$/, 'openssh'],
  [/^samba$/, 'samba'],
  [/^vsftpd$/, 'vsftpd'],
  [/^proftpd(-.*)?$/, 'proftpd'],
  [/^nfs-kernel-server$/, 'nfs-utils'],
  [/^sudo$/, 'sudo'],
  [/^cron$/, 'cron'],
  [/^git$/, 'git'],
  [/^sqlite3$/, 'sqlite'],
  [/^jenkins$/, 'jenkins'],
];

/**
 * A Reaper module as the research agent reads it: references flattened, OS split into images and families, products
 * from its packages and title.
 */
export function fromCatalogueModule(m: CatalogueModuleLike): ModuleRef {
  const families = new Set<string>(Object.values(osCatalog).map((o) => o.family));
  // A package may be a template of a per-OS variable ({{os.tomcat}}): every value it takes counts.
  const packages = (m.apply?.packages ?? []).flatMap((p) => {
    const v = /^\{\{\s*os\.([A-Za-z0-9_]+)\s*\}\}(.*)$/.exec(p);
    if (!v) return [p];
    return Object.values(m.vars ?? {}).flatMap((vars) => [vars[v[1]!] ?? []].flat().map((x) => `${x}${v[2]}`));
  });
  const products = new Set<string>();
  for (const p of packages) for (const [re, product] of packageProducts) if (re.test(p)) products.add(product);
  for (const w of m.title.toLowerCase().split(/[^a-z0-9]+/)) if (productNames[w]) products.add(productNames[w]!);
  return {
    id: m.id,
    title: m.title,
    category: m.category,
    ...(m.difficulty ? { difficulty: m.difficulty } : {}),
    ...(m.summary ? { description: m.summary } : {}),
    cwe: m.references?.cwe ?? [],
    cve: m.references?.cve ?? [],
    os: { families: m.os.filter((o) => families.has(o)), images: m.os.filter((o) => o in osCatalog) },
    products: [...products].sort(),
  };
}

/** The least a CVE needs for mapping: its id, CWEs and affected products. */
export interface CveFacts {
  id: string;
  cwes: string[];
  products: Array<{ vendor: string; product: string }>;
}

export type MatchReason =
  { kind: 'cve'; cve: string } | { kind: 'product'; product: string } | { kind: 'cwe'; cwe: string };

export interface ModuleMatch<M extends ModuleRef = ModuleRef> {
  module: M;
  /** 3 for the CVE itself, 2 per product, 1 per CWE: an exact module first, then one of the same software. */
  score: number;
  reasons: MatchReason[];
}

/** The modules a CVE relates to, best first (ties by id). */
export function modulesForCve<M extends ModuleRef>(cve: CveFacts, catalogue: M[]): Array<ModuleMatch<M>> {
  const products = new Set(cve.products.flatMap((p) => [p.product, `${p.vendor}:${p.product}`]));
  const cwes = new Set(cve.cwes.map((c) => c.toUpperCase()));
  const out: Array<ModuleMatch<M>> = [];
  for (const m of catalogue) {
    const reasons: MatchReason[] = [];
    if ((m.cve ?? []).some((c) => c.toUpperCase() === cve.id.toUpperCase())) reasons.push({ kind: 'cve', cve: cve.id });
    for (const p of m.products ?? [])
      if (products.has(normalizeName(p))) reasons.push({ kind: 'product', product: normalizeName(p) });
    for (const c of m.cwe ?? []) if (cwes.has(c.toUpperCase())) reasons.push({ kind: 'cwe', cwe: c.toUpperCase() });
    if (reasons.length === 0) continue;
    const score = reasons.reduce((s, r) => s + (r.kind === 'cve' ? 3 : r.kind === 'product' ? 2 : 1), 0);
    out.push({ module: m, score, reasons });
  }
  return out.sort((a, b) => b.score - a.score || a.module.id.localeCompare(b.module.id));
}

// ---- describing a machine -----------------------------------------------------------------------------------------

export interface MachineProfile {
  /** An OS key of the catalogue (ubuntu-22.04) when the text names one precisely. */
  image?: string;
  family?: OsFamily;
  /** Roles recognised in the text (web server, database...). */
  roles: string[];
  /** Software named or implied by the roles, as CPE product names. */
  products: string[];
  /** Module categories the roles call for. */
  categories: string[];
  /** The remaining words, for matching titles and descriptions. */
  words: string[];
}

interface Role {
  name: string;
  patterns: RegExp[];
  products: string[];
  categories: string[];
  family?: OsFamily;
}

// Roles a trainer describes a machine by, what software they usually run and which module categories suit them.
const roles: Role[] = [
  {
    name: 'web server',
    patterns: [/\bweb ?(server|site|app(lication)?|host)\b/, /\bhttps?\b/, /\bwebsite\b/, /\blamp\b/],
    products: ['http_server', 'nginx', 'tomcat', 'php', 'wordpress'],
    categories: ['web'],
  },
  {
    name: 'database server',
    patterns: [/\bdatabase\b/, /\bdb ?server\b/, /\bsql\b/],
    products: ['mysql', 'mariadb', 'postgresql', 'redis', 'mongodb'],
    categories: ['network-service', 'credentials'],
  },
  {
    name: 'file server',
    patterns: [/\bfile ?(server|share|sharing)\b/, /\bshares?\b/, /\bnas\b/],
    products: ['samba', 'vsftpd', 'nfs-utils', 'proftpd'],
    categories: ['network-service', 'misconfiguration'],
  },
  {
    name: 'mail server',
    patterns: [/\bmail ?server\b/, /\bsmtp\b/, /\bimap\b/],
    products: ['postfix', 'exim', 'dovecot'],
    categories: ['network-service'],
  },
  {
    name: 'domain controller',
    patterns: [/\bdomain controller\b/, /\bactive directory\b/, /\bdc\b/, /\bad ?(ds|lab|domain)?\b/],
    products: ['windows_server'],
    categories: ['ad', 'credentials'],
    family: 'windows',
  },
  {
    name: 'remote access',
    patterns: [/\bssh\b/, /\bremote (access|login|shell)\b/, /\bjump ?(host|box)\b/, /\bbastion\b/],
    products: ['openssh'],
    categories: ['credentials', 'network-service'],
  },
  {
    name: 'workstation',
    patterns: [/\bworkstation\b/, /\bdesktop\b/, /\bclient\b/, /\blaptop\b/],
    products: [],
    categories: ['privilege-escalation', 'credentials'],
  },
  {
    name: 'application server',
    patterns: [/\b(app|application) server\b/, /\bjava\b/, /\bservlet\b/],
    products: ['tomcat', 'jboss', 'jenkins'],
    categories: ['web'],
  },
  {
    name: 'cache',
    patterns: [/\bcache\b/, /\bkey.?value\b/],
    products: ['redis', 'memcached'],
    categories: ['network-service'],
  },
];

// Software named outright in a description, and its CPE product name.
const productNames: Record<string, string> = {
  apache: 'http_server',
  httpd: 'http_server',
  nginx: 'nginx',
  tomcat: 'tomcat',
  php: 'php',
  wordpress: 'wordpress',
  mysql: 'mysql',
  mariadb: 'mariadb',
  postgres: 'postgresql',
  postgresql: 'postgresql',
  redis: 'redis',
  mongodb: 'mongodb',
  memcached: 'memcached',
  samba: 'samba',
  smb: 'samba',
  ftp: 'vsftpd',
  vsftpd: 'vsftpd',
  proftpd: 'proftpd',
  nfs: 'nfs-utils',
  openssh: 'openssh',
  ssh: 'openssh',
  sudo: 'sudo',
  cron: 'cron',
  jenkins: 'jenkins',
  postfix: 'postfix',
  exim: 'exim',
  dovecot: 'dovecot',
  git: 'git',
};

const stopwords = new Set(
  'a an the on with and or of for to in at as by is it its that this from into running runs run machine server host box'.split(
    ' ',
  ),
);

/** Reads a free-text description ("a web server on Ubuntu 22.04") into OS, roles, products and categories. */
export function describeMachine(text: string): MachineProfile {
  const t = ` ${text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}.+-]+/gu, ' ')
    .replace(/\.(\s|$)/g, ' ')} `;
  const profile: MachineProfile = { roles: [], products: [], categories: [], words: [] };
  const plain = (x: string) =>
    x
      .toLowerCase()
      .replace(/[^\p{L}\p{N}.+-]+/gu, ' ')
      .trim();
  // An image only when its version is named ("ubuntu 22.04", "windows server 2022"); otherwise the family alone.
  for (const os of Object.values(osCatalog)) {
    if (!/\d/.test(os.key)) continue;
    const variants = [os.key, os.key.replace(/-/g, ' '), plain(os.title)];
    if (variants.some((v) => t.includes(` ${v} `))) {
      profile.image = os.key;
      profile.family = os.family;
      break;
    }
  }
  if (!profile.family) {
    const family = (['ubuntu', 'debian', 'kali', 'windows'] as const).find((f) => t.includes(` ${f} `));
    if (family) profile.family = family;
  }
  const add = (list: string[], v: string) => void (list.includes(v) ? undefined : list.push(v));
  for (const role of roles) {
    if (!role.patterns.some((p) => p.test(t))) continue;
    add(profile.roles, role.name);
    for (const p of role.products) add(profile.products, p);
    for (const c of role.categories) add(profile.categories, c);
    if (role.family && !profile.family) profile.family = role.family;
  }
  const words = t.trim().split(/\s+/);
  for (const w of words) {
    const p = productNames[w];
    if (p) {
      // A product named outright comes before those a role only implies.
      profile.products = [p, ...profile.products.filter((x) => x !== p)];
    }
  }
  // Left for matching titles: words that are not already read as software or an OS.
  const consumed = (w: string) =>
    stopwords.has(w) || w in productNames || ['ubuntu', 'debian', 'kali', 'windows', 'linux'].includes(w);
  profile.words = [...new Set(words.filter((w) => w.length > 2 && !consumed(w) && !/^\d/.test(w)))];
  return profile;
}

export interface ModuleSuggestion<M extends ModuleRef = ModuleRef> {
  module: M;
  score: number;
  /** Why it was suggested, in words a trainer reads. */
  reasons: string[];
}

/**
 * The catalogue's modules that fit a described machine, best first (ties by id): only modules that support its OS
 * (family or image) when it names one; then ranked by the software they share with it, their category against its
 * roles, and words of their title and description. Modules that match nothing but the OS come last.
 */
export function suggestModules<M extends ModuleRef>(
  machine: string | MachineProfile,
  catalogue: M[],
  limit = 10,
): Array<ModuleSuggestion<M>> {
  const p = typeof machine === 'string' ? describeMachine(machine) : machine;
  const out: Array<ModuleSuggestion<M>> = [];
  for (const m of catalogue) {
    if (!supportsOs(m, p)) continue;
    let score = 0;
    const reasons: string[] = [];
    const products = (m.products ?? []).map(normalizeName);
    const shared = p.products.filter((x) => products.includes(x));
    for (const [i, x] of shared.entries()) {
      // The first products are the ones the description named: they weigh more than those a role implies.
      score += i === 0 && p.products.indexOf(x) === 0 ? 4 : 3;
      reasons.push(`uses ${x}`);
    }
    const ci = p.categories.findIndex((c) => categoryKey(c) === categoryKey(m.category));
    if (ci >= 0) {
      score += ci === 0 ? 2 : 1;
      const role = p.roles.find((r) =>
        roles.find((x) => x.name === r)?.categories.some((c) => categoryKey(c) === categoryKey(m.category)),
      );
      reasons.push(`${m.category} module for a ${role ?? 'machine like this'}`);
    }
    const text = ` ${`${m.title} ${m.description ?? ''}`.toLowerCase().replace(/[^\p{L}\p{N}.+-]+/gu, ' ')} `;
    const words = p.words.filter((w) => text.includes(` ${w} `));
    if (words.length > 0) {
      score += 0.5 * words.length;
      reasons.push(`mentions ${words.join(', ')}`);
    }
    if (p.image || p.family) reasons.push(`supports ${p.image ?? p.family}`);
    out.push({ module: m, score, reasons });
  }
  return out.sort((a, b) => b.score - a.score || a.module.id.localeCompare(b.module.id)).slice(0, limit);
}

/** Categories compare without case, spaces or underscores: `network service` is Reaper's `network-service`. */
function categoryKey(c: string): string {
  return c.toLowerCase().replace(/[\s_]+/g, '-');
}

function supportsOs(m: ModuleRef, p: MachineProfile): boolean {
  if (!p.image && !p.family) return true;
  const images = m.os?.images ?? [];
  const families = m.os?.families ?? [];
  if (images.length === 0 && families.length === 0) return true;
  if (p.image && images.includes(p.image)) return true;
  const family = p.family ?? (p.image ? osCatalog[p.image]?.family : undefined);
  return !!family && families.includes(family);
}

/** A plain, deterministic explanation of a module and the CVEs it relates to: what the page shows without an LLM. */
export function explainModule(
  m: ModuleRef,
  cves: Array<{ id: string; description: string; cvss: { score: number; severity: string | null } | null }>,
): string {
  const lines = [`${m.title} (${m.id}) is a ${m.difficulty ? `${m.difficulty} ` : ''}${m.category} module.`];
  if (m.description) lines.push(m.description);
  const os = [...(m.os?.images ?? []), ...(m.os?.families ?? [])];
  if (os.length > 0) lines.push(`It applies to ${os.join(', ')}.`);
  if (m.cwe?.length) lines.push(`Weakness: ${m.cwe.join(', ')}.`);
  for (const c of cves) {
    lines.push(
      `${c.id}${c.cvss ? ` (CVSS ${c.cvss.score}${c.cvss.severity ? ` ${c.cvss.severity}` : ''})` : ''}: ${c.description}`,
    );
  }
  return lines.join('\n');
}
