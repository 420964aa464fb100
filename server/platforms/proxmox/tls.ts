// TLS trust for a Proxmox API endpoint: a pinned SHA-256 certificate fingerprint (PVE's self-signed pve-ssl.pem),
// a CA file (the cluster's pve-root-ca.pem, with hostname checks), or, only when asked, no verification at all.
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { AppError } from '../../errors.ts';

export interface TlsTrust {
  fingerprint?: string;
  caFile?: string;
  insecure?: boolean;
}

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
 * Hands a socket to HTTP only after the peer certificate's fingerprint matched. Node skips checkServerIdentity
 * when the chain does not verify (always, for a self-signed certificate), so the check runs on secureConnect;
 * no session cache is used, since a resumed session shows no peer certificate.
 */
class PinnedAgent extends https.Agent {
  constructor(
    private readonly pin: string,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: http.RequestOptions, oncreate?: Oncreate): Duplex | undefined {
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false, session: undefined });
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
          new AppError('platform_error', `[proxmox] The server's certificate does not match the pinned fingerprint (got ${got.match(/../g)?.join(':') ?? 'none'})`, {
            hint: 'Check that you reached the right host; if its certificate was renewed, update the fingerprint (Datacenter > node > System > Certificates).',
          }),
        );
        return;
      }
      oncreate?.(null, socket);
    });
    return undefined;
  }
}

export function createHttpsAgent(t: TlsTrust): https.Agent {
  const common = { keepAlive: true, maxSockets: 16 };
  if (t.fingerprint) return new PinnedAgent(normalizeFingerprint(t.fingerprint), common);
  if (t.caFile) return new https.Agent({ ...common, ca: readFileSync(t.caFile) });
  if (t.insecure) return new https.Agent({ ...common, rejectUnauthorized: false });
  throw new AppError('invalid_input', '[proxmox] No TLS trust configured', {
    hint: 'Set tls.fingerprint (SHA-256 of the node certificate) or tls.caFile; tls.insecure: true disables verification.',
  });
}
