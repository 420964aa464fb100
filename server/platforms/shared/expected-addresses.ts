// What every driver's waitForAddress does with `expect` (the plan's static addresses): which of them the guest does not
// report yet, and the timeout error that names the machine, the missing addresses and what the guest reports instead.
import { AppError } from '../../errors.ts';

/** Addresses compared as written, without a prefix length and case-insensitively (IPv6). */
const bare = (a: string) =>
  a
    .trim()
    .replace(/\/\d+$/, '')
    .toLowerCase();

/** The expected addresses the guest does not report; [] when all are there (or none is expected). */
export function missingAddresses(expect: readonly string[] | undefined, reported: readonly string[]): string[] {
  const have = new Set(reported.map(bare));
  return (expect ?? []).filter((a) => !have.has(bare(a)));
}

/**
 * The timeout of a wait for addresses: with `expect`, the planned addresses still missing and those reported instead
 * (a guest planned on 10.40.1.10 that took 192.168.122.5 from a DHCP server is not ready); without, that none came.
 */
export function addressTimeout(
  driver: string,
  machine: string,
  timeoutMs: number,
  expect: readonly string[] | undefined,
  reported: readonly string[],
  hint: string,
): AppError {
  const within = `within ${Math.round(timeoutMs / 1000)} s`;
  const missing = missingAddresses(expect, reported);
  const instead = reported.length > 0 ? `it reports ${reported.join(', ')}` : 'it reports no usable address';
  const message =
    missing.length > 0
      ? `[${driver}] VM "${machine}" did not report its planned address${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} ${within}; ${instead}`
      : `[${driver}] VM "${machine}" reported no usable address ${within}`;
  return new AppError('timeout', message, { hint });
}
