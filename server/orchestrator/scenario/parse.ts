// Reading a scenario file: every problem of the file at once, each with its file, line, column and field path, and
// nothing half-read. Too large a file, an alias bomb or absurd nesting is refused with a located message, never a
// stack trace; schema problems and cross-field problems are reported together (see checks/input.ts).
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { AppError, formatIssue } from '../../errors.ts';
import type { InputIssue } from '../../model/issues.ts';
import type { Scenario } from '../../model/scenario.ts';
import { checkDependencies } from './checks/dependencies.ts';
import { checkFirewall } from './checks/firewall.ts';
import type { CheckInput, PathIssue } from './checks/input.ts';
import { checkMachines } from './checks/machines.ts';
import { checkNetworks } from './checks/networks.ts';
import { checkWindows } from '../../agents/windows/check.ts';
import { checkScenarioExposure } from '../../reaper/ethics.ts';
import { duplicateKeys, joinPath, locateNode, sortIssues, type Path } from './locate.ts';
import { normalize, normalizeMachine, type PathWarning } from './normalize.ts';
import { limits, machineSchema, networkSchema, ruleSchema, scenarioSchema, type RawScenario } from './schema.ts';

export interface ValidationResult {
  scenario?: Scenario;
  issues: InputIssue[];
  /** Values Glassdome adjusted (a disk grown to the OS minimum); they do not stop a deployment. */
  warnings: InputIssue[];
}

/** Validates a scenario file's text; every problem is returned at once, each located in the file. */
export function validateScenario(text: string, file = 'scenario.yaml'): ValidationResult {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.fileBytes) {
    return {
      issues: [
        {
          path: '',
          message: `the file is ${bytes.toLocaleString('en')} bytes; a scenario may be at most ${limits.fileBytes.toLocaleString('en')}`,
          at: { file, line: 1, column: 1 },
        },
      ],
      warnings: [],
    };
  }
  try {
    return validateText(text, file);
  } catch (e) {
    // The YAML library recurses per nesting level: thousands of levels exhaust the stack before any check runs.
    if (e instanceof RangeError)
      return {
        issues: [
          {
            path: '',
            message: 'the file nests too deeply to be a scenario (thousands of levels)',
            at: { file, line: 1, column: 1 },
          },
        ],
        warnings: [],
      };
    throw e;
  }
}

function validateText(text: string, file: string): ValidationResult {
  const lineCounter = new LineCounter();
  // uniqueKeys off: the library checks each key against every earlier one (quadratic: a minute for a 1 MB mapping);
  // duplicates are found below in one pass instead.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const locate = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const syntax: InputIssue[] = doc.errors.map((e) => ({
    path: '',
    message: `YAML syntax error: ${e.message.split('\n')[0]}`,
    at: locate(e.pos[0]),
  }));
  for (const d of duplicateKeys(doc.contents))
    syntax.push({
      path: joinPath(d.path),
      message: `duplicate key "${String(d.path.at(-1))}"; a key may appear only once in a mapping`,
      at: locate(d.offset),
    });
  if (syntax.length > 0) return { issues: capped(sortIssues(syntax), file), warnings: [] };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: limits.aliases });
  } catch (e) {
    if (e instanceof ReferenceError && /alias/i.test(e.message))
      return {
        issues: [
          {
            path: '',
            message: `the file expands YAML aliases more than ${limits.aliases} times (an "alias bomb"); write the values out instead`,
            at: locate(0),
          },
        ],
        warnings: [],
      };
    throw e;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return {
      issues: [
        { path: '', message: 'expected a mapping with glassdome: 1, name, networks and machines', at: locate(0) },
      ],
      warnings: [],
    };
  }

  const located = (path: Path, message: string, atKey = false): InputIssue => ({
    path: joinPath(path),
    message,
    at: locateNode(doc, path, locate, atKey),
  });
  const issues: InputIssue[] = [];
  // reportInput: without it zod leaves issue.input unset, and a wrong type would read as a missing field.
  const parsed = scenarioSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys')
        for (const key of issue.keys)
          issues.push(located([...issue.path, key], `unknown key "${key}"${suggestKey(key, issue.path)}`, true));
      else issues.push(located(issue.path, describeZodIssue(issue)));
    }
  }

  // Cross-field checks over every part that passed its own schema, whether or not the whole file did.
  const warnings: PathWarning[] = [];
  const input = parsed.success
    ? checkInputOf(parsed.data, warnings)
    : tolerantInput(data as Record<string, unknown>, warnings);
  const semantic: PathIssue[] = [];
  const add = (i: PathIssue) => semantic.push(i);
  const nets = checkNetworks(input, add);
  checkMachines(input, nets, add);
  checkDependencies(input, add);
  checkFirewall(input, add);
  // Ethics: a vulnerable machine on a network with internet egress only where the scenario says so explicitly.
  const exposure = checkScenarioExposure({
    networks: input.networks.map((n) => ({ name: n.net.name, internet: n.net.internet })),
    machines: input.machines.map((x) => ({
      name: x.raw.name,
      nics: x.norm.nics,
      vulnerabilities: x.raw.vulnerabilities,
      vulnerableOnInternet: x.raw.vulnerableOnInternet,
    })),
  });
  for (const r of exposure) {
    const [head, pos, ...rest] = r.path ?? [];
    add({
      path: head === 'machines' && typeof pos === 'number' ? ['machines', input.machines[pos]!.index, ...rest] : [],
      message: r.message,
    });
  }
  // Windows: domains with one controller that members depend on, no apt packages (the catalog sizes are checked above).
  const windows = input.machines.map((x) => ({ ...x.norm, ...(x.raw.windows ? { windows: x.raw.windows } : {}) }));
  for (const i of checkWindows(windows, { sizes: false })) {
    const [head, pos, ...rest] = i.path;
    add({
      path: head === 'machines' && typeof pos === 'number' ? ['machines', input.machines[pos]!.index, ...rest] : i.path,
      message: i.message,
    });
  }
  // A check on a shared default (defaults.os) fires once per machine using it; report it once.
  const unique = new Map(semantic.map((i) => [`${joinPath(i.path)}\n${i.message}`, i]));
  for (const i of unique.values()) issues.push(located(i.path, i.message));

  const locatedWarnings = warnings.map((w) => located(w.path, w.message));
  if (issues.length > 0 || !parsed.success)
    return { issues: capped(sortIssues(issues), file), warnings: locatedWarnings };
  return { scenario: normalize(parsed.data, []), issues: [], warnings: locatedWarnings };
}

function checkInputOf(raw: RawScenario, warnings: PathWarning[]): CheckInput {
  return {
    instances: raw.instances,
    networks: raw.networks.map((net, index) => ({ index, net })),
    machines: raw.machines.map((m, index) => ({
      index,
      raw: m,
      norm: normalizeMachine(m, index, raw.defaults, warnings),
    })),
    rules: raw.firewall.rules.map((rule, index) => ({ index, rule })),
    networkNames: raw.networks.map((n) => n.name),
    machineNames: raw.machines.map((m) => m.name),
  };
}

/** The parts of a file that failed the whole schema which still pass their own: what the checks can look at. */
function tolerantInput(data: Record<string, unknown>, warnings: PathWarning[]): CheckInput {
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const namesOf = (v: unknown) =>
    list(v).flatMap((x) =>
      x && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string'
        ? [(x as { name: string }).name]
        : [],
    );
  const defaults = scenarioSchema.shape.defaults.safeParse(data.defaults);
  const instances = scenarioSchema.shape.instances.safeParse(data.instances);
  const firewall = data.firewall && typeof data.firewall === 'object' ? (data.firewall as Record<string, unknown>) : {};
  const valid = <T>(items: unknown[], schema: z.ZodType<T>) =>
    items.flatMap((item, index) => {
      const r = schema.safeParse(item);
      return r.success ? [{ index, value: r.data }] : [];
    });
  return {
    instances: instances.success ? instances.data : 1,
    networks: valid(list(data.networks), networkSchema).map(({ index, value }) => ({ index, net: value })),
    // Invalid defaults are reported by the schema; machines are then checked against the built-in ones.
    machines: valid(list(data.machines), machineSchema).map(({ index, value }) => ({
      index,
      raw: value,
      norm: normalizeMachine(
        value,
        index,
        defaults.success ? defaults.data : scenarioSchema.shape.defaults.parse(undefined),
        warnings,
      ),
    })),
    rules: valid(list(firewall.rules), ruleSchema).map(({ index, value }) => ({ index, rule: value })),
    networkNames: namesOf(data.networks),
    machineNames: namesOf(data.machines),
  };
}

/** The first problems one by one, then how many more there are: a huge bad file must not flood the report. */
function capped(issues: InputIssue[], file: string): InputIssue[] {
  if (issues.length <= limits.reportedIssues) return issues;
  const rest = issues.length - limits.reportedIssues;
  return [
    ...issues.slice(0, limits.reportedIssues),
    {
      path: '',
      message: `... and ${rest} more problem${rest > 1 ? 's' : ''} (fix these first)`,
      at: issues[limits.reportedIssues]!.at ?? { file, line: 1, column: 1 },
    },
  ];
}

/** Parses a scenario or throws an AppError listing every problem. */
export function parseScenario(text: string, file = 'scenario.yaml'): Scenario {
  const result = validateScenario(text, file);
  if (!result.scenario) {
    throw new AppError('invalid_input', `Invalid scenario ${file}:\n${result.issues.map(formatIssue).join('\n')}`, {
      issues: result.issues,
      hint: 'Fix the fields named above; nothing was changed.',
    });
  }
  return result.scenario;
}

function describeZodIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (expected ${issue.expected})`;
  if (issue.code === 'invalid_union') return 'does not match any allowed form: ' + unionHint(issue);
  return issue.message;
}

function unionHint(issue: z.core.$ZodIssueInvalidUnion): string {
  const messages = new Set<string>();
  for (const branch of issue.errors)
    for (const e of branch) messages.add(e.path.length ? `${joinPath(e.path)} ${e.message}` : e.message);
  return [...messages].join('; or ');
}

function suggestKey(key: string, path: Path): string {
  const candidates = path.length === 0 ? Object.keys(scenarioSchema.shape) : [];
  const near = candidates.find((c) => c.toLowerCase() === key.toLowerCase() || levenshtein(c, key) <= 2);
  return near ? ` (did you mean "${near}"?)` : '';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}
