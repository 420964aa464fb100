// The guests of the test server's VMs, as far as Azure shows them: a serial console log (boot diagnostics) that a
// VM writes while it boots, and the Azure VM Agent in it, which reports Ready from early in the boot (when cloud-init's
// init stage starts it) until the VM stops. A guest whose VM got customData runs Glassdome's first boot and ends it
// with the line server/model/first-boot.ts defines (GLASSDOME-READY / GLASSDOME-FAILED <vm name>); tests may script
// what it prints and break its agent. The log is served as a blob behind a SAS-style URL that expires, with Range
// support, like Azure Storage.
import crypto from 'node:crypto';
import type { Clock } from './clock.ts';
import type { ArmResource } from './store.ts';

/** What the guest prints on its serial console at each boot. */
type Console =
  /** First boot succeeds: the ready line after `readyAfterMs` (simulated; default from the timing). */
  | { kind: 'ready'; readyAfterMs?: number }
  /** First boot stops with this reason. */
  | { kind: 'failed'; reason: string; readyAfterMs?: number }
  /** Boots but its first boot never ends (a hung cloud-init). */
  | { kind: 'silent' }
  /** Prints exactly these lines, one simulated second apart. */
  | { kind: 'lines'; lines: string[] };

export type GuestBehaviour = Console & {
  /** `unresponsive`: its VM Agent never reports (not installed, crashed, no route to the host); default `ready`. */
  vmAgent?: 'ready' | 'unresponsive';
};

/** What the VM Agent of a running VM reports: Ready, not yet (booting), or nothing ever (unresponsive). */
export type AgentState = 'ready' | 'starting' | 'unresponsive';

/** When the agent first reports Ready after the VM starts running (simulated ms): cloud-init's init stage. */
const agentReadyMs = 7_800;

export interface GuestBook {
  /** What the guest of the VM named `vmName` prints from its next boot on; `*` sets the default. */
  script(vmName: string, behaviour: GuestBehaviour): void;
  /** The VM started booting now. */
  boot(vm: ArmResource): void;
  /** The VM stopped now: what its guest had not printed yet is never printed. */
  halt(vm: ArmResource): void;
  /** What the VM Agent of a VM that is running reports now. */
  agent(vm: ArmResource): AgentState;
  /** The serial log so far, or undefined when the VM never booted. */
  serialLog(vm: ArmResource): string | undefined;
  /** A read-only SAS URL for the serial log blob, valid `minutes`. */
  blobUrl(vm: ArmResource, base: string, minutes: number): string;
  /** The VM a blob path and query point to, or why the request is refused. */
  resolveBlob(
    path: string,
    query: URLSearchParams,
    vms: () => ArmResource[],
  ): { vm: ArmResource } | { status: number; code: string };
  /** How many blob reads were served. */
  reads: number;
  /** VM name -> how long (simulated ms) its first boot takes from the VM running to its last line. */
  firstBootMs: Map<string, number>;
}

interface Line {
  at: number;
  text: string;
}

export function createGuestBook(clock: Clock): GuestBook {
  const scripts = new Map<string, GuestBehaviour>();
  const key = crypto.randomBytes(32);
  const sign = (container: string, expiry: string) =>
    crypto.createHmac('sha256', key).update(`${container}\n${expiry}`).digest('base64url');
  const book: GuestBook = {
    reads: 0,
    firstBootMs: new Map(),
    script: (vmName, b) => void scripts.set(vmName.toLowerCase(), b),
    boot(vm) {
      const log: Line[] = (vm.sim.log ??= []);
      const t0 = clock.now();
      const at = (simMs: number) => t0 + clock.real(simMs);
      const firstBootDone = Boolean(vm.sim.firstBootDone);
      const push = (simMs: number, text: string) => log.push({ at: at(simMs), text });
      const b = scripts.get(vm.name.toLowerCase()) ?? scripts.get('*') ?? { kind: 'ready' };
      vm.sim.agentAt = b.vmAgent === 'unresponsive' ? undefined : at(agentReadyMs);
      if (b.kind === 'lines') {
        b.lines.forEach((text, i) => push(1000 * i, text));
        return;
      }
      push(
        0,
        '[    0.000000] Linux version 5.15.0-1079-azure (buildd@lcy02-amd64-066) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0) #88-Ubuntu SMP',
      );
      push(900, '[    0.912334] hv_vmbus: registering driver hv_netvsc');
      push(
        4200,
        `[    4.210101] cloud-init[512]: Cloud-init v. 24.4-0ubuntu1~22.04.1 running 'init-local' at ${new Date().toUTCString()}. Up 4.18 seconds.`,
      );
      push(
        7800,
        `[    7.801554] cloud-init[640]: Cloud-init v. 24.4-0ubuntu1~22.04.1 running 'init' at ${new Date().toUTCString()}. Up 7.79 seconds.`,
      );
      // Without customData there is no first-boot script, so nothing ever says it is over.
      if (firstBootDone || !vm.sim.customData || b.kind === 'silent') return;
      const after = b.readyAfterMs ?? clock.pick(clock.timing.guestReadyMs);
      push(
        after - 500,
        `[   ${(after / 1000).toFixed(6)}] cloud-init[1203]: Cloud-init v. 24.4-0ubuntu1~22.04.1 running 'modules:final' at ${new Date().toUTCString()}.`,
      );
      push(after, b.kind === 'ready' ? `GLASSDOME-READY ${vm.name}` : `GLASSDOME-FAILED ${vm.name}: ${b.reason}`);
      vm.sim.firstBootAt = at(after);
      book.firstBootMs.set(vm.name, after);
    },
    halt(vm) {
      const now = clock.now();
      if (vm.sim.firstBootAt !== undefined && vm.sim.firstBootAt <= now) vm.sim.firstBootDone = true;
      vm.sim.firstBootAt = undefined;
      vm.sim.agentAt = undefined;
      vm.sim.log = ((vm.sim.log ?? []) as Line[]).filter((l) => l.at <= now);
    },
    agent(vm) {
      const at: number | undefined = vm.sim.agentAt;
      return at === undefined ? 'unresponsive' : at <= clock.now() ? 'ready' : 'starting';
    },
    serialLog(vm) {
      const log: Line[] | undefined = vm.sim.log;
      if (!log || log.length === 0) return undefined;
      const now = clock.now();
      if (vm.sim.firstBootAt !== undefined && vm.sim.firstBootAt <= now) vm.sim.firstBootDone = true;
      const shown = log.filter((l) => l.at <= now);
      return shown.length === 0 ? undefined : shown.map((l) => `${l.text}\r\n`).join('');
    },
    blobUrl(vm, base, minutes) {
      const container = `bootdiagnostics-${String(vm.properties.vmId).slice(0, 8)}-${vm.properties.vmId}`;
      const expiry = new Date(Date.now() + minutes * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
      return `${base}/_blob/${container}/${vm.name}.${vm.properties.vmId}.serialconsole.log?sv=2022-11-02&sr=b&sp=r&se=${encodeURIComponent(expiry)}&sig=${encodeURIComponent(sign(container, expiry))}`;
    },
    resolveBlob(path, query, vms) {
      const m = /^\/_blob\/(bootdiagnostics-[0-9a-f]{8}-([0-9a-f-]{36}))\/[^/]+\.serialconsole\.log$/i.exec(path);
      if (!m) return { status: 404, code: 'ResourceNotFound' };
      const expiry = query.get('se') ?? '';
      if (query.get('sig') !== sign(m[1]!, expiry)) return { status: 403, code: 'AuthenticationFailed' };
      if (!(Date.parse(expiry) > Date.now())) return { status: 403, code: 'AuthenticationFailed' };
      const vm = vms().find((v) => v.properties.vmId === m[2]);
      if (!vm) return { status: 404, code: 'BlobNotFound' };
      return { vm };
    },
  };
  return book;
}
