// Firewall rules: endpoints that name a network, a machine or "*", and ports only where a protocol has them.
import { parsePorts } from '../normalize.ts';
import type { CheckInput, PathIssue } from './input.ts';

export function checkFirewall(input: CheckInput, add: (i: PathIssue) => void): void {
  const known = new Set([...input.networkNames, ...input.machineNames]);
  for (const { index: i, rule: r } of input.rules) {
    for (const end of ['from', 'to'] as const) {
      const name = r[end];
      if (name !== '*' && !known.has(name))
        add({
          path: ['firewall', 'rules', i, end],
          message: `unknown network or machine "${name}"; expected one of ${[...known].join(', ')} or "*"`,
        });
    }
    const ports = parsePorts(r.ports);
    if (ports.length > 0 && (r.protocol === 'icmp' || r.protocol === 'any'))
      add({ path: ['firewall', 'rules', i, 'ports'], message: `ports apply only to tcp or udp, not ${r.protocol}` });
    ports.forEach(([a, b], j) => {
      if (a < 1 || b > 65535 || a > b)
        add({
          path: ['firewall', 'rules', i, 'ports', ...(Array.isArray(r.ports) ? [j] : [])],
          message: `port range ${a}-${b} is not within 1-65535 in ascending order`,
        });
    });
  }
}
