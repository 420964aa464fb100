// Scenario format, version 1: the zod schema, the cross-field checks, and a parser that reports every problem
// of a file at once with its file, line, column and field path.
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode, isPair, type Document } from 'yaml';
import { z } from 'zod';
import { AppError, formatIssue } from '../errors.ts';
import type { InputIssue } from '../model/issues.ts';
import { containsIp, intToIp, ipToInt, isUsableHost, overlaps, parseSubnet, type Subnet } from '../ipam/cidr.ts';
import { osCatalog, sizes, vulnerabilityCatalog, type SizeName } from '../model/catalog.ts';
import type { Scenario, ScenarioMachine } from '../model/scenario.ts';

const slug = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$/, 'expected a lowercase name of letters, digits and dashes (a-z, 0-9, -), starting with a letter, at most 32 characters');
const hostname = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/, 'expected a hostname of lowercase letters, digits and dashes, starting with a letter, at most 40 characters');

/** Memory in MiB: a number, or a string like "4G", "512M". */
const memory = z.union([
  z.number().int().min(256, 'expected at least 256 (MiB)'),
  z.string().regex(/^\d+\s*[MG]i?B?$/i, 'expected a size such as 4096, "4G" or "512M"'),
]);
/** Disk in GiB: a number, or a string like "40G", "1T". */
const disk = z.union([z.number().int().min(1), z.string().regex(/^\d+\s*[GT]i?B?$/i, 'expected a size such as 40, "40G" or "1T"')]);

const sizeSchema = z.union([
  z.enum(['small', 'medium', 'large']),
  z.strictObject({ cpus: z.number().int().min(1).max(128), memory, disk: disk.optional() }),
]);

const userSchema = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a Unix user name (lowercase letters, digits, _ and -)'),
  /** Omitted: Glassdome generates one per machine and shows it to those allowed to see it. */
  password: z.string().min(1).optional(),
  sudo: z.boolean().default(false),
  sshKeys: z.array(z.string().regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) \S+/, 'expected an OpenSSH public key line')).default([]),
  groups: z.array(z.string().min(1)).default([]),
  shell: z.string().startsWith('/').default('/bin/bash'),
});

const portSchema = z.union([
  z.number().int().min(1).max(65535),
  z.string().regex(/^\d{1,5}(-\d{1,5})?$/, 'expected a port (443) or a range ("8000-8080")'),
]);

const networkSchema = z.strictObject({
  name: slug,
  cidr: z.string().optional(),
  gateway: z.string().optional(),
  vlan: z.number().int().min(1, 'expected a VLAN id from 1 to 4094').max(4094, 'expected a VLAN id from 1 to 4094').optional(),
  dhcp: z.boolean().default(false),
  internet: z.boolean().default(false),
});

const ruleSchema = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  protocol: z.enum(['tcp', 'udp', 'icmp', 'any']).default('tcp'),
  ports: z.union([portSchema, z.array(portSchema)]).optional(),
  action: z.enum(['allow', 'deny']).default('allow'),
});

const nicSchema = z.union([
  z.string().min(1),
  z.strictObject({ network: z.string().min(1), ip: z.string().optional() }),
]);

const fileSchema = z.strictObject({
  path: z.string().startsWith('/', 'expected an absolute path'),
  content: z.string(),
  mode: z.string().regex(/^0?[0-7]{3,4}$/, 'expected an octal mode such as "0644"').default('0644'),
  owner: z.string().default('root:root'),
});

const platformOverrides = z.strictObject({
  simulator: z.strictObject({ failAlways: z.boolean().optional() }).optional(),
  proxmox: z.strictObject({ template: z.union([z.number().int(), z.string()]).optional(), node: z.string().optional(), storage: z.string().optional(), fullClone: z.boolean().optional() }).optional(),
  esxi: z.strictObject({ template: z.string().optional(), image: z.string().optional(), datastore: z.string().optional() }).optional(),
  aws: z.strictObject({ ami: z.string().optional(), instanceType: z.string().optional() }).optional(),
  azure: z.strictObject({ image: z.string().optional(), vmSize: z.string().optional() }).optional(),
});

const machineSchema = z.strictObject({
  name: hostname,
  os: z.string().optional(),
  size: sizeSchema.optional(),
  count: z.number().int().min(1).max(100).default(1),
  networks: z.array(nicSchema).min(1, 'a machine needs at least one network'),
  dependsOn: z.array(z.string()).default([]),
  users: z.array(userSchema).default([]),
  packages: z.array(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9.+:=~-]*$/, 'expected a package name')).default([]),
  files: z.array(fileSchema).default([]),
  run: z.array(z.string().min(1)).default([]),
  vulnerabilities: z.array(z.string()).default([]),
  platform: platformOverrides.default({}),
});

export const scenarioSchema = z.strictObject({
  glassdome: z.literal(1, 'expected 1 (the only scenario format version so far)'),
  name: slug,
  title: z.string().min(1),
  description: z.string().default(''),
  instances: z.number().int().min(1).max(200).default(1),
  defaults: z
    .strictObject({
      os: z.string().default('ubuntu-22.04'),
      size: sizeSchema.default('small'),
      user: z.union([userSchema.shape.name, userSchema]).optional(),
    })
    .default({ os: 'ubuntu-22.04', size: 'small' }),
  networks: z.array(networkSchema).min(1, 'a scenario needs at least one network'),
  firewall: z
    .strictObject({
      default: z.enum(['allow', 'deny']).default('deny'),
      rules: z.array(ruleSchema).default([]),
    })
    .default({ default: 'deny', rules: [] }),
  machines: z.array(machineSchema).min(1, 'a scenario needs at least one machine'),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
type RawScenario = z.output<typeof scenarioSchema>;

export interface ValidationResult {
  scenario?: Scenario;
  issues: InputIssue[];
}

/** Names the plan gives to machines it adds itself. */
export const reservedMachineNames = ['router'];

/** Validates a scenario file's text; every problem is returned at once, each located in the file. */
export function validateScenario(text: string, file = 'scenario.yaml'): ValidationResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locate = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => {
        // The document is still built around a duplicate key, so the key's field path can be named.
        const keyPath = e.code === 'DUPLICATE_KEY' ? pathOfKeyAt(doc.contents, e.pos[0], []) : undefined;
        if (keyPath) return { path: joinPath(keyPath), message: `duplicate key "${String(keyPath.at(-1))}"; a key may appear only once in a mapping`, at: locate(e.pos[0]) };
        return { path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}`, at: locate(e.pos[0]) };
      }),
    };
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { issues: [{ path: '', message: 'expected a mapping with glassdome: 1, name, title, networks and machines', at: locate(0) }] };
  }

  // reportInput: without it zod leaves issue.input unset, and a wrong type would read as a missing field.
  const parsed = scenarioSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const issues: InputIssue[] = [];
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          issues.push({
            path: joinPath([...issue.path, key]),
            message: `unknown key "${key}"${suggestKey(key, issue.path)}`,
            at: locateNode(doc, [...issue.path, key], locate, true),
          });
        }
      } else {
        issues.push({ path: joinPath(issue.path), message: describeZodIssue(issue), at: locateNode(doc, issue.path, locate) });
      }
    }
    return { issues: sortIssues(issues) };
  }

  const scenario = normalize(parsed.data);
  const semantic = checkScenario(parsed.data, scenario);
  if (semantic.length > 0) {
    // A check on a shared default (defaults.os) fires once per machine using it; report it once.
    const unique = new Map(semantic.map((i) => [`${joinPath(i.path)}\n${i.message}`, i]));
    return { issues: sortIssues([...unique.values()].map((i) => ({ path: joinPath(i.path), message: i.message, at: locateNode(doc, i.path, locate) }))) };
  }
  return { scenario, issues: [] };
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

/** The JSON Schema of the scenario format, for editors (yaml-language-server). */
export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://glassdome.local/scenario.schema.json',
    title: 'Glassdome scenario, version 1',
  };
}

// ---------------------------------------------------------------------------------------------------------------

type Path = ReadonlyArray<PropertyKey>;
interface PathIssue {
  path: Path;
  message: string;
}

function joinPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function describeZodIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (expected ${issue.expected})`;
  if (issue.code === 'invalid_union') return 'does not match any allowed form: ' + unionHint(issue);
  return issue.message;
}

function unionHint(issue: z.core.$ZodIssueInvalidUnion): string {
  const messages = new Set<string>();
  for (const branch of issue.errors) for (const e of branch) messages.add(e.path.length ? `${joinPath(e.path)} ${e.message}` : e.message);
  return [...messages].join('; or ');
}

const knownKeys: Record<string, string[]> = {
  '': Object.keys(scenarioSchema.shape),
};
function suggestKey(key: string, path: Path): string {
  const candidates = path.length === 0 ? knownKeys['']! : [];
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

/** Finds the YAML node for a path (or its nearest existing ancestor); with `atKey`, the key of the last segment. */
function locateNode(doc: Document, path: Path, locate: (offset: number) => InputIssue['at'], atKey = false): InputIssue['at'] {
  let node: unknown = doc.contents;
  let best: YamlNode | undefined = doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      if (last && atKey && isScalar(pair.key)) {
        best = pair.key;
        break;
      }
      node = pair.value;
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isScalar(pair.key)) best = pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node && (isMap(node) || isSeq(node) || isScalar(node))) best = node;
      else if (isPair(node)) break;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  return locate(offset);
}

/** The field path of the mapping key that starts at `offset`, if any. */
function pathOfKeyAt(node: unknown, offset: number, path: PropertyKey[]): PropertyKey[] | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const keyPath = [...path, String(pair.key.value)];
      if (pair.key.range?.[0] === offset) return keyPath;
      const inner = pathOfKeyAt(pair.value, offset, keyPath);
      if (inner) return inner;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const inner = pathOfKeyAt(node.items[i], offset, [...path, i]);
      if (inner) return inner;
    }
  }
  return undefined;
}

function sortIssues(issues: InputIssue[]): InputIssue[] {
  return issues.sort((a, b) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.column ?? 0) - (b.at?.column ?? 0));
}

function toMemoryMb(m: number | string): number {
  if (typeof m === 'number') return m;
  const n = Number.parseInt(m, 10);
  return /g/i.test(m) ? n * 1024 : n;
}

function toDiskGb(d: number | string): number {
  if (typeof d === 'number') return d;
  const n = Number.parseInt(d, 10);
  return /t/i.test(d) ? n * 1024 : n;
}

function resolveSize(size: RawScenario['defaults']['size']): ScenarioMachine['size'] {
  if (typeof size === 'string') return { ...sizes[size as SizeName] };
  return { cpus: size.cpus, memoryMb: toMemoryMb(size.memory), diskGb: size.disk === undefined ? sizes.small.diskGb : toDiskGb(size.disk) };
}

function parsePorts(ports: RawScenario['firewall']['rules'][number]['ports']): Array<[number, number]> {
  if (ports === undefined) return [];
  return (Array.isArray(ports) ? ports : [ports]).map((p) => {
    if (typeof p === 'number') return [p, p];
    const [a, b] = p.split('-').map(Number);
    return [a!, b ?? a!];
  });
}

function normalize(raw: RawScenario): Scenario {
  const defaultUser = raw.defaults.user === undefined ? undefined : typeof raw.defaults.user === 'string' ? userSchema.parse({ name: raw.defaults.user, sudo: true }) : raw.defaults.user;
  return {
    glassdome: 1,
    name: raw.name,
    title: raw.title,
    description: raw.description,
    instances: raw.instances,
    networks: raw.networks.map((n) => ({ ...n })),
    firewall: {
      default: raw.firewall.default,
      rules: raw.firewall.rules.map((r) => ({ from: r.from, to: r.to, protocol: r.protocol, ports: parsePorts(r.ports), action: r.action })),
    },
    machines: raw.machines.map((m) => ({
      name: m.name,
      os: m.os ?? raw.defaults.os,
      size: resolveSize(m.size ?? raw.defaults.size),
      count: m.count,
      nics: m.networks.map((n) => (typeof n === 'string' ? { network: n } : { ...n })),
      dependsOn: [...m.dependsOn],
      users: m.users.length > 0 || !defaultUser ? m.users : [defaultUser],
      packages: m.packages,
      files: m.files,
      run: m.run,
      vulnerabilities: m.vulnerabilities,
      platform: m.platform,
    })),
  };
}

/** Cross-field checks that a schema cannot express. Paths refer to the raw file so they can be located. */
function checkScenario(raw: RawScenario, s: Scenario): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });

  // Networks: names, CIDRs, gateways, VLANs.
  const subnets = new Map<string, Subnet>();
  const gateways = new Map<string, number>();
  const networkIndex = new Map<string, number>();
  raw.networks.forEach((n, i) => {
    // A duplicate is reported, and is otherwise checked on its own: machines' NICs refer to the first definition.
    const first = !networkIndex.has(n.name);
    if (!first) add(['networks', i, 'name'], `duplicate network name "${n.name}" (first defined at networks[${networkIndex.get(n.name)}])`);
    else networkIndex.set(n.name, i);
    let sub: Subnet | undefined;
    if (n.cidr !== undefined) {
      const parsed = parseSubnet(n.cidr);
      if ('error' in parsed) add(['networks', i, 'cidr'], parsed.error);
      else {
        sub = parsed;
        if (sub.prefix > 29) add(['networks', i, 'cidr'], `"${n.cidr}" is too small for a lab network; expected a prefix of /29 or wider`);
        for (const [other, os] of subnets) if (overlaps(sub, os)) add(['networks', i, 'cidr'], `${sub.cidr} overlaps network "${other}" (${os.cidr})`);
      }
    }
    let gateway = sub && sub.base + 1;
    if (n.gateway !== undefined) {
      const gw = ipToInt(n.gateway);
      gateway = undefined;
      if (gw === undefined) add(['networks', i, 'gateway'], `"${n.gateway}" is not an IPv4 address`);
      else if (n.cidr === undefined) add(['networks', i, 'gateway'], 'a gateway needs the network\'s cidr; remove it to let Glassdome choose both');
      else if (sub && !isUsableHost(sub, gw)) add(['networks', i, 'gateway'], `${n.gateway} is not a usable host address of ${sub.cidr}`);
      else if (sub) gateway = gw;
    }
    if (first && sub) subnets.set(n.name, sub);
    if (first && gateway !== undefined) gateways.set(n.name, gateway);
  });
  const vlanOwner = new Map<number, number>();
  raw.networks.forEach((n, i) => {
    if (n.vlan === undefined) return;
    if (vlanOwner.has(n.vlan)) add(['networks', i, 'vlan'], `VLAN ${n.vlan} is already used by network "${raw.networks[vlanOwner.get(n.vlan)!]!.name}"`);
    else vlanOwner.set(n.vlan, i);
    if (raw.instances > 1) add(['networks', i, 'vlan'], `a fixed VLAN cannot isolate ${raw.instances} instances; remove "vlan" to allocate one per instance from the VLAN pool`);
  });

  // Machines: names, OS, NICs, IPs, users, vulnerabilities.
  const machineIndex = new Map<string, number>();
  const expandedNames = new Map<string, string>();
  const usedIps = new Map<string, { ip: number; where: string }[]>();
  raw.machines.forEach((m, i) => {
    const norm = s.machines[i]!;
    if (reservedMachineNames.includes(m.name)) add(['machines', i, 'name'], `"${m.name}" is reserved for the router Glassdome adds; choose another name`);
    if (machineIndex.has(m.name)) add(['machines', i, 'name'], `duplicate machine name "${m.name}" (first defined at machines[${machineIndex.get(m.name)}])`);
    else machineIndex.set(m.name, i);
    for (const name of replicaNames(m.name, m.count)) {
      const prev = expandedNames.get(name);
      if (prev && prev !== m.name) add(['machines', i, 'name'], `replica name "${name}" collides with machine "${prev}"`);
      expandedNames.set(name, m.name);
    }
    const os = osCatalog[norm.os];
    const osPath = m.os === undefined ? ['defaults', 'os'] : ['machines', i, 'os'];
    if (!os) add(osPath, `unknown OS "${norm.os}"; expected one of ${Object.keys(osCatalog).join(', ')}`);
    else {
      if (os.family === 'windows' && replicaNames(m.name, m.count).some((n) => n.length > 15))
        add(['machines', i, 'name'], `Windows computer names are at most 15 characters; "${replicaNames(m.name, m.count).at(-1)}" is longer`);
      if (norm.size.memoryMb < os.minMemoryMb) add(m.size === undefined ? ['defaults', 'size'] : ['machines', i, 'size'], `${os.title} needs at least ${os.minMemoryMb} MiB of memory; this size gives ${norm.size.memoryMb}`);
      if (norm.size.diskGb < os.minDiskGb) add(m.size === undefined ? ['defaults', 'size'] : ['machines', i, 'size'], `${os.title} needs a disk of at least ${os.minDiskGb} GiB; this size gives ${norm.size.diskGb}`);
    }
    m.vulnerabilities.forEach((v, j) => {
      const entry = vulnerabilityCatalog[v];
      if (!entry) add(['machines', i, 'vulnerabilities', j], `unknown vulnerability "${v}"; ${Object.keys(vulnerabilityCatalog).length ? `expected one of ${Object.keys(vulnerabilityCatalog).join(', ')}` : 'the vulnerability catalog is empty'}`);
      else if (os && !entry.families.includes(os.family)) add(['machines', i, 'vulnerabilities', j], `vulnerability "${v}" does not apply to ${os.title}`);
    });
    const seenNets = new Set<string>();
    norm.nics.forEach((nic, j) => {
      const nicPath = typeof m.networks[j] === 'string' ? ['machines', i, 'networks', j] : ['machines', i, 'networks', j, 'network'];
      if (!networkIndex.has(nic.network)) {
        add(nicPath, `unknown network "${nic.network}"; expected one of ${[...networkIndex.keys()].join(', ')}`);
        return;
      }
      if (seenNets.has(nic.network)) add(nicPath, `machine "${m.name}" already has a NIC on network "${nic.network}"`);
      seenNets.add(nic.network);
      if (nic.ip === undefined) return;
      const ipPath = ['machines', i, 'networks', j, 'ip'];
      const ip = ipToInt(nic.ip);
      if (ip === undefined) return add(ipPath, `"${nic.ip}" is not an IPv4 address`);
      const sub = subnets.get(nic.network);
      if (!sub) {
        if (raw.networks[networkIndex.get(nic.network)!]!.cidr === undefined)
          add(ipPath, `network "${nic.network}" has no cidr (it is allocated from the pool), so it cannot take a static ip`);
        return;
      }
      for (let r = 0; r < m.count; r++) {
        const rip = ip + r;
        const label = m.count > 1 ? `${intToIp(rip)} (replica ${m.name}-${r + 1})` : intToIp(rip);
        if (!containsIp(sub, rip)) add(ipPath, `${label} is outside network "${nic.network}" (${sub.cidr})`);
        else if (!isUsableHost(sub, rip)) add(ipPath, `${label} is the ${rip === sub.base ? 'network' : 'broadcast'} address of network "${nic.network}" (${sub.cidr}), not a host`);
        else if (gateways.get(nic.network) === rip) add(ipPath, `${label} is the gateway of network "${nic.network}"`);
        const list = usedIps.get(nic.network) ?? [];
        const dup = list.find((u) => u.ip === rip);
        if (dup) add(ipPath, `${label} is given twice on network "${nic.network}" (also ${dup.where})`);
        list.push({ ip: rip, where: `machines[${i}] "${m.name}"` });
        usedIps.set(nic.network, list);
      }
    });
    m.users.forEach((u, j) => {
      if (m.users.findIndex((o) => o.name === u.name) !== j) add(['machines', i, 'users', j, 'name'], `duplicate user "${u.name}"`);
    });
  });

  // Dependencies: known machines, no self-dependency, no cycles.
  raw.machines.forEach((m, i) => {
    m.dependsOn.forEach((d, j) => {
      if (d === m.name) add(['machines', i, 'dependsOn', j], `machine "${m.name}" cannot depend on itself`);
      else if (!machineIndex.has(d)) add(['machines', i, 'dependsOn', j], `depends on unknown machine "${d}"; expected one of ${[...machineIndex.keys()].filter((n) => n !== m.name).join(', ') || '(no other machines)'}`);
    });
  });
  for (const cycle of findCycles(raw.machines)) {
    const first = machineIndex.get(cycle[0]!)!;
    add(['machines', first, 'dependsOn'], `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
  }

  // Firewall rules refer to networks or machines.
  raw.firewall.rules.forEach((r, i) => {
    for (const end of ['from', 'to'] as const) {
      const name = r[end];
      if (name !== '*' && !networkIndex.has(name) && !machineIndex.has(name))
        add(['firewall', 'rules', i, end], `unknown network or machine "${name}"; expected one of ${[...networkIndex.keys(), ...machineIndex.keys()].join(', ')} or "*"`);
    }
    const ports = parsePorts(r.ports);
    if (ports.length > 0 && (r.protocol === 'icmp' || r.protocol === 'any')) add(['firewall', 'rules', i, 'ports'], `ports apply only to tcp or udp, not ${r.protocol}`);
    ports.forEach(([a, b], j) => {
      if (a < 1 || b > 65535 || a > b) add(['firewall', 'rules', i, 'ports', ...(Array.isArray(r.ports) ? [j] : [])], `port range ${a}-${b} is not within 1-65535 in ascending order`);
    });
  });
  return issues;
}

export function replicaNames(name: string, count: number): string[] {
  return count === 1 ? [name] : Array.from({ length: count }, (_, i) => `${name}-${i + 1}`);
}

/** Every elementary dependency cycle's members, each reported once, in a stable order. */
function findCycles(machines: RawScenario['machines']): string[][] {
  const deps = new Map(machines.map((m) => [m.name, m.dependsOn.filter((d) => d !== m.name)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const d of deps.get(name) ?? []) {
      if (!deps.has(d)) continue;
      if (state.get(d) === 'visiting') {
        const cycle = stack.slice(stack.indexOf(d));
        const key = [...cycle].sort().join(',');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const m of machines) if (!state.has(m.name)) visit(m.name);
  return cycles;
}
