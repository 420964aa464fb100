// `glassdome access console|terminal|vpn TARGET`: where a machine's browser console or web terminal opens (the page
// URL, checked for the machine now), or a VPN configuration written to a file (mode 0600: it holds a private key).
// TARGET is DEPLOYMENT/MACHINE (i1.web) for console and terminal, DEPLOYMENT/INSTANCE (1 or i1) for vpn.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { cliActor } from '../model/audit.ts';
import type { Services } from '../services.ts';

/** What remote mode needs of the API client (server/cli/remote.ts createRemote). */
interface RemoteCaller {
  call<T>(method: string, route: string, body?: unknown): Promise<T>;
  origin: string;
}

export const accessUsage = `  access console DEPLOYMENT/MACHINE         the URL of a machine's browser console (Proxmox)
  access terminal DEPLOYMENT/MACHINE        the URL of a web terminal on a Linux machine
  access vpn DEPLOYMENT/INSTANCE [--out FILE]
                                            write a WireGuard configuration into one instance`;

interface Parsed {
  what: 'console' | 'terminal' | 'vpn';
  deploymentId: string;
  /** Machine key for console and terminal; instance number for vpn. */
  target: string;
}

function parse(args: string[]): Parsed {
  const [what, spec] = args;
  if (what !== 'console' && what !== 'terminal' && what !== 'vpn')
    throw new AppError(
      'invalid_input',
      `access needs console, terminal or vpn, not "${what ?? ''}"; see glassdome --help`,
    );
  const m = /^([a-z0-9]+)\/(.+)$/.exec(spec ?? '');
  if (!m)
    throw new AppError(
      'invalid_input',
      `access ${what} needs ${what === 'vpn' ? 'DEPLOYMENT/INSTANCE (e.g. abcd1234/1)' : 'DEPLOYMENT/MACHINE (e.g. abcd1234/i1.web)'}`,
    );
  let target = m[2]!;
  if (what === 'vpn') {
    const n = /^i?(\d+)$/.exec(target);
    if (!n) throw new AppError('invalid_input', `"${target}" is not an instance number`);
    target = n[1]!;
  }
  return { what, deploymentId: m[1]!, target };
}

function writeConfig(file: string, text: string): string {
  const out = path.resolve(file);
  fs.writeFileSync(out, text, { mode: 0o600 });
  fs.chmodSync(out, 0o600);
  return out;
}

/** Local mode: the domain on this machine's database, acting as the command line's user (an instructor's key for VPN). */
export async function accessLocal(
  s: Services,
  config: Config,
  args: string[],
  o: { out?: string | undefined },
  print: (s?: string) => void,
): Promise<number> {
  const p = parse(args);
  if (p.what === 'vpn') {
    const conf = await s.access.vpnConfig(cliActor(), 'instructor', p.deploymentId, Number(p.target));
    print(
      `wrote ${writeConfig(o.out ?? conf.filename, conf.config)} (endpoint ${conf.endpoint}); bring it up with: sudo wg-quick up <file>`,
    );
    return 0;
  }
  // Links are per signed-in user: the command line checks the machine and prints the page, where the browser gets one.
  await s.access.check(p.what, p.deploymentId, p.target);
  const base = `${config.tls ? 'https' : 'http'}://${config.host}:${config.port}`;
  print(`${base}/deployments/${p.deploymentId}/machines/${encodeURIComponent(p.target)}/${p.what}`);
  return 0;
}

/** Remote mode: the appliance's API, as the token's user (a trainee gets their own VPN configuration). */
export async function accessRemote(
  remote: RemoteCaller,
  args: string[],
  o: { out?: string | undefined; json: boolean },
  print: (s?: string) => void,
): Promise<number> {
  const p = parse(args);
  if (p.what === 'vpn') {
    const conf = await remote.call<{ filename: string; config: string; endpoint: string }>(
      'GET',
      `/deployments/${p.deploymentId}/vpn/${p.target}`,
    );
    print(
      `wrote ${writeConfig(o.out ?? conf.filename, conf.config)} (endpoint ${conf.endpoint}); bring it up with: sudo wg-quick up <file>`,
    );
    return 0;
  }
  const link = await remote.call<{ page: string; socket: string; expiresAt: string }>(
    'POST',
    `/deployments/${p.deploymentId}/machines/${encodeURIComponent(p.target)}/${p.what}`,
  );
  if (o.json)
    print(
      JSON.stringify(
        {
          ...link,
          page: `${remote.origin}${link.page}`,
          socket: `${remote.origin.replace(/^http/, 'ws')}${link.socket}`,
        },
        null,
        2,
      ),
    );
  else print(`${remote.origin}${link.page}`);
  return 0;
}
