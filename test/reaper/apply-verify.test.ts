// Apply + verify for real: the modules' user-data, built by buildCloudInit, is applied by the real cloud-init in a
// sandbox copy of this Debian 12 host (sandbox.ts); each module's own verify probe then runs from the "attacker"
// side against the services the modules configured, aimed at the machine's non-loopback address.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCatalogue, supportsOs } from '../../server/reaper/catalogue.ts';
import { judgeProbe, renderProbes } from '../../server/reaper/probes.ts';
import { applyTo, secret, seed, type AppliedMachine } from './helpers.ts';
import { locateSandbox, startSandbox, targetAddress, type RunResult, type Sandbox } from './sandbox.ts';

const catalogue = defaultCatalogue();
const os = 'debian-12';
/** Not run here, and why. */
const notHere: Record<string, string> = {
  'nfs-no-root-squash': 'the kernel NFS server cannot run in the sandbox (its probes need nfsd and a root mount)',
  'outdated-openssh':
    "the pre-fix openssh .debs are not on Debian's mirror (its banner probe is tested against the sandbox's sshd below)",
};

const support = locateSandbox();
if (!support.ok) console.warn(`skipping apply + verify: ${support.why}`);

/** Modules whose packages this host has (an offline first boot checks for them), and why the others are skipped. */
function runnable(): { ids: string[]; skipped: Record<string, string> } {
  const skipped: Record<string, string> = { ...notHere };
  const ids: string[] = [];
  for (const id of catalogue.modules.keys()) {
    if (skipped[id]) continue;
    if (!supportsOs(catalogue.modules.get(id)!, os)) {
      skipped[id] = 'a Windows module: no Windows here (structural tests only, test/reaper/windows-modules.test.ts)';
      continue;
    }
    const packages = applyTo(os, [id]).rendered[0]!.packages.map((p) => p.split('=')[0]!);
    const missing = packages.filter(
      (p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout !== 'install ok installed',
    );
    if (missing.length > 0) skipped[id] = `${missing.join(', ')} not installed here (see .ci/run)`;
    else ids.push(id);
  }
  return { ids, skipped };
}

const { ids, skipped } = support.ok ? runnable() : { ids: [], skipped: {} };
for (const [id, why] of Object.entries(skipped)) console.warn(`apply + verify: skipping ${id}: ${why}`);
const guestAgent = spawnSync('dpkg-query', ['-W', 'qemu-guest-agent']).status === 0;
if (support.ok && !guestAgent)
  console.warn(
    'skipping apply + verify: qemu-guest-agent is not installed (an offline first boot checks for it; see .ci/run)',
  );
const canRun = support.ok && guestAgent && ids.length > 0;

async function runProbes(sb: Sandbox, applied: AppliedMachine, module: string) {
  const instance = applied.instances.find((i) => i.module === module)!;
  const probes = renderProbes(catalogue.modules.get(module)!, instance, {
    os,
    host: targetAddress,
    secret,
    seed,
    machineKey: applied.machine.key,
  });
  const results: Array<{ outcome: ReturnType<typeof judgeProbe>; run: RunResult }> = [];
  for (const p of probes) {
    const run = await sb.attack(p.script, (p.timeoutSec + 10) * 1000);
    results.push({ outcome: judgeProbe(p, { exitCode: run.status, stdout: run.stdout, stderr: run.stderr }), run });
  }
  return results;
}

describe.skipIf(!canRun)('modules applied by cloud-init on a Debian 12 machine, verified by their own probes', () => {
  let sb: Sandbox;
  let applied: AppliedMachine;
  let boot: RunResult;

  beforeAll(async () => {
    // All of them on one machine, as a scenario may ask: they share the foothold user and no file.
    applied = applyTo(os, ids);
    sb = await startSandbox({ userData: applied.userData, lifetimeSec: 600 });
    boot = await sb.firstBoot();
    // sshd runs on a booted machine; the sandbox starts it once first boot is over.
    await sb.exec('systemctl start ssh');
  }, 300_000);
  afterAll(async () => sb?.stop());

  it('first boot applies every module and reaches the ready marker', async () => {
    expect(boot.status, boot.stderr).toBe(0);
    const output = (await sb.exec('cat /var/log/cloud-init-output.log')).stdout;
    expect(output).not.toContain('did not apply');
    expect(output).not.toMatch(/\[WARNING\]|Traceback/);
    expect(output).toContain(`GLASSDOME-READY ${applied.machine.resourceName}`);
    // Apply scripts hold flags: each is removed once it has run.
    const left = await sb.exec('ls /var/lib/glassdome/vulnerabilities');
    expect(left.stdout.trim()).toBe('');
  });

  for (const id of ids) {
    it(`${id}: every verify probe passes`, { timeout: 150_000 }, async () => {
      for (const { outcome, run } of await runProbes(sb, applied, id))
        expect(outcome, `${run.stdout}\n${run.stderr}`).toEqual({ ok: true });
    });
  }
});

describe.skipIf(!canRun)('the same probes on a machine without the modules', () => {
  let sb: Sandbox;
  const applied = canRun
    ? applyTo(
        os,
        ids.filter((id) => id !== 'writable-cron-script' && id !== 'tomcat-default-credentials'),
      )
    : undefined;

  beforeAll(async () => {
    sb = await startSandbox({ userData: applyTo(os, []).userData, lifetimeSec: 300 });
    await sb.firstBoot();
    // The packages' own services with their own configuration, as a fresh install runs them.
    await sb.exec('for s in ssh redis-server smbd mariadb apache2; do systemctl start $s; done; true');
  }, 300_000);
  afterAll(async () => sb?.stop());

  it('fail, each with a reason', { timeout: 200_000 }, async () => {
    for (const instance of applied!.instances) {
      for (const { outcome } of await runProbes(sb, applied!, instance.module)) {
        expect(outcome.ok, instance.module).toBe(false);
        expect(outcome.reason, instance.module).toMatch(/\S/);
      }
    }
  });

  it('outdated-openssh: the banner probe passes only for the version the machine runs', async () => {
    const installed = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'openssh-server'], { encoding: 'utf8' }).stdout;
    const upstream = installed.replace(/^\d+:/, '').split('-')[0]!.replace(/\./g, '\\.');
    const module = catalogue.modules.get('outdated-openssh')!;
    const probeFor = (params: Record<string, string>) => {
      const instance = {
        key: 'i1.target/outdated-openssh',
        module: 'outdated-openssh',
        params: {
          version: '1:9.2p1-2',
          banner: '^SSH-2\\.0-OpenSSH_9\\.2p1 Debian-2\\r?$',
          source: '',
          cve: 'CVE-2024-6387',
          ...params,
        },
        request: 0,
        selected: false,
      };
      return renderProbes(module, instance, { os, host: targetAddress, secret, seed, machineKey: 'i1.target' })[0]!;
    };
    const vulnerable = probeFor({});
    const current = probeFor({ banner: `^SSH-2\\.0-OpenSSH_${upstream} Debian-` });
    const judge = async (p: typeof vulnerable) => {
      const r = await sb.attack(p.script, 20_000);
      return judgeProbe(p, { exitCode: r.status, stdout: r.stdout, stderr: r.stderr });
    };
    expect(await judge(current)).toEqual({ ok: true });
    // This host's openssh has the fix (+deb12uN): the release version's banner does not match it.
    expect(installed).toMatch(/\+deb12u\d+$/);
    expect((await judge(vulnerable)).reason).toMatch(/^the output does not match/);
  });
});
