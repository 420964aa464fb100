// Verify probes as data: each becomes one bash script for the range's attacker machine (fed on stdin to `bash -s`,
// so no credential appears in its process list) and an expectation the appliance checks on the script's output.
// The flag never reaches the attacker machine: it is only in the expectation.
import { derivePassword } from '../agents/credentials.ts';
import { AppError } from '../errors.ts';
import type { VulnerabilityInstance } from '../model/vulnerability.ts';
import type { Probe, VulnerabilityModule } from './module-schema.ts';
import { flagValue, templateValues, type AdDomain } from './render.ts';
import { filters, renderTemplate } from './template.ts';

export interface ProbeContext {
  os: string;
  /** The target's address as the attacker machine reaches it. */
  host: string;
  secret: string;
  seed: string;
  machineKey: string;
  /** The target's domain, for `{{ad.*}}` in a Windows module's probes. */
  domain?: AdDomain;
}

export interface RenderedProbe {
  kind: Probe['kind'];
  description: string;
  /** Bash, run on the attacker machine as `bash -s` with this text on stdin. */
  script: string;
  /** Programs the script needs on the attacker machine. */
  requires: string[];
  /** Seconds the command inside may take; run the whole script with a few seconds more. */
  timeoutSec: number;
  expect: { exitCode: number; contains?: string; matches?: string };
}

export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed, in words an instructor can act on; never the expected flag. */
  reason?: string;
}

const q = filters.sh;
const heredoc = 'GLASSDOME_PROBE_EOF';

export function renderProbe(
  module: VulnerabilityModule,
  probe: Probe,
  instance: VulnerabilityInstance,
  ctx: ProbeContext,
): RenderedProbe {
  const fail = (why: string) =>
    new AppError('invalid_input', `Unable to render a verify probe of "${instance.key}" (module ${module.id}): ${why}`);
  if (!/^[0-9A-Za-z.:-]+$/.test(ctx.host)) throw fail(`"${ctx.host}" is not an address`);
  const { flag, answer } = flagValue(module, instance, ctx);
  const ad = ctx.domain ? { domain: ctx.domain } : {};
  const plain = templateValues(module, instance.params, ctx.os, { host: ctx.host, ...ad });
  const withFlag = templateValues(module, instance.params, ctx.os, {
    host: ctx.host,
    flag: flag ?? answer ?? '',
    ...ad,
  });
  const passwordOf = (user: string, given: string | undefined) =>
    given === undefined ? derivePassword(ctx.secret, ctx.machineKey, user) : r(given);
  const r = (t: string) => renderTemplate(t, plain);
  const port = (p: number | string) => {
    const n = typeof p === 'number' ? p : Number(r(p));
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw fail(`port "${String(p)}" is not a port number`);
    return n;
  };
  const t = probe.timeout;
  const head = [
    `# verify: ${probe.description.split('\n')[0]} (${instance.key})`,
    'set -o pipefail',
    `host=${q(ctx.host)}`,
  ];
  let body: string[];
  let requires: string[];

  switch (probe.kind) {
    case 'tcp': {
      const cmd = probe.banner ? 'exec 3<>"/dev/tcp/$0/$1" && head -n 1 <&3' : 'exec 3<>"/dev/tcp/$0/$1"';
      body = [`timeout ${t} bash -c ${q(cmd)} "$host" ${port(probe.port)}`];
      requires = ['bash', 'timeout', ...(probe.banner ? ['head'] : [])];
      break;
    }
    case 'http': {
      const url = `${probe.scheme}://$host:${port(probe.port)}${r(probe.path)}`;
      // A service that starts slowly (Tomcat) refuses connections at first: retry those within the timeout.
      const args = [
        '-sS',
        '-f',
        '--max-time',
        String(Math.min(t, 20)),
        '--retry',
        '30',
        '--retry-delay',
        '2',
        '--retry-connrefused',
        '--retry-max-time',
        String(t),
        ...(probe.scheme === 'https' ? ['-k'] : []),
      ];
      const query = Object.entries(probe.query).flatMap(([k, v]) => ['--data-urlencode', q(`${k}=${r(v)}`)]);
      const form = Object.entries(probe.form ?? {}).flatMap(([k, v]) => ['--data-urlencode', q(`${k}=${r(v)}`)]);
      if (query.length > 0 && form.length > 0) throw fail('an http probe takes query or form, not both');
      const auth = probe.user === undefined ? [] : [`creds=${q(`${r(probe.user)}:${r(probe.password ?? '')}`)}`];
      body = [
        ...auth,
        [
          'curl',
          ...args,
          ...(query.length > 0 ? ['-G', ...query] : form),
          ...(auth.length > 0 ? ['-K', `<(printf 'user = "%s"\\n' "$creds")`] : []),
          `"${url}"`,
        ].join(' '),
      ];
      requires = ['curl'];
      break;
    }
    case 'ssh': {
      const user = r(probe.user);
      const password = passwordOf(user, probe.password);
      const command = r(probe.command);
      const ssh = `timeout ${t} sshpass -e ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive -o NumberOfPasswordPrompts=1 -p ${port(probe.port)} ${q(user)}@"$host"`;
      if (probe.shell === 'powershell') {
        // Windows' sshd hands the command line to its default shell; -EncodedCommand (base64 of UTF-16LE) carries
        // the script through any shell's quoting unchanged.
        body = [`export SSHPASS=${q(password)}`, `${ssh} ${powershellCommand(command)}`];
      } else {
        if (command.split('\n').includes(heredoc)) throw fail(`the command may not contain a line "${heredoc}"`);
        body = [`export SSHPASS=${q(password)}`, `${ssh} sh -s <<'${heredoc}'`, command.replace(/\n$/, ''), heredoc];
      }
      requires = ['sshpass', 'ssh', 'timeout'];
      break;
    }
    case 'ftp': {
      body = [
        `creds=${q(`${r(probe.user)}:${r(probe.password)}`)}`,
        `curl -sS --max-time ${t} -K <(printf 'user = "%s"\\n' "$creds") "ftp://$host:${port(probe.port)}${r(probe.path)}"`,
      ];
      requires = ['curl'];
      break;
    }
    case 'smb': {
      const share = r(probe.share);
      const commands: string[] = [];
      if (probe.path !== undefined) commands.push(`get "${r(probe.path)}" -`);
      if (probe.put) commands.push('put glassdome-verify.txt', 'del glassdome-verify.txt');
      if (commands.length === 0) commands.push('ls');
      const user = probe.user === undefined ? undefined : r(probe.user);
      const auth = user !== undefined;
      // A logged-in session reads its credentials from an authentication file (-A), never the command line.
      const authFile =
        user !== undefined
          ? [
              `printf 'username = %s\\npassword = %s\\n' ${q(user)} ${q(passwordOf(user, probe.password))} > "$dir/auth"`,
              ...(probe.domain === undefined ? [] : [`printf 'domain = %s\\n' ${q(r(probe.domain))} >> "$dir/auth"`]),
            ]
          : [];
      body = [
        ...(probe.put || auth ? ['dir=$(mktemp -d)', 'trap \'rm -rf "$dir"\' EXIT'] : []),
        ...authFile,
        ...(probe.put ? ['cd "$dir"', 'echo glassdome > glassdome-verify.txt'] : []),
        `timeout ${t} smbclient ${auth ? '-A "$dir/auth"' : '-N'} -p ${port(probe.port)} "//$host/"${q(share)} -c ${q(commands.join('; '))}`,
      ];
      requires = ['smbclient', 'timeout', ...(probe.put || auth ? ['mktemp'] : [])];
      break;
    }
    case 'redis': {
      // RESP by hand over bash's /dev/tcp: no redis-cli needed. QUIT makes the server close, which ends cat.
      const words = [...probe.command.map(r)];
      const resp = (ws: string[]) =>
        `*${ws.length}\r\n${ws.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
      const request = resp(words) + resp(['QUIT']);
      body = [
        `request=${ansiC(request)}`,
        `timeout ${t} bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "%s" "$2" >&3 && cat <&3' "$host" ${port(probe.port)} "$request"`,
      ];
      requires = ['bash', 'timeout', 'cat'];
      break;
    }
    case 'mysql': {
      body = [
        `export MYSQL_PWD=${q(r(probe.password))}`,
        `timeout ${t} mysql --protocol=TCP --skip-ssl --connect-timeout=10 -h "$host" -P ${port(probe.port)} -u ${q(r(probe.user))} -N -B -e ${q(r(probe.query))}`,
      ];
      requires = ['mysql', 'timeout'];
      break;
    }
    case 'nfs': {
      body = [`timeout ${t} showmount -e "$host"`];
      requires = ['showmount', 'timeout'];
      break;
    }
    case 'impacket': {
      const tool = `impacket-${probe.tool}`;
      const words = [q(r(probe.target)), ...probe.args.map((a) => q(r(a)))].join(' ');
      if (probe.user === undefined) body = [`timeout ${t} ${tool} ${words}`];
      else {
        // Impacket asks for a missing password with Python's getpass, which reads standard input when the process
        // has no terminal (setsid): the password stays off the command line.
        body = [
          `password=${q(passwordOf(r(probe.user), probe.password))}`,
          `printf '%s\\n' "$password" | timeout ${t} setsid -w ${tool} ${words}`,
        ];
      }
      requires = [tool, 'timeout', ...(probe.user === undefined ? [] : ['setsid'])];
      break;
    }
    case 'shell': {
      const script = r(probe.script);
      body = [`timeout ${t} bash -s "$host" <<'${heredoc}'`, script.replace(/\n$/, ''), heredoc];
      if (script.split('\n').includes(heredoc)) throw fail(`the script may not contain a line "${heredoc}"`);
      requires = ['bash', 'timeout', ...probe.requires];
      break;
    }
  }

  const expect: RenderedProbe['expect'] = { exitCode: probe.expect.exitCode };
  if (probe.expect.contains !== undefined) expect.contains = renderTemplate(probe.expect.contains, withFlag);
  if (probe.expect.matches !== undefined) {
    expect.matches = renderTemplate(probe.expect.matches, withFlag);
    try {
      new RegExp(expect.matches, 'm');
    } catch {
      throw fail(`expect.matches "${expect.matches}" is not a regular expression`);
    }
  }
  return {
    kind: probe.kind,
    description: probe.description,
    script: `${[...head, ...body].join('\n')}\n`,
    requires: [...new Set(requires)],
    timeoutSec: t,
    expect,
  };
}

/** Every verify probe of an instance, rendered for a target address. */
export function renderProbes(
  module: VulnerabilityModule,
  instance: VulnerabilityInstance,
  ctx: ProbeContext,
): RenderedProbe[] {
  return module.verify.map((p) => renderProbe(module, p, instance, ctx));
}

/** Judges a probe's run. `exitCode` null means it was killed (its timeout). */
export function judgeProbe(
  probe: RenderedProbe,
  run: { exitCode: number | null; stdout: string; stderr?: string },
): ProbeOutcome {
  const lastLine = (s: string | undefined) => (s ?? '').trim().split('\n').at(-1)?.slice(0, 200) ?? '';
  if (run.exitCode === null || run.exitCode === 124)
    return { ok: false, reason: `no answer within ${probe.timeoutSec} s` };
  // 127 may come from the attacker machine or, through ssh, from the target: say both.
  if (run.exitCode === 127)
    return {
      ok: false,
      reason: `a command was not found (${lastLine(run.stderr)}); the attacker machine needs ${probe.requires.join(', ')}`,
    };
  if (run.exitCode !== probe.expect.exitCode)
    return {
      ok: false,
      reason: `exited ${run.exitCode}, expected ${probe.expect.exitCode}${run.stderr ? `: ${lastLine(run.stderr)}` : ''}`,
    };
  if (probe.expect.contains !== undefined && !run.stdout.includes(probe.expect.contains))
    return { ok: false, reason: 'the output lacks the expected text (the flag or the vulnerable response)' };
  if (probe.expect.matches !== undefined && !new RegExp(probe.expect.matches, 'm').test(run.stdout))
    return { ok: false, reason: `the output does not match /${probe.expect.matches}/` };
  return { ok: true };
}

/** `powershell.exe ... -EncodedCommand <base64 of the UTF-16LE script>`, for a command line on a Windows target. */
export function powershellCommand(script: string): string {
  const encoded = Buffer.from(script, 'utf16le').toString('base64');
  return `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${encoded}`;
}

/** A bash $'...' string: exact bytes for CR/LF and quotes. */
function ansiC(s: string): string {
  return `$'${s.replace(/[\\']/g, '\\$&').replace(/\r/g, '\\r').replace(/\n/g, '\\n')}'`;
}
