// Flags for instructors: every module instance of a deployment with its flag (derived, never stored), where it
// is, the marking guide and the accounts the module made; and the same as a CSV that CTFd imports as challenges.
// Only instructors may see either: a trainee must never receive a flag of any instance.
import type { VulnerabilityInstance } from '../model/vulnerability.ts';
import type { Catalogue } from './module-schema.ts';
import { defaultPoints, type VulnerabilityModule } from './module-schema.ts';
import { flagValue, renderVulnerability, templateValues, type AdDomain } from './render.ts';
import { renderTemplate } from './template.ts';

export interface FlaggedMachine {
  /** Planned machine key, `i1.web-1`. */
  key: string;
  instance: number;
  hostname: string;
  os: string;
  /** A Windows machine's domain, for modules that read {{ad.*}}. */
  domain?: AdDomain;
  vulnerabilities: VulnerabilityInstance[];
}

export interface FlagRow {
  instance: number;
  machine: string;
  hostname: string;
  key: string;
  module: string;
  title: string;
  category: VulnerabilityModule['category'];
  difficulty: VulnerabilityModule['difficulty'];
  points: number;
  /** `planted`: a per-instance flag on the machine; `answer`: a fixed answer (a CVE id) the trainee must find. */
  kind: 'planted' | 'answer';
  flag: string;
  location: string;
  /** What the trainee reads (no flag in it). */
  challenge: string;
  hints: Array<{ text: string; cost: number }>;
  marking: string;
  /** Accounts the module created; `foothold` ones are the trainee's starting point. */
  accounts: Array<{ user: string; password: string; foothold: boolean }>;
  selected: boolean;
}

/** Every module instance of the given machines, ordered by instance, machine and module. */
export function instanceFlags(
  machines: FlaggedMachine[],
  ctx: { secret: string; seed: string; catalogue: Catalogue },
): FlagRow[] {
  const rows: FlagRow[] = [];
  for (const m of machines) {
    for (const inst of m.vulnerabilities) {
      const mod = ctx.catalogue.modules.get(inst.module);
      if (!mod) continue;
      const ad = m.domain ? { domain: m.domain } : {};
      const { flag, answer } = flagValue(mod, inst, { os: m.os, secret: ctx.secret, seed: ctx.seed, ...ad });
      const value = flag ?? answer!;
      const plain = templateValues(mod, inst.params, m.os, ad);
      const withFlag = templateValues(mod, inst.params, m.os, { flag: value, ...ad });
      const rendered = renderVulnerability(mod, inst, {
        os: m.os,
        machineKey: m.key,
        secret: ctx.secret,
        seed: ctx.seed,
        ...ad,
      });
      rows.push({
        instance: m.instance,
        machine: m.key,
        hostname: m.hostname,
        key: inst.key,
        module: mod.id,
        title: renderTemplate(mod.title, plain),
        category: mod.category,
        difficulty: mod.difficulty,
        points: mod.points ?? defaultPoints[mod.difficulty],
        kind: flag === undefined ? 'answer' : 'planted',
        flag: value,
        location: renderTemplate(mod.flag.location, plain),
        challenge: renderTemplate(mod.challenge, plain),
        hints: mod.hints.map((h) => ({ text: renderTemplate(h.text, plain), cost: h.cost })),
        marking: renderTemplate(mod.marking, withFlag),
        accounts: rendered.users.map((u) => ({ user: u.name, password: u.password, foothold: u.foothold })),
        selected: inst.selected,
      });
    }
  }
  return rows.sort(
    (a, b) => a.instance - b.instance || a.machine.localeCompare(b.machine) || a.module.localeCompare(b.module),
  );
}

const categoryTitles: Record<VulnerabilityModule['category'], string> = {
  web: 'Web',
  'privilege-escalation': 'Privilege escalation',
  credentials: 'Credentials',
  'network-service': 'Network services',
  misconfiguration: 'Misconfiguration',
  ad: 'Active Directory',
};

export interface CtfdOptions {
  /** The address trainees reach a machine at, by machine key; the hostname otherwise. */
  address?: (machineKey: string) => string | undefined;
  /** Only these instances (e.g. one CTFd per trainee); all when absent. */
  instances?: number[];
  /** CTFd category of each challenge: the module's category (default) or the range instance. */
  categoryBy?: 'module' | 'instance';
  state?: 'visible' | 'hidden';
}

/** CTFd's challenge CSV columns (Admin > Config > Backup > Import CSV, type "Challenges"; CTFd 3.7 or newer). */
export const ctfdColumns = [
  'name',
  'description',
  'category',
  'value',
  'type',
  'state',
  'connection_info',
  'flags',
  'tags',
  'hints',
] as const;

/**
 * One CTFd challenge per module instance. Names do not give the vulnerability away (a trainee reads them): the
 * machine, the category and a number. Flags and hints are JSON lists, which CTFd reads since 3.7; planted flags
 * are case-sensitive, answers (CVE ids) are not.
 */
export function ctfdChallengesCsv(rows: FlagRow[], options: CtfdOptions = {}): string {
  const chosen = rows.filter((r) => !options.instances || options.instances.includes(r.instance));
  const multi = new Set(chosen.map((r) => r.instance)).size > 1;
  const seen = new Map<string, number>();
  const lines = [ctfdColumns.join(',')];
  for (const r of chosen) {
    const base = `${multi ? `[i${r.instance}] ` : ''}${r.hostname}: ${categoryTitles[r.category]}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const address = options.address?.(r.machine) ?? r.hostname;
    const record: Record<(typeof ctfdColumns)[number], string> = {
      name: `${base} ${n}`.slice(0, 80),
      description: `${r.challenge.trim()}\n\nTarget: ${address}`,
      category: options.categoryBy === 'instance' ? `Range i${r.instance}` : categoryTitles[r.category],
      value: String(r.points),
      type: 'standard',
      state: options.state ?? 'visible',
      connection_info: address,
      flags: JSON.stringify([{ type: 'static', content: r.flag, data: r.kind === 'answer' ? 'case_insensitive' : '' }]),
      tags: [r.difficulty, ...(multi ? [`i${r.instance}`] : [])].join(','),
      hints: JSON.stringify(r.hints.map((h) => ({ content: h.text, cost: h.cost }))),
    };
    lines.push(ctfdColumns.map((c) => csvField(record[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}
