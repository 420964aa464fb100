// What a scenario may ask of the catalogue, and how a machine's requests become module instances: explicit modules
// with parameters, or a selection drawn per instance from the deployment's recorded seed (as SecGen does). Pure and
// deterministic: the same seed, machine and requests give the same instances.
import { z } from 'zod';
import { osCatalog } from '../model/catalog.ts';
import {
  vulnerabilityCategories,
  vulnerabilityDifficulties,
  type ParamValue,
  type VulnerabilityInstance,
  type VulnerabilityRequest,
} from '../model/vulnerability.ts';
import { whyNotApplicable, type ModuleTarget } from './catalogue.ts';
import type { Catalogue } from './module-schema.ts';
import { createRandom, type Random } from './derive.ts';
import { moduleIdPattern, type ParamSpec, type VulnerabilityModule } from './module-schema.ts';
import { checkParamValue, defaultFor } from './params.ts';
import { templateValues } from './render.ts';
import { renderTemplate } from './template.ts';

// --- The scenario fragment --------------------------------------------------------------------------------------

const moduleRef = z.string().regex(moduleIdPattern, 'expected a module id (lowercase letters, digits and dashes)');
const category = z.enum(vulnerabilityCategories);
const difficulty = z.enum(vulnerabilityDifficulties);
const paramInput = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())], {
  error: 'expected text, a number, true/false or a list of text',
});

/** One entry of `machines[].vulnerabilities`: a module id, a module with parameters, or a selection. */
export const vulnerabilityRequestSchema = z.union([
  moduleRef,
  z.strictObject({ module: moduleRef, params: z.record(z.string(), paramInput).default({}) }),
  z.strictObject({
    select: z.strictObject({
      category: z.union([category, z.array(category).min(1)]).optional(),
      difficulty: z.union([difficulty, z.array(difficulty).min(1)]).optional(),
      from: z.array(moduleRef).min(1).optional(),
      count: z.number().int().min(1).max(20).default(1),
      per: z.enum(['instance', 'deployment']).default('instance'),
    }),
  }),
]);
/** A request as the scenario file gives it (defaults not yet applied) or as the schema returns it. */
export type VulnerabilityRequestInput =
  z.input<typeof vulnerabilityRequestSchema> | z.output<typeof vulnerabilityRequestSchema>;

/** `machines[].vulnerabilities`: optional, default []. Plain module ids (today's form) stay valid. */
export const machineVulnerabilitiesSchema = z.array(vulnerabilityRequestSchema).default([]);

/**
 * `machines[].vulnerableOnInternet`: optional, default false. A machine with vulnerabilities may sit on a network
 * with internet egress only when this says so (see ethics.ts).
 */
export const vulnerableOnInternetSchema = z.boolean().default(false);

/** Scenario-level `seed`: optional. Fixes the selection draws; without it each deployment records a fresh one. */
export const selectionSeedSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1 to 64 letters, digits, _ or -')
  .optional();

export function normalizeRequest(r: VulnerabilityRequestInput): VulnerabilityRequest {
  if (typeof r === 'string') return { module: r, params: {} };
  if ('module' in r) return { module: r.module, params: { ...(r.params ?? {}) } };
  const s = r.select;
  return {
    select: {
      ...(s.category === undefined ? {} : { category: Array.isArray(s.category) ? s.category : [s.category] }),
      ...(s.difficulty === undefined
        ? {}
        : { difficulty: Array.isArray(s.difficulty) ? s.difficulty : [s.difficulty] }),
      ...(s.from === undefined ? {} : { from: s.from }),
      count: s.count ?? 1,
      per: s.per ?? 'instance',
    },
  };
}

// --- Checks at validation time --------------------------------------------------------------------------------

export interface RequestIssue {
  /** Relative to the machine's `vulnerabilities` list: [0], [1, 'params', 'port'], [2, 'select', 'count']. */
  path: Array<string | number>;
  message: string;
}

export interface MachineTarget extends ModuleTarget {
  /** The machine's own user names: a module may not create one of them. */
  users?: string[];
}

/** Every problem of a machine's requests against the catalogue and its OS, at once. */
export function checkMachineRequests(
  requests: ReadonlyArray<VulnerabilityRequestInput | VulnerabilityRequest>,
  machine: MachineTarget,
  catalogue: Catalogue,
): RequestIssue[] {
  const issues: RequestIssue[] = [];
  const os = osCatalog[machine.os];
  const explicit = new Map<string, number>();
  requests.forEach((raw, j) => {
    const req = normalizeRequest(raw as VulnerabilityRequestInput);
    // A plain id has no fields: its problems are located at the id itself.
    const at = (...rest: Array<string | number>) => (typeof raw === 'string' ? [j] : [j, ...rest]);
    if ('module' in req) {
      const m = catalogue.modules.get(req.module);
      if (!m) {
        issues.push({
          path: at('module'),
          message: `unknown vulnerability module "${req.module}"${suggest(req.module, [...catalogue.modules.keys()])}`,
        });
        return;
      }
      if (explicit.has(m.id))
        issues.push({
          path: at('module'),
          message: `module "${m.id}" is already asked for at vulnerabilities[${explicit.get(m.id)}]; a machine takes a module once`,
        });
      else explicit.set(m.id, j);
      const why = os ? whyNotApplicable(m, machine) : undefined;
      if (why) issues.push({ path: at('module'), message: `module "${m.id}" ${why}` });
      for (const [name, value] of Object.entries(req.params)) {
        const spec = m.parameters[name];
        if (!spec) {
          const names = Object.keys(m.parameters);
          issues.push({
            path: at('params', name),
            message: `module "${m.id}" has no parameter "${name}"; ${names.length ? `expected one of ${names.join(', ')}` : 'it takes none'}`,
          });
          continue;
        }
        const c = checkParamValue(spec, value);
        if ('error' in c)
          issues.push({
            path: at('params', name),
            message: `${c.error} (${spec.type} parameter "${name}" of module "${m.id}")`,
          });
        else if (spec.type === 'username' && machine.users?.includes(String(c.value)))
          issues.push({
            path: at('params', name),
            message: `user "${String(c.value)}" is one of the machine's own users; the module creates its own`,
          });
      }
      for (const [name, spec] of Object.entries(m.parameters)) {
        if (req.params[name] === undefined && spec.default === undefined && spec.random === undefined)
          issues.push({
            path: at('params'),
            message: `module "${m.id}" needs parameter "${name}" (${spec.type}): ${spec.description}`,
          });
      }
      return;
    }
    const s = req.select;
    s.from?.forEach((id, k) => {
      if (!catalogue.modules.has(id))
        issues.push({
          path: [j, 'select', 'from', k],
          message: `unknown vulnerability module "${id}"${suggest(id, [...catalogue.modules.keys()])}`,
        });
    });
  });
  // Selections are checked once every explicit module is known: they draw from what is left.
  requests.forEach((raw, j) => {
    const s = normalizeRequest(raw as VulnerabilityRequestInput);
    if (!('select' in s) || !os) return;
    const candidates = selectionCandidates(catalogue, s.select, machine, new Set(explicit.keys()));
    if (candidates.length < s.select.count) {
      const what = [
        s.select.category && `category ${s.select.category.join('/')}`,
        s.select.difficulty && `difficulty ${s.select.difficulty.join('/')}`,
        s.select.from && `from ${s.select.from.join(', ')}`,
      ]
        .filter(Boolean)
        .join(', ');
      issues.push({
        path: [j, 'select', 'count'],
        message: `only ${candidates.length} module${candidates.length === 1 ? '' : 's'} ${what ? `with ${what} ` : ''}apply to ${os.title}${domainWords(machine)}${explicit.size ? ' besides those asked for explicitly' : ''}${candidates.length ? ` (${candidates.join(', ')})` : ''}; ask for at most ${candidates.length}`,
      });
    }
  });
  return issues;
}

function domainWords(machine: ModuleTarget): string {
  if (osCatalog[machine.os]?.family !== 'windows') return '';
  return machine.domainRole === 'dc'
    ? ' as a domain controller'
    : machine.domainRole === 'member'
      ? ' as a domain member'
      : ' outside a domain';
}

function selectionCandidates(
  catalogue: Catalogue,
  s: Extract<VulnerabilityRequest, { select: unknown }>['select'],
  machine: ModuleTarget,
  exclude: Set<string>,
): string[] {
  return [...catalogue.modules.values()]
    .filter(
      (m) =>
        (!s.category || s.category.includes(m.category)) &&
        (!s.difficulty || s.difficulty.includes(m.difficulty)) &&
        (!s.from || s.from.includes(m.id)),
    )
    .filter((m) => !whyNotApplicable(m, machine) && !exclude.has(m.id))
    .map((m) => m.id)
    .sort();
}

function suggest(id: string, known: string[]): string {
  const near = known.filter((k) => k.includes(id) || id.includes(k) || levenshtein(k, id) <= 3);
  return near.length
    ? ` (did you mean ${near.map((n) => `"${n}"`).join(' or ')}?)`
    : known.length
      ? '; see server/reaper/catalogue/'
      : '; the catalogue is empty';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

// --- Resolution at plan time ----------------------------------------------------------------------------------

export interface PlannedTarget extends MachineTarget {
  /** Planned machine key, `i1.web-1`: per-instance draws and flags are keyed by it. */
  key: string;
  /** The replica's name without the instance, `web-1`: the scope of `per: deployment` draws. */
  name: string;
}

export interface Resolution {
  instances: VulnerabilityInstance[];
  /** Problems only the draw shows (a selection that conflicts cannot be filled); empty when all went well. */
  issues: string[];
}

/**
 * The concrete module instances of one planned machine. Explicit modules first take their parameters (given, else
 * default, else drawn); selections then draw from the modules still free, skipping any that would clash with one
 * already on the machine (a file both write, a user both create differently, a declared conflict).
 */
export function resolveVulnerabilities(
  requests: ReadonlyArray<VulnerabilityRequestInput | VulnerabilityRequest>,
  machine: PlannedTarget,
  options: { seed: string; catalogue: Catalogue },
): Resolution {
  const { seed, catalogue } = options;
  const normalized = requests.map((r) => normalizeRequest(r as VulnerabilityRequestInput));
  const instances: VulnerabilityInstance[] = [];
  const issues: string[] = [];
  const claims = new Claims(machine.users ?? [], catalogue);
  const explicit = new Set(normalized.flatMap((r) => ('module' in r ? [r.module] : [])));

  normalized.forEach((req, j) => {
    if (!('module' in req)) return;
    const m = catalogue.modules.get(req.module);
    const why = m ? whyNotApplicable(m, machine) : 'is not in the catalogue';
    if (!m || why) {
      issues.push(`vulnerabilities[${j}]: module "${req.module}" ${why}`);
      return;
    }
    const params = resolveParams(m, req.params, machine, createRandom(seed, machine.key, 'module', String(j), m.id));
    if ('error' in params) return void issues.push(`vulnerabilities[${j}]: ${params.error}`);
    const clash = claims.clash(m, params.values, machine.os, instances);
    if (clash) return void issues.push(`vulnerabilities[${j}]: module "${m.id}" ${clash}`);
    claims.take(m, params.values, machine.os);
    instances.push({ key: `${machine.key}/${m.id}`, module: m.id, params: params.values, request: j, selected: false });
  });

  normalized.forEach((req, j) => {
    if (!('select' in req)) return;
    const scope = req.select.per === 'deployment' ? machine.name : machine.key;
    const taken = new Set([...explicit, ...instances.map((i) => i.module)]);
    const order = createRandom(seed, scope, 'select', String(j)).shuffle(
      selectionCandidates(catalogue, req.select, machine, taken),
    );
    let picked = 0;
    for (const id of order) {
      if (picked === req.select.count) break;
      const m = catalogue.modules.get(id)!;
      const params = resolveParams(m, {}, machine, createRandom(seed, scope, 'select', String(j), id));
      if ('error' in params || claims.clash(m, params.values, machine.os, instances)) continue;
      claims.take(m, params.values, machine.os);
      instances.push({
        key: `${machine.key}/${m.id}`,
        module: m.id,
        params: params.values,
        request: j,
        selected: true,
      });
      picked++;
    }
    if (picked < req.select.count)
      issues.push(
        `vulnerabilities[${j}]: only ${picked} of ${req.select.count} modules could be drawn for ${machine.key} without clashing with the machine's other modules`,
      );
  });
  return { instances, issues };
}

function resolveParams(
  m: VulnerabilityModule,
  given: Record<string, ParamValue>,
  machine: PlannedTarget,
  random: Random,
): { values: Record<string, ParamValue> } | { error: string } {
  const values: Record<string, ParamValue> = {};
  // Sorted names: the draws do not depend on the order the module file lists its parameters in.
  for (const name of Object.keys(m.parameters).sort()) {
    const spec: ParamSpec = m.parameters[name]!;
    if (given[name] !== undefined) {
      const c = checkParamValue(spec, given[name]);
      if ('error' in c) return { error: `parameter "${name}" of module "${m.id}": ${c.error}` };
      values[name] = c.value;
      continue;
    }
    const d = defaultFor(m, spec, machine.os);
    if (d) {
      if ('error' in d) return { error: `default of parameter "${name}" of module "${m.id}": ${d.error}` };
      values[name] = d.value;
      continue;
    }
    if (spec.random) {
      const reserved = new Set(machine.users ?? []);
      const choices = spec.type === 'username' ? spec.random.filter((v) => !reserved.has(String(v))) : spec.random;
      if (choices.length === 0)
        return { error: `every value of parameter "${name}" of module "${m.id}" is a user the machine already has` };
      values[name] = random.pick(choices) as ParamValue;
      continue;
    }
    return { error: `module "${m.id}" needs parameter "${name}"` };
  }
  for (const name of Object.keys(given))
    if (!m.parameters[name]) return { error: `module "${m.id}" has no parameter "${name}"` };
  return { values };
}

/** What the modules on one machine have taken: file paths they replace, users they create. */
class Claims {
  private files = new Map<string, string>();
  private users = new Map<string, { module: string; password?: string }>();
  constructor(
    private readonly machineUsers: string[],
    private readonly catalogue: Catalogue,
  ) {}

  private of(m: VulnerabilityModule, params: Record<string, ParamValue>, os: string) {
    const values = templateValues(m, params, os);
    return {
      files: m.apply.files.filter((f) => !f.append).map((f) => renderTemplate(f.path, values)),
      // Windows user names are case-insensitive; Unix ones are lowercase already.
      users: m.apply.users.map((u) => ({
        name: renderTemplate(u.name, values).toLowerCase(),
        ...(u.password === undefined ? {} : { password: renderTemplate(u.password, values) }),
      })),
    };
  }

  clash(
    m: VulnerabilityModule,
    params: Record<string, ParamValue>,
    os: string,
    placed: VulnerabilityInstance[],
  ): string | undefined {
    const declared = placed.find(
      (i) => m.conflicts.includes(i.module) || this.catalogue.modules.get(i.module)?.conflicts.includes(m.id),
    );
    if (declared) return `conflicts with module "${declared.module}" on the same machine`;
    const c = this.of(m, params, os);
    for (const f of c.files)
      if (this.files.has(f)) return `writes ${f}, which module "${this.files.get(f)}" writes too`;
    for (const u of c.users) {
      if (this.machineUsers.some((n) => n.toLowerCase() === u.name))
        return `creates user "${u.name}", one of the machine's own users`;
      const other = this.users.get(u.name);
      if (other && other.password !== u.password)
        return `creates user "${u.name}" with another password than module "${other.module}" does`;
    }
    return undefined;
  }

  take(m: VulnerabilityModule, params: Record<string, ParamValue>, os: string): void {
    const c = this.of(m, params, os);
    for (const f of c.files) this.files.set(f, m.id);
    for (const u of c.users)
      if (!this.users.has(u.name))
        this.users.set(u.name, { module: m.id, ...(u.password === undefined ? {} : { password: u.password }) });
  }
}
