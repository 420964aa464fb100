// What runs on the appliance itself: the XML reader, the OVF environment -> network settings (rendered by the real
// cloud-init where installed), and the console banner against a real server with HTTPS and a setup code.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { bannerText, markers, updateBanner } from '../../appliance/guest/banner.ts';
import { applyPlan, firstNic, ovfEnvProperties, planNetwork } from '../../appliance/guest/ovf-network.ts';
import { attr, find, parseXml } from '../../appliance/guest/xml.ts';
import { repoRoot } from '../../appliance/dist.ts';
import { startGlassdome, type Running } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-guest-'));
const running: Running[] = [];
afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

// As vCenter hands it over in guestinfo.ovfEnv (prefixes and extra sections included).
const ovfEnv = (props: Record<string, string>) => `<?xml version="1.0" encoding="UTF-8"?>
<Environment
     xmlns="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"
     xmlns:ve="http://www.vmware.com/schema/ovfenv"
     oe:id=""
     ve:vCenterId="vm-1234">
   <PlatformSection>
      <Kind>VMware ESXi</Kind>
      <Version>8.0.2</Version>
      <Vendor>VMware, Inc.</Vendor>
      <Locale>en</Locale>
   </PlatformSection>
   <PropertySection>
${Object.entries(props)
  .map(([k, v]) => `         <Property oe:key="${k}" oe:value="${v.replace(/&/g, '&amp;')}"/>`)
  .join('\n')}
   </PropertySection>
   <ve:EthernetAdapterSection>
      <ve:Adapter ve:mac="00:50:56:aa:bb:cc" ve:network="VM Network" ve:unitNumber="7"/>
   </ve:EthernetAdapterSection>
</Environment>`;

const nic = { name: 'ens192', mac: '00:50:56:aa:bb:cc' };

describe('XML reader', () => {
  it('resolves namespaces whatever the prefixes, decodes entities and keeps lines', () => {
    const el = parseXml(
      `<?xml version="1.0"?>\n<!-- c -->\n<a:r xmlns:a="urn:x" xmlns="urn:d">\n  <b a:k="1 &amp; 2 &#x41;&#66;">t&lt;x&gt;<![CDATA[<raw>]]></b>\n</a:r>`,
    );
    expect(el).toMatchObject({ ns: 'urn:x', local: 'r' });
    const b = find(el, 'urn:d', 'b')!;
    expect(b.line).toBe(4);
    expect(attr(b, 'urn:x', 'k')).toBe('1 & 2 AB');
    expect(b.text).toBe('t<x><raw>');
  });

  it('refuses what is not well-formed, with the line', () => {
    expect(() => parseXml('<a>\n<b></a>')).toThrow('line 2: </a> does not close <b>');
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow('duplicate attribute x');
    expect(() => parseXml('<p:a/>')).toThrow('undeclared namespace prefix "p"');
    expect(() => parseXml('<a>&nbsp;</a>')).toThrow('unknown entity &nbsp;');
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a/>')).toThrow('DOCTYPE is not accepted');
    expect(() => parseXml('<a/><b/>')).toThrow('content after the root element');
  });
});

describe('network settings from the OVF environment', () => {
  it('reads the vApp properties of an OVF environment', () => {
    expect(ovfEnvProperties(ovfEnv({ ip: '192.0.2.10', netmask: '255.255.255.0', hostname: '' }))).toEqual({
      ip: '192.0.2.10',
      netmask: '255.255.255.0',
      hostname: '',
    });
  });

  it('leaves the network to cloud-init (NoCloud or DHCP) when ip is empty', () => {
    const plan = planNetwork({ ip: '', netmask: '24', gateway: '192.0.2.1' }, nic);
    expect(plan).toEqual({ cloudConfig: null, resolvConf: null, problems: [], summary: 'DHCP' });
    const named = planNetwork({ hostname: 'range-ctl.lab.example' }, nic);
    expect(named.cloudConfig).toContain('hostname: range-ctl\nfqdn: range-ctl.lab.example');
    expect(named.resolvConf).toBeNull();
  });

  it('turns a static address into cloud-init network config v1 pinned to the NIC, and DNS into resolv.conf', () => {
    const plan = planNetwork(
      {
        ip: '192.0.2.10',
        netmask: '255.255.255.0',
        gateway: '192.0.2.1',
        dns: '192.0.2.53, 192.0.2.54',
        hostname: 'glassdome-lab',
      },
      nic,
    );
    expect(plan.problems).toEqual([]);
    expect(plan.summary).toBe(
      'static 192.0.2.10/24 via 192.0.2.1, DNS 192.0.2.53 192.0.2.54 on ens192, hostname glassdome-lab',
    );
    const cfg = YAML.parse(plan.cloudConfig!) as Record<string, unknown>;
    expect(cfg).toEqual({
      hostname: 'glassdome-lab',
      network: {
        version: 1,
        config: [
          {
            type: 'physical',
            name: 'ens192',
            mac_address: '00:50:56:aa:bb:cc',
            subnets: [
              {
                type: 'static',
                address: '192.0.2.10/24',
                gateway: '192.0.2.1',
                dns_nameservers: ['192.0.2.53', '192.0.2.54'],
              },
            ],
          },
        ],
      },
    });
    expect(plan.resolvConf).toBe(
      '# Written at boot by glassdome-network from the OVF environment.\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n',
    );
    expect(planNetwork({ ip: '10.1.2.3', netmask: '20' }, nic).summary).toBe('static 10.1.2.3/20 on ens192');
  });

  it('falls back to DHCP, saying why, when the settings are wrong', () => {
    expect(planNetwork({ ip: '192.0.2.300', netmask: '24' }, nic).problems).toEqual([
      'ip "192.0.2.300" is not an IPv4 address; using DHCP',
    ]);
    expect(planNetwork({ ip: '192.0.2.10', netmask: '255.0.255.0' }, nic).problems).toEqual([
      'netmask "255.0.255.0" is neither a netmask nor a prefix length; using DHCP',
    ]);
    expect(planNetwork({ ip: '192.0.2.10', netmask: '' }, nic).cloudConfig).toBeNull();
    expect(planNetwork({ ip: '192.0.2.10', netmask: '24', gateway: 'router' }, nic).problems).toEqual([
      'gateway "router" is not an IPv4 address; using DHCP',
    ]);
    expect(planNetwork({ ip: '192.0.2.10', netmask: '24', dns: '1.1.1.1 dns.example' }, nic).problems).toEqual([
      'dns "dns.example" not IPv4 addresses; using DHCP',
    ]);
    expect(planNetwork({ ip: '192.0.2.10', netmask: '24' }, undefined).problems).toEqual([
      'no network interface found; using DHCP',
    ]);
    expect(planNetwork({ hostname: 'bad_name!' }, nic).problems).toEqual([
      'hostname "bad_name!" is not a valid host name',
    ]);
  });

  it("is rendered by cloud-init's own ifupdown renderer into a static stanza", { timeout: 30_000 }, (ctx) => {
    if (!fs.existsSync('/usr/lib/python3/dist-packages/cloudinit'))
      return ctx.skip('skipped: cloud-init is not installed (apt-get install -y cloud-init)');
    const plan = planNetwork({ ip: '192.0.2.10', netmask: '24', gateway: '192.0.2.1', dns: '192.0.2.53' }, nic);
    const file = path.join(tmp, 'net.yaml');
    fs.writeFileSync(file, plan.cloudConfig!);
    const script = [
      'import sys, yaml',
      'from cloudinit.net import network_state, eni',
      'cfg = yaml.safe_load(open(sys.argv[1]))',
      "ns = network_state.parse_net_config_data(cfg['network'])",
      'print(eni.Renderer()._render_interfaces(ns))',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      'auto ens192\niface ens192 inet static\n    address 192.0.2.10/24\n    dns-nameservers 192.0.2.53\n    gateway 192.0.2.1',
    );
  });

  it('writes and removes its files, and picks the first physical NIC', () => {
    const paths = {
      cloudCfg: path.join(tmp, 'cfg', '90.cfg'),
      resolvConf: path.join(tmp, 'resolv.conf'),
      status: path.join(tmp, 'run', 'network.txt'),
    };
    fs.writeFileSync(paths.resolvConf, 'nameserver 10.0.2.3\n');
    applyPlan(planNetwork({ ip: '192.0.2.10', netmask: '24', dns: '192.0.2.53' }, nic), 'guestinfo.ovfEnv', paths);
    expect(fs.readFileSync(paths.cloudCfg, 'utf8')).toContain('address: 192.0.2.10/24');
    expect(fs.readFileSync(paths.resolvConf, 'utf8')).toContain('nameserver 192.0.2.53');
    applyPlan(planNetwork({ ip: 'x' }, nic), 'guestinfo.ovfEnv', paths);
    expect(fs.existsSync(paths.cloudCfg)).toBe(false);
    expect(fs.readFileSync(paths.status, 'utf8')).toBe(
      'DHCP (from guestinfo.ovfEnv)\nnetwork settings: ip "x" is not an IPv4 address; using DHCP\n',
    );

    const sys = path.join(tmp, 'sys-class-net');
    const dev = (name: string, type: string, mac: string, physical: boolean) => {
      fs.mkdirSync(path.join(sys, name), { recursive: true });
      fs.writeFileSync(path.join(sys, name, 'type'), `${type}\n`);
      fs.writeFileSync(path.join(sys, name, 'address'), `${mac}\n`);
      if (physical) fs.mkdirSync(path.join(sys, name, 'device'));
    };
    dev('lo', '772', '00:00:00:00:00:00', false);
    dev('br0', '1', '02:00:00:00:00:01', false);
    dev('ens224', '1', '00:50:56:00:00:02', true);
    dev('ens192', '1', '00:50:56:00:00:01', true);
    expect(firstNic(sys)).toEqual({ name: 'ens192', mac: '00:50:56:00:00:01' });
  });
});

describe('console banner', () => {
  it("shows the address with agetty's \\4, the setup code and the fingerprint when ready", () => {
    const text = bannerText({
      state: 'ready',
      port: 443,
      httpPort: 80,
      setupCode: 'ABCD-EFGH-JKMN',
      fingerprint256: 'AA:BB',
      version: '1.0.0',
      network: 'DHCP (from none)',
    });
    expect(text).toContain(`${markers.open}https://\\4/ in a browser (http://\\4/ redirects there).`);
    expect(text).toContain(`${markers.code} ABCD-EFGH-JKMN`);
    expect(text).toContain(`${markers.fingerprint}\n    AA:BB`);
    expect(text).toContain('Network: DHCP (from none)');
    expect(bannerText({ state: 'ready', port: 8443 })).toContain('https://\\4:8443/');
    const done = bannerText({ state: 'ready', port: 443 });
    expect(done).toContain('Setup is complete');
    expect(done).not.toContain(markers.code);
    expect(bannerText({ state: 'starting', port: 443 })).toContain('is starting');
    expect(bannerText({ state: 'failed', port: 443 })).toContain('journalctl -u glassdome');
    // Nothing from the outside can inject agetty escapes.
    expect(bannerText({ state: 'ready', port: 443, setupCode: 'A\\sB' })).toContain(`${markers.code} AsB`);
  });

  it(
    'reads the code and certificate of a running appliance over HTTPS, and drops the code once set up',
    { timeout: 120_000 },
    async () => {
      const start = (
        JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
      ).scripts.start.split(' ');
      const server = await startGlassdome(process.execPath, start.slice(1), {
        cwd: repoRoot,
        env: { GLASSDOME_TLS: 'on' },
      });
      running.push(server);
      const port = new URL(server.url).port;
      const env = path.join(tmp, 'glassdome.env');
      fs.writeFileSync(env, `GLASSDOME_DATA_DIR=${server.dataDir}\nGLASSDOME_PORT=${port}\n`);
      const paths = {
        env,
        issue: path.join(tmp, 'run', 'glassdome.issue'),
        network: path.join(tmp, 'none.txt'),
        version: path.join(repoRoot, 'package.json'),
      };
      const state = await updateBanner(paths, 30_000);
      const code = fs.readFileSync(path.join(server.dataDir, 'setup-code.txt'), 'utf8').trim();
      const fp = new crypto.X509Certificate(fs.readFileSync(path.join(server.dataDir, 'tls', 'cert.pem')))
        .fingerprint256;
      expect(state).toMatchObject({ state: 'ready', setupCode: code, fingerprint256: fp, port: Number(port) });
      const issue = fs.readFileSync(paths.issue, 'utf8');
      expect(issue).toContain(`${markers.code} ${code}`);
      expect(issue).toContain(fp);

      // Setup complete (as the wizard's last step records it): the banner no longer shows a code.
      fs.rmSync(path.join(server.dataDir, 'setup-code.txt'));
      const sqlite = spawnSync(
        process.execPath,
        [
          '-e',
          `const D=require('better-sqlite3');new D(process.argv[1]).prepare("insert into settings(key,value) values('setup.completed','x')").run()`,
          path.join(server.dataDir, 'glassdome.db'),
        ],
        { cwd: repoRoot, encoding: 'utf8' },
      );
      expect(sqlite.status).toBe(0);
      const after = await updateBanner(paths, 30_000);
      expect(after.setupCode).toBeUndefined();
      expect(fs.readFileSync(paths.issue, 'utf8')).toContain('Setup is complete');
    },
  );

  it('says it failed when no server answers within the wait', async () => {
    const env = path.join(tmp, 'nothing.env');
    fs.writeFileSync(env, `GLASSDOME_DATA_DIR=${tmp}/no-data\nGLASSDOME_PORT=1\n`);
    const paths = {
      env,
      issue: path.join(tmp, 'run2', 'glassdome.issue'),
      network: path.join(tmp, 'none.txt'),
      version: path.join(tmp, 'none.json'),
    };
    const state = await updateBanner(paths, 100);
    expect(state.state).toBe('failed');
    expect(fs.readFileSync(paths.issue, 'utf8')).toContain('did not start');
  });
});
