// TLS trust for an ESXi host: a pinned SHA-256 certificate fingerprint, a CA file, or (only when asked) no verification.
// Pinning checks the presented certificate before the socket is handed to HTTP, so nothing is sent to the wrong host.
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { AppError } from '../../errors.ts';

export interface EsxiTlsOptions {
  /** SHA-256 fingerprint of the host's certificate, hex, colons optional. */
  fingerprint?: string;
  /** PEM file of the CA (or the self-signed certificate) to trust, with hostname verification. */
  caFile?: string;
  /** Skip verification entirely. Visible in the connection report. */
  insecure?: boolean;
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

/** How the connection is trusted, one line for testConnection's details. */
export function describeTrust(opts: EsxiTlsOptions): string {
  if (opts.fingerprint) return `TLS: certificate pinned (SHA-256 ${normalizeFingerprint(opts.fingerprint).slice(0, 16)}...)`;
  if (opts.caFile) return `TLS: verified against CA file ${opts.caFile}`;
  return 'TLS: certificate verification DISABLED (insecure: true)';
}

type Oncreate = (err: Error | null, socket: Duplex) => void;

/** An https.Agent whose sockets are handed over only after the certificate fingerprint matched. */
class PinnedAgent extends https.Agent {
  constructor(
    private readonly pin: string,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  // Node's Agent accepts a createConnection that answers through the callback (returning undefined),
  // which lets the check run after the handshake and before any request byte is written.
  override createConnection(options: http.RequestOptions, oncreate?: Oncreate): Duplex | undefined {
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
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
          new AppError('platform_error', `[esxi] The host's certificate does not match the pinned fingerprint (got ${got})`, {
            hint: 'Check that you reached the right host; if its certificate was renewed, update the fingerprint.',
          }),
        );
        return;
      }
      oncreate?.(null, socket);
    });
    return undefined;
  }
}

export function createHttpsAgent(opts: EsxiTlsOptions): https.Agent {
  const common = { keepAlive: true, maxSockets: 8 };
  if (opts.fingerprint) return new PinnedAgent(normalizeFingerprint(opts.fingerprint), common);
  if (opts.caFile) return new https.Agent({ ...common, ca: readFileSync(opts.caFile) });
  if (opts.insecure) return new https.Agent({ ...common, rejectUnauthorized: false });
  throw new AppError('invalid_input', '[esxi] No TLS trust configured', {
    hint: 'Set tls.fingerprint (SHA-256 of the host certificate) or tls.caFile; tls.insecure: true disables verification.',
  });
}
