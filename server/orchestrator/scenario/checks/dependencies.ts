// Machine dependencies: known machines, none on itself, and no cycles (each cycle reported once, in order).
import type { CheckInput, PathIssue } from './input.ts';

export function checkDependencies(input: CheckInput, add: (i: PathIssue) => void): void {
  const known = new Set(input.machineNames);
  for (const { index: i, raw: m } of input.machines) {
    m.dependsOn.forEach((d, j) => {
      if (d === m.name)
        add({ path: ['machines', i, 'dependsOn', j], message: `machine "${m.name}" cannot depend on itself` });
      else if (!known.has(d))
        add({
          path: ['machines', i, 'dependsOn', j],
          message: `depends on unknown machine "${d}"; expected one of ${[...known].filter((n) => n !== m.name).join(', ') || '(no other machines)'}`,
        });
    });
  }
  const firstIndex = new Map<string, number>();
  for (const { index, raw } of input.machines) if (!firstIndex.has(raw.name)) firstIndex.set(raw.name, index);
  for (const cycle of findCycles(input.machines.map((m) => m.raw)))
    add({
      path: ['machines', firstIndex.get(cycle[0]!)!, 'dependsOn'],
      message: `dependency cycle: ${[...cycle, cycle[0]].join(' -> ')}`,
    });
}

/** Every elementary dependency cycle's members, each reported once, in a stable order. */
function findCycles(machines: Array<{ name: string; dependsOn: string[] }>): string[][] {
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
