// The ethics guard: a deliberately vulnerable machine belongs on an isolated lab network only. Refused: one with a
// NIC on a network with internet egress (unless the scenario says so for that machine), and always one on the
// appliance's own network or a router. Pure checks; the scenario check locates its refusals in the file.
import type { Plan } from '../model/plan.ts';

export interface Refusal {
  code: 'internet-egress' | 'appliance-network' | 'router';
  /** Planned machine key, or the scenario machine name for scenario checks. */
  machine: string;
  network: string;
  message: string;
  /** For scenario checks: the field path to locate the refusal at. */
  path?: Array<string | number>;
}

export interface ScenarioExposureInput {
  networks: Array<{ name: string; internet: boolean }>;
  machines: Array<{
    name: string;
    nics: Array<{ network: string }>;
    vulnerabilities: readonly unknown[];
    vulnerableOnInternet?: boolean;
  }>;
}

const why = 'a deliberately vulnerable machine must neither be reachable from the internet nor reach it';

/** At validation time: every machine with vulnerabilities against the networks it is on. */
export function checkScenarioExposure(s: ScenarioExposureInput): Refusal[] {
  const out: Refusal[] = [];
  s.machines.forEach((m, i) => {
    if (m.vulnerabilities.length === 0 || m.vulnerableOnInternet) return;
    m.nics.forEach((nic, j) => {
      const net = s.networks.find((n) => n.name === nic.network);
      if (!net?.internet) return;
      out.push({
        code: 'internet-egress',
        machine: m.name,
        network: net.name,
        path: ['machines', i, 'networks', j],
        message: `machine "${m.name}" has vulnerabilities and a NIC on network "${net.name}", which has internet egress; ${why}. Move it to a network without internet, or, if a supervised lab needs this, set vulnerableOnInternet: true on the machine`,
      });
    });
  });
  return out;
}

export interface PlanExposureOptions {
  /** Scenario machine names whose scenario sets vulnerableOnInternet: true. */
  allowInternet?: ReadonlySet<string>;
  /** Keys of planned networks that are the appliance's own (its management network), besides the uplink. */
  applianceNetworks?: ReadonlySet<string>;
}

/** At plan time, the gate before anything is created: the same rule, plus the networks only a plan knows. */
export function checkPlanExposure(
  plan: Pick<Plan, 'networks' | 'machines'>,
  options: PlanExposureOptions = {},
): Refusal[] {
  const out: Refusal[] = [];
  for (const m of plan.machines) {
    if (m.vulnerabilities.length === 0) continue;
    if (m.role === 'router') {
      out.push({
        code: 'router',
        machine: m.key,
        network: '',
        message: `the router "${m.key}" may carry no vulnerability: it joins the range's networks and holds its uplink`,
      });
      continue;
    }
    for (const nic of m.nics) {
      const net = plan.networks.find((n) => n.key === nic.networkKey);
      if (!net) continue;
      if (net.kind === 'uplink' || options.applianceNetworks?.has(net.key)) {
        out.push({
          code: 'appliance-network',
          machine: m.key,
          network: net.key,
          message: `machine "${m.key}" has vulnerabilities and a NIC on "${net.key}", the appliance's own network; this is never allowed (${why}, and no further than its lab)`,
        });
      } else if (net.internet && !options.allowInternet?.has(m.source)) {
        out.push({
          code: 'internet-egress',
          machine: m.key,
          network: net.key,
          message: `machine "${m.key}" has vulnerabilities and a NIC on network "${net.name}", which has internet egress; ${why}. Set vulnerableOnInternet: true on machine "${m.source}" only for a supervised lab that needs it`,
        });
      }
    }
  }
  return out;
}
