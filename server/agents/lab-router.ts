// The files that make a Debian machine the router of one lab instance: an nftables ruleset (filtering between lab
// networks, egress and NAT out of the uplink), IPv4 forwarding, and dnsmasq for DNS and DHCP on the lab networks.
// Also the changes made to a running router later (testing mode's egress allow-list), as data and as one script.
import { AppError } from '../errors.ts';
import { intToIp, ipToInt, lastAddress, netmask, parseSubnet, subnetSize } from '../ipam/cidr.ts';
import type { TestingAllowList } from '../model/overseer.ts';
import type { FirewallRule, PlannedMachine, RouterConfig } from '../model/plan.ts';
import type { ScenarioMachine } from '../model/scenario.ts';

/** The name the network-config gives the machine's NIC number `index`; the router's rules refer to the same names. */
export function interfaceName(index: number): string {
  return `nic${index}`;
}

/** The DNS domain lab machines live in; `.internal` is reserved for private use, so it never leaks to the internet. */
export const labDomain = 'lab.internal';

export const nftablesPath = '/etc/nftables.conf';
export const sysctlPath = '/etc/sysctl.d/90-glassdome-router.conf';
export const dnsmasqPath = '/etc/dnsmasq.d/glassdome.conf';

export interface RouterFiles {
  nftables: string;
  sysctl: string;
  /** dnsmasq: DNS on every lab network, DHCP where asked. */
  dnsmasq?: string;
}

/** What a router adds to its cloud-init: packages, files and commands (run after the files are written). */
export interface RouterSetup {
  packages: string[];
  files: ScenarioMachine['files'];
  run: string[];
}

interface Lan {
  ifname: string;
  cidr: string;
  address: string;
  prefix: number;
  dhcp: boolean;
}

export function buildRouterFiles(machine: PlannedMachine): RouterFiles {
  const { router, lans, uplink } = resolveInterfaces(machine);
  // Every lab machine's resolver is its router (the plan sets it so), so DNS is always served; DHCP only where asked.
  const withDnsmasq = true;
  return {
    nftables: renderNftables(machine.key, router, lans, uplink, withDnsmasq),
    sysctl: 'net.ipv4.ip_forward = 1\n',
    ...(withDnsmasq ? { dnsmasq: renderDnsmasq(machine.key, lans) } : {}),
  };
}

export function routerSetup(machine: PlannedMachine): RouterSetup {
  const files = buildRouterFiles(machine);
  const file = (path: string, content: string, mode = '0644') => ({ path, content, mode, owner: 'root:root' });
  return {
    packages: ['nftables', ...(files.dnsmasq ? ['dnsmasq'] : [])],
    files: [
      file(nftablesPath, files.nftables, '0755'),
      file(sysctlPath, files.sysctl),
      ...(files.dnsmasq ? [file(dnsmasqPath, files.dnsmasq)] : []),
    ],
    // restart, not `enable --now`: a service the package already started must reload the files written after it.
    run: [
      'sysctl --system',
      'systemctl enable nftables',
      'systemctl restart nftables',
      ...(files.dnsmasq ? ['systemctl enable dnsmasq', 'systemctl restart dnsmasq'] : []),
    ],
  };
}

function resolveInterfaces(machine: PlannedMachine): { router: RouterConfig; lans: Lan[]; uplink?: string } {
  const router = machine.router;
  const fail = (why: string) =>
    new AppError('internal', `Unable to build the router configuration of machine "${machine.key}": ${why}`);
  if (machine.role !== 'router' || !router) throw fail('it is not a router');
  const lans = router.lans.map((l): Lan => {
    const index = machine.nics.findIndex((n) => n.networkKey === l.networkKey);
    if (index < 0) throw fail(`it has no NIC on network "${l.networkKey}"`);
    return { ifname: interfaceName(index), cidr: l.cidr, address: l.address, prefix: l.prefix, dhcp: l.dhcp };
  });
  if (router.uplinkNic === undefined) return { router, lans };
  if (!machine.nics[router.uplinkNic]) throw fail(`its uplink NIC ${router.uplinkNic} does not exist`);
  return { router, lans, uplink: interfaceName(router.uplinkNic) };
}

const anyAddress = '0.0.0.0/0';

/** The router's own table: verification reads it back by this name. */
export const tableName = 'glassdome';
const ruleComment = (i: number) => `gd:rule:${i + 1}`;
const guardComments = { inbound: 'gd:uplink-in', outbound: 'gd:uplink-out', egress: 'gd:egress', nat: 'gd:nat' };

function nftSet(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

function quoted(ifnames: string[]): string {
  return nftSet(ifnames.map((i) => `"${i}"`));
}

/** One scenario rule as one nft rule: addresses, protocol and ports matched, then accept or drop. */
export function renderRule(rule: FirewallRule): string {
  const parts: string[] = [];
  if (!rule.from.includes(anyAddress)) parts.push(`ip saddr ${nftSet(rule.from)}`);
  if (!rule.to.includes(anyAddress)) parts.push(`ip daddr ${nftSet(rule.to)}`);
  if (rule.protocol === 'tcp' || rule.protocol === 'udp') {
    if (rule.ports.length > 0)
      parts.push(`${rule.protocol} dport ${nftSet(rule.ports.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)))}`);
    else parts.push(`meta l4proto ${rule.protocol}`);
  } else if (rule.protocol === 'icmp') parts.push('meta l4proto icmp');
  parts.push(rule.action === 'allow' ? 'accept' : 'drop');
  return parts.join(' ');
}

function renderNftables(
  key: string,
  router: RouterConfig,
  lans: Lan[],
  uplink: string | undefined,
  withDnsmasq: boolean,
): string {
  const lanIfs = lans.map((l) => l.ifname);
  const dhcpIfs = lans.filter((l) => l.dhcp).map((l) => l.ifname);
  const nat = uplink ? router.nat : [];

  const input = [
    'ct state established,related accept',
    'ct state invalid drop',
    'iifname "lo" accept',
    'meta l4proto { icmp, ipv6-icmp } accept',
    `iifname ${quoted(lanIfs)} tcp dport 22 accept`,
    ...(withDnsmasq ? [`iifname ${quoted(lanIfs)} meta l4proto { tcp, udp } th dport 53 accept`] : []),
    ...(dhcpIfs.length > 0 ? [`iifname ${quoted(dhcpIfs)} udp dport 67 accept`] : []),
    // The router's own DHCP client on the uplink: unicast lease renewals arrive here.
    ...(uplink ? [`iifname "${uplink}" udp sport 67 udp dport 68 accept`] : []),
    // The appliance manages the range through its router (the overseer's fixes, testing mode where the platform has
    // no guest channel): SSH on the uplink, where the appliance is; the lab machines are reached through it.
    ...(uplink ? [`iifname "${uplink}" tcp dport 22 accept comment "gd:uplink-ssh"`] : []),
  ];

  const forward = [
    'ct state established,related accept',
    'ct state invalid drop',
    '# The lab is IPv4 only.',
    'meta nfproto ipv6 drop',
    ...(uplink
      ? [
          '# Nothing outside starts a connection into the lab; only networks with internet access leave through the uplink.',
          `iifname "${uplink}" drop comment "${guardComments.inbound}"`,
          nat.length > 0
            ? `oifname "${uplink}" ip saddr != ${nftSet(nat)} drop comment "${guardComments.outbound}"`
            : `oifname "${uplink}" drop comment "${guardComments.outbound}"`,
        ]
      : []),
    ...router.rules.flatMap((r, i) => [`# rule ${i + 1}`, `${renderRule(r)} comment "${ruleComment(i)}"`]),
    ...(uplink && nat.length > 0
      ? [
          '# Internet egress of networks with internet access, unless a rule above dropped it.',
          `oifname "${uplink}" accept comment "${guardComments.egress}"`,
        ]
      : []),
  ];

  const lines = [
    '#!/usr/sbin/nft -f',
    `# Generated by Glassdome for router "${key}"; rewritten on every deployment.`,
    'flush ruleset',
    '',
    `table inet ${tableName} {`,
    '\tchain input {',
    '\t\ttype filter hook input priority filter; policy drop;',
    ...input.map((l) => `\t\t${l}`),
    '\t}',
    '',
    '\tchain forward {',
    `\t\ttype filter hook forward priority filter; policy ${router.forwardDefault === 'allow' ? 'accept' : 'drop'};`,
    ...forward.map((l) => `\t\t${l}`),
    '\t}',
    '',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    '\t}',
    '}',
  ];
  if (uplink && nat.length > 0) {
    lines.push(
      '',
      'table ip nat {',
      '\tchain postrouting {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      `\t\toifname "${uplink}" ip saddr ${nftSet(nat)} masquerade comment "${guardComments.nat}"`,
      '\t}',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * DHCP hands out the upper half of a subnet (the planner assigns static addresses from the bottom), skipping the
 * router's own address. Ranges as [first, last] addresses.
 */
export function dhcpRanges(cidr: string, routerAddress: string): Array<[string, string]> {
  const sub = parseSubnet(cidr);
  const router = ipToInt(routerAddress);
  if ('error' in sub || router === undefined)
    throw new AppError(
      'internal',
      `Unable to compute a DHCP range for ${cidr}: ${'error' in sub ? sub.error : `"${routerAddress}" is not an address`}`,
    );
  const first = sub.base + subnetSize(sub) / 2;
  const last = lastAddress(sub) - 1;
  const pieces: Array<[number, number]> =
    router >= first && router <= last
      ? [
          [first, router - 1],
          [router + 1, last],
        ]
      : [[first, last]];
  return pieces.filter(([a, b]) => a <= b).map(([a, b]) => [intToIp(a), intToIp(b)]);
}

function renderDnsmasq(key: string, lans: Lan[]): string {
  const lines = [
    `# Generated by Glassdome for router "${key}"; rewritten on every deployment.`,
    '# DNS on every lab network (machines use the router as their resolver); DHCP only where the scenario asks.',
    // bind-dynamic: listen on the lab interfaces only, so a local stub resolver on 127.0.0.53 is left alone.
    'bind-dynamic',
    ...lans.map((l) => `interface=${l.ifname}`),
    ...lans.filter((l) => !l.dhcp).map((l) => `no-dhcp-interface=${l.ifname}`),
    `domain=${labDomain}`,
    `local=/${labDomain}/`,
    'dhcp-authoritative',
  ];
  for (const l of lans.filter((x) => x.dhcp)) {
    for (const [a, b] of dhcpRanges(l.cidr, l.address))
      lines.push(`dhcp-range=set:${l.ifname},${a},${b},${netmask(l.prefix)},12h`);
    lines.push(
      `dhcp-option=tag:${l.ifname},option:router,${l.address}`,
      `dhcp-option=tag:${l.ifname},option:dns-server,${l.address}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What a router's firewall must show once loaded: the forward policy and every rule, by the comment it carries. */
export interface RouterExpectation {
  forwardPolicy: 'accept' | 'drop';
  /** Comments of the rules in the forward chain (scenario rules, uplink guards, egress). */
  forward: string[];
  /** Comments of the NAT rules (masquerade out of the uplink), in table `ip nat`. */
  nat: string[];
}

export function routerExpectation(machine: PlannedMachine): RouterExpectation {
  const { router, uplink } = resolveInterfaces(machine);
  const nat = uplink ? router.nat : [];
  return {
    forwardPolicy: router.forwardDefault === 'allow' ? 'accept' : 'drop',
    forward: [
      ...(uplink ? [guardComments.inbound, guardComments.outbound] : []),
      ...router.rules.map((_, i) => ruleComment(i)),
      ...(uplink && nat.length > 0 ? [guardComments.egress] : []),
    ],
    nat: uplink && nat.length > 0 ? [guardComments.nat] : [],
  };
}

/** The command that reads a router's loaded firewall back, through the platform's guest channel or SSH. */
export const rulesetReadback = ['nft', '-j', 'list', 'ruleset'];

type NftObject = {
  table?: { family: string; name: string };
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string };
  rule?: { family: string; table: string; chain: string; comment?: string };
};

/**
 * What is wrong with a loaded ruleset (the JSON `nft -j list ruleset` prints) against the plan: a missing table or
 * chain, another forward policy, a rule that is not there. Empty when the firewall is what the scenario says.
 */
export function checkRuleset(machine: PlannedMachine, nftJson: string): string[] {
  const want = routerExpectation(machine);
  let objects: NftObject[];
  try {
    objects = ((JSON.parse(nftJson) as { nftables?: NftObject[] }).nftables ?? []) as NftObject[];
  } catch {
    return [`the ruleset read back is not nft JSON (${nftJson.slice(0, 80).trim() || 'empty'})`];
  }
  const problems: string[] = [];
  if (!objects.some((o) => o.table?.family === 'inet' && o.table.name === tableName))
    problems.push(`table inet ${tableName} is not loaded`);
  const forward = objects.find(
    (o) => o.chain?.family === 'inet' && o.chain.table === tableName && o.chain.name === 'forward',
  )?.chain;
  if (!forward) problems.push('its forward chain is missing');
  else if (forward.hook !== 'forward' || forward.policy !== want.forwardPolicy)
    problems.push(
      `the forward chain's policy is ${forward.policy ?? 'none'} (hook ${forward.hook ?? 'none'}), the scenario says ${want.forwardPolicy}`,
    );
  const have = (table: string, chain: string) =>
    new Set(
      objects.flatMap((o) =>
        o.rule && o.rule.table === table && o.rule.chain === chain && o.rule.comment ? [o.rule.comment] : [],
      ),
    );
  const forwardRules = have(tableName, 'forward');
  const missing = want.forward.filter((c) => !forwardRules.has(c));
  if (missing.length > 0) problems.push(`forward rules missing: ${missing.join(', ')}`);
  const natRules = have('nat', 'postrouting');
  const missingNat = want.nat.filter((c) => !natRules.has(c));
  if (missingNat.length > 0) problems.push(`NAT rules missing: ${missingNat.join(', ')}`);
  return problems;
}

/**
 * The router's first boot checks its own firewall after loading it (nft's text form: no JSON tool is needed in the
 * image): each check is a shell test and the message its failure prints.
 */
export function routerSelfChecks(machine: PlannedMachine): Array<{ test: string; failure: string }> {
  const want = routerExpectation(machine);
  return [
    {
      test: `nft list chain inet ${tableName} forward | grep -qF 'policy ${want.forwardPolicy};'`,
      failure: `the forward policy is not ${want.forwardPolicy}`,
    },
    ...[...want.forward, ...want.nat].map((c) => ({
      test: `nft list ruleset | grep -qF 'comment "${c}"'`,
      failure: `firewall rule ${c} is not loaded`,
    })),
  ];
}

// ------------------------------------------------------------------------------------------------ testing mode

/** Testing mode's own table: loaded beside the router's, so leaving it is deleting this table and nothing else. */
export const testingTable = 'glassdome_testing';
export const testingNftPath = '/etc/glassdome/testing-mode.nft';
export const testingDnsmasqPath = '/etc/dnsmasq.d/glassdome-testing.conf';
const testingComments = { allow: 'gd:testing-allow', resolved: 'gd:testing-resolved', block: 'gd:testing-block' };

/** A change to a running router: files written (whole), files removed, then commands, in that order, as root. */
export interface RouterChange {
  files: Array<{ path: string; content: string }>;
  remove: string[];
  commands: string[];
  /** What the change amounts to, for the log (e.g. "no uplink: nothing leaves this instance anyway"). */
  note: string;
}

const domainPattern = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** The allow-list made canonical (addresses as /32 or the network's CIDR, names lowercase), or the first problem. */
export function normalizeAllowList(allow: TestingAllowList): TestingAllowList {
  const bad = (what: string) =>
    new AppError('invalid_input', `Unable to use the testing-mode allow-list: ${what}`, {
      issues: [{ path: 'allow', message: what }],
    });
  const addresses = allow.addresses.map((a) => {
    const t = a.trim();
    if (ipToInt(t) !== undefined) return `${t}/32`;
    const sub = parseSubnet(t);
    if ('error' in sub) throw bad(`"${a}" is not an IPv4 address or CIDR`);
    return sub.cidr;
  });
  const domains = allow.domains.map((d) => {
    const t = d.trim().toLowerCase().replace(/\.$/, '');
    if (!domainPattern.test(t)) throw bad(`"${d}" is not a DNS name such as updates.example.org`);
    return t;
  });
  return { addresses: [...new Set(addresses)].sort(), domains: [...new Set(domains)].sort() };
}

function uplinkOf(machine: PlannedMachine): string | undefined {
  return resolveInterfaces(machine).uplink;
}

/**
 * What testing mode loads on a router: its own nftables table, hooked into forward before the router's, that lets
 * out of the uplink only the allowed addresses and the addresses dnsmasq resolved for the allowed names (pinned in a
 * set as they are resolved), and drops the rest; and a dnsmasq file that answers NXDOMAIN for every other name.
 * The router's own rules still apply on top: testing mode never lets out what the scenario keeps in.
 */
export function testingModeChange(machine: PlannedMachine, allowList: TestingAllowList): RouterChange {
  const allow = normalizeAllowList(allowList);
  const uplink = uplinkOf(machine);
  if (!uplink)
    return {
      files: [],
      remove: [],
      commands: [],
      note: 'this instance has no internet egress: nothing leaves it, so its router needs no change',
    };
  const elements = allow.addresses.map((c) => (c.endsWith('/32') ? c.slice(0, -3) : c));
  const nft = [
    '#!/usr/sbin/nft -f',
    `# Generated by Glassdome: testing mode of router "${machine.key}". Only the allow-list leaves the uplink.`,
    // Declaring then deleting makes loading this file idempotent: a table left by an earlier switch is replaced.
    `table inet ${testingTable}`,
    `delete table inet ${testingTable}`,
    '',
    `table inet ${testingTable} {`,
    '\tset allow_addresses {',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    ...(elements.length > 0 ? [`\t\telements = { ${elements.join(', ')} }`] : []),
    '\t}',
    '',
    '\tset allow_resolved {',
    '\t\ttype ipv4_addr',
    '\t}',
    '',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter - 10; policy accept;',
    `\t\toifname "${uplink}" ip daddr @allow_addresses accept comment "${testingComments.allow}"`,
    `\t\toifname "${uplink}" ip daddr @allow_resolved accept comment "${testingComments.resolved}"`,
    `\t\toifname "${uplink}" drop comment "${testingComments.block}"`,
    '\t}',
    '}',
    '',
  ].join('\n');
  const dnsmasq = [
    `# Generated by Glassdome: testing mode of router "${machine.key}". Only these names resolve; their addresses`,
    '# are added to the egress allow-list as they are resolved. Every other name outside the lab is NXDOMAIN.',
    'address=/#/',
    ...allow.domains.flatMap((d) => [`server=/${d}/#`, `nftset=/${d}/4#inet#${testingTable}#allow_resolved`]),
    '',
  ].join('\n');
  return {
    files: [
      { path: testingNftPath, content: nft },
      { path: testingDnsmasqPath, content: dnsmasq },
    ],
    remove: [],
    commands: [`nft -f ${testingNftPath}`, 'systemctl restart dnsmasq'],
    note: `egress through ${uplink} limited to ${allow.addresses.length} address(es) and ${allow.domains.length} name(s)`,
  };
}

/** What leaving testing mode does on the router: its table deleted, its dnsmasq file removed, dnsmasq restarted. */
export function leaveTestingModeChange(machine: PlannedMachine): RouterChange {
  if (!uplinkOf(machine)) return { files: [], remove: [], commands: [], note: 'no uplink: nothing to undo' };
  return {
    files: [{ path: testingNftPath, content: `table inet ${testingTable}\ndelete table inet ${testingTable}\n` }],
    remove: [testingDnsmasqPath],
    commands: [`nft -f ${testingNftPath}`, 'systemctl restart dnsmasq'],
    note: "egress back to the scenario's rules",
  };
}

function shellWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * One POSIX sh script that makes the change, stopping at the first failure: run as root through the platform's guest
 * channel (`sh -c`) or over SSH with sudo. Files go through base64 so no content is ever parsed by the shell.
 */
export function routerChangeScript(change: RouterChange): string {
  const dirs = [...new Set(change.files.map((f) => f.path.slice(0, f.path.lastIndexOf('/'))))];
  return [
    'set -eu',
    ...dirs.map((d) => `mkdir -p ${shellWord(d)}`),
    ...change.files.map(
      (f) => `printf '%s' ${shellWord(Buffer.from(f.content).toString('base64'))} | base64 -d > ${shellWord(f.path)}`,
    ),
    ...change.remove.map((p) => `rm -f ${shellWord(p)}`),
    ...change.commands,
    '',
  ].join('\n');
}

type NftSetObject = {
  set?: {
    family: string;
    table: string;
    name: string;
    elem?: Array<string | { prefix?: { addr: string; len: number } }>;
  };
};

/**
 * What is wrong with a loaded ruleset against testing mode: with an allow-list, its table, chain, rules and exactly
 * the allowed addresses must be there; with `null` (testing mode off), its table must be gone. Empty when it is right.
 */
export function checkTestingRuleset(
  machine: PlannedMachine,
  allowList: TestingAllowList | null,
  nftJson: string,
): string[] {
  let objects: Array<NftObject & NftSetObject>;
  try {
    objects = ((JSON.parse(nftJson) as { nftables?: unknown[] }).nftables ?? []) as Array<NftObject & NftSetObject>;
  } catch {
    return [`the ruleset read back is not nft JSON (${nftJson.slice(0, 80).trim() || 'empty'})`];
  }
  const loaded = objects.some((o) => o.table?.family === 'inet' && o.table.name === testingTable);
  if (allowList === null || !uplinkOf(machine))
    return loaded ? [`table inet ${testingTable} is still loaded although testing mode is off`] : [];
  const allow = normalizeAllowList(allowList);
  if (!loaded) return [`table inet ${testingTable} (testing mode's egress block) is not loaded`];
  const problems: string[] = [];
  const chain = objects.find(
    (o) => o.chain?.family === 'inet' && o.chain.table === testingTable && o.chain.name === 'forward',
  )?.chain;
  if (!chain || chain.hook !== 'forward') problems.push("testing mode's forward chain is missing");
  const comments = new Set(
    objects.flatMap((o) => (o.rule?.table === testingTable && o.rule.comment ? [o.rule.comment] : [])),
  );
  const missing = Object.values(testingComments).filter((c) => !comments.has(c));
  if (missing.length > 0) problems.push(`testing-mode rules missing: ${missing.join(', ')}`);
  const set = objects.find((o) => o.set?.table === testingTable && o.set.name === 'allow_addresses')?.set;
  const have = (set?.elem ?? []).map((e) =>
    typeof e === 'string' ? `${e}/32` : e.prefix ? `${e.prefix.addr}/${e.prefix.len}` : JSON.stringify(e),
  );
  const want = allow.addresses;
  const extra = have.filter((a) => !want.includes(a));
  const absent = want.filter((a) => !have.includes(a));
  if (extra.length > 0 || absent.length > 0)
    problems.push(
      `the allowed addresses are not the allow-list's${absent.length ? ` (missing ${absent.join(', ')})` : ''}${extra.length ? ` (extra ${extra.join(', ')})` : ''}`,
    );
  return problems;
}
