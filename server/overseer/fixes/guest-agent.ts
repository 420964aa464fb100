// The fix for finding kind `guest-agent-missing`: a Linux machine whose platform gets no answer from its guest agent
// (Proxmox's QEMU agent, ESXi's VMware Tools). It SSHes in (through the range router when the caller says so),
// installs and starts the agent (from the appliance's package cache when the range has no internet), and checks
// through the platform again; a bounded number of attempts, each reported to the caller, who logs and audits them.
import { z } from 'zod';
import { qemuGuestAgent, vmwareTools, type GuestAgent } from '../../agents/cloud-init.ts';
import { AppError, errorMessage } from '../../errors.ts';
import { osCatalog } from '../../model/catalog.ts';
import type { MachineRef, Platform } from '../../platforms/platform.ts';
import { backoffDelay } from '../../platforms/shared/retry.ts';
import { sleep } from '../../platforms/shared/wait.ts';
import { connectSsh, type SshConnectOptions, type SshTarget } from '../../ssh/connection.ts';

export const guestAgentFindingKind = 'guest-agent-missing';

export interface GuestAgentFinding {
  kind: typeof guestAgentFindingKind;
  /** The machine's name in messages (its resource name). */
  machine: string;
  /** Catalog OS key: only the apt-based Linux OSes can be fixed this way. */
  os: string;
  ref: MachineRef;
}

export interface GuestAgentFixInput {
  finding: GuestAgentFinding;
  platform: Platform;
  /** How to reach the machine: its address, a sudo user's credentials, its host key policy, `via` the router. */
  ssh: SshTarget;
  /** The SSH user's password, for sudo; without it `sudo -n` is used (root needs no sudo at all). */
  sudoPassword?: string;
  /**
   * Where the machine installs from when it has no internet: the appliance's package cache, an apt repository in
   * flat form (`deb [trusted=yes] <url> ./`), reachable from the range. Without it apt uses the machine's own sources.
   */
  packageCacheUrl?: string;
  /** Attempts of install-then-verify before giving up (default 3). */
  maxAttempts?: number;
  /** How long the agent has to answer the platform after an install (default 120 s), and before it (default 15 s). */
  verifyTimeoutMs?: number;
  checkTimeoutMs?: number;
  /** The install command's own bound (default 10 min: apt on a slow mirror). */
  commandTimeoutMs?: number;
  /** Wait between attempts (default 5 s to 60 s, with jitter). */
  retryDelay?: { baseMs: number; maxMs: number };
  connect?: Omit<SshConnectOptions, 'signal'>;
  signal?: AbortSignal;
  /** Each step of each attempt, as it ends: the caller writes the machine's log and the audit log from these. */
  onAttempt: (record: GuestAgentFixRecord) => void;
}

export interface GuestAgentFixRecord {
  attempt: number;
  step: 'check' | 'install' | 'verify';
  ok: boolean;
  /** One line (or the tail of the install's output): never a password. */
  detail: string;
  at: string;
}

export type GuestAgentFixOutcome =
  | { state: 'already-working' }
  | { state: 'fixed'; attempts: number }
  /** Every attempt failed; `reason` names the machine and the last failure. */
  | { state: 'gave-up'; attempts: number; reason: string }
  /** Nothing SSH can change: a Windows machine, a stopped VM, no agent channel on the VM, a changed host key. */
  | { state: 'not-fixable'; reason: string };

// A sources.list line is split on whitespace: a URL with a space in it would name another repository.
const cacheUrl = z
  .string()
  .regex(/^\S+$/, 'the package cache URL must not contain spaces')
  .pipe(z.url({ protocol: /^https?$/, error: 'the package cache URL must be http:// or https://' }));

/** The agent the platform talks to: VMware Tools on ESXi, QEMU's agent elsewhere. */
export function guestAgentFor(platform: Platform['kind']): GuestAgent {
  return platform === 'esxi' ? vmwareTools : qemuGuestAgent;
}

export type AgentProbe = { answers: true } | { answers: false; fixable: boolean; reason: string };

/**
 * Asks the platform whether the guest agent answers. With `guestExec` that is a direct call through the agent;
 * otherwise the guest's addresses, which Proxmox and ESXi learn only from the agent (the simulator models the same).
 */
export async function probeGuestAgent(
  platform: Platform,
  ref: MachineRef,
  o: { timeoutMs: number; signal?: AbortSignal },
): Promise<AgentProbe> {
  const call = { timeoutMs: o.timeoutMs, ...(o.signal ? { signal: o.signal } : {}) };
  const state = await platform.getMachineState(ref, o.signal ? { signal: o.signal } : {});
  if (state.power !== 'running')
    return {
      answers: false,
      fixable: false,
      reason: state.power === 'missing' ? 'the machine no longer exists' : `the machine is ${state.power}`,
    };
  try {
    if (platform.supports.guestExec && platform.guestExec) await platform.guestExec(ref, ['true'], call);
    else await platform.waitForAddress(ref, call);
    return { answers: true };
  } catch (e) {
    o.signal?.throwIfAborted();
    // Not answering (a timeout, or the platform saying the agent is not running) is what this fix is for.
    if (e instanceof AppError && (e.code === 'timeout' || e.code === 'transient'))
      return {
        answers: false,
        fixable: true,
        reason: `the guest agent did not answer within ${seconds(o.timeoutMs)} s`,
      };
    // Anything else is the platform saying the channel itself is missing (e.g. Proxmox: "No QEMU guest agent configured").
    return { answers: false, fixable: false, reason: errorMessage(e) };
  }
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The install as a POSIX sh script, idempotent: an installed package is left alone, the service is (re)started and
 * must then be active. Offline, apt reads only a temporary source list naming the cache, so the machine's own apt
 * configuration is never changed. Exit codes: 3 no apt, 5 no package index, 6 install failed, 7 service not running.
 */
export function guestAgentInstallScript(agent: GuestAgent, packageCacheUrl?: string): string {
  if (packageCacheUrl !== undefined) cacheUrl.parse(packageCacheUrl);
  const pkg = shellQuote(agent.package);
  const svc = shellQuote(agent.service);
  return [
    'set -u',
    // sudo -S has read its password line; nothing below may read the rest of stdin.
    'exec </dev/null',
    'export DEBIAN_FRONTEND=noninteractive',
    `pkg=${pkg}`,
    `svc=${svc}`,
    `cache=${shellQuote(packageCacheUrl ?? '')}`,
    `say() { printf 'glassdome: %s\\n' "$*" >&2; }`,
    `command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 || { say "no apt-get here: install $pkg by hand"; exit 3; }`,
    `if dpkg-query -W -f='\${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then`,
    '  say "$pkg is already installed"',
    'elif [ -n "$cache" ]; then',
    '  list=$(mktemp) || exit 4',
    `  trap 'rm -f "$list"' EXIT`,
    `  printf 'deb [trusted=yes] %s ./\\n' "$cache" > "$list"`,
    '  opts="-o Dir::Etc::SourceList=$list -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0"',
    '  apt-get $opts update || { say "the package cache $cache did not answer"; exit 5; }',
    '  apt-get $opts install -y --no-install-recommends "$pkg" || { say "installing $pkg from the package cache failed"; exit 6; }',
    'else',
    `  apt-get update || { say 'apt-get update failed: does this machine reach the internet?'; exit 5; }`,
    '  apt-get install -y --no-install-recommends "$pkg" || { say "installing $pkg failed"; exit 6; }',
    'fi',
    // qemu-guest-agent's unit is static on Debian and Ubuntu (udev starts it on the virtio port): enable may refuse.
    'systemctl enable "$svc" >/dev/null 2>&1 || true',
    'systemctl restart "$svc" || { say "$svc did not start"; exit 7; }',
    'systemctl is-active --quiet "$svc" || { say "$svc is not active"; exit 7; }',
    'say "$svc is running"',
    '',
  ].join('\n');
}

/** The command line run over SSH, and what goes to its stdin (the sudo password line, when there is one). */
export function guestAgentInstallCommand(
  script: string,
  o: { user: string; sudoPassword?: string },
): { command: string; stdin?: string } {
  const run = `sh -c ${shellQuote(script)}`;
  if (o.user === 'root') return { command: run };
  if (o.sudoPassword === undefined) return { command: `sudo -n ${run}` };
  return { command: `sudo -S -p '' ${run}`, stdin: `${o.sudoPassword}\n` };
}

/** Runs the fix. Idempotent: an agent that answers at the first check is left alone and nothing is run. */
export async function fixGuestAgent(input: GuestAgentFixInput): Promise<GuestAgentFixOutcome> {
  const { finding, platform, signal } = input;
  const name = `machine "${finding.machine}"`;
  const max = input.maxAttempts ?? 3;
  const record = (attempt: number, step: GuestAgentFixRecord['step'], ok: boolean, detail: string): void =>
    input.onAttempt({ attempt, step, ok, detail, at: new Date().toISOString() });
  const withSignal = signal ? { signal } : {};

  const os = osCatalog[finding.os];
  if (!os || os.installer !== 'cloud-init') {
    const reason = `Unable to fix the guest agent of ${name}: ${os ? os.title : `OS "${finding.os}"`} is not an apt-based Linux; install the agent in its template`;
    record(0, 'check', false, reason);
    return { state: 'not-fixable', reason };
  }
  const agent = guestAgentFor(platform.kind);
  // Checked before anything is sent: a bad URL is the caller's error, not an attempt.
  const script = guestAgentInstallScript(agent, input.packageCacheUrl);

  const first = await probeGuestAgent(platform, finding.ref, {
    timeoutMs: input.checkTimeoutMs ?? 15_000,
    ...withSignal,
  });
  if (first.answers) {
    record(0, 'check', true, `${agent.package} already answers the platform; nothing to do`);
    return { state: 'already-working' };
  }
  record(0, 'check', false, first.reason);
  if (!first.fixable)
    return { state: 'not-fixable', reason: `Unable to fix the guest agent of ${name}: ${first.reason}` };

  const { command, stdin } = guestAgentInstallCommand(script, {
    user: input.ssh.credentials.username,
    ...(input.sudoPassword !== undefined ? { sudoPassword: input.sudoPassword } : {}),
  });
  let last = first.reason;
  for (let attempt = 1; attempt <= max; attempt++) {
    if (attempt > 1)
      await sleep(backoffDelay(attempt - 1, input.retryDelay ?? { baseMs: 5000, maxMs: 60_000 }), signal);
    signal?.throwIfAborted();
    try {
      const conn = await connectSsh(input.ssh, { ...input.connect, ...withSignal });
      try {
        const r = await conn.exec(command, {
          timeoutMs: input.commandTimeoutMs ?? 600_000,
          label: `the ${agent.package} install`,
          ...(stdin !== undefined ? { stdin } : {}),
          ...withSignal,
        });
        const said = lastLines(`${r.stderr}`, 5) || lastLines(r.stdout, 5);
        if (r.exitCode !== 0) {
          last = `the install exited with ${r.exitCode ?? r.signal ?? 'no status'}${said ? `: ${said}` : ''}`;
          record(attempt, 'install', false, last);
          continue;
        }
        record(attempt, 'install', true, said || `${agent.service} started`);
      } finally {
        await conn.close();
      }
    } catch (e) {
      signal?.throwIfAborted();
      last = errorMessage(e);
      record(attempt, 'install', false, last);
      // A changed host key or refused credentials will not change by trying again.
      if (e instanceof AppError && /host key has changed|authentication as/.test(e.message))
        return { state: 'not-fixable', reason: `Unable to fix the guest agent of ${name}: ${last}` };
      continue;
    }
    const check = await probeGuestAgent(platform, finding.ref, {
      timeoutMs: input.verifyTimeoutMs ?? 120_000,
      ...withSignal,
    });
    if (check.answers) {
      record(attempt, 'verify', true, `${agent.package} answers the platform`);
      return { state: 'fixed', attempts: attempt };
    }
    last = `installed and started, but ${check.reason}`;
    record(attempt, 'verify', false, last);
    if (!check.fixable)
      return { state: 'not-fixable', reason: `Unable to fix the guest agent of ${name}: ${check.reason}` };
  }
  return {
    state: 'gave-up',
    attempts: max,
    reason: `Unable to fix the guest agent of ${name} after ${max} attempt${max === 1 ? '' : 's'}: ${last}`,
  };
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(1);
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ').slice(-500);
}
