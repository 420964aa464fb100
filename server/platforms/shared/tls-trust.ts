// How a driver trusts a platform's HTTPS endpoint (Proxmox, ESXi: self-signed certificates are the norm): a pinned
// SHA-256 certificate fingerprint, a CA file (with hostname checks), or, only as an explicit choice, no verification.
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AppError } from '../../errors.ts';

const fingerprint = z
  .string()
  .regex(/^([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$/, 'a SHA-256 fingerprint: 32 hex bytes, colons optional');

export const tlsTrustSchema = z
  .object({
    fingerprint: fingerprint.optional(),
    caFile: z.string().min(1).optional(),
    /** Disables certificate verification; shown in every connection report. */
    insecure: z.boolean().default(false),
  })
  .refine((t) => [t.fingerprint !== undefined, t.caFile !== undefined, t.insecure].filter(Boolean).length === 1, {
    message: 'choose exactly one of tls.fingerprint, tls.caFile or tls.insecure: true',
  });

export type TlsTrust = z.input<typeof tlsTrustSchema>;

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

/** How the connection is trusted, one line for testConnection's details. */
export function describeTrust(t: TlsTrust): string {
  if (t.fingerprint) return `TLS: certificate pinned (SHA-256 ${normalizeFingerprint(t.fingerprint).slice(0, 16)}...)`;
  if (t.caFile) return `TLS: verified against CA file ${t.caFile}`;
  return 'TLS: certificate verification DISABLED (tls.insecure: true)';
}

type Oncreate = (err: Error | null, socket: Duplex) => void;

/**
 * Hands a socket to HTTP only after the peer certificate's fingerprint matched, so nothing is sent to the wrong host.
 * Node skips checkServerIdentity when the chain does not verify (always, for a self-signed certificate), so the check
 * runs on secureConnect; no session cache is used, since a resumed session shows no peer certificate.
 */
class PinnedAgent extends https.Agent {
  constructor(
    private readonly pin: string,
    private readonly driver: string,
    private readonly hint: string,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  // Node's Agent accepts a createConnection that answers through the callback (returning undefined).
  override createConnection(options: http.RequestOptions, oncreate?: Oncreate): Duplex | undefined {
    const socket = tls.connect({
      ...(options as tls.ConnectionOptions),
      rejectUnauthorized: false,
      session: undefined,
    });
    const fail = (e: Error): void => {
      socket.destroy();
      oncreate?.(e, socket);
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
      const got = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
      if (got !== this.pin) {
        fail(
          new AppError(
            'platform_error',
            `[${this.driver}] The server's certificate does not match the pinned fingerprint (got ${got.match(/../g)?.join(':') ?? 'none'})`,
            { hint: this.hint },
          ),
        );
        return;
      }
      oncreate?.(null, socket);
    });
    return undefined;
  }
}

export function createHttpsAgent(
  t: TlsTrust,
  o: { driver: string; maxSockets: number; renewHint: string },
): https.Agent {
  const common = { keepAlive: true, maxSockets: o.maxSockets };
  if (t.fingerprint)
    return new PinnedAgent(
      normalizeFingerprint(t.fingerprint),
      o.driver,
      `Check that you reached the right host; if its certificate was renewed, update the fingerprint (${o.renewHint}).`,
      common,
    );
  if (t.caFile) return new https.Agent({ ...common, ca: readFileSync(t.caFile) });
  if (t.insecure) return new https.Agent({ ...common, rejectUnauthorized: false });
  throw new AppError('invalid_input', `[${o.driver}] No TLS trust configured`, {
    hint: 'Set tls.fingerprint (SHA-256 of the server certificate) or tls.caFile; tls.insecure: true disables verification.',
  });
}
