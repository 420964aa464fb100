// Shared by the Windows agent tests: an AD lab planned for real, with each machine's `windows` block parsed by the
// fragment and copied onto its planned machines, which is what the planner does once the fragment is in the schema.
import { parse } from 'yaml';
import { windowsSettingsSchema, type WindowsSettingsInput } from '../../../server/agents/windows/settings.ts';
import type { Plan } from '../../../server/model/plan.ts';
import type { PlatformKind } from '../../../server/model/platform-kind.ts';
import { planDeployment } from '../../../server/orchestrator/planner.ts';
import { parseScenario } from '../../../server/orchestrator/scenario/parse.ts';
import { normalize } from '../../../server/orchestrator/scenario/normalize.ts';
import { scenarioSchema } from '../../../server/orchestrator/scenario/schema.ts';

export const adScenario = `
glassdome: 1
name: ad-lab
title: AD lab
networks:
  - { name: corp, cidr: 10.20.10.0/24 }
  - { name: attack, cidr: 10.20.66.0/24, internet: true }
machines:
  - name: dc01
    os: windows-server-2022
    size: medium
    networks: [{ network: corp, ip: 10.20.10.5 }]
    users:
      - { name: labadmin, password: "Corp-Lab-2024!", sudo: true, sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPk6bXl0ZXN0a2V5Zm9yZ2xhc3Nkb21lYWdlbnRz admin@lab"] }
      - { name: svc-sql, password: "Summer2024" }
  - name: ws
    os: windows-11
    count: 2
    size: { cpus: 2, memory: 4G, disk: 64G }
    networks: [corp]
    dependsOn: [dc01]
    users: [{ name: student, password: "St'udent <&> \\"2024\\"", groups: [Analysts] }]
    run:
      - Set-ItemProperty -Path 'HKLM:\\SOFTWARE\\Lab' -Name Flag -Value 'x'
  - name: attacker
    os: kali-rolling
    networks: [attack]
`;

export const adWindows: Record<string, WindowsSettingsInput> = {
  dc01: { domain: { name: 'Corp.Lab', role: 'dc' } },
  ws: { domain: { name: 'corp.lab', role: 'member' }, remote: ['rdp', 'ssh'] },
};

export function planWithWindows(
  text: string,
  windows: Record<string, WindowsSettingsInput>,
  platform: PlatformKind = 'proxmox',
  instances = 1,
): Plan {
  const scenario = parseScenario(text);
  const plan = planDeployment({
    deploymentId: 'd1',
    scenario,
    platform,
    instances,
    allocations: {
      subnets: {},
      vlans: Object.fromEntries(
        Array.from({ length: instances }, (_, i) =>
          scenario.networks.map((n, j) => [`${i + 1}/${n.name}`, 100 + i * 10 + j]),
        ).flat(),
      ),
    },
  });
  for (const m of plan.machines) {
    const w = windows[m.source];
    if (w) m.windows = windowsSettingsSchema.parse(w);
  }
  return plan;
}

/** The scenario's machines with their `windows` blocks, as the check reads them. */
export function scenarioMachines(text: string, windows: Record<string, WindowsSettingsInput>) {
  const raw = parse(text) as { machines: Array<{ name: string }> };
  // The schema and defaults only: these tests call checkWindows themselves, on files validation would refuse.
  return normalize(scenarioSchema.parse(parse(text)), []).machines.map((m, i) => {
    const w = windows[raw.machines[i]!.name];
    return w ? { ...m, windows: windowsSettingsSchema.parse(w) } : m;
  });
}

export function passwordsOf(plan: Plan, key: string): Record<string, string> {
  const m = plan.machines.find((x) => x.key === key)!;
  return Object.fromEntries(m.users.map((u) => [u.name, `pw-${u.name}`]));
}
