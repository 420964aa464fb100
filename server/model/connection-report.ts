// What a driver's connection check found: shown by the wizard, Settings, the dashboard, the API and the CLI.

export interface ConnectionReport {
  ok: boolean;
  /** e.g. "Proxmox VE 9.1.2", "VMware ESXi 8.0.3", "simulator". */
  product: string;
  version?: string;
  /** What the driver checked, one line each, including what is missing (privileges, datastores). */
  details: string[];
  /** What the target offers, for the setup wizard's choices. */
  choices?: { nodes?: string[]; storages?: string[]; networks?: string[]; templates?: TemplateInfo[] };
}

export interface TemplateInfo {
  id: string;
  name: string;
  /** The catalog OS key the template is mapped to, if known. */
  os?: string;
}
