// The health check of one machine, as data: what the platform reported (power, guest agent, addresses, load) and, for
// a router, what its firewall and WireGuard peers read back say, against what the plan and the appliance expect.
// Returns the machine's health row and its findings; a guest that has just booted gets a grace period before its agent
// is held against it.
import type { AgentHealth, RouterHealth } from '../../model/overseer.ts';
import type { PowerState } from '../../platforms/platform.ts';
import type { FindingDraft } from '../findings.ts';
import { draftFor, powerFindings, type MachineSubject } from './power.ts';

export interface MachineObservation {
  /** `missing`: the platform did not list it (the drift sweep reports that). */
  power: PowerState;
  /** Undefined: the platform cannot tell. */
  agent?: boolean;
  addresses?: string[];
  cpuLoad?: number;
}

export interface RouterObservation {
  state: RouterHealth;
  /** Why it is unreachable, or what its firewall lacks against the plan. */
  problems: string[];
  /** What its firewall lacks against testing mode (on or off). */
  testing: string[];
  /** What its WireGuard peers lack against the seat keys the appliance holds (a router with a VPN). */
  vpn?: string[];
}

export interface AssessedHealth {
  power: string;
  agent: AgentHealth;
  addresses: string[];
  router: RouterHealth | null;
  cpuLoad: number | null;
  runningSince: string | null;
  findings: FindingDraft[];
}

export function assessHealth(
  s: MachineSubject,
  seen: MachineObservation,
  previous: { power: string; runningSince: string | null } | undefined,
  router: RouterObservation | undefined,
  now: Date,
  opts: { agentGraceMs: number },
): AssessedHealth {
  const running = seen.power === 'running';
  const runningSince = running ? (previous?.power === 'running' && previous.runningSince) || now.toISOString() : null;
  const settled = runningSince !== null && now.getTime() - Date.parse(runningSince) >= opts.agentGraceMs;
  const agent: AgentHealth = seen.agent === undefined ? 'unknown' : seen.agent ? 'ok' : 'missing';
  const who = `machine ${s.machine.key} ("${s.resourceName}")`;
  const findings = powerFindings(s, seen.power);
  if (running && settled) {
    if (agent === 'missing')
      findings.push(
        draftFor(
          s,
          'guest-agent-missing',
          `the guest agent of ${who} has not answered the platform for ${Math.round((now.getTime() - Date.parse(runningSince)) / 60_000)} min of running`,
        ),
      );
    const planned = s.machine.nics.flatMap((n) => (n.ip ? [n.ip] : []));
    const missing = planned.filter((ip) => !(seen.addresses ?? []).includes(ip));
    if (agent === 'ok' && seen.addresses !== undefined && missing.length > 0)
      findings.push(
        draftFor(
          s,
          'address-missing',
          `${who} does not report its planned address${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} (it reports ${seen.addresses.join(', ') || 'none'})`,
        ),
      );
    if (router?.state === 'unreachable')
      findings.push(
        draftFor(s, 'router-unreachable', `router ${who} cannot be reached: ${router.problems.join('; ')}`),
      );
    if (router?.state === 'firewall' && router.problems.length > 0)
      findings.push(
        draftFor(
          s,
          'router-firewall',
          `the firewall of router ${who} is not the scenario's: ${router.problems.join('; ')}`,
        ),
      );
    if (router && router.testing.length > 0)
      findings.push(draftFor(s, 'testing-mode-missing', `router ${who}: ${router.testing.join('; ')}`));
    if (router?.vpn && router.vpn.length > 0)
      findings.push(draftFor(s, 'vpn-peers-stale', `router ${who}: ${router.vpn.join('; ')}`));
  }
  return {
    power: seen.power,
    agent,
    addresses: seen.addresses ?? [],
    router: router?.state ?? null,
    cpuLoad: seen.cpuLoad ?? null,
    runningSince,
    findings,
  };
}

/** What changed between two health rows, in words for the deployment's event stream; empty when nothing did. */
export function describeChange(
  before: { power: string; agent: string; addresses: string[]; router: string | null } | undefined,
  after: { power: string; agent: string; addresses: string[]; router: string | null },
): string[] {
  if (!before) return [];
  const out: string[] = [];
  if (before.power !== after.power) out.push(`power ${before.power} -> ${after.power}`);
  if (before.agent !== after.agent) out.push(`guest agent ${before.agent} -> ${after.agent}`);
  const a = [...before.addresses].sort().join(', ');
  const b = [...after.addresses].sort().join(', ');
  if (a !== b) out.push(`addresses ${a || 'none'} -> ${b || 'none'}`);
  if (before.router !== after.router)
    out.push(`router ${before.router ?? 'unchecked'} -> ${after.router ?? 'unchecked'}`);
  return out;
}
