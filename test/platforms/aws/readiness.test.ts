// Readiness on AWS is the first-boot line on an instance's console output. moto answers GetConsoleOutput with a
// fixed kernel log, so these tests let the proxy play the guests' consoles (test/platforms/ec2-proxy.ts
// simulatedGuests): after a boot time, each running instance prints the line its first boot would print. The last
// test uses moto's own answer, where the line never comes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../server/errors.ts';
import type { MachineRef, NetworkRef, Platform } from '../../../server/platforms/platform.ts';
import { simulatedGuests } from '../ec2-proxy.ts';
import { machineSpec, startAwsTarget, webDmzNetworks, type AwsTarget } from './helpers.ts';

let t: AwsTarget | undefined;
let p: Platform;
let net: NetworkRef;

beforeAll(async () => {
  const r = await startAwsTarget();
  if ('skip' in r) {
    console.warn(`[aws readiness] skipped: ${r.skip}`);
    return;
  }
  t = r;
  p = t.platform();
  net = await p.ensureNetwork(webDmzNetworks('rdy', 1)[1]!);
});
afterAll(async () => t?.stop());

const test = (name: string, fn: (t: AwsTarget) => Promise<void>) =>
  it(name, async (ctx) => {
    if (!t) return ctx.skip();
    try {
      await fn(t);
    } finally {
      t.proxy.options.console = undefined;
    }
  });

let n = 0;
async function started(): Promise<MachineRef> {
  n++;
  const ref = await p.createMachine(machineSpec('rdy', 1, `m${n}`, [{ network: net, ip: `10.30.2.${20 + n}` }]));
  await p.startMachine(ref);
  return ref;
}

describe('AWS readiness from the console output', () => {
  test('is ready once the console shows the machine its first-boot line, not before', async (t) => {
    t.proxy.options.console = simulatedGuests(t.ec2, { bootMs: 600 });
    const ref = await started();
    const before = t.proxy.count('GetConsoleOutput');
    const at = Date.now();
    await p.waitForReady(ref, { timeoutMs: 10_000 });
    expect(Date.now() - at).toBeGreaterThanOrEqual(500);
    // It looked more than once: the first answers were a console still booting.
    expect(t.proxy.count('GetConsoleOutput') - before).toBeGreaterThan(1);
    expect(
      t.proxy.calls
        .filter((c) => c.action === 'GetConsoleOutput')
        .at(-1)!
        .params.get('Latest'),
    ).toBe('true');
  });

  test("fails with the machine's own reason when its first boot reports a failure", async (t) => {
    const ref = await p.createMachine(machineSpec('rdy', 1, 'broken', [{ network: net, ip: '10.30.2.99' }]));
    t.proxy.options.console = simulatedGuests(t.ec2, {
      bootMs: 0,
      failing: { [ref.name]: 'no internet here, so the image must already hold: postgresql' },
    });
    await p.startMachine(ref);
    const err = await p.waitForReady(ref, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('platform_error');
    expect((err as AppError).message).toBe(
      '[aws] Unable to wait for VM "gd-rdy-i1-broken": VM "gd-rdy-i1-broken" failed its first boot: no internet here, so the image must already hold: postgresql',
    );
  });

  test("does not take another machine's first-boot line for this one's", async (t) => {
    const ref = await started();
    const other = 'gd-rdy-i1-someone-else';
    t.proxy.options.console = async () =>
      `cloud-init[901]: GLASSDOME-READY ${other} after 12 seconds\nGLASSDOME-READY ${ref.name}x\n`;
    const err = await p.waitForReady(ref, { timeoutMs: 800 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('timeout');
  });

  test("times out, saying what it looked for, on moto's own console output, which never shows the line", async (t) => {
    const ref = await started();
    const err = await p.waitForReady(ref, { timeoutMs: 700 }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('timeout');
    expect((err as AppError).message).toMatch(
      new RegExp(
        `VM "${ref.name}" did not report the end of its first boot within 1 s: its console output has no "GLASSDOME-READY ${ref.name}" line \\(i-[0-9a-f]+, running\\)`,
      ),
    );
    expect((err as AppError).hint).toMatch(/console output/);
  });

  test('waits for an address no longer than asked, and names the state it saw', async () => {
    n++;
    const ref = await p.createMachine(machineSpec('rdy', 1, `m${n}`, [{ network: net, ip: `10.30.2.${20 + n}` }]));
    // Created, never started: no instance.
    const err = await p.waitForAddress(ref, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('timeout');
    expect((err as AppError).message).toMatch(/no instance: it was never started/);
    const ghost = await p
      .waitForAddress({ id: 'lt-0', name: 'gd-rdy-i1-ghost' }, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect((ghost as AppError).code).toBe('not_found');
  });
});
