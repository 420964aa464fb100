// `glassdome overseer` (its jobs, a run now, its findings) and `glassdome instance` (snapshots, reset, testing mode,
// trainee and VPN seat of one instance), run on this machine's database or, with --server, on a running appliance
// through its API.
import { AppError } from '../errors.ts';
import { cliActor } from '../model/audit.ts';
import {
  findingTitles,
  type Finding,
  type InstanceSnapshot,
  type JobRun,
  type JobStatus,
  type TestingModeState,
} from '../model/overseer.ts';
import type { InstanceAssignment, ReassignResult, TraineeVpnState } from '../model/vpn.ts';
import type { Services } from '../services.ts';
import type { createRemote } from './remote.ts';

type Remote = ReturnType<typeof createRemote>;
type Tick = { state: 'ran'; run: JobRun } | { state: 'skipped'; reason: string };

export const rangeUsage = `Overseer and ranges
  overseer status [--json]                  each job: schedule, last run, duration, result, skips
  overseer run JOB                          run health, drift, idle or expiry now and print what it did
  overseer findings [--json]                what the overseer found open, and what it did about it
  instance ID N snapshot NAME               snapshot every machine of instance N
  instance ID N snapshots                   list its snapshots
  instance ID N reset NAME                  reset instance N (a trainee's range) to a snapshot
  instance ID N delete-snapshot NAME        delete a snapshot of instance N
  instance ID N testing [on --allow LIST | off [--revert]]
                                            testing mode: egress only to LIST (addresses, CIDRs, names)
  instance ID N trainee                     who works in instance N, and whether its router holds the VPN seat's key
  instance ID N assign USER | unassign      give instance N to another trainee (or nobody): on a VPN deployment its
                                            seat key is made anew and the router changed (exit 1 if not applied yet)
  instance ID N vpn-apply                   apply the VPN seat keys to the router again (exit 1 if it failed)`;

const time = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '-');

function printStatus(jobs: JobStatus[], print: (s?: string) => void) {
  for (const j of jobs) {
    const last = j.lastRun;
    print(
      `${j.name.padEnd(8)} ${j.schedule.padEnd(16)} ${j.running ? `running since ${time(j.running.since)}` : last ? `${last.result.padEnd(6)} ${time(last.startedAt)} ${last.durationMs} ms` : 'never run'}  runs ${j.runs}, skips ${j.skips}, failures ${j.failures}`,
    );
    if (last) print(`         ${last.summary}`);
    if (j.lastSkip) print(`         last skipped ${time(j.lastSkip.at)}: ${j.lastSkip.reason}`);
  }
}

function printFindings(findings: Finding[], print: (s?: string) => void) {
  if (findings.length === 0) print('No open findings.');
  for (const f of findings)
    print(
      `${time(f.firstSeenAt)}  ${findingTitles[f.kind]}: ${f.message}${f.fix.state !== 'none' ? `  [fix ${f.fix.state}${f.fix.detail ? `: ${f.fix.detail}` : ''}]` : ''}`,
    );
}

function printTesting(t: TestingModeState, print: (s?: string) => void) {
  print(
    t.state === 'on'
      ? `instance ${t.instance}: testing mode on since ${time(t.switchedAt)} (by ${t.switchedBy}); allowed out: ${[...t.allow.addresses, ...t.allow.domains].join(', ') || 'nothing'}; snapshot ${t.snapshot ?? 'none'}; ${t.verified ?? ''}`
      : `instance ${t.instance}: testing mode off${t.switchedBy ? ` (switched by ${t.switchedBy}, ${time(t.switchedAt)})` : ''}${t.verified ? `; ${t.verified}` : ''}`,
  );
}

function printVpn(v: TraineeVpnState | null, print: (s?: string) => void) {
  if (!v) return print('VPN: this deployment has none');
  const key = `${v.publicKey.slice(0, 10)}…`;
  if (v.router === 'first-boot') return print(`VPN seat key ${key}: the router's first-boot key, never changed`);
  const made = `made anew ${time(v.rotatedAt)} by ${v.rotatedBy}`;
  print(
    v.router === 'applied'
      ? `VPN seat key ${key} ${made}: on the router (${v.detail})`
      : `VPN seat key ${key} ${made}: NOT on the router yet: ${v.detail}`,
  );
}

function printAssignment(a: InstanceAssignment, print: (s?: string) => void) {
  print(`instance ${a.instance}: ${a.trainee ? `given to ${a.trainee.username}` : 'given to nobody'}`);
  printVpn(a.vpn, print);
}

/** Runs `overseer ...` or `instance ...`; returns the exit code (0 success, 1 failure, 2 invalid input). */
export async function rangeCommand(
  command: 'overseer' | 'instance',
  args: string[],
  o: { json: boolean; allow?: string | undefined; revert: boolean },
  target: { local: () => Services } | { remote: Remote },
  print: (s?: string) => void,
): Promise<number> {
  const need = (v: string | undefined, what: string) => {
    if (!v) throw new AppError('invalid_input', `missing ${what}; see glassdome --help`);
    return v;
  };
  const remote = 'remote' in target ? target.remote : undefined;
  const local = () => (target as { local: () => Services }).local();
  const actor = cliActor();

  if (command === 'overseer') {
    const sub = args[0] ?? 'status';
    if (sub === 'status') {
      const jobs = remote ? await remote.call<JobStatus[]>('GET', '/overseer/jobs') : local().overseer.status();
      if (o.json) print(JSON.stringify(jobs, null, 2));
      else printStatus(jobs, print);
      return jobs.some((j) => j.lastRun?.result === 'failed') ? 1 : 0;
    }
    if (sub === 'run') {
      const job = need(args[1], 'JOB (health, drift, idle or expiry)');
      const r = remote
        ? await remote.call<Tick>('POST', `/overseer/jobs/${encodeURIComponent(job)}/run`)
        : await local().overseer.run(actor, job);
      if (!remote) await local().overseer.settled();
      if (o.json) print(JSON.stringify(r, null, 2));
      else if (r.state === 'skipped') print(`${job}: skipped: ${r.reason}`);
      else print(`${job}: ${r.run.result} in ${r.run.durationMs} ms: ${r.run.summary}`);
      return r.state === 'ran' && r.run.result === 'ok' ? 0 : 1;
    }
    if (sub === 'findings') {
      const open = remote
        ? await remote.call<Finding[]>('GET', '/overseer/findings?state=open')
        : local().overseer.findings.list({ state: 'open' });
      if (o.json) print(JSON.stringify(open, null, 2));
      else printFindings(open, print);
      return 0;
    }
    throw new AppError('invalid_input', `unknown overseer command "${sub}"; expected status, run or findings`);
  }

  const id = need(args[0], 'ID');
  const instance = Number(need(args[1], 'N (the instance number)'));
  if (!Number.isInteger(instance) || instance < 1)
    throw new AppError('invalid_input', `the instance is a number from 1, not "${args[1]}"`);
  const sub = need(
    args[2],
    'snapshot, snapshots, reset, delete-snapshot, testing, trainee, assign, unassign or vpn-apply',
  );
  const base = `/deployments/${encodeURIComponent(id)}/instances/${instance}`;
  switch (sub) {
    case 'snapshot': {
      const name = need(args[3], 'NAME');
      const s = remote
        ? await remote.call<InstanceSnapshot>('POST', `${base}/snapshots`, { name })
        : await local().snapshots.take(actor, id, instance, name);
      print(`instance ${instance}: snapshot "${s.name}" of ${s.machines.length} machine(s): ${s.machines.join(', ')}`);
      return 0;
    }
    case 'snapshots': {
      const list = remote
        ? await remote.call<InstanceSnapshot[]>('GET', `${base}/snapshots`)
        : local().snapshots.list(id, instance);
      if (o.json) print(JSON.stringify(list, null, 2));
      else if (list.length === 0) print(`instance ${instance} has no snapshots`);
      else for (const s of list) print(`${s.name.padEnd(24)} ${time(s.createdAt)}  by ${s.createdBy}  ${s.purpose}`);
      return 0;
    }
    case 'reset': {
      const name = need(args[3], 'NAME');
      const r = remote
        ? await remote.call<{ machines: number }>('POST', `${base}/snapshots/${encodeURIComponent(name)}/reset`)
        : await local().snapshots.reset(actor, id, instance, name);
      print(`instance ${instance}: ${r.machines} machine(s) reset to "${name}"`);
      return 0;
    }
    case 'delete-snapshot': {
      const name = need(args[3], 'NAME');
      if (remote) await remote.call('DELETE', `${base}/snapshots/${encodeURIComponent(name)}`);
      else await local().snapshots.remove(actor, id, instance, name);
      print(`instance ${instance}: snapshot "${name}" deleted`);
      return 0;
    }
    case 'testing': {
      const what = args[3] ?? 'status';
      let state: TestingModeState;
      if (what === 'status')
        state = remote
          ? await remote.call<TestingModeState>('GET', `${base}/testing`)
          : local().testing.state(id, instance);
      else if (what === 'on') {
        const items = (o.allow ?? '').split(/[\s,]+/).filter(Boolean);
        const allow = { addresses: items.filter((x) => /^\d/.test(x)), domains: items.filter((x) => !/^\d/.test(x)) };
        state = remote
          ? await remote.call<TestingModeState>('PUT', `${base}/testing`, allow)
          : await local().testing.enter(actor, id, instance, allow);
      } else if (what === 'off')
        state = remote
          ? await remote.call<TestingModeState>('POST', `${base}/testing/leave`, { revert: o.revert })
          : await local().testing.leave(actor, id, instance, { revert: o.revert });
      else throw new AppError('invalid_input', `testing takes on, off or nothing, not "${what}"`);
      if (o.json) print(JSON.stringify(state, null, 2));
      else printTesting(state, print);
      return 0;
    }
    case 'trainee': {
      const a = remote
        ? await remote.call<InstanceAssignment>('GET', `${base}/assignment`)
        : local().deployments.assignment(id, instance);
      if (o.json) print(JSON.stringify(a, null, 2));
      else printAssignment(a, print);
      return 0;
    }
    case 'assign':
    case 'unassign': {
      const trainee = sub === 'assign' ? need(args[3], 'USER (a trainee)') : null;
      const r = remote
        ? await remote.call<ReassignResult>('PUT', `${base}/assignment`, { trainee })
        : await local().deployments.reassign(actor, id, instance, trainee);
      if (o.json) print(JSON.stringify(r, null, 2));
      else {
        if (!r.changed)
          print(`instance ${instance}: already given to ${r.trainee?.username ?? 'nobody'}; nothing changed`);
        else
          print(
            `instance ${instance}: given to ${r.trainee?.username ?? 'nobody'} (was ${r.previous?.username ?? 'nobody'})`,
          );
        printVpn(r.vpn, print);
      }
      return r.vpn?.router === 'pending' ? 1 : 0;
    }
    case 'vpn-apply': {
      const v = remote
        ? await remote.call<TraineeVpnState>('POST', `${base}/vpn/apply`)
        : await local().vpnPeers.reapply(actor, id, instance);
      if (o.json) print(JSON.stringify(v, null, 2));
      else printVpn(v, print);
      return v.router === 'pending' ? 1 : 0;
    }
    default:
      throw new AppError('invalid_input', `unknown instance command "${sub}"; see glassdome --help`);
  }
}
