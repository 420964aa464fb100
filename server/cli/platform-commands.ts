// `glassdome platforms [list | add KIND | test NAME | remove NAME | templates NAME]`, on the local database or a
// remote appliance.
// The config comes from a JSON or YAML file (`-` reads stdin) with the same fields as the web form; the secret only from
// that file (`secret:`), stdin or GLASSDOME_PLATFORM_SECRET, never from the command line, so it is not in any history.
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor } from '../model/audit.ts';
import type { ConnectionReport } from '../model/connection-report.ts';
import { platformKinds } from '../model/platform-kind.ts';
import type { TemplateBuilds } from '../orchestrator/template-builds.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { createRemote } from './remote.ts';
import { localTemplateBackend, remoteTemplateBackend, templateCommand } from './template-commands.ts';

export interface PlatformCommandOptions {
  name?: string | undefined;
  config?: string | undefined;
  json: boolean;
  /** The secret from the environment, when the file has none. */
  envSecret?: string | undefined;
  /** Read when --config is `-`. */
  stdin?: () => string;
  /** `templates NAME TEMPLATE --vars-out FILE`: where the variables file goes (`-`: stdout). */
  varsOut?: string | undefined;
}

type Print = (s?: string) => void;

/** The platform definition of `--config FILE`: its fields, with `secret` taken out of them. */
export function readPlatformConfig(
  file: string | undefined,
  o: PlatformCommandOptions,
): { config: Record<string, unknown>; secret?: string } {
  if (!file) throw new AppError('invalid_input', 'platforms add needs --config FILE (JSON or YAML; - reads stdin)');
  let text: string;
  try {
    text = file === '-' ? (o.stdin ?? (() => fs.readFileSync(0, 'utf8')))() : fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('invalid_input', `cannot read ${file}: ${errorMessage(e)}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new AppError(
      'invalid_input',
      `${file === '-' ? 'stdin' : file} is not JSON or YAML: ${errorMessage(e).split('\n')[0]}`,
    );
  }
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new AppError(
      'invalid_input',
      `${file === '-' ? 'stdin' : file}: expected a mapping of the platform's settings`,
    );
  const { secret, ...config } = data as Record<string, unknown>;
  if (secret !== undefined && typeof secret !== 'string')
    throw new AppError('invalid_input', `${file}: secret: expected text`);
  const s = (secret as string | undefined) ?? o.envSecret;
  return { config, ...(s ? { secret: s } : {}) };
}

function printReport(report: ConnectionReport, print: Print): number {
  print(`${report.ok ? 'ok' : 'FAILED'}: ${report.product}${report.version ? ` ${report.version}` : ''}`);
  for (const d of report.details) print(`  ${d}`);
  return report.ok ? 0 : 1;
}

function checkKind(kind: string | undefined): string {
  if (!kind) throw new AppError('invalid_input', `platforms add needs KIND: one of ${platformKinds.join(', ')}`);
  if (!(platformKinds as readonly string[]).includes(kind))
    throw new AppError('invalid_input', `unknown platform kind "${kind}"; expected one of ${platformKinds.join(', ')}`);
  return kind;
}

/** On this machine's database. */
export async function localPlatforms(
  domain: { platforms: PlatformStore; templateBuilds: TemplateBuilds },
  actor: Actor,
  args: string[],
  o: PlatformCommandOptions,
  print: Print,
): Promise<number> {
  const store = domain.platforms;
  const [sub = 'list', target] = args;
  switch (sub) {
    case 'list': {
      const rows = store.list();
      if (o.json) print(JSON.stringify(rows, null, 2));
      else for (const p of rows) print(`${p.name.padEnd(16)} ${p.kind.padEnd(10)} ${p.id}`);
      return 0;
    }
    case 'add': {
      const kind = checkKind(target);
      if (!o.name) throw new AppError('invalid_input', 'platforms add needs --name NAME');
      const { config, secret } = readPlatformConfig(o.config, o);
      const p = store.add(actor, { name: o.name, kind, config, ...(secret ? { secret } : {}) });
      print(
        `added ${p.kind} platform ${p.name} (${p.id})${p.hasSecret ? ', secret stored sealed' : ''}; check it with: glassdome platforms test ${p.name}`,
      );
      return 0;
    }
    case 'test': {
      if (!target) throw new AppError('invalid_input', 'platforms test needs NAME');
      const p = store.get(target);
      return printReport(
        await store.probe(actor, { kind: p.kind, name: p.name, config: p.config, existingId: p.id }),
        print,
      );
    }
    case 'remove': {
      if (!target) throw new AppError('invalid_input', 'platforms remove needs NAME');
      const { platform, destroyedDeployments } = store.remove(actor, target);
      print(
        `removed platform ${platform.name}${destroyedDeployments ? ` and the records of its ${destroyedDeployments} destroyed deployment(s)` : ''}`,
      );
      return 0;
    }
    case 'templates':
      return templateCommand(localTemplateBackend(domain.templateBuilds), args.slice(1), o, print);
    default:
      throw new AppError(
        'invalid_input',
        `unknown platforms command "${sub}"; expected list, add, test, remove or templates`,
      );
  }
}

/** On an appliance, through its API. */
export async function remotePlatforms(
  remote: ReturnType<typeof createRemote>,
  args: string[],
  o: PlatformCommandOptions,
  print: Print,
): Promise<number> {
  const [sub = 'list', target] = args;
  type Row = { id: string; name: string; kind: string; hasSecret: boolean };
  const byName = async (name: string) => {
    const p = (await remote.call<Row[]>('GET', '/platforms')).find((x) => x.name === name || x.id === name);
    if (!p) throw new AppError('not_found', `Platform "${name}" does not exist on ${remote.origin}`);
    return p;
  };
  switch (sub) {
    case 'list': {
      const rows = await remote.call<Row[]>('GET', '/platforms');
      if (o.json) print(JSON.stringify(rows, null, 2));
      else for (const p of rows) print(`${p.name.padEnd(16)} ${p.kind.padEnd(10)} ${p.id}`);
      return 0;
    }
    case 'add': {
      const kind = checkKind(target);
      if (!o.name) throw new AppError('invalid_input', 'platforms add needs --name NAME');
      const { config, secret } = readPlatformConfig(o.config, o);
      const p = await remote.call<Row>('POST', '/platforms', {
        name: o.name,
        kind,
        config,
        ...(secret ? { secret } : {}),
      });
      print(
        `added ${p.kind} platform ${p.name} (${p.id}) on ${remote.origin}; check it with: glassdome platforms test ${p.name}`,
      );
      return 0;
    }
    case 'test': {
      if (!target) throw new AppError('invalid_input', 'platforms test needs NAME');
      const p = await byName(target);
      return printReport(await remote.call<ConnectionReport>('POST', `/platforms/${p.id}/test`), print);
    }
    case 'remove': {
      if (!target) throw new AppError('invalid_input', 'platforms remove needs NAME');
      const p = await byName(target);
      await remote.call('DELETE', `/platforms/${p.id}`);
      print(`removed platform ${p.name} from ${remote.origin}`);
      return 0;
    }
    case 'templates':
      return templateCommand(remoteTemplateBackend(remote), args.slice(1), o, print);
    default:
      throw new AppError(
        'invalid_input',
        `unknown platforms command "${sub}"; expected list, add, test, remove or templates`,
      );
  }
}
