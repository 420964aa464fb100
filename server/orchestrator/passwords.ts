// The passwords of a planned machine's users: the scenario's own where it gives one, otherwise derived from the
// deployment's secret. What first boot sets and what an allowed viewer is shown; never stored in clear.
import { derivePassword } from '../agents/credentials.ts';
import type { PlannedMachine } from '../model/plan.ts';
import { parseScenario } from './scenario/parse.ts';

export function machinePasswords(
  machine: PlannedMachine,
  secret: string,
  scenarioYaml: string,
): Record<string, string> {
  const given = new Map<string, string>();
  if (machine.users.some((u) => u.password === 'scenario')) {
    const scenario = parseScenario(scenarioYaml);
    const source = scenario.machines.find((m) => m.name === machine.source);
    for (const u of source?.users ?? []) if (u.password) given.set(u.name, u.password);
  }
  return Object.fromEntries(
    machine.users.map((u) => [u.name, given.get(u.name) ?? derivePassword(secret, machine.key, u.name)]),
  );
}
