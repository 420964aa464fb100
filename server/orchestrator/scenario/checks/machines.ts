// Machines: names (unique, not reserved, replicas not colliding, Windows' 15 characters), OS and the memory it needs,
// vulnerabilities, NICs on known networks, static addresses inside their network and given once, users.
import { containsIp, intToIp, ipToInt, isUsableHost } from '../../../ipam/cidr.ts';
import { osCatalog } from '../../../model/catalog.ts';
import { defaultCatalogue } from '../../../reaper/catalogue.ts';
import { checkMachineRequests } from '../../../reaper/selection.ts';
import { replicaNames } from '../normalize.ts';
import type { CheckInput, PathIssue } from './input.ts';
import type { NetworkFacts } from './networks.ts';

/** Names the plan gives to machines it adds itself. */
export const reservedMachineNames = ['router'];

export function checkMachines(input: CheckInput, nets: NetworkFacts, add: (i: PathIssue) => void): void {
  const firstIndex = new Map<string, number>();
  const expandedNames = new Map<string, string>();
  const usedIps = new Map<string, Array<{ ip: number; where: string }>>();
  const networkNames = new Set(input.networkNames);
  for (const { index: i, raw: m, norm } of input.machines) {
    if (reservedMachineNames.includes(m.name))
      add({
        path: ['machines', i, 'name'],
        message: `"${m.name}" is reserved for the router Glassdome adds; choose another name`,
      });
    if (firstIndex.has(m.name))
      add({
        path: ['machines', i, 'name'],
        message: `duplicate machine name "${m.name}" (first defined at machines[${firstIndex.get(m.name)}])`,
      });
    else firstIndex.set(m.name, i);
    for (const name of replicaNames(m.name, m.count)) {
      const prev = expandedNames.get(name);
      if (prev && prev !== m.name)
        add({ path: ['machines', i, 'name'], message: `replica name "${name}" collides with machine "${prev}"` });
      expandedNames.set(name, m.name);
    }
    const os = osCatalog[norm.os];
    if (!os)
      add({
        path: m.os === undefined ? ['defaults', 'os'] : ['machines', i, 'os'],
        message: `unknown OS "${norm.os}"; expected one of ${Object.keys(osCatalog).join(', ')}`,
      });
    else {
      if (os.family === 'windows' && replicaNames(m.name, m.count).some((n) => n.length > 15))
        add({
          path: ['machines', i, 'name'],
          message: `Windows computer names are at most 15 characters; "${replicaNames(m.name, m.count).at(-1)}" is longer`,
        });
      if (norm.size.memoryMb < os.minMemoryMb) {
        const from = m.size === undefined ? 'the size from defaults gives' : 'this size gives';
        add({
          path: m.size === undefined ? ['machines', i, 'name'] : ['machines', i, 'size'],
          message: `machine "${m.name}": ${os.title} needs at least ${os.minMemoryMb} MiB of memory; ${from} ${norm.size.memoryMb}`,
        });
      }
    }
    // Catalogue modules: known ids, for this OS, with parameters of the right type (reaper/selection.ts).
    for (const issue of checkMachineRequests(
      m.vulnerabilities,
      {
        os: norm.os,
        users: norm.users.map((u) => u.name),
        ...(norm.windows?.domain ? { domainRole: norm.windows.domain.role } : {}),
        ...(norm.windows ? { remote: norm.windows.remote } : {}),
      },
      defaultCatalogue(),
    ))
      add({ path: ['machines', i, 'vulnerabilities', ...issue.path], message: issue.message });
    const seenNets = new Set<string>();
    norm.nics.forEach((nic, j) => {
      const nicPath =
        typeof m.networks[j] === 'string' ? ['machines', i, 'networks', j] : ['machines', i, 'networks', j, 'network'];
      if (!networkNames.has(nic.network)) {
        add({
          path: nicPath,
          message: `unknown network "${nic.network}"; expected one of ${input.networkNames.join(', ')}`,
        });
        return;
      }
      if (seenNets.has(nic.network))
        add({ path: nicPath, message: `machine "${m.name}" already has a NIC on network "${nic.network}"` });
      seenNets.add(nic.network);
      if (nic.ip === undefined) return;
      const ipPath = ['machines', i, 'networks', j, 'ip'];
      const ip = ipToInt(nic.ip);
      if (ip === undefined) return add({ path: ipPath, message: `"${nic.ip}" is not an IPv4 address` });
      const sub = nets.subnets.get(nic.network);
      if (!sub) {
        if (nets.fromPool.has(nic.network))
          add({
            path: ipPath,
            message: `network "${nic.network}" has no cidr (it is allocated from the pool), so it cannot take a static ip`,
          });
        return;
      }
      for (let r = 0; r < m.count; r++) {
        const rip = ip + r;
        const label = m.count > 1 ? `${intToIp(rip)} (replica ${m.name}-${r + 1})` : intToIp(rip);
        if (!containsIp(sub, rip))
          add({ path: ipPath, message: `${label} is outside network "${nic.network}" (${sub.cidr})` });
        else if (!isUsableHost(sub, rip))
          add({
            path: ipPath,
            message: `${label} is the ${rip === sub.base ? 'network' : 'broadcast'} address of network "${nic.network}" (${sub.cidr}), not a host`,
          });
        else if (nets.gateways.get(nic.network) === rip)
          add({ path: ipPath, message: `${label} is the gateway of network "${nic.network}"` });
        const list = usedIps.get(nic.network) ?? [];
        const dup = list.find((u) => u.ip === rip);
        if (dup)
          add({ path: ipPath, message: `${label} is given twice on network "${nic.network}" (also ${dup.where})` });
        list.push({ ip: rip, where: `machines[${i}] "${m.name}"` });
        usedIps.set(nic.network, list);
      }
    });
    m.users.forEach((u, j) => {
      if (m.users.findIndex((o) => o.name === u.name) !== j)
        add({ path: ['machines', i, 'users', j, 'name'], message: `duplicate user "${u.name}"` });
    });
  }
}
