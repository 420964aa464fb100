// `glassdome users [list | add NAME | set NAME | password NAME | remove NAME]`, on the local database or an appliance.
// A password comes from stdin (--password-stdin) or is generated and printed once; never from the command line.
// Run on the appliance itself (no --server), `users password admin` is the way back in for a forgotten admin password.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { passwordSchema, roleSchema, usernameSchema, type Users } from '../accounts/users.ts';
import { AppError } from '../errors.ts';
import type { Actor } from '../model/audit.ts';
import type { Role, User } from '../model/user.ts';
import type { createRemote } from './remote.ts';

export interface UserCommandOptions {
  role?: string | undefined;
  disable?: boolean | undefined;
  enable?: boolean | undefined;
  passwordStdin?: boolean | undefined;
  json: boolean;
  /** Read for --password-stdin (tests give their own). */
  stdin?: () => string;
}

type Print = (s?: string) => void;

/** What the command needs, on this machine's database or through the API. */
interface UserBackend {
  where: string;
  list(): Promise<User[]>;
  create(input: { username: string; password: string; role: Role }): Promise<User>;
  update(id: string, input: { role?: Role; password?: string; disabled?: boolean }): Promise<User>;
  remove(id: string): Promise<void>;
}

export function localUserBackend(users: Users, actor: Actor): UserBackend {
  return {
    where: 'this appliance',
    list: async () => users.list(),
    create: (input) => users.create(actor, input),
    update: async (id, input) => {
      const { tokensRevoked: _t, ...u } = await users.update(actor, id, input);
      return u;
    },
    remove: async (id) => users.delete(actor, id),
  };
}

export function remoteUserBackend(remote: ReturnType<typeof createRemote>): UserBackend {
  return {
    where: remote.origin,
    list: () => remote.call<User[]>('GET', '/users'),
    create: (input) => remote.call<User>('POST', '/users', input),
    update: (id, input) => remote.call<User>('PATCH', `/users/${encodeURIComponent(id)}`, input),
    remove: async (id) => void (await remote.call('DELETE', `/users/${encodeURIComponent(id)}`)),
  };
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new AppError('invalid_input', `${what}: ${r.error.issues.map((i) => i.message).join('; ')}`, {
    issues: r.error.issues.map((i) => ({ path: what, message: i.message })),
  });
}

/** The new password: one line of stdin, or 120 random bits printed once to the person who asked. */
function newPassword(o: UserCommandOptions, print: Print): string {
  if (o.passwordStdin) {
    const text = (o.stdin ?? (() => fs.readFileSync(0, 'utf8')))();
    return check(passwordSchema, text.split(/\r?\n/)[0], 'password');
  }
  const generated = crypto.randomBytes(15).toString('base64url');
  print(`password: ${generated}   (shown once; give it to its user, who can change it in Account)`);
  return generated;
}

export async function userCommand(backend: UserBackend, args: string[], o: UserCommandOptions, print: Print) {
  const [sub = 'list', name] = args;
  const find = async () => {
    if (!name) throw new AppError('invalid_input', `users ${sub} needs NAME`);
    const u = (await backend.list()).find((x) => x.username === name.toLowerCase() || x.id === name);
    if (!u) throw new AppError('not_found', `User "${name}" does not exist on ${backend.where}`);
    return u;
  };
  const role = () => (o.role === undefined ? undefined : check(roleSchema, o.role, '--role'));
  switch (sub) {
    case 'list': {
      const rows = await backend.list();
      if (o.json) print(JSON.stringify(rows, null, 2));
      else
        for (const u of rows)
          print(`${u.username.padEnd(24)} ${u.role.padEnd(11)} ${u.disabled ? 'disabled' : 'active  '}  ${u.id}`);
      return 0;
    }
    case 'add': {
      const username = check(usernameSchema, name ?? '', 'NAME');
      const r = role();
      if (!r) throw new AppError('invalid_input', 'users add needs --role admin|instructor|trainee');
      const u = await backend.create({ username, role: r, password: newPassword(o, print) });
      print(`added ${u.role} ${u.username} (${u.id}) on ${backend.where}`);
      return 0;
    }
    case 'set': {
      const u = await find();
      if (o.disable && o.enable) throw new AppError('invalid_input', 'users set takes --disable or --enable, not both');
      const r = role();
      const change = {
        ...(r ? { role: r } : {}),
        ...(o.disable ? { disabled: true } : o.enable ? { disabled: false } : {}),
      };
      if (Object.keys(change).length === 0)
        throw new AppError('invalid_input', 'users set needs --role ROLE, --disable or --enable');
      const after = await backend.update(u.id, change);
      print(`${after.username}: ${after.role}, ${after.disabled ? 'disabled' : 'active'}`);
      return 0;
    }
    case 'password': {
      const u = await find();
      await backend.update(u.id, { password: newPassword(o, print) });
      print(`${u.username}: password reset; their sessions ended and API tokens were revoked`);
      return 0;
    }
    case 'remove': {
      const u = await find();
      await backend.remove(u.id);
      print(`removed ${u.username} from ${backend.where}`);
      return 0;
    }
    default:
      throw new AppError(
        'invalid_input',
        `unknown users command "${sub}"; expected list, add, set, password or remove`,
      );
  }
}
