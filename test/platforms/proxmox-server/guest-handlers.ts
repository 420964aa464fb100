// QEMU guest agent endpoints (relevant.md B7): the agent answers a while after power-on, NIC addresses appear
// later still (loopback and link-local always listed), and programs run through agent/exec and exec-status, whose
// output PVE decodes from the agent's base64 into bytes (qemu-server Agent.pm), or fail when the agent blocks exec.
import { firstBootProgram } from './guest-first-boot.ts';
import { dieError, paramError } from './pve-error.ts';
import { agentEnabled } from './power-handlers.ts';
import type { Handler, HandlerContext } from './sim.ts';
import { getVm, num } from './sim.ts';
import { parseNic, propertyValues, type ClusterState, type GuestProgram, type VmState } from './state.ts';

function uptimeMs(vm: VmState): number {
  return vm.startedAt === undefined ? 0 : Date.now() - vm.startedAt;
}

/** The three checks every agent call makes first, in PVE's order. */
function agentVm(ctx: HandlerContext): VmState {
  const vm = getVm(ctx);
  if (!agentEnabled(vm)) throw dieError('No QEMU guest agent configured');
  if (vm.status === 'stopped') throw dieError(`VM ${vm.vmid} is not running`);
  if (uptimeMs(vm) < vm.guest.agentDelayMs || vm.guest.agentRunning?.(vm) === false)
    throw dieError('QEMU guest agent is not running');
  return vm;
}

function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const h = (i: number): number => b[i] ?? 0;
  const word = (a: number, c: number): string => ((a << 8) | c).toString(16);
  return `fe80::${word(h(0) ^ 2, h(1))}:${word(h(2), 0xff)}:${word(0xfe, h(3))}:${word(h(4), h(5))}`;
}

/** IPv4 of NIC n: the hook, else the static `ipconfig[n]` address, else one derived from VLAN tag and VMID. */
function nicAddress(vm: VmState, n: number, tag: number | undefined): { ip: string; prefix: number } | undefined {
  const hooked = vm.guest.address?.(vm, n);
  if (hooked !== undefined) {
    const [ip, prefix] = hooked.split('/');
    return { ip: ip ?? hooked, prefix: Number(prefix ?? 24) };
  }
  const cfg = vm.config[`ipconfig${n}`] ?? vm.pending[`ipconfig${n}`];
  const ip = cfg === undefined ? undefined : propertyValues(cfg).ip;
  if (ip !== undefined && ip !== 'dhcp') {
    const [addr, prefix] = ip.split('/');
    return { ip: addr ?? ip, prefix: Number(prefix ?? 24) };
  }
  return { ip: `10.${(tag ?? 0) % 256}.${(vm.vmid >> 8) & 255}.${vm.vmid & 255}`, prefix: 24 };
}

export function guestInterfaces(vm: VmState): unknown[] {
  const stats = {
    'rx-bytes': 1024,
    'rx-packets': 10,
    'rx-errs': 0,
    'rx-dropped': 0,
    'tx-bytes': 2048,
    'tx-packets': 12,
    'tx-errs': 0,
    'tx-dropped': 0,
  };
  const result: unknown[] = [
    {
      name: 'lo',
      'hardware-address': '00:00:00:00:00:00',
      statistics: stats,
      'ip-addresses': [
        { 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 },
        { 'ip-address': '::1', 'ip-address-type': 'ipv6', prefix: 128 },
      ],
    },
  ];
  const addressed = uptimeMs(vm) >= vm.guest.addressDelayMs;
  const nics = Object.keys(vm.config)
    .filter((k) => /^net\d+$/.test(k))
    .map((k) => Number(k.slice(3)))
    .sort((a, b) => a - b);
  for (const n of nics) {
    const nic = parseNic(vm.config[`net${n}`] ?? '');
    if (nic.mac === undefined) continue;
    const mac = nic.mac.toLowerCase();
    const ips: unknown[] = [];
    const v4 = addressed ? nicAddress(vm, n, nic.tag) : undefined;
    if (v4) ips.push({ 'ip-address': v4.ip, 'ip-address-type': 'ipv4', prefix: v4.prefix });
    ips.push({ 'ip-address': linkLocal(mac), 'ip-address-type': 'ipv6', prefix: 64 });
    result.push({ name: `ens${18 + n}`, 'hardware-address': mac, 'ip-addresses': ips, statistics: stats });
  }
  return result;
}

const osinfo = {
  id: 'ubuntu',
  name: 'Ubuntu',
  'pretty-name': 'Ubuntu 22.04.4 LTS',
  version: '22.04.4 LTS (Jammy Jellyfish)',
  'version-id': '22.04',
  'kernel-release': '5.15.0-105-generic',
  'kernel-version': '#115-Ubuntu SMP',
  machine: 'x86_64',
};

function runAgentCommand(vm: VmState, command: string): unknown {
  switch (command) {
    case 'ping':
      return {};
    case 'network-get-interfaces':
      return guestInterfaces(vm);
    case 'get-osinfo':
      return osinfo;
    case 'get-host-name':
      return { 'host-name': vm.config.name ?? `vm${vm.vmid}` };
    case 'info':
      return {
        version: '6.2.0',
        supported_commands: [
          'guest-ping',
          'guest-exec',
          'guest-exec-status',
          'guest-network-get-interfaces',
          'guest-get-osinfo',
        ].map((name) => ({
          name,
          enabled: !(vm.guest.execDisabled && name.startsWith('guest-exec')),
          'success-response': true,
        })),
      };
    default:
      throw dieError(`Agent error: command '${command}' is not modelled by the test server`);
  }
}

function agentCall(command: string): Handler {
  return (ctx) => ({ result: runAgentCommand(agentVm(ctx), command) });
}

/** What a command prints: the guest's own hook first; `cloud-init status` follows the guest's cloud-init timeline. */
function execOutcome(vm: VmState, argv: string[], input: string | undefined, state: ClusterState): GuestProgram {
  const hooked = vm.guest.exec?.(vm, argv, input);
  if (hooked) return hooked;
  const configured = firstBootProgram(state, vm, argv);
  if (configured) return configured;
  const [cmd, ...args] = argv;
  if (cmd === 'cloud-init' && args[0] === 'status') {
    const left = vm.guest.cloudInitMs - uptimeMs(vm);
    const wait = args.includes('--wait');
    const state = left > 0 && !wait ? 'running' : vm.guest.cloudInit;
    const json = args.join(' ').includes('--format json') || args.includes('--format=json');
    const out = json
      ? `${JSON.stringify({ status: state, errors: state === 'error' ? ['module failed'] : [] })}\n`
      : `status: ${state}\n`;
    return { exitcode: state === 'error' ? 1 : 0, out, err: '', durationMs: wait ? Math.max(0, left) : undefined };
  }
  if (cmd === 'hostname') return { exitcode: 0, out: `${vm.config.name ?? `vm${vm.vmid}`}\n`, err: '' };
  if (cmd === 'echo') return { exitcode: 0, out: `${args.join(' ')}\n`, err: '' };
  if (cmd === 'cat' && args.length === 0) return { exitcode: 0, out: input ?? '', err: '' };
  if (cmd === 'true') return { exitcode: 0, out: '', err: '' };
  if (cmd === 'false') return { exitcode: 1, out: '', err: '' };
  if (cmd === 'sh' || cmd === 'bash' || cmd === '/bin/sh' || cmd === '/bin/bash')
    return { exitcode: 0, out: '', err: '' };
  throw dieError(
    `Agent error: Guest agent command failed, error was 'Failed to execute child process “${cmd ?? ''}” (No such file or directory)'`,
  );
}

/** qemu-ga with guest-exec in its block list answers every exec call with QEMU's dispatcher error. */
function execAllowed(vm: VmState): void {
  if (vm.guest.execDisabled) throw dieError('Agent error: Command guest-exec has been disabled');
}

const exec: Handler = (ctx) => {
  const vm = agentVm(ctx);
  execAllowed(vm);
  const command = ctx.params.command;
  const argv = Array.isArray(command) ? command : String(command).split(/\s+/);
  const input = ctx.params['input-data'] === undefined ? undefined : String(ctx.params['input-data']);
  const program = execOutcome(vm, argv, input, ctx.sim.state);
  const pid = 1000 + ctx.sim.execs.size + 1;
  ctx.sim.execs.set(`${vm.vmid}:${pid}`, { startedAt: Date.now() + (program.durationMs ?? 0), argv, program });
  return { pid };
};

/**
 * The agent captures output as bytes and sends base64; PVE decodes it and its JSON encoder takes every byte for a
 * character, so a client receives UTF-8 output encoded twice. Cut at the agent's limit like QGA does.
 */
function agentOutput(text: string, limit: number): { data: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  const kept = bytes.subarray(0, limit);
  return { data: kept.toString('latin1'), truncated: bytes.length > limit };
}

const execStatus: Handler = (ctx) => {
  const vm = agentVm(ctx);
  execAllowed(vm);
  const pid = num(ctx.params, 'pid');
  const proc = ctx.sim.execs.get(`${vm.vmid}:${pid}`);
  if (!proc) throw dieError(`Agent error: Invalid parameter 'pid'`);
  if (Date.now() - proc.startedAt < ctx.sim.timing.execMs) return { exited: 0 };
  const p = proc.program;
  const out: Record<string, unknown> = { exited: 1 };
  if (p.signal !== undefined) out.signal = p.signal;
  else out.exitcode = p.exitcode ?? 0;
  const limit = vm.guest.execOutputLimit ?? 16 * 1024 * 1024;
  for (const [key, text] of [
    ['out', p.out ?? ''],
    ['err', p.err ?? ''],
  ] as const) {
    if (!text) continue;
    const o = agentOutput(text, limit);
    out[`${key}-data`] = o.data;
    if (o.truncated) out[`${key}-truncated`] = 1;
  }
  return out;
};

const generic: Handler = (ctx) => {
  const command = String(ctx.params.command);
  if (command === 'shutdown') throw paramError({ command: 'use the status/shutdown endpoint in this test server' });
  return { result: runAgentCommand(agentVm(ctx), command) };
};

export const guestHandlers: Record<string, Handler> = {
  'POST /nodes/{node}/qemu/{vmid}/agent/ping': agentCall('ping'),
  'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces': agentCall('network-get-interfaces'),
  'GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo': agentCall('get-osinfo'),
  'GET /nodes/{node}/qemu/{vmid}/agent/get-host-name': agentCall('get-host-name'),
  'GET /nodes/{node}/qemu/{vmid}/agent/info': agentCall('info'),
  'POST /nodes/{node}/qemu/{vmid}/agent/exec': exec,
  'GET /nodes/{node}/qemu/{vmid}/agent/exec-status': execStatus,
  'POST /nodes/{node}/qemu/{vmid}/agent': generic,
};
