// First-boot configuration of a planned machine: passwords resolved (from the scenario, or derived from the
// deployment's secret) and handed to the OS's installer agent. Nothing here is stored: it is rebuilt when needed.
import { buildCloudInit, qemuGuestAgent, vmwareTools } from '../agents/ubuntu.ts';
import { derivePassword } from '../agents/credentials.ts';
import type { Plan, PlannedMachine } from './plan.ts';
import { parseScenario } from './scenario.ts';


/** Every user's password on a machine; what cloud-init sets and what an allowed viewer is shown. */
export function machinePasswords(machine: PlannedMachine, secret: string, scenarioYaml: string): Record<string, string> {
  const given = new Map<string, string>();
  if (machine.users.some((u) => u.password === 'scenario')) {
    const scenario = parseScenario(scenarioYaml);
    const source = scenario.machines.find((m) => m.name === machine.source);
    for (const u of source?.users ?? []) if (u.password) given.set(u.name, u.password);
  }
  return Object.fromEntries(machine.users.map((u) => [u.name, given.get(u.name) ?? derivePassword(secret, machine.key, u.name)]));
}

export function firstBootFor(plan: Plan, machine: PlannedMachine, secret: string, scenarioYaml: string) {
  return buildCloudInit(machine, {
    networks: plan.networks,
    passwords: machinePasswords(machine, secret, scenarioYaml),
    instanceId: `${plan.deploymentId}-${machine.key}`,
    secret,
    // ESXi sees guests through VMware Tools; Proxmox (and the simulator, which models it) through QEMU's agent.
    guestAgent: plan.platform === 'esxi' ? vmwareTools : qemuGuestAgent,
  });
}
