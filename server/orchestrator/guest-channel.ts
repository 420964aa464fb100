// Running a program as root in a lab machine: through the platform's own channel to the guest where it has one
// (Proxmox's QEMU agent, the simulator), otherwise over SSH through the range's router with sudo. What the overseer's
// router checks and testing mode use to change a router and read its firewall back.
import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deployments, resources } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { GuestExecResult, MachineRef } from '../platforms/platform.ts';
import type { PlatformStore } from '../platforms/store.ts';
import type { SshConnectOptions } from '../ssh/connection.ts';
import { createSshPool, type SshPool } from '../ssh/pool.ts';
import type { RangeAccess } from './ssh-targets.ts';

export interface ChannelResult extends GuestExecResult {
  /** How it ran: `guest agent` or `ssh`. */
  via: 'guest agent' | 'ssh';
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function createGuestChannel(deps: {
  db: Db;
  platforms: PlatformStore;
  access: RangeAccess;
  ssh?: Omit<SshConnectOptions, 'signal' | 'jump' | 'onRetry'>;
}) {
  const { db, platforms, access } = deps;
  let pool: SshPool | undefined;

  function machine(deploymentId: string, key: string): { platformId: string; ref: MachineRef } {
    const d = db
      .select({ platformId: deployments.platformId })
      .from(deployments)
      .where(eq(deployments.id, deploymentId))
      .get();
    if (!d) throw new AppError('not_found', `Deployment ${deploymentId} does not exist`);
    const r = db
      .select()
      .from(resources)
      .where(and(eq(resources.deploymentId, deploymentId), eq(resources.key, key)))
      .get();
    if (!r?.externalId || r.state === 'deleted')
      throw new AppError('conflict', `Machine "${key}" of deployment ${deploymentId} has not been created`);
    return { platformId: d.platformId, ref: { id: r.externalId, name: r.name } };
  }

  return {
    /**
     * Runs argv as root in the machine and returns its exit code and output (a non-zero exit is a result). Throws
     * AppError when the machine cannot be reached (naming it and why), or 'timeout' after `timeoutMs`.
     */
    async run(
      deploymentId: string,
      key: string,
      argv: string[],
      o: { timeoutMs: number; signal?: AbortSignal },
    ): Promise<ChannelResult> {
      const { platformId, ref } = machine(deploymentId, key);
      const platform = await platforms.instance(platformId);
      if (platform.supports.guestExec && platform.guestExec)
        return { ...(await platform.guestExec(ref, argv, o)), via: 'guest agent' };
      const t = access.target(deploymentId, key);
      if (!t.ok)
        throw new AppError(
          'platform_error',
          `Unable to reach machine "${ref.name}": ${platform.kind} has no guest channel and ${t.reason}`,
        );
      pool ??= createSshPool({ idleMs: 90_000, ...(deps.ssh ? { connect: deps.ssh } : {}) });
      const command = argv.map(shellWord).join(' ');
      const root = t.user === 'root';
      return pool.run(
        t.ssh,
        async (conn) => {
          const r = await conn.exec(root ? command : `sudo -S -p '' ${command}`, {
            timeoutMs: o.timeoutMs,
            label: `"${argv[0]}" on ${ref.name}`,
            ...(root ? {} : { stdin: `${t.sudoPassword}\n` }),
            ...(o.signal ? { signal: o.signal } : {}),
          });
          return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, via: 'ssh' as const };
        },
        o.signal ? { signal: o.signal } : {},
      );
    },
    async close(): Promise<void> {
      await pool?.close();
      pool = undefined;
    },
  };
}

export type GuestChannel = ReturnType<typeof createGuestChannel>;
