// Network namespaces for packet tests: whether this machine can make them (root, the tools), namespaces named per
// test run and removed at the end, commands run inside them, and a TCP server and client that say what they saw.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Why namespace tests cannot run here (not root, a tool missing, `ip netns` refused), or undefined when they can. */
export function netnsUnavailable(
  tools: ReadonlyArray<readonly [string, readonly string[], string]> = [],
): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const [tool, args, pkg] of [['ip', ['-V'], 'iproute2'] as const, ...tools]) {
    const r = spawnSync(tool, args, { encoding: 'utf8' });
    if (r.error) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  if (tools.some(([t]) => t === 'wireguard-go') && !fs.existsSync('/dev/net/tun'))
    return 'there is no /dev/net/tun for wireguard-go';
  const probe = `gdprobe${crypto.randomBytes(2).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add fails here: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export function sh(args: string[]): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * A set of namespaces for one test file. `listen` starts a TCP server that answers every connection with `text`, or
 * else the peer address it saw; `connect` prints that answer, TIMEOUT, or ERR <code>. `close` kills the servers and removes the
 * namespaces and files.
 */
export function createNetns(tag: string) {
  const sfx = crypto.randomBytes(2).toString('hex');
  const made: string[] = [];
  const children: ChildProcess[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gd-${tag}-ns-`));
  const serverJs = path.join(dir, 'server.mjs');
  const clientJs = path.join(dir, 'client.mjs');
  fs.writeFileSync(
    serverJs,
    "import net from 'node:net';\nconst [host, port, text] = process.argv.slice(2);\nnet.createServer((s) => { s.on('error', () => {}); s.end(text ?? `peer ${s.remoteAddress}`); }).listen(Number(port), host, () => console.log('listening'));\n",
  );
  fs.writeFileSync(
    clientJs,
    "import net from 'node:net';\nconst [host, port, ms, request] = process.argv.slice(2);\nconst s = net.connect(Number(port), host, () => request && s.write(request));\nlet out = '';\ns.setTimeout(Number(ms), () => { console.log('TIMEOUT'); process.exit(0); });\ns.on('data', (d) => (out += d));\ns.on('end', () => { console.log(out.split('\\r\\n')[0]); process.exit(0); });\ns.on('error', (e) => { console.log(`ERR ${e.code}`); process.exit(0); });\n",
  );
  const ns = (n: string) => `gd${sfx}${n}`;
  const inNs = (n: string, ...args: string[]) => sh(['ip', 'netns', 'exec', ns(n), ...args]);
  return {
    dir,
    ns,
    inNs,
    add(...names: string[]) {
      for (const n of names) {
        sh(['ip', 'netns', 'add', ns(n)]);
        made.push(n);
        inNs(n, 'ip', 'link', 'set', 'lo', 'up');
      }
    },
    async listen(n: string, host: string, port: number, text?: string): Promise<void> {
      const args = [process.execPath, serverJs, host, String(port), ...(text === undefined ? [] : [text])];
      const child = spawn('ip', ['netns', 'exec', ns(n), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`server in ${n} did not start`)), 5000);
        child.stdout!.once('data', () => (clearTimeout(t), resolve()));
      });
    },
    /** `request` is written once connected (an HTTP request line); the first line of the answer is printed. */
    connect(n: string, host: string, port: number, ms = 2500, request?: string): string {
      const args = [process.execPath, clientJs, host, String(port), String(ms), ...(request ? [request] : [])];
      return inNs(n, ...args).trim();
    },
    /** A long-running command in a namespace, stopped by `close`. */
    spawn(n: string, args: string[]): ChildProcess {
      const child = spawn('ip', ['netns', 'exec', ns(n), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    /** A WireGuard interface through wireguard-go (its process is ours), configured from a wg-quick file, addressed, up. */
    async wireguard(n: string, ifname: string, wgQuickConf: string, address: string, routes: string[]): Promise<void> {
      const child = spawn('ip', ['netns', 'exec', ns(n), 'wireguard-go', '-f', ifname], {
        env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
        stdio: 'ignore',
      });
      children.push(child);
      const sock = `/var/run/wireguard/${ifname}.sock`;
      for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      if (!fs.existsSync(sock)) throw new Error(`wireguard-go did not create ${sock}`);
      const file = path.join(dir, `${ifname}.conf`);
      fs.writeFileSync(file, wgQuickConf, { mode: 0o600 });
      const stripped = path.join(dir, `${ifname}.stripped`);
      fs.writeFileSync(stripped, sh(['wg-quick', 'strip', file]), { mode: 0o600 });
      inNs(n, 'wg', 'setconf', ifname, stripped);
      inNs(n, 'ip', 'addr', 'add', address, 'dev', ifname);
      inNs(n, 'ip', 'link', 'set', ifname, 'up');
      for (const r of routes) inNs(n, 'ip', 'route', 'add', r, 'dev', ifname);
    },
    /** A name unique to this run, for interfaces whose control sockets all namespaces share (wireguard-go's). */
    unique: (base: string) => `${base}${sfx}`,
    close() {
      // SIGTERM: wireguard-go removes its control socket on the way out.
      for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGTERM');
      for (const n of made) spawnSync('ip', ['netns', 'del', ns(n)]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
