// Boots the built appliance image under QEMU as a hypervisor would (on a throw-away overlay), reads the console
// banner on the serial port, takes the setup code from it, finishes the wizard over HTTPS on a port forwarded to
// 127.0.0.1 (trusting the certificate by the fingerprint the banner shows), deploys a simulator scenario through the
// API, and measures boot-to-wizard time and the server's idle memory through the QEMU guest agent.
//   appliance/verify.sh [--image build/appliance/glassdome-<v>.qcow2] [--seed nocloud|none|ovf] [--accel tcg|kvm]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ApplianceClient, createToken, deployAndWait, finishSetup } from './client.ts';
import { markers } from './guest/banner.ts';
import { repoRoot } from './dist.ts';

export interface VerifyOptions {
  image: string;
  /**
   * nocloud: a cloud-init drive as Proxmox attaches; none: no datasource (DHCP); ovf: an ISO-transport OVF
   * environment with a static address.
   */
  seed: 'nocloud' | 'none' | 'ovf';
  accel: 'tcg' | 'kvm';
  memoryMb: number;
  /** Bound on boot to wizard. */
  bootTimeoutMs: number;
  idleSeconds: number;
  log: (s: string) => void;
}

export interface VerifyResult {
  accel: string;
  seed: string;
  bootToBannerSec: number;
  bootToWizardSec: number;
  setupSec: number;
  deploySec: number;
  deployState: string;
  idleRssMb: number;
  rssAfterDeployMb: number;
  service: Record<string, string>;
  network: string;
  bootTimeline: string;
}

const mac = '52:54:00:67:64:01';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** The seed CD: a NoCloud drive (label cidata) like Proxmox's, or an OVF environment on an ISO (label "OVF ENV"). */
function seedIso(dir: string, seed: VerifyOptions['seed']): string | undefined {
  if (seed === 'none') return undefined;
  const files = path.join(dir, 'seed');
  fs.mkdirSync(files, { recursive: true });
  const iso = path.join(dir, 'seed.iso');
  if (seed === 'nocloud') {
    fs.writeFileSync(
      path.join(files, 'meta-data'),
      `instance-id: verify-${Date.now()}\nlocal-hostname: glassdome-verify\n`,
    );
    fs.writeFileSync(path.join(files, 'user-data'), '#cloud-config\n{}\n');
    // As Proxmox writes it: the NIC by MAC address, named eth0, DHCP.
    fs.writeFileSync(
      path.join(files, 'network-config'),
      `version: 1\nconfig:\n  - type: physical\n    name: eth0\n    mac_address: '${mac}'\n    subnets:\n      - type: dhcp\n`,
    );
    sh('genisoimage', [
      '-quiet',
      '-output',
      iso,
      '-volid',
      'cidata',
      '-joliet',
      '-rock',
      ...['meta-data', 'user-data', 'network-config'].map((f) => path.join(files, f)),
    ]);
  } else {
    // QEMU's user network: 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3; the guest is given 10.0.2.15 statically.
    const props = {
      hostname: 'glassdome-ovf',
      ip: '10.0.2.15',
      netmask: '255.255.255.0',
      gateway: '10.0.2.2',
      dns: '10.0.2.3',
    };
    const env = `<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" oe:id="">
  <PropertySection>
${Object.entries(props)
  .map(([k, v]) => `    <Property oe:key="${k}" oe:value="${v}"/>`)
  .join('\n')}
  </PropertySection>
</Environment>
`;
    fs.writeFileSync(path.join(files, 'ovf-env.xml'), env);
    sh('genisoimage', [
      '-quiet',
      '-output',
      iso,
      '-volid',
      'OVF ENV',
      '-joliet',
      '-rock',
      path.join(files, 'ovf-env.xml'),
    ]);
  }
  return iso;
}

/** A QEMU guest agent session over its UNIX socket: guest-exec a shell command and return its output. */
class GuestAgent {
  constructor(readonly socket: string) {}

  private async call(cmd: object, timeoutMs = 30_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const c = net.createConnection(this.socket);
      let buf = '';
      const timer = setTimeout(() => {
        c.destroy();
        reject(new Error(`guest agent: no answer to ${JSON.stringify(cmd)}`));
      }, timeoutMs);
      const sync = Math.floor(Math.random() * 1e9);
      c.on('connect', () => c.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id: sync } })}\n`));
      let synced = false;
      c.on('data', (d) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/^\xff/, '').trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line) as { return?: unknown; error?: { desc: string } };
          if (!synced) {
            if (msg.return === sync) {
              synced = true;
              c.write(`${JSON.stringify(cmd)}\n`);
            }
            continue;
          }
          clearTimeout(timer);
          c.end();
          if (msg.error) reject(new Error(`guest agent: ${msg.error.desc}`));
          else resolve(msg.return);
          return;
        }
      });
      c.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  async exec(script: string, timeoutMs = 60_000): Promise<string> {
    const { pid } = (await this.call({
      execute: 'guest-exec',
      arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true },
    })) as { pid: number };
    const t0 = Date.now();
    for (;;) {
      const st = (await this.call({ execute: 'guest-exec-status', arguments: { pid } })) as {
        exited: boolean;
        exitcode?: number;
        'out-data'?: string;
        'err-data'?: string;
      };
      if (st.exited) {
        const out = Buffer.from(st['out-data'] ?? '', 'base64').toString();
        if (st.exitcode !== 0)
          throw new Error(
            `guest: ${script} exited ${st.exitcode}: ${Buffer.from(st['err-data'] ?? '', 'base64').toString()}`,
          );
        return out;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`guest: ${script} still running after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The serial console as plain text (escape sequences and carriage returns removed). */
export function consoleText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>c78]/g, '').replace(/\r/g, '');
}

/** The latest setup code and certificate fingerprint the banner printed, if any. */
export function readBanner(text: string): { code?: string; fingerprint256?: string } {
  const codes = [...text.matchAll(new RegExp(`${markers.code} ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})`, 'g'))];
  const fps = [...text.matchAll(new RegExp(`${markers.fingerprint}\\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`, 'g'))];
  return {
    ...(codes.length ? { code: codes.at(-1)![1]! } : {}),
    ...(fps.length ? { fingerprint256: fps.at(-1)![1]! } : {}),
  };
}

export async function verifyImage(o: VerifyOptions): Promise<VerifyResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-verify-'));
  const overlay = path.join(dir, 'overlay.qcow2');
  const format = JSON.parse(sh('qemu-img', ['info', '--output=json', o.image])) as { format: string };
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(o.image), '-F', format.format, overlay]);
  const serial = path.join(dir, 'console.log');
  const qga = path.join(dir, 'qga.sock');
  const [https, httpPort] = [await freePort(), await freePort()];
  const iso = seedIso(dir, o.seed);
  const args = [
    '-machine',
    `pc,accel=${o.accel}`,
    '-cpu',
    o.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    '2',
    '-m',
    String(o.memoryMb),
    '-drive',
    `file=${overlay},if=virtio,format=qcow2,discard=unmap`,
    ...(iso ? ['-drive', `file=${iso},media=cdrom,readonly=on`] : []),
    '-netdev',
    `user,id=n0,hostfwd=tcp:127.0.0.1:${https}-:443,hostfwd=tcp:127.0.0.1:${httpPort}-:80`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${mac}`,
    '-chardev',
    `socket,path=${qga},server=on,wait=off,id=qga0`,
    '-device',
    'virtio-serial',
    '-device',
    'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
    '-serial',
    `file:${serial}`,
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
  ];
  o.log(`verify: booting ${o.image} (${o.accel}, seed ${o.seed}); console in ${serial}; HTTPS on 127.0.0.1:${https}`);
  const t0 = Date.now();
  const qemu: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr!.on('data', (c) => (qemuErr += c));
  const elapsed = () => (Date.now() - t0) / 1000;
  try {
    // 1. The banner on the serial console: setup code and certificate fingerprint.
    let banner: { code?: string; fingerprint256?: string } = {};
    while (!(banner.code && banner.fingerprint256)) {
      if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}): ${qemuErr}`);
      if (Date.now() - t0 > o.bootTimeoutMs)
        throw new Error(
          `no setup code on the console after ${o.bootTimeoutMs / 1000} s; last lines:\n${consoleText(fs.existsSync(serial) ? fs.readFileSync(serial, 'latin1') : '').slice(-3000)}`,
        );
      await new Promise((r) => setTimeout(r, 2000));
      banner = readBanner(consoleText(fs.existsSync(serial) ? fs.readFileSync(serial, 'latin1') : ''));
    }
    const bootToBannerSec = elapsed();
    o.log(
      `verify: banner after ${bootToBannerSec.toFixed(0)} s: setup code ${banner.code}, certificate ${banner.fingerprint256!.slice(0, 23)}...`,
    );

    // 2. The wizard over the forwarded port, trusting the certificate the console showed.
    const c = new ApplianceClient(`https://127.0.0.1:${https}`, {
      fingerprint256: banner.fingerprint256!,
      timeoutMs: 60_000,
    });
    let page = await c.get('/setup').catch((e: unknown) => ({ status: 0, text: String(e) }));
    while (page.status !== 200) {
      if (Date.now() - t0 > o.bootTimeoutMs)
        throw new Error(`the wizard did not answer: ${page.status} ${page.text.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, 2000));
      page = await c.get('/setup').catch((e: unknown) => ({ status: 0, text: String(e) }));
    }
    const bootToWizardSec = elapsed();
    o.log(`verify: wizard answers after ${bootToWizardSec.toFixed(0)} s`);
    const redirect = await fetch(`http://127.0.0.1:${httpPort}/setup`, {
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    if (redirect.status !== 308 || !redirect.headers.get('location')?.startsWith('https://'))
      throw new Error(`port 80 does not redirect to HTTPS (${redirect.status})`);

    const agent = new GuestAgent(qga);
    const rssMb = async () => {
      const kb = await agent.exec(
        'pid=$(systemctl show -p MainPID --value glassdome); awk "/^VmRSS/ {print \\$2}" /proc/$pid/status',
        30_000,
      );
      return Math.round(Number(kb.trim()) / 1024);
    };
    const idleRssMb = await (async () => {
      await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
      return rssMb();
    })();
    o.log(`verify: idle server RSS ${idleRssMb} MB`);
    const props = await agent.exec(
      'systemctl show glassdome -p ActiveState -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p Restart -p ReadWritePaths',
    );
    const service = Object.fromEntries(
      props
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const network = (
      await agent.exec(
        'cat /run/glassdome/network.txt; ip -4 -o addr show scope global | awk "{print \\$2, \\$4}"; hostname',
      )
    ).trim();
    // Where the boot time goes (systemd's own account, and when the server said it was serving).
    const bootTimeline = (
      await agent.exec(
        'systemd-analyze; systemd-analyze blame --no-pager | head -n 8; journalctl -b -o short-monotonic -u glassdome --no-pager | grep -m1 serving; true',
      )
    ).trim();

    // 3. Setup, a token, and a deployment on the built-in simulator through the API.
    const t1 = Date.now();
    await finishSetup(c, {
      code: banner.code!,
      username: 'admin',
      password: 'verify appliance password',
      simSpeed: 200,
    });
    await createToken(c, 'verify');
    const setupSec = (Date.now() - t1) / 1000;
    const d = await deployAndWait(c, { scenario: 'web-dmz', platform: 'simulator', instances: 1, timeoutMs: 900_000 });
    o.log(
      `verify: setup ${setupSec.toFixed(0)} s; web-dmz on the simulator: ${d.state} in ${(d.ms / 1000).toFixed(0)} s`,
    );
    if (d.state !== 'ready') throw new Error(`deployment ${d.id} ended ${d.state}: ${d.error ?? ''}`);
    const rssAfterDeployMb = await rssMb();
    // The banner drops the code once setup is complete.
    const after = await agent.exec('cat /run/glassdome/glassdome.issue');
    if (after.includes(markers.code)) throw new Error('the console banner still shows a setup code after setup');
    return {
      accel: o.accel,
      seed: o.seed,
      bootToBannerSec,
      bootToWizardSec,
      setupSec,
      deploySec: d.ms / 1000,
      deployState: d.state,
      idleRssMb,
      rssAfterDeployMb,
      service,
      network,
      bootTimeline,
    };
  } finally {
    if (qemu.exitCode === null) {
      const exited = new Promise((r) => qemu.once('exit', r));
      qemu.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function latestImage(dir = path.join(repoRoot, 'build', 'appliance')): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const q = fs
    .readdirSync(dir)
    .filter((f) => /^glassdome-.*\.qcow2$/.test(f))
    .map((f) => path.join(dir, f));
  return q.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const { values } = parseArgs({
    options: {
      image: { type: 'string' },
      seed: { type: 'string', default: 'nocloud' },
      accel: { type: 'string', default: fs.existsSync('/dev/kvm') ? 'kvm' : 'tcg' },
      memory: { type: 'string', default: '2048' },
      'boot-timeout': { type: 'string', default: '1200' },
      idle: { type: 'string', default: '60' },
      out: { type: 'string' },
    },
  });
  const image = values.image ?? latestImage();
  if (!image) {
    console.error('verify: no image; build one with appliance/build.sh or give --image');
    process.exit(2);
  }
  if (!['nocloud', 'none', 'ovf'].includes(values.seed) || !['tcg', 'kvm'].includes(values.accel)) {
    console.error('verify: --seed nocloud|none|ovf, --accel tcg|kvm');
    process.exit(2);
  }
  const r = await verifyImage({
    image,
    seed: values.seed as VerifyOptions['seed'],
    accel: values.accel as VerifyOptions['accel'],
    memoryMb: Number(values.memory),
    bootTimeoutMs: Number(values['boot-timeout']) * 1000,
    idleSeconds: Number(values.idle),
    log: (s) => console.error(s),
  });
  const json = JSON.stringify({ image: path.basename(image), at: new Date().toISOString(), ...r }, null, 2);
  console.log(json);
  fs.writeFileSync(values.out ?? path.join(path.dirname(image), `verify-${r.seed}-${r.accel}.json`), `${json}\n`);
}
