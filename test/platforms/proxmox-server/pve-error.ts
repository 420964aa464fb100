// The errors the fake Proxmox server raises, shaped like pveproxy's responses (relevant.md section 2).
// Handlers throw PveError; the server turns it into status, reason phrase and JSON body in one place.

export class PveError extends Error {
  readonly status: number;
  /** Per-parameter messages, only for 400 `Parameter verification failed.` */
  readonly errors?: Record<string, string>;
  /** 401 and 595/596 answers carry no JSON body. */
  readonly emptyBody: boolean;

  constructor(status: number, message: string, opts: { errors?: Record<string, string>; emptyBody?: boolean } = {}) {
    super(message);
    this.name = 'PveError';
    this.status = status;
    this.errors = opts.errors;
    this.emptyBody = opts.emptyBody ?? false;
  }
}

/** A handler `die "...\n"`: HTTP 500 with the message as reason and in the body. */
export function dieError(message: string): PveError {
  return new PveError(500, message);
}

/** `raise_param_exc`: HTTP 400 with per-parameter errors. */
export function paramError(errors: Record<string, string>): PveError {
  return new PveError(400, 'Parameter verification failed.', { errors });
}

export function configMissing(node: string, vmid: number): PveError {
  return dieError(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
}

export function vmLockTimeout(vmid: number): PveError {
  return dieError(`can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`);
}

export function storageLockTimeout(storage: string): PveError {
  return dieError(`can't lock file '/var/lock/pve-manager/pve-storage-${storage}' - got timeout`);
}
