// A module instance made concrete for one machine: its templates filled with the instance's parameters, the OS's
// vars and the flag; its users' passwords given or derived. Pure; what it returns holds secrets and is never stored.
import { derivePassword } from '../agents/credentials.ts';
import { AppError } from '../errors.ts';
import { osCatalog } from '../model/catalog.ts';
import type { PlannedWindows } from '../model/scenario.ts';
import type {
  ParamValue,
  RenderedFile,
  RenderedUser,
  RenderedVulnerability,
  VulnerabilityInstance,
} from '../model/vulnerability.ts';
import type { Catalogue } from './module-schema.ts';
import { deriveFlag } from './derive.ts';
import type { VulnerabilityModule } from './module-schema.ts';
import { filters, renderList, renderTemplate, type TemplateValues } from './template.ts';

export interface RenderContext {
  /** Catalog OS key of the machine. */
  os: string;
  /** Planned machine key (`i1.web-1`): derived passwords are per machine, as for the machine's own users. */
  machineKey: string;
  /** The deployment's secret. */
  secret: string;
  /** The deployment's recorded selection seed. */
  seed: string;
  /** A Windows machine's domain (what `{{ad.*}}` reads); absent outside a domain. */
  domain?: AdDomain;
}

export type AdDomain = Pick<NonNullable<PlannedWindows['domain']>, 'name' | 'netbios'>;

/** The `{{ad.<name>}}` values of a domain: its DNS name, NetBIOS name and distinguished name. */
export function adValues(domain: AdDomain): Record<string, string> {
  return {
    domain: domain.name,
    netbios: domain.netbios,
    dn: domain.name
      .split('.')
      .map((label) => `DC=${label}`)
      .join(','),
  };
}

/** A Windows module: the OS entries it names that exist are all Windows keys or the windows family. */
export function isWindowsModule(module: VulnerabilityModule): boolean {
  const windows = (e: string) => e === 'windows' || osCatalog[e]?.family === 'windows';
  const known = module.os.filter((e) => osCatalog[e] || Object.values(osCatalog).some((o) => o.family === e));
  return known.length > 0 && known.every(windows);
}

/** Per-OS vars for an OS key: the family's entry, then the key's own on top. */
export function osVars(module: VulnerabilityModule, os: string): Record<string, string | string[]> {
  const family = osCatalog[os]?.family;
  return { ...(family ? module.vars[family] : undefined), ...module.vars[os] };
}

/** Template values of an instance: parameters by name, vars as `os.<name>`, and the flag when known. */
export function templateValues(
  module: VulnerabilityModule,
  params: Record<string, ParamValue>,
  os: string,
  extra: { flag?: string; host?: string; domain?: AdDomain } = {},
): TemplateValues {
  const values: TemplateValues = { ...params };
  for (const [k, v] of Object.entries(osVars(module, os))) values[`os.${k}`] = v;
  if (extra.domain) for (const [k, v] of Object.entries(adValues(extra.domain))) values[`ad.${k}`] = v;
  if (extra.flag !== undefined) values.flag = extra.flag;
  if (extra.host !== undefined) values.host = extra.host;
  return values;
}

/** The value a flag template (`{{flag}}`) takes for an instance: the planted flag, or the fixed answer. */
export function flagValue(
  module: VulnerabilityModule,
  instance: VulnerabilityInstance,
  ctx: { os: string; secret: string; seed: string; domain?: AdDomain },
): { flag?: string; answer?: string } {
  if (module.flag.answer !== undefined)
    return {
      answer: renderTemplate(module.flag.answer, templateValues(module, instance.params, ctx.os, domainOf(ctx))),
    };
  return { flag: deriveFlag(ctx.secret, ctx.seed, instance.key) };
}

export function renderVulnerability(
  module: VulnerabilityModule,
  instance: VulnerabilityInstance,
  ctx: RenderContext,
): RenderedVulnerability {
  const fail = (why: string) =>
    new AppError('invalid_input', `Unable to render vulnerability "${instance.key}" (module ${module.id}): ${why}`, {
      hint: 'Check the module file and the parameters the scenario gives it.',
    });
  if (instance.module !== module.id) throw fail(`the instance is of module "${instance.module}"`);
  if (!ctx.domain && isWindowsModule(module) && module.roles?.every((r) => r !== 'standalone'))
    throw fail(`machine "${ctx.machineKey}" is in no domain; the module applies only in one`);
  const { flag, answer } = flagValue(module, instance, ctx);
  const values = templateValues(module, instance.params, ctx.os, {
    ...domainOf(ctx),
    ...(flag === undefined ? {} : { flag }),
  });
  const r = (t: string) => renderTemplate(t, values);
  if (isWindowsModule(module)) return renderWindows(module, instance, ctx, { flag, answer, values, fail });

  const users: RenderedUser[] = module.apply.users.map((u) => {
    const name = r(u.name);
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw fail(`user name "${name}" is not a Unix user name`);
    const given = u.password === undefined ? undefined : r(u.password);
    return {
      name,
      password: given ?? derivePassword(ctx.secret, ctx.machineKey, name),
      passwordSource: given === undefined ? 'derived' : 'module',
      shell: r(u.shell),
      groups: renderList(u.groups, values),
      foothold: u.foothold,
    };
  });

  const files: RenderedFile[] = module.apply.files.map((f) => ({
    path: r(f.path),
    content: r(f.content),
    mode: f.mode.padStart(4, '0'),
    owner: r(f.owner),
    append: f.append,
  }));
  if (flag !== undefined && module.flag.file) {
    const ff = module.flag.file;
    files.push({
      path: r(ff.path),
      content: `${flag}\n`,
      mode: (ff.mode ?? '0600').padStart(4, '0'),
      owner: r(ff.owner ?? 'root:root'),
      append: false,
    });
  }
  for (const f of files)
    if (!f.path.startsWith('/') || f.path.split('/').includes('..'))
      throw fail(`file path "${f.path}" is not an absolute path without ".."`);

  const packages = renderList(module.apply.packages, values);
  for (const p of packages)
    if (!/^[a-zA-Z0-9][a-zA-Z0-9.+:=~-]*$/.test(p))
      throw fail(`"${p}" is not a package name (with an optional =version)`);

  const script = (lines: string[], what: string) =>
    lines.length === 0
      ? undefined
      : `# ${what} of vulnerability ${instance.key} (module ${module.id})\nset -e\n${renderList(lines, values).join('\n')}\n`;
  const revertValues = templateValues(module, instance.params, ctx.os, domainOf(ctx));
  return {
    key: instance.key,
    module: module.id,
    ...(flag === undefined ? {} : { flag }),
    ...(answer === undefined ? {} : { answer }),
    packages,
    users,
    files,
    ...optional('applyScript', script(module.apply.runcmd, 'first-boot apply')),
    ...optional('afterBootScript', script(module.apply.afterBoot, 'after-boot apply')),
    ...optional(
      'revertScript',
      module.revert.length === 0
        ? undefined
        : `# revert of vulnerability ${instance.key} (module ${module.id})\nset -e\n${renderList(module.revert, revertValues).join('\n')}\n`,
    ),
  };
}

/** Windows user names: at most 20 characters, none of "/\\[]:;|=,+*?<>@ (letters, digits, . _ - here). */
export const windowsUserPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/;

function renderWindows(
  module: VulnerabilityModule,
  instance: VulnerabilityInstance,
  ctx: RenderContext,
  x: {
    flag: string | undefined;
    answer: string | undefined;
    values: TemplateValues;
    fail: (why: string) => AppError;
  },
): RenderedVulnerability {
  const r = (t: string) => renderTemplate(t, x.values);
  const users: RenderedUser[] = module.apply.users.map((u) => {
    const name = r(u.name);
    if (!windowsUserPattern.test(name)) throw x.fail(`user name "${name}" is not a Windows user name`);
    const given = u.password === undefined ? undefined : r(u.password);
    return {
      name,
      password: given ?? derivePassword(ctx.secret, ctx.machineKey, name),
      passwordSource: given === undefined ? 'derived' : 'module',
      shell: '',
      groups: renderList(u.groups, x.values),
      foothold: u.foothold,
    };
  });
  // A block scalar item ends with a newline of its own.
  const lines = renderList(module.apply.powershell, x.values).map((l) => l.replace(/\n+$/, ''));
  if (x.flag !== undefined && module.flag.file) {
    const ff = module.flag.file;
    const path = r(ff.path);
    if (!/^[A-Za-z]:\\/.test(path) || path.split('\\').includes('..'))
      throw x.fail(`flag file "${path}" is not a Windows path (C:\\...) without ".."`);
    const readers = renderList(ff.readers ?? [], x.values);
    // Set-GdFlagFile is the first-boot script's: a file only SYSTEM, Administrators and the readers may read.
    lines.push(
      `Set-GdFlagFile -Path ${filters.ps(path)} -Value ${filters.ps(x.flag)} -Readers @(${readers.map(filters.ps).join(', ')})`,
    );
  }
  const head = (what: string) => `# ${what} of vulnerability ${instance.key} (module ${module.id})`;
  const revertValues = templateValues(module, instance.params, ctx.os, domainOf(ctx));
  return {
    key: instance.key,
    module: module.id,
    windows: true,
    ...(x.flag === undefined ? {} : { flag: x.flag }),
    ...(x.answer === undefined ? {} : { answer: x.answer }),
    packages: [],
    users,
    files: [],
    ...optional('applyScript', lines.length === 0 ? undefined : `${head('first-boot apply')}\n${lines.join('\n')}\n`),
    ...optional(
      'revertScript',
      module.revert.length === 0
        ? undefined
        : `${head('revert')}\n${renderList(module.revert, revertValues).join('\n')}\n`,
    ),
  };
}

function domainOf(ctx: { domain?: AdDomain }): { domain?: AdDomain } {
  return ctx.domain ? { domain: ctx.domain } : {};
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/** Renders every instance of a machine with the catalogue's modules. */
export function renderMachineVulnerabilities(
  instances: VulnerabilityInstance[],
  ctx: RenderContext & { catalogue: Catalogue },
): RenderedVulnerability[] {
  return instances.map((i) => {
    const m = ctx.catalogue.modules.get(i.module);
    if (!m)
      throw new AppError(
        'invalid_input',
        `Unable to apply vulnerability "${i.key}": module "${i.module}" is not in the catalogue`,
        { hint: 'The plan was made with a catalogue that had it; plan the deployment again.' },
      );
    return renderVulnerability(m, i, ctx);
  });
}
