// The `glassdome` command: validate and plan scenarios, deploy them, follow, list and destroy deployments.
// Exit codes: 0 success, 1 failure, 2 invalid input (bad file, bad arguments).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { AppError, errorMessage, formatIssue, isAppError } from '../errors.ts';
import { cliActor } from '../model/audit.ts';
import { machineStatus } from '../orchestrator/deployment-reads.ts';
import { previewPlan } from '../orchestrator/planner.ts';
import type { PackageCache, Plan } from '../model/plan.ts';
import { scenarioJsonSchema } from '../orchestrator/scenario/schema.ts';
import { validateScenario } from '../orchestrator/scenario/parse.ts';
import type { DeploymentState } from '../model/states.ts';
import { platformKinds, type PlatformKind } from '../model/platform-kind.ts';
import { createServices, type Services } from '../services.ts';
import { kbCommands, kbUsage, runKbCommand } from './kb-commands.ts';
import { localPlatforms, remotePlatforms } from './platform-commands.ts';
import { templatesUsage } from './template-commands.ts';
import { localUserBackend, remoteUserBackend, userCommand } from './user-commands.ts';
import { accessLocal, accessUsage } from './access.ts';
import { rangeCommand, rangeUsage } from './range-commands.ts';
import { createRemote, runRemote } from './remote.ts';

/** Commands that run against a remote appliance when --server is given. */
const remoteCommands = [
  'deploy',
  'status',
  'list',
  'cancel',
  'retry',
  'destroy',
  'platforms',
  'users',
  'access',
  'overseer',
  'instance',
];

/** Commands after which this process starts workers for deployments whose process died (their claim expired). */
const pickUpAfter = ['deploy', 'status', 'list', 'platforms'];

const usage = `Usage: glassdome <command> [options]

Scenarios
  validate FILE...                          check scenario files; every problem with its line and field
  plan FILE [--platform KIND] [--instances N] [--json]
                                            show what a deployment would create
  schema [--out FILE]                       print the scenario JSON Schema (for editors)

Deployments
  deploy FILE [--platform NAME] [--instances N] [--wait]
                                            deploy a scenario (default platform: simulator)
  status [ID] [--json]                      a deployment's machines and steps (default: the latest)
  list                                      recent deployments
  cancel ID                                 stop a deployment in progress
  retry ID [--wait]                         run failed machines again; resumes an interrupted deployment
  resume ID                                 finish an interrupted deployment (or teardown) in this process
  destroy ID [--confirm]                    remove everything a deployment created (stopping it first;
                                            --confirm when trainees are assigned)

Platforms
  platforms [list]                          configured platforms
  platforms add KIND --name NAME --config FILE
                                            add one (KIND: simulator, proxmox, esxi, aws, azure); FILE is JSON or
                                            YAML with the settings of the web form and an optional secret (- reads
                                            stdin; or GLASSDOME_PLATFORM_SECRET); never a secret on the command line
  platforms test NAME                       run the driver's connection check (exit 1 when it fails)
  platforms remove NAME                     remove one whose deployments are all destroyed
${templatesUsage}

Users
  users [list]                              accounts, roles and whether they may sign in
  users add NAME --role ROLE [--password-stdin]
                                            add one (ROLE: admin, instructor, trainee); the password is read from
                                            stdin, or generated and printed once
  users set NAME [--role ROLE] [--disable | --enable]
  users password NAME [--password-stdin]    reset a password (generated unless read from stdin); the user's
                                            sessions end and their API tokens are revoked
  users remove NAME
  Locked out? On the appliance itself (as the glassdome user, no --server) \`glassdome users password admin\`
  sets a new admin password: the local command needs no sign-in, only access to the data folder.

${kbUsage}

A deployment whose process died (kill -9, power loss) is picked up again by the server's sweep, by \`glassdome
resume ID\`, \`retry ID\`, or in the background after deploy, status, list or platforms, once its claim expires.

Trainee access
${accessUsage}

${rangeUsage}

Remote mode: with --server URL --token TOKEN (or GLASSDOME_SERVER and GLASSDOME_TOKEN), deploy, status, list,
cancel, retry, destroy, platforms, users, access, overseer, instance, ask, research and flags run on that appliance
through its API. Create the token in Settings > API tokens; for the appliance's own HTTPS certificate add --ca FILE.

Exit codes: 0 success, 1 failure, 2 invalid input.`;

export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const print = (s = '') => out.write(`${s}\n`);
  // `glassdome --help`, `glassdome -h` and `glassdome help` print the usage and succeed.
  if (argv.length > 0 && ['--help', '-h', 'help'].includes(argv[0]!)) {
    print(usage);
    return 0;
  }
  const [command, ...rest] = argv;
  if (command && kbCommands.includes(command) && !rest.includes('--help')) return runKbCommand(command, rest, out, err);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        platform: { type: 'string' },
        instances: { type: 'string' },
        json: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        out: { type: 'string' },
        server: { type: 'string' },
        token: { type: 'string' },
        ca: { type: 'string' },
        name: { type: 'string' },
        config: { type: 'string' },
        'vars-out': { type: 'string' },
        role: { type: 'string' },
        disable: { type: 'boolean', default: false },
        enable: { type: 'boolean', default: false },
        'password-stdin': { type: 'boolean', default: false },
        confirm: { type: 'boolean', default: false },
        allow: { type: 'string' },
        revert: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    err.write(`glassdome: ${errorMessage(e)}\n\n${usage}\n`);
    return 2;
  }
  const { values: o, positionals: args } = parsed;
  if (!command || o.help) {
    (command ? print : (t: string) => err.write(`${t}\n`))(usage);
    return command ? 0 : 2;
  }
  const instances = o.instances === undefined ? undefined : Number(o.instances);
  if (instances !== undefined && (!Number.isInteger(instances) || instances < 1)) {
    err.write(`glassdome: --instances must be a whole number of at least 1, not "${o.instances}"\n`);
    return 2;
  }

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (e) {
    err.write(`glassdome: ${errorMessage(e)}\n`);
    return 2;
  }
  const server = o.server ?? config.remote.server;
  if (server && remoteCommands.includes(command)) {
    const token = o.token ?? config.remote.token;
    if (!token) {
      err.write('glassdome: --server needs --token (or GLASSDOME_TOKEN): create one in Settings > API tokens\n');
      return 2;
    }
    try {
      const remote = createRemote({ server, token, ...(o.ca ? { ca: o.ca } : {}) });
      if (command === 'users') return await userCommand(remoteUserBackend(remote), args, userOptions(o), print);
      if (command === 'platforms') return await remotePlatforms(remote, args, platformOptions(o), print);
      if (command === 'overseer' || command === 'instance')
        return await rangeCommand(command, args, { json: o.json, allow: o.allow, revert: o.revert }, { remote }, print);
      return (await runRemote(
        remote,
        command,
        args,
        { platform: o.platform, instances, json: o.json, wait: o.wait, out: o.out, confirm: o.confirm },
        print,
      ))!;
    } catch (e) {
      if (!isAppError(e)) throw e;
      err.write(
        `glassdome: ${e.message}\n${e.issues ? `${e.issues.map(formatIssue).join('\n')}\n` : ''}${e.hint ? `hint: ${e.hint}\n` : ''}`,
      );
      return e.code === 'invalid_input' || e.code === 'not_found' ? 2 : 1;
    }
  }

  let services: Services | undefined;
  const domain = () => (services ??= createServices({ config, runner: {} }));
  try {
    switch (command) {
      case 'validate':
        return validate(args, print, err);
      case 'plan':
        return planCommand(args, o.platform ?? 'simulator', instances, o.json, print, err, config.packageCache);
      case 'schema': {
        const text = `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
        if (o.out) fs.writeFileSync(o.out, text);
        else out.write(text);
        return 0;
      }
      case 'deploy':
        return await deploy(domain(), args, o.platform ?? 'simulator', instances, o.wait, print, err);
      case 'status':
        return status(domain(), args[0], o.json, print);
      case 'list': {
        const rows = domain().deployments.list();
        if (o.json) print(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) print('No deployments yet. Start one with: glassdome deploy FILE');
        else
          for (const r of rows)
            print(
              `${r.id}  ${r.state.padEnd(14)} ${r.scenarioName.padEnd(24)} x${r.instances}  ${r.createdAt}${r.error ? `  ${r.error}` : ''}`,
            );
        return 0;
      }
      case 'cancel':
        return finalCode(await domain().deployments.cancel(cliActor(), need(args[0], 'ID')), print);
      case 'retry': {
        const id = need(args[0], 'ID');
        const done = domain().deployments.retry(cliActor(), id);
        return await follow(domain(), id, done, print);
      }
      case 'destroy': {
        const id = need(args[0], 'ID');
        return await follow(domain(), id, domain().deployments.destroy(cliActor(), id, { confirm: o.confirm }), print);
      }
      case 'overseer':
      case 'instance':
        return await rangeCommand(
          command,
          args,
          { json: o.json, allow: o.allow, revert: o.revert },
          { local: domain },
          print,
        );
      case 'resume': {
        // The background worker that `deploy` without --wait starts; also resumes an interrupted deployment by hand.
        const id = need(args[0], 'ID');
        return await follow(domain(), id, domain().deployments.resume(cliActor(), id), print);
      }
      case 'platforms':
        return await localPlatforms(domain(), cliActor(), args, platformOptions(o), print);
      case 'users':
        return await userCommand(localUserBackend(domain().users, cliActor()), args, userOptions(o), print);
      case 'access':
        return await accessLocal(domain(), config, args, { out: o.out }, print);
      default:
        err.write(`glassdome: unknown command "${command}"\n\n${usage}\n`);
        return 2;
    }
  } catch (e) {
    if (isAppError(e)) {
      err.write(`glassdome: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return e.code === 'invalid_input' || e.code === 'not_found' ? 2 : 1;
    }
    err.write(`glassdome: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    if (services && pickUpAfter.includes(command)) pickUpInterrupted(services, err);
    await services?.close();
  }
}

function userOptions(o: {
  role?: string | undefined;
  disable: boolean;
  enable: boolean;
  'password-stdin': boolean;
  json: boolean;
}) {
  return { role: o.role, disable: o.disable, enable: o.enable, passwordStdin: o['password-stdin'], json: o.json };
}

function platformOptions(o: {
  name?: string | undefined;
  config?: string | undefined;
  json: boolean;
  'vars-out'?: string | undefined;
}) {
  return {
    name: o.name,
    config: o.config,
    json: o.json,
    envSecret: process.env.GLASSDOME_PLATFORM_SECRET,
    varsOut: o['vars-out'],
  };
}

/**
 * Deployments whose process died get a worker of their own, as \`deploy\` without --wait starts one: the README
 * promises that the next process picks them up. A worker claims its deployment, so two of them never collide.
 */
function pickUpInterrupted(s: Services, err: NodeJS.WritableStream): void {
  const stale = s.deployments.interrupted();
  if (stale.length === 0) return;
  for (const id of stale) startWorker(s.config.dataDir, id);
  err.write(`glassdome: resuming ${stale.length} interrupted deployment(s) in the background: ${stale.join(', ')}\n`);
}

function need(value: string | undefined, name: string): string {
  if (!value) throw new AppError('invalid_input', `missing ${name}; see glassdome --help`);
  return value;
}

function validate(files: string[], print: (s?: string) => void, err: NodeJS.WritableStream): number {
  if (files.length === 0) throw new AppError('invalid_input', 'validate needs at least one FILE');
  let bad = 0;
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      err.write(`${file}: cannot read: ${errorMessage(e)}\n`);
      bad++;
      continue;
    }
    const r = validateScenario(text, file);
    if (r.scenario) {
      const machines = r.scenario.machines.reduce((n, m) => n + m.count, 0);
      print(
        `ok ${file}: ${r.scenario.name} (${r.scenario.networks.length} networks, ${machines} machines, ${r.scenario.instances} instance${r.scenario.instances > 1 ? 's' : ''})`,
      );
    } else {
      bad++;
      for (const issue of r.issues) err.write(`${formatIssue(issue)}\n`);
      err.write(`${file}: ${r.issues.length} problem${r.issues.length > 1 ? 's' : ''}\n`);
    }
  }
  return bad > 0 ? 2 : 0;
}

function readScenario(file: string | undefined): { text: string; file: string } {
  const f = need(file, 'FILE');
  try {
    return { text: fs.readFileSync(f, 'utf8'), file: f };
  } catch (e) {
    throw new AppError('invalid_input', `cannot read ${f}: ${errorMessage(e)}`);
  }
}

function planCommand(
  args: string[],
  kind: string,
  instances: number | undefined,
  json: boolean,
  print: (s?: string) => void,
  err: NodeJS.WritableStream,
  packageCache: PackageCache | undefined,
): number {
  if (!(platformKinds as readonly string[]).includes(kind))
    throw new AppError('invalid_input', `unknown platform kind "${kind}"; expected one of ${platformKinds.join(', ')}`);
  const { text, file } = readScenario(args[0]);
  const r = validateScenario(text, file);
  if (!r.scenario) {
    for (const issue of r.issues) err.write(`${formatIssue(issue)}\n`);
    return 2;
  }
  const scenario = r.scenario;
  const n = instances ?? scenario.instances;
  // A preview: pool subnets and VLANs are shown as the first ones a fresh appliance would give.
  const plan = previewPlan(scenario, kind as PlatformKind, n, { packageCache });
  if (json) print(JSON.stringify(plan, null, 2));
  else printPlan(plan, print);
  return 0;
}

function printPlan(plan: Plan, print: (s?: string) => void) {
  print(
    `Plan for ${plan.scenario} on ${plan.platform}: ${plan.instances} instance(s), ${plan.networks.length} networks, ${plan.machines.length} machines, ${plan.steps.length} steps`,
  );
  for (let i = 1; i <= plan.instances; i++) {
    print(`\ninstance ${i}`);
    for (const n of plan.networks.filter((x) => x.instance === i))
      print(
        `  network ${n.name.padEnd(14)} ${n.cidr.padEnd(18)} gw ${n.gateway}${n.vlan ? `  vlan ${n.vlan}` : ''}${n.internet ? `  internet${n.egress && n.egress !== 'gateway' ? ` via ${n.egress}` : ''}` : ''}`,
      );
    for (const m of plan.machines.filter((x) => x.instance === i))
      print(
        `  ${m.role === 'router' ? 'router ' : 'machine'} ${m.hostname.padEnd(14)} ${m.os.padEnd(20)} ${m.size.cpus} vCPU ${m.size.memoryMb} MiB  ${m.nics.map((n) => n.ip ?? 'dhcp').join(', ')}${m.dependsOn.length ? `  after ${m.dependsOn.map((d) => d.split('.')[1]).join(', ')}` : ''}${m.packageCache ? '  packages from the cache' : ''}`,
      );
  }
  if (plan.notes?.length) {
    print('\nnotes');
    for (const note of plan.notes) print(`  ${note}`);
  }
}

async function deploy(
  s: Services,
  args: string[],
  platform: string,
  instances: number | undefined,
  wait: boolean,
  print: (s?: string) => void,
  err: NodeJS.WritableStream,
): Promise<number> {
  const { text, file } = readScenario(args[0]);
  const { id, plan } = s.deployments.create(cliActor(), {
    yaml: text,
    file: path.resolve(file),
    platform,
    ...(instances ? { instances } : {}),
  });
  print(
    `deployment ${id}: ${plan.scenario} on ${platform}, ${plan.instances} instance(s), ${plan.machines.length} machines`,
  );
  if (!wait) {
    startWorker(s.config.dataDir, id);
    print(`running in the background; follow it with: glassdome status ${id}`);
    return 0;
  }
  void err;
  return follow(s, id, s.runner.run(id), print);
}

/** Shows progress until `done` settles: one updating line on a terminal, event lines otherwise. */
async function follow(
  s: Services,
  id: string,
  done: Promise<DeploymentState>,
  print: (s?: string) => void,
): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const total = s.deployments.get(id).plan.machines.length;
  let ready = 0;
  const unsubscribe = s.events.subscribe(id, (e) => {
    if (e.type === 'step.finished' && e.stepKey?.endsWith(':ready')) ready++;
    if (tty) {
      if (e.type === 'step.failed' || e.type === 'deployment')
        process.stdout.write(`\r\x1b[K${e.stepKey ?? ''} ${e.type}: ${e.message}\n`);
      process.stdout.write(`\r\x1b[K${ready}/${total} machines ready`);
    } else if (e.type !== 'step.started') print(`${e.at} ${e.stepKey ?? id} ${e.type}: ${e.message}`);
  });
  try {
    const final = await done;
    if (tty) process.stdout.write('\n');
    return finalCode(final, print);
  } finally {
    unsubscribe();
  }
}

function finalCode(state: DeploymentState, print: (s?: string) => void): number {
  print(`final state: ${state}`);
  return state === 'ready' || state === 'destroyed' || state === 'cancelled' || state === 'cancelling' ? 0 : 1;
}

function status(s: Services, id: string | undefined, json: boolean, print: (s?: string) => void): number {
  const target = id ?? s.deployments.list(1)[0]?.id;
  if (!target) throw new AppError('not_found', 'There are no deployments yet');
  const view = s.deployments.get(target);
  const machines = machineStatus(view);
  if (json) {
    const { plan, steps, resources, ...head } = view;
    void steps;
    void resources;
    print(JSON.stringify({ ...head, machines, networks: plan.networks }, null, 2));
  } else {
    print(`${view.id}  ${view.scenarioName}  ${view.state}${view.error ? `: ${view.error}` : ''}`);
    for (const m of machines)
      print(
        `  ${m.key.padEnd(22)} ${m.state.padEnd(10)} ${(m.platformId ?? '-').padEnd(8)} ${m.addresses.join(', ')}${m.steps.find((x) => x.error) ? `  ${m.steps.find((x) => x.error)!.error}` : ''}`,
      );
  }
  return view.state === 'failed' || view.state === 'destroy_failed' ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}

/** A detached `glassdome resume ID` with its output in the data folder's logs, started as `npm start` starts the server. */
function startWorker(dataDir: string, id: string): void {
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const log = fs.openSync(path.join(logDir, `${id}.log`), 'a');
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bin.mjs');
  // The heap flags of `npm start`: a long run, see the README.
  spawn(
    process.execPath,
    ['--no-memory-reducer', '--max-semi-space-size=8', '--max-old-space-size=1024', bin, 'resume', id],
    {
      detached: true,
      stdio: ['ignore', log, log],
      env: process.env,
    },
  ).unref();
}
