// A stand-in Debian guest behind a real sshd: a login shell that records every command it is given and runs it with
// stub apt-get, dpkg-query, systemctl and sudo first on PATH. The stubs log their argv and keep package and service
// state in files, so a test can see exactly what the fix ran and make the agent "run" only once it was started.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakeGuest {
  dir: string;
  /** The login shell / command wrapper to give sshd. */
  shell: string;
  /** Every command line the shell was given, in order. */
  commands(): string[];
  /** Every stub call: `apt-get -o ... install -y ...`, `systemctl restart qemu-guest-agent`, ... */
  calls(): string[];
  /** What the last offline apt-get saw in its temporary source list. */
  sourceLists(): string[];
  agentRunning(): boolean;
  installed(pkg: string): boolean;
  /** What the stub sudo -S expects on its first stdin line. */
  setSudoPassword(password: string): void;
  /** Uninstalls everything and stops the agent: a fresh guest. */
  reset(): void;
  /** The service fails to start while set (a broken package). */
  setStartFails(fails: boolean): void;
  cleanup(): void;
}

export function createFakeGuest(o: { sudoPassword?: string; owner?: number } = {}): FakeGuest {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gd-fake-guest-'));
  chmodSync(dir, 0o755);
  const bin = path.join(dir, 'bin');
  const state = path.join(dir, 'state');
  mkdirSync(bin);
  mkdirSync(state);
  const calls = path.join(dir, 'calls.log');
  const commands = path.join(dir, 'commands.log');
  const lists = path.join(dir, 'source-lists.log');
  for (const f of [calls, commands, lists]) writeFileSync(f, '');
  writeFileSync(path.join(dir, 'sudo-password'), o.sudoPassword ?? '');

  // sudo logs only its options: the command after them is the whole script.
  const stub = (name: string, body: string, logged = '$*'): void => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s\\n' "${name} ${logged}" >> '${calls}'\n${body}\n`, {
      mode: 0o755,
    });
  };
  stub(
    'sudo',
    `
expected=$(cat '${dir}/sudo-password')
case "$1" in
  -n) shift ;;
  -S) shift; [ "$1" = -p ] && shift 2
      IFS= read -r given || given=''
      if [ "$given" != "$expected" ]; then echo 'Sorry, try again.' >&2; exit 1; fi ;;
esac
exec "$@"`,
    '$1',
  );
  stub(
    'dpkg-query',
    `
for a; do pkg=$a; done
if [ -e '${state}/installed-'"$pkg" ]; then printf 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2; exit 1`,
  );
  stub(
    'apt-get',
    `
list=''
for a; do case "$a" in Dir::Etc::SourceList=*) list=\${a#Dir::Etc::SourceList=} ;; esac; done
[ -n "$list" ] && cat "$list" >> '${lists}'
for a; do last=$a; done
case " $* " in *' install '*) touch '${state}/installed-'"$last"; echo "Setting up $last" ;; *' update '*) echo 'Reading package lists... Done' ;; esac
exit 0`,
  );
  stub(
    'systemctl',
    `
for a; do svc=$a; done
case "$1" in
  enable) exit 0 ;;
  restart|start)
    if [ -e '${dir}/start-fails' ]; then echo "Job for $svc.service failed because the control process exited with error code." >&2; exit 1; fi
    [ -e '${state}/installed-'"$svc" ] || { echo "Failed to restart $svc.service: Unit $svc.service not found." >&2; exit 5; }
    touch '${state}/running-'"$svc" ;;
  is-active) [ -e '${state}/running-'"$svc" ] ;;
esac`,
  );

  const shell = path.join(dir, 'record-shell');
  writeFileSync(
    shell,
    `#!/bin/sh
# sshd runs "<shell> -c <command>"; SFTP under a ForceCommand arrives as internal-sftp.
[ "$1" = -c ] || exec /bin/sh "$@"
if [ "$2" = internal-sftp ]; then exec /usr/lib/openssh/sftp-server; fi
printf '%s\\n===\\n' "$2" >> '${commands}'
PATH='${bin}':$PATH
export PATH
exec /bin/sh -c "$2"
`,
    { mode: 0o755 },
  );
  if (o.owner !== undefined) for (const p of [dir, state, calls, commands, lists]) chownSync(p, o.owner, o.owner);

  const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
  return {
    dir,
    shell,
    commands: () => readFileSync(commands, 'utf8').split('\n===\n').filter(Boolean),
    calls: () => lines(calls),
    sourceLists: () => lines(lists),
    agentRunning: () => existsSync(path.join(state, 'running-qemu-guest-agent')),
    installed: (pkg) => existsSync(path.join(state, `installed-${pkg}`)),
    setSudoPassword: (password) => writeFileSync(path.join(dir, 'sudo-password'), password),
    reset() {
      rmSync(state, { recursive: true, force: true });
      mkdirSync(state);
      if (o.owner !== undefined) chownSync(state, o.owner, o.owner);
    },
    setStartFails(fails) {
      if (fails) writeFileSync(path.join(dir, 'start-fails'), '');
      else rmSync(path.join(dir, 'start-fails'), { force: true });
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
