// The module catalogue: every server/reaper/catalogue/*.yaml file parsed, checked and indexed by id. A file's
// problems are all reported at once, each at its file:line:col with its field path, as scenario files are.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, formatIssue } from '../errors.ts';
import { osCatalog } from '../model/catalog.ts';
import type { InputIssue } from '../model/issues.ts';
import type { WindowsRemoteAccess } from '../model/scenario.ts';
import type { ParamValue, WindowsRole } from '../model/vulnerability.ts';
import { moduleSchema, type Catalogue, type ParamSpec, type VulnerabilityModule } from './module-schema.ts';
import { checkParamValue, defaultFor, defaultVar } from './params.ts';
import { renderProbe } from './probes.ts';
import { adValues, isWindowsModule, osVars, renderVulnerability, templateValues, type AdDomain } from './render.ts';
import { parseTemplate, renderList } from './template.ts';
import { joinPath, parseYaml, sortIssues, zodIssues, type Path, type YamlSource } from './yaml-issues.ts';

export const catalogueDir = fileURLToPath(new URL('./catalogue/', import.meta.url));

/** Parses and checks one module file; `module` is set only when there is no issue. */
export function parseModule(text: string, file: string): { module?: VulnerabilityModule; issues: InputIssue[] } {
  const { source, issues } = parseYaml(text, file);
  if (!source) return { issues };
  if (source.data === null || typeof source.data !== 'object' || Array.isArray(source.data)) {
    return {
      issues: [
        {
          path: '',
          message: 'expected a mapping with id, title, category, difficulty, os, apply, verify, flag and marking',
          at: source.locate([]),
        },
      ],
    };
  }
  const parsed = moduleSchema.safeParse(source.data, { reportInput: true });
  if (!parsed.success) return { issues: sortIssues(zodIssues(parsed.error, source)) };
  const module = parsed.data;
  const found = checkModule(module, source);
  const expectedId = path.basename(file).replace(/\.ya?ml$/, '');
  if (expectedId !== module.id && expectedId !== path.basename(file))
    found.push({
      path: ['id'],
      message: `the id "${module.id}" must be the file's name without .yaml ("${expectedId}")`,
    });
  if (found.length > 0)
    return {
      issues: sortIssues(
        found.map((i) => ({
          path: joinPath(i.path),
          message: i.message,
          at: i.offset === undefined ? source.locate(i.path) : source.locateInside(i.path, i.offset),
        })),
      ),
    };
  return { module, issues: [] };
}

/** Loads every *.yaml file of a folder; problems of every file together, plus those between files. */
export function loadCatalogue(dir: string = catalogueDir): { catalogue: Catalogue; issues: InputIssue[] } {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const issues: InputIssue[] = [];
  const modules = new Map<string, VulnerabilityModule>();
  const fileOf = new Map<string, string>();
  for (const f of files) {
    const result = parseModule(readFileSync(path.join(dir, f), 'utf8'), f);
    issues.push(...result.issues);
    if (!result.module) continue;
    const prev = fileOf.get(result.module.id);
    if (prev)
      issues.push({
        path: 'id',
        message: `module id "${result.module.id}" is also defined by ${prev}`,
        at: { file: f, line: 1, column: 1 },
      });
    else {
      modules.set(result.module.id, result.module);
      fileOf.set(result.module.id, f);
    }
  }
  for (const m of modules.values()) {
    m.conflicts.forEach((c, i) => {
      if (!modules.has(c))
        issues.push({
          path: `conflicts[${i}]`,
          message: `unknown module "${c}"`,
          at: { file: fileOf.get(m.id)!, line: 1, column: 1 },
        });
    });
  }
  const sorted = new Map([...modules.entries()].sort(([a], [b]) => a.localeCompare(b)));
  return { catalogue: { modules: sorted }, issues: sortIssues(issues) };
}

let cached: Catalogue | undefined;

/** The bundled catalogue, loaded once; a broken module file is a build defect and throws, listing every problem. */
export function defaultCatalogue(): Catalogue {
  if (cached) return cached;
  const { catalogue, issues } = loadCatalogue();
  if (issues.length > 0) {
    throw new AppError(
      'internal',
      `Invalid vulnerability catalogue ${catalogueDir}:\n${issues.map(formatIssue).join('\n')}`,
      { issues, hint: 'Fix the module files named above.' },
    );
  }
  return (cached = catalogue);
}

const supportedCache = new WeakMap<VulnerabilityModule, string[]>();

/** The catalog OS keys a module applies to: its keys, and every key of its families. */
export function supportedOs(module: VulnerabilityModule): string[] {
  const cached = supportedCache.get(module);
  if (cached) return cached;
  const keys = new Set<string>();
  // A module's steps are cloud-init and shell, or PowerShell through the Windows installer: never both (the loader
  // refuses a mix), so an OS of the other installer is never supported.
  const installer = isWindowsModule(module) ? 'windows-unattend' : 'cloud-init';
  for (const entry of module.os) {
    for (const os of Object.values(osCatalog))
      if ((os.key === entry || os.family === entry) && os.installer === installer) keys.add(os.key);
  }
  const list = [...keys].sort();
  supportedCache.set(module, list);
  return list;
}

export function supportsOs(module: VulnerabilityModule, os: string): boolean {
  return supportedOs(module).includes(os);
}

/** The machine a module is asked on: its OS and, for Windows, its place in a domain and its remote access. */
export interface ModuleTarget {
  /** Catalog OS key. */
  os: string;
  /** Windows: `dc` or `member` of a domain; absent: standalone (or not Windows). */
  domainRole?: 'dc' | 'member';
  /** Windows: the remote access the machine opens (default ssh, winrm, rdp). */
  remote?: readonly WindowsRemoteAccess[];
}

/** The Windows roles a module applies to (all three when it names none). */
export function moduleRoles(module: VulnerabilityModule): WindowsRole[] {
  return module.roles ?? ['standalone', 'member', 'dc'];
}

const roleWords: Record<WindowsRole, string> = {
  standalone: 'a standalone machine',
  member: 'a domain member',
  dc: 'a domain controller',
};

/** Why a module cannot apply to a machine (its OS, its domain role, its remote access), or undefined when it can. */
export function whyNotApplicable(module: VulnerabilityModule, target: ModuleTarget): string | undefined {
  const os = osCatalog[target.os];
  if (!supportsOs(module, target.os))
    return `does not apply to ${os?.title ?? target.os}; it supports ${supportedOs(module).join(', ')}`;
  if (!isWindowsModule(module)) return undefined;
  const role: WindowsRole = target.domainRole ?? 'standalone';
  const roles = moduleRoles(module);
  if (!roles.includes(role))
    return `applies only to ${roles.map((r) => roleWords[r]).join(' or ')}; this machine is ${roleWords[role]}${role === 'standalone' ? ' (give it windows: { domain: ... })' : ''}`;
  const remote = target.remote ?? ['ssh', 'winrm', 'rdp'];
  if (module.verify.some((p) => p.kind === 'ssh') && !remote.includes('ssh'))
    return 'is verified over SSH, which this machine does not open; add ssh to its windows.remote';
  return undefined;
}

/**
 * Every package the catalogue's modules install on an OS (with their default parameters): what a template for
 * machines without internet must already hold when no package cache serves them (their first boot then checks for
 * packages and installs none), and what the offline bundle's package cache collects for Debian 12.
 */
export function templatePackages(catalogue: Catalogue, os: string): string[] {
  const out = new Set<string>();
  for (const m of catalogue.modules.values()) {
    if (!supportsOs(m, os)) continue;
    const params = Object.fromEntries(
      Object.entries(m.parameters).map(([name, spec]) => [name, sampleValue(m, spec, os)]),
    );
    const values = templateValues(m, params, os);
    for (const p of renderList(m.apply.packages, values)) out.add(p.split('=')[0]!);
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------------------------

interface Found {
  path: Path;
  message: string;
  /** Offset inside the scalar at path, for a placeholder. */
  offset?: number;
}

interface TemplateField {
  path: Path;
  text: string;
  flag: boolean;
  host: boolean;
}

function checkModule(m: VulnerabilityModule, _source: YamlSource): Found[] {
  const found: Found[] = [];
  const add = (p: Path, message: string, offset?: number) =>
    found.push({ path: p, message, ...(offset === undefined ? {} : { offset }) });
  // Which installer applies it is decided by its OS list; a Linux entry in a Windows module is reported below.
  const windows = isWindowsModule(m);
  const inDomain = windows && moduleRoles(m).every((r) => r !== 'standalone');

  // OS: keys or families of the catalog, all installed with cloud-init (steps: cloud-init and shell) or all Windows
  // (steps: PowerShell through the Windows installer).
  const families = new Set(Object.values(osCatalog).map((o) => o.family));
  m.os.forEach((entry, i) => {
    const os = osCatalog[entry];
    if (!os && !families.has(entry as never))
      add(
        ['os', i],
        `unknown OS "${entry}"; expected an OS key (${Object.keys(osCatalog).join(', ')}) or a family (${[...families].join(', ')})`,
      );
    const installers = os
      ? [os.installer]
      : Object.values(osCatalog)
          .filter((o) => o.family === entry)
          .map((o) => o.installer);
    const wanted = windows ? 'windows-unattend' : 'cloud-init';
    if (installers.length > 0 && installers.some((x) => x !== wanted))
      add(
        ['os', i],
        windows
          ? `"${entry}" is not Windows; a Windows module's steps are PowerShell, another OS needs its own module`
          : installers.includes('windows-unattend') && m.os.length > 1
            ? `"${entry}" is not installed with cloud-init: a module applies through cloud-init or through the Windows installer, not both; give Windows its own module`
            : `"${entry}" is not installed with cloud-init; a module's steps are cloud-init and shell`,
      );
  });
  checkTarget(m, windows, add);
  const keys = supportedOs(m);
  for (const k of Object.keys(m.vars)) {
    if (!m.os.includes(k) && !keys.includes(k))
      add(['vars', k], `vars for "${k}", which is not among the module's OS (${m.os.join(', ')})`);
  }

  // Parameters: defaults and drawn values of the declared type, on every OS.
  for (const [name, spec] of Object.entries(m.parameters)) {
    if (spec.default !== undefined && spec.random !== undefined)
      add(['parameters', name, 'random'], 'give either default or random, not both');
    const varName = defaultVar(spec);
    if (varName === undefined && spec.default !== undefined) {
      const c = checkParamValue(spec, spec.default);
      if ('error' in c) add(['parameters', name, 'default'], c.error);
    } else if (varName !== undefined) {
      for (const os of keys) {
        const c = defaultFor(m, spec, os);
        if (c && 'error' in c) add(['parameters', name, 'default'], `on ${os}: ${c.error}`);
      }
    }
    spec.random?.forEach((v, i) => {
      const c = checkParamValue(spec, v);
      if ('error' in c) add(['parameters', name, 'random', i], c.error);
    });
    if (spec.random && new Set(spec.random.map((v) => JSON.stringify(v))).size !== spec.random.length)
      add(['parameters', name, 'random'], 'a value is listed twice');
  }

  // Templates: every placeholder names something that exists where it is used.
  let flagInApply = false;
  for (const field of templateFields(m)) {
    const parsed = parseTemplate(field.text);
    if ('error' in parsed) {
      add(field.path, parsed.error, parsed.offset);
      continue;
    }
    for (const p of parsed.placeholders) {
      if (p.name === 'flag') {
        if (!field.flag)
          add(
            field.path,
            field.host
              ? "{{flag}} may not appear in a probe's command (it would run on the trainee's attacker machine); compare it in expect"
              : '{{flag}} may not appear here (trainees or the plan could read it)',
            p.offset,
          );
        else if (field.path[0] === 'apply') flagInApply = true;
      } else if (p.name === 'host') {
        if (!field.host) add(field.path, "{{host}} (the target's address) exists only in verify probes", p.offset);
      } else if (p.name.startsWith('ad.')) {
        if (field.path[0] === 'apply' && field.path[1] === 'users')
          add(field.path, `a module's users may not depend on the domain ({{${p.name}}})`, p.offset);
        else if (!inDomain)
          add(
            field.path,
            `{{${p.name}}} needs a domain: only a Windows module whose roles are dc and/or member may use it`,
            p.offset,
          );
        else if (!(p.name.slice(3) in adValues(sampleDomain)))
          add(
            field.path,
            `unknown domain value "${p.name}"; expected one of ${Object.keys(adValues(sampleDomain))
              .map((k) => `ad.${k}`)
              .join(', ')}`,
            p.offset,
          );
      } else if (p.name.startsWith('os.')) {
        const v = p.name.slice(3);
        const missing = keys.filter((os) => osVars(m, os)[v] === undefined);
        if (missing.length > 0)
          add(field.path, `{{${p.name}}} has no value for ${missing.join(', ')}; add it under vars`, p.offset);
      } else if (!(p.name in m.parameters)) {
        const known = Object.keys(m.parameters);
        add(
          field.path,
          `unknown parameter "${p.name}"; ${known.length ? `expected one of ${known.join(', ')}` : 'the module has no parameters'}`,
          p.offset,
        );
      }
    }
  }

  // The flag: planted (a file, or {{flag}} in the apply steps) or a fixed answer, never both.
  if (m.flag.answer !== undefined && (m.flag.file || flagInApply))
    add(['flag', 'answer'], 'a module with a fixed answer plants no flag: remove flag.file and {{flag}} from apply');
  if (m.flag.answer === undefined && !m.flag.file && !flagInApply)
    add(['flag'], 'the flag is planted nowhere: give flag.file, use {{flag}} in apply, or give flag.answer');

  // A dry run on every OS, with defaults and the first drawable values, catches what only rendering shows.
  if (found.length === 0) {
    for (const os of keys) {
      const params: Record<string, ParamValue> = {};
      for (const [name, spec] of Object.entries(m.parameters)) params[name] = sampleValue(m, spec, os);
      const instance = { key: `i1.target/${m.id}`, module: m.id, params, request: 0, selected: false };
      const domain = inDomain ? { domain: sampleDomain } : {};
      try {
        renderVulnerability(m, instance, {
          os,
          machineKey: 'i1.target',
          secret: 'dry-run',
          seed: 'dry-run',
          ...domain,
        });
        m.verify.forEach((probe, i) => {
          try {
            renderProbe(m, probe, instance, {
              os,
              host: '192.0.2.10',
              secret: 'dry-run',
              seed: 'dry-run',
              machineKey: 'i1.target',
              ...domain,
            });
          } catch (e) {
            add(['verify', i], `on ${os} with default values: ${e instanceof Error ? e.message : String(e)}`);
          }
        });
      } catch (e) {
        add([], `on ${os} with default values: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  return found;
}

const sampleDomain: AdDomain = { name: 'corp.lab', netbios: 'CORP' };

/** What only one kind of module may use: cloud-init steps on Linux, PowerShell and domain roles on Windows. */
function checkTarget(m: VulnerabilityModule, windows: boolean, add: (p: Path, message: string) => void): void {
  if (windows) {
    for (const key of ['packages', 'files', 'runcmd', 'afterBoot'] as const)
      if (m.apply[key].length > 0)
        add(
          ['apply', key],
          `a Windows module applies through apply.powershell (and apply.users); apply.${key} is for cloud-init`,
        );
    if (m.apply.users.some((u) => u.shell !== '/bin/bash'))
      add(['apply', 'users'], 'Windows users have no login shell; leave out shell');
    if (m.category === 'ad' && moduleRoles(m).includes('standalone'))
      add(
        m.roles ? ['roles'] : ['category'],
        'an ad module applies only in a domain: give roles: [dc] (the controller) and/or member, without standalone',
      );
    const file = m.flag.file;
    if (file) {
      if (!/^[A-Za-z]:\\/.test(file.path)) add(['flag', 'file', 'path'], 'expected a Windows path such as C:\\...');
      if (file.owner !== undefined || file.mode !== undefined)
        add(['flag', 'file'], 'a Windows flag file has no owner or mode; name who may read it in readers');
    }
    m.verify.forEach((p, i) => {
      if (p.kind === 'ssh' && p.shell !== 'powershell')
        add(['verify', i, 'shell'], 'a Windows target runs PowerShell over SSH: set shell: powershell');
      if (p.kind === 'nfs') add(['verify', i, 'kind'], 'Windows modules have no NFS probe');
    });
  } else {
    if (m.apply.powershell.length > 0)
      add(['apply', 'powershell'], 'apply.powershell is for Windows modules; this one applies through cloud-init');
    if (m.roles) add(['roles'], 'roles are for Windows modules (where the machine stands in a domain)');
    if (m.category === 'ad') add(['category'], 'an ad module needs Active Directory: its OS must be Windows');
    if (m.flag.file?.readers)
      add(['flag', 'file', 'readers'], 'readers are for Windows flag files; give owner and mode');
    m.verify.forEach((p, i) => {
      if (p.kind === 'ssh' && p.shell === 'powershell')
        add(['verify', i, 'shell'], 'shell: powershell is for Windows targets');
    });
  }
}

function sampleValue(m: VulnerabilityModule, spec: ParamSpec, os: string): ParamValue {
  const d = defaultFor(m, spec, os);
  if (d && 'value' in d) return d.value;
  if (spec.random?.[0] !== undefined) return spec.random[0] as ParamValue;
  // A required parameter: any value of its type, to render the module once.
  switch (spec.type) {
    case 'integer':
      return spec.min ?? 1;
    case 'port':
      return 1;
    case 'boolean':
      return false;
    case 'enum':
      return spec.values[0]!;
    case 'list':
      return [];
    case 'path':
      return '/tmp/sample';
    case 'username':
      return 'sample';
    default:
      return 'sample';
  }
}

function templateFields(m: VulnerabilityModule): TemplateField[] {
  const out: TemplateField[] = [];
  const text = (p: Path, t: string | undefined, flag = false, host = false) => {
    if (t !== undefined) out.push({ path: p, text: t, flag, host });
  };
  text(['title'], m.title);
  text(['summary'], m.summary);
  text(['challenge'], m.challenge);
  m.hints.forEach((h, i) => text(['hints', i, 'text'], h.text));
  text(['marking'], m.marking, true);
  text(['flag', 'location'], m.flag.location);
  text(['flag', 'answer'], m.flag.answer);
  if (m.flag.file) {
    text(['flag', 'file', 'path'], m.flag.file.path);
    text(['flag', 'file', 'owner'], m.flag.file.owner);
    m.flag.file.readers?.forEach((r, i) => text(['flag', 'file', 'readers', i], r));
  }
  m.apply.packages.forEach((p, i) => text(['apply', 'packages', i], p));
  m.apply.users.forEach((u, i) => {
    text(['apply', 'users', i, 'name'], u.name);
    text(['apply', 'users', i, 'password'], u.password);
    text(['apply', 'users', i, 'shell'], u.shell);
    u.groups.forEach((g, j) => text(['apply', 'users', i, 'groups', j], g));
  });
  m.apply.files.forEach((f, i) => {
    text(['apply', 'files', i, 'path'], f.path);
    text(['apply', 'files', i, 'owner'], f.owner);
    text(['apply', 'files', i, 'content'], f.content, true);
  });
  m.apply.runcmd.forEach((c, i) => text(['apply', 'runcmd', i], c, true));
  m.apply.afterBoot.forEach((c, i) => text(['apply', 'afterBoot', i], c, true));
  m.apply.powershell.forEach((c, i) => text(['apply', 'powershell', i], c, true));
  m.revert.forEach((c, i) => text(['revert', i], c));
  m.verify.forEach((probe, i) => {
    for (const [k, v] of Object.entries(probe)) {
      const p: Path = ['verify', i, k];
      if (k === 'expect') {
        text([...p, 'contains'], probe.expect.contains, true, true);
        text([...p, 'matches'], probe.expect.matches, true, true);
      } else if (typeof v === 'string') text(p, v, false, true);
      else if (Array.isArray(v)) v.forEach((s, j) => typeof s === 'string' && text([...p, j], s, false, true));
      else if (v && typeof v === 'object')
        for (const [qk, qv] of Object.entries(v)) if (typeof qv === 'string') text([...p, qk], qv, false, true);
    }
  });
  return out;
}
