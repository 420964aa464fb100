// The simulator's modelled guest: what a Linux router answers through its guest agent. It applies the user data it
// booted with (its /etc/nftables.conf, its WireGuard file), runs the router-change scripts Glassdome sends later (files
// written through base64, files removed, `nft -f`, dnsmasq restarted, WireGuard synced from its file) and lists the
// ruleset and the WireGuard peers loaded from both. Only those forms are modelled; any other command is "not
// modelled", so a check that needs more cannot pass by accident.
import { parse as parseYaml } from 'yaml';
import type { GuestExecResult } from './platform.ts';

/**
 * What the guest was told after first boot: files it holds, and since it booted (lost at power-off) the rulesets
 * loaded and each WireGuard interface's configuration synced (by interface name).
 */
export interface SimulatedGuestState {
  files: Record<string, string>;
  loaded: string[];
  wireguard?: Record<string, string>;
}

interface NftChain {
  type: string;
  hook?: string;
  prio?: number;
  policy?: string;
  comments: string[];
}

interface NftSet {
  type: string;
  flags: string[];
  elem: Array<string | { prefix: { addr: string; len: number } }>;
}

interface NftTable {
  family: string;
  name: string;
  chains: Map<string, NftChain>;
  sets: Map<string, NftSet>;
}

const priorities: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

function priorityOf(text: string): number {
  const m = /^(\w+|-?\d+)(?:\s*([+-])\s*(\d+))?$/.exec(text.trim());
  if (!m) return 0;
  const base = /^-?\d+$/.test(m[1]!) ? Number(m[1]) : (priorities[m[1]!] ?? 0);
  return m[2] ? base + (m[2] === '-' ? -1 : 1) * Number(m[3]) : base;
}

/** Loads one nft file into `tables`, as `nft -f` would for the statements Glassdome writes; the first error wins. */
function loadNft(tables: Map<string, NftTable>, text: string): string | undefined {
  let table: NftTable | undefined;
  let chain: NftChain | undefined;
  let set: NftSet | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line === 'flush ruleset') {
      tables.clear();
      continue;
    }
    const del = /^delete table (\w+) (\w+)$/.exec(line);
    if (del) {
      if (!tables.delete(`${del[1]} ${del[2]}`))
        return `Error: No such file or directory: delete table ${del[1]} ${del[2]}`;
      continue;
    }
    const t = /^table (\w+) (\w+)( \{)?$/.exec(line);
    if (t) {
      const key = `${t[1]} ${t[2]}`;
      if (!tables.has(key)) tables.set(key, { family: t[1]!, name: t[2]!, chains: new Map(), sets: new Map() });
      table = t[3] ? tables.get(key) : undefined;
      continue;
    }
    if (!table) return `Error: syntax error, unexpected "${line.slice(0, 40)}"`;
    const c = /^chain (\w+) \{$/.exec(line);
    if (c) {
      chain = { type: 'filter', comments: [] };
      table.chains.set(c[1]!, chain);
      continue;
    }
    const s = /^set (\w+) \{$/.exec(line);
    if (s) {
      set = { type: 'ipv4_addr', flags: [], elem: [] };
      table.sets.set(s[1]!, set);
      continue;
    }
    if (line === '}') {
      if (chain || set) [chain, set] = [undefined, undefined];
      else table = undefined;
      continue;
    }
    if (set) {
      const type = /^type (\w+);?$/.exec(line);
      const flags = /^flags ([\w, ]+);?$/.exec(line);
      const elements = /^elements = \{ (.*) \};?$/.exec(line);
      if (type) set.type = type[1]!;
      else if (flags) set.flags = flags[1]!.split(',').map((f) => f.trim());
      else if (elements)
        set.elem = elements[1]!.split(',').map((e) => {
          const [addr, len] = e.trim().split('/');
          return len === undefined ? addr! : { prefix: { addr: addr!, len: Number(len) } };
        });
      else return `Error: syntax error in set: "${line.slice(0, 40)}"`;
      continue;
    }
    if (chain) {
      const hook = /^type (\w+) hook (\w+) priority ([^;]+); policy (\w+);$/.exec(line);
      if (hook) Object.assign(chain, { type: hook[1], hook: hook[2], prio: priorityOf(hook[3]!), policy: hook[4] });
      const comment = / comment "([^"]+)"$/.exec(line);
      if (comment) chain.comments.push(comment[1]!);
    }
  }
  return undefined;
}

function listRuleset(tables: Map<string, NftTable>): string {
  const objects: unknown[] = [{ metainfo: { version: '1.0.6', release_name: 'simulated', json_schema_version: 1 } }];
  for (const t of tables.values()) {
    objects.push({ table: { family: t.family, name: t.name } });
    for (const [name, c] of t.chains)
      objects.push({
        chain: {
          family: t.family,
          table: t.name,
          name,
          type: c.type,
          ...(c.hook ? { hook: c.hook, prio: c.prio, policy: c.policy } : {}),
        },
      });
    for (const [name, s] of t.sets)
      objects.push({
        set: {
          family: t.family,
          name,
          table: t.name,
          type: s.type,
          ...(s.flags.length ? { flags: s.flags } : {}),
          ...(s.elem.length ? { elem: s.elem } : {}),
        },
      });
    for (const [name, c] of t.chains)
      for (const comment of c.comments)
        objects.push({ rule: { family: t.family, table: t.name, chain: name, comment } });
  }
  return JSON.stringify({ nftables: objects });
}

/** A file as first boot wrote it from the user data. */
function bootFile(userData: string | null, path: string): string | undefined {
  const cloudConfig = (userData ? parseYaml(userData.replace(/^#cloud-config\n/, '')) : null) as {
    write_files?: Array<{ path: string; content: string }>;
  } | null;
  return cloudConfig?.write_files?.find((f) => f.path === path)?.content;
}

const wireguardFile = (ifname: string) => `/etc/wireguard/${ifname}.conf`;

/**
 * The configuration of a running WireGuard interface: synced since boot, else what wg-quick read from the disk at
 * boot (a file written since, or first boot's). Undefined: the guest has no such interface (first boot enabled
 * wg-quick only for the file it wrote).
 */
function liveWireguard(userData: string | null, s: SimulatedGuestState, ifname: string): string | undefined {
  const boot = bootFile(userData, wireguardFile(ifname));
  if (boot === undefined) return undefined;
  return s.wireguard?.[ifname] ?? s.files[wireguardFile(ifname)] ?? boot;
}

/** `wg show IFACE allowed-ips` of a wg-quick file: each peer's public key, a tab, its allowed addresses. */
function wireguardAllowedIps(conf: string): string {
  const out: string[] = [];
  let peer: { key?: string; ips: string[] } | undefined;
  const flush = () => peer?.key && out.push(`${peer.key}\t${peer.ips.join(' ') || '(none)'}`);
  for (const raw of conf.split('\n')) {
    const line = raw.trim();
    if (/^\[peer\]$/i.test(line)) {
      flush();
      peer = { ips: [] };
      continue;
    }
    if (/^\[/.test(line)) {
      flush();
      peer = undefined;
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (!peer || !kv) continue;
    if (kv[1]!.toLowerCase() === 'publickey') peer.key = kv[2]!.trim();
    if (kv[1]!.toLowerCase() === 'allowedips')
      peer.ips.push(
        ...kv[2]!
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      );
  }
  flush();
  return out.map((l) => `${l}\n`).join('');
}

const unquote = (w: string) => (w.startsWith("'") && w.endsWith("'") ? w.slice(1, -1).replaceAll(`'\\''`, "'") : w);
const word = `('(?:[^']|'\\\\'')*'|\\S+)`;
const scriptLines: Array<
  [RegExp, (m: RegExpExecArray, s: SimulatedGuestState, userData: string | null) => string | undefined]
> = [
  [/^set -e?u?$/, () => undefined],
  [new RegExp(`^mkdir -p ${word}$`), () => undefined],
  [new RegExp(`^install -m [0-7]{3,4} /dev/null ${word}$`), (m, s) => void (s.files[unquote(m[1]!)] = '')],
  [
    new RegExp(`^printf '%s' ${word} \\| base64 -d > ${word}$`),
    (m, s) => void (s.files[unquote(m[2]!)] = Buffer.from(unquote(m[1]!), 'base64').toString('utf8')),
  ],
  [new RegExp(`^rm -f ${word}$`), (m, s) => void delete s.files[unquote(m[1]!)]],
  [
    new RegExp(`^nft -f ${word}$`),
    (m, s) => {
      const file = s.files[unquote(m[1]!)];
      if (file === undefined) return `Error: Could not open file "${unquote(m[1]!)}": No such file or directory`;
      s.loaded.push(file);
      return undefined;
    },
  ],
  [/^systemctl (?:try-)?restart dnsmasq$/, () => undefined],
  [
    new RegExp(`^wg-quick strip ${word} > /dev/null$`),
    (m, s, userData) =>
      s.files[unquote(m[1]!)] === undefined && bootFile(userData, unquote(m[1]!)) === undefined
        ? `wg-quick: \`${unquote(m[1]!)}' does not exist`
        : undefined,
  ],
  [
    new RegExp(`^wg-quick strip ${word} \\| wg syncconf (\\S+) /dev/stdin$`),
    (m, s, userData) => {
      const ifname = m[2]!;
      if (liveWireguard(userData, s, ifname) === undefined) return `Unable to access interface: No such device`;
      const file = s.files[unquote(m[1]!)] ?? bootFile(userData, unquote(m[1]!));
      if (file === undefined) return `wg-quick: \`${unquote(m[1]!)}' does not exist`;
      s.wireguard = { ...s.wireguard, [ifname]: file };
      return undefined;
    },
  ],
];

/**
 * Runs a program in the modelled guest. `nft -j list ruleset` lists what first boot loaded plus what was loaded since;
 * `sh -c SCRIPT` runs a router-change script line by line, stopping at the first failure as `set -e` would.
 * Returns the result and, when the script changed something, the guest's new state.
 */
export function runSimulatedGuest(
  userData: string | null,
  guest: SimulatedGuestState | null,
  argv: string[],
): { result: GuestExecResult; guest?: SimulatedGuestState } {
  const state: SimulatedGuestState = {
    files: { ...(guest?.files ?? {}) },
    loaded: [...(guest?.loaded ?? [])],
    ...(guest?.wireguard ? { wireguard: { ...guest.wireguard } } : {}),
  };
  if (argv.join(' ') === 'nft -j list ruleset') {
    const tables = new Map<string, NftTable>();
    for (const text of [bootFile(userData, '/etc/nftables.conf') ?? '', ...state.loaded]) loadNft(tables, text);
    return { result: { exitCode: 0, stdout: listRuleset(tables), stderr: '' } };
  }
  if (argv.length === 4 && argv[0] === 'wg' && argv[1] === 'show' && argv[3] === 'allowed-ips') {
    const conf = liveWireguard(userData, state, argv[2]!);
    return conf === undefined
      ? { result: { exitCode: 1, stdout: '', stderr: 'Unable to access interface: No such device\n' } }
      : { result: { exitCode: 0, stdout: wireguardAllowedIps(conf), stderr: '' } };
  }
  if (argv.length === 3 && argv[0] === 'sh' && argv[1] === '-c') {
    for (const line of argv[2]!.split('\n').map((l) => l.trim())) {
      if (line === '') continue;
      const hit = scriptLines.find(([re]) => re.test(line));
      if (!hit)
        return {
          result: {
            exitCode: 127,
            stdout: '',
            stderr: `sh: 1: ${line.split(' ')[0]}: not modelled by the simulator\n`,
          },
          guest: state,
        };
      const failure = hit[1](hit[0].exec(line)!, state, userData);
      if (failure) {
        return { result: { exitCode: 1, stdout: '', stderr: `${failure}\n` }, guest: state };
      }
      // nft itself rejects a file it cannot parse, loading nothing of it.
      if (line.startsWith('nft -f')) {
        const problem = loadNft(new Map(), state.loaded.at(-1)!);
        if (problem && !problem.startsWith('Error: No such file')) {
          state.loaded.pop();
          return { result: { exitCode: 1, stdout: '', stderr: `${problem}\n` }, guest: state };
        }
      }
    }
    return { result: { exitCode: 0, stdout: '', stderr: '' }, guest: state };
  }
  return {
    result: {
      exitCode: 127,
      stdout: '',
      stderr: `sh: 1: ${argv[0] ?? ''}: not found (the simulator models only nft -j list ruleset, wg show IFACE allowed-ips and router-change scripts)\n`,
    },
  };
}

/** The stateless form: what a guest that only booted answers (the Proxmox test server's guest uses it). */
export function simulatedGuestCommand(userData: string | null, argv: string[]): GuestExecResult {
  return runSimulatedGuest(userData, null, argv).result;
}
