// From a file's raw fields to the Scenario planning works from: defaults applied, sizes in MiB/GiB, ports as ranges,
// NICs in one form. A disk smaller than the OS needs is grown to its minimum, with a warning naming the machine.
import { osCatalog, sizes, type SizeName } from '../../model/catalog.ts';
import type { Scenario, ScenarioMachine } from '../../model/scenario.ts';
import { normalizeRequest } from '../../reaper/selection.ts';
import { userSchema, type RawMachine, type RawRule, type RawScenario } from './schema.ts';

/** A remark that does not stop a deployment (a value Glassdome adjusted); located like an issue. */
export interface PathWarning {
  path: ReadonlyArray<PropertyKey>;
  message: string;
}

export function replicaNames(name: string, count: number): string[] {
  return count === 1 ? [name] : Array.from({ length: count }, (_, i) => `${name}-${i + 1}`);
}

export function toMemoryMb(m: number | string): number {
  if (typeof m === 'number') return m;
  const n = Number.parseInt(m, 10);
  return /g/i.test(m) ? n * 1024 : n;
}

export function toDiskGb(d: number | string): number {
  if (typeof d === 'number') return d;
  const n = Number.parseInt(d, 10);
  return /t/i.test(d) ? n * 1024 : n;
}

export function resolveSize(size: RawScenario['defaults']['size']): ScenarioMachine['size'] {
  if (typeof size === 'string') return { ...sizes[size as SizeName] };
  return {
    cpus: size.cpus,
    memoryMb: toMemoryMb(size.memory),
    diskGb: size.disk === undefined ? sizes.small.diskGb : toDiskGb(size.disk),
  };
}

export function parsePorts(ports: RawRule['ports']): Array<[number, number]> {
  if (ports === undefined) return [];
  return (Array.isArray(ports) ? ports : [ports]).map((p) => {
    if (typeof p === 'number') return [p, p];
    const [a, b] = p.split('-').map(Number);
    return [a!, b ?? a!];
  });
}

/** One machine with the scenario's defaults applied; `warnings` gets the disk growth, if any. */
export function normalizeMachine(
  m: RawMachine,
  index: number,
  defaults: RawScenario['defaults'],
  warnings: PathWarning[],
): ScenarioMachine {
  const defaultUser =
    defaults.user === undefined
      ? undefined
      : typeof defaults.user === 'string'
        ? userSchema.parse({ name: defaults.user, sudo: true })
        : defaults.user;
  const os = m.os ?? defaults.os;
  const size = resolveSize(m.size ?? defaults.size);
  if (m.disk !== undefined) size.diskGb = toDiskGb(m.disk);
  const entry = osCatalog[os];
  if (entry && size.diskGb < entry.minDiskGb) {
    const at =
      m.disk !== undefined
        ? ['machines', index, 'disk']
        : m.size !== undefined
          ? ['machines', index, 'size']
          : ['machines', index, 'name'];
    warnings.push({
      path: at,
      message: `machine "${m.name}": disk grown from ${size.diskGb} to ${entry.minDiskGb} GiB, the least ${entry.title} needs (set "disk:" on the machine to choose more)`,
    });
    size.diskGb = entry.minDiskGb;
  }
  return {
    name: m.name,
    os,
    size,
    count: m.count,
    nics: m.networks.map((n) => (typeof n === 'string' ? { network: n } : { ...n })),
    dependsOn: [...m.dependsOn],
    users: m.users.length > 0 || !defaultUser ? m.users : [defaultUser],
    packages: m.packages,
    files: m.files,
    run: m.run,
    vulnerabilities: m.vulnerabilities.map(normalizeRequest),
    vulnerableOnInternet: m.vulnerableOnInternet,
    platform: m.platform,
    ...(m.windows ? { windows: m.windows } : {}),
  };
}

export function normalize(raw: RawScenario, warnings: PathWarning[]): Scenario {
  return {
    glassdome: 1,
    name: raw.name,
    title: raw.title ?? raw.name,
    description: raw.description,
    instances: raw.instances,
    ...(raw.seed !== undefined ? { seed: raw.seed } : {}),
    networks: raw.networks.map((n) => ({ ...n })),
    firewall: {
      default: raw.firewall.default,
      rules: raw.firewall.rules.map((r) => ({
        from: r.from,
        to: r.to,
        protocol: r.protocol,
        ports: parsePorts(r.ports),
        action: r.action,
      })),
    },
    machines: raw.machines.map((m, i) => normalizeMachine(m, i, raw.defaults, warnings)),
  };
}
