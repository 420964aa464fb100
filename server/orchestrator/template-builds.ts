// Packer template builds for a configured Proxmox VE or ESXi platform: the variables file filled from the platform's
// settings (never its secret), the commands in order with paths relative to the appliance's install, and what must be
// uploaded first. The appliance prints these; packer runs wherever the operator runs the commands.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, errorMessage } from '../errors.ts';
import type { Actor, AuditSink } from '../model/audit.ts';
import type { PlatformKind } from '../model/platform-kind.ts';
import { esxiConfigSchema, type EsxiConfig } from '../platforms/esxi/config.ts';
import { proxmoxConfigSchema, type ProxmoxConfig } from '../platforms/proxmox/config.ts';
import type { PlatformRecord } from '../platforms/store.ts';

/** The folder the code runs from: the repository root in development, /opt/glassdome/app on the appliance. */
export const appInstallDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const packerTemplates = {
  'windows-server-2022': {
    title: 'Windows Server 2022 (Desktop Experience): sysprepped, cloudbase-init, OpenSSH Server, guest agent',
    windows: true,
  },
  'ubuntu-22.04': {
    title: 'Ubuntu 22.04: cloud-init, guest agent, nftables and dnsmasq (for ranges without internet)',
    windows: false,
  },
  'ubuntu-24.04': {
    title: 'Ubuntu 24.04: cloud-init, guest agent, nftables and dnsmasq (for ranges without internet)',
    windows: false,
  },
} as const;

export type PackerTemplateName = keyof typeof packerTemplates;
export const packerTemplateNames = Object.keys(packerTemplates) as PackerTemplateName[];
export type PackerBuilder = 'proxmox-iso' | 'vsphere-iso';

/** One step of a build: why, and the exact shell command. */
export interface BuildCommand {
  purpose: string;
  command: string;
}

export interface TemplateBuild {
  template: PackerTemplateName;
  title: string;
  builder: PackerBuilder;
  /** The packer template, relative to the install folder. */
  templateFile: string;
  /** The variables file as the commands name it (relative to the install folder unless given otherwise). */
  varsFile: string;
  /** The name the variables file is downloaded as. */
  varsFileName: string;
  /** Which credential the build signs in to the platform with, and why that one. */
  credential: string;
  /** Variables the file leaves empty on purpose (passwords): what to type into each. */
  toFill: Array<{ variable: string; what: string }>;
  /** What must be on the platform (or beside the template) before the build. */
  uploads: Array<{ what: string; where: string; variable?: string; ready?: boolean }>;
  commands: BuildCommand[];
  notes: string[];
  /** What to do with the result. */
  after: string;
}

export interface TemplateBuildList {
  platform: { id: string; name: string; kind: PlatformKind };
  /** Where the commands run from (their first step changes into it). */
  installDir: string;
  builds: TemplateBuild[];
}

interface PackerTemplateFile {
  variables: Record<string, string>;
}

const refusal: Record<PlatformKind, string | undefined> = {
  proxmox: undefined,
  esxi: undefined,
  simulator: 'The simulator models its templates: it needs no build.',
  aws:
    'On AWS, machines start from AMIs (see server/platforms/aws/README.md); these packer templates are for ' +
    'Proxmox VE and ESXi.',
  azure:
    'On Azure, machines start from marketplace images (see server/platforms/azure/README.md); these packer ' +
    'templates are for Proxmox VE and ESXi.',
};

/** Whether platforms of this kind build the packer templates (Proxmox VE and ESXi). */
export const buildsTemplates = (kind: string) => kind === 'proxmox' || kind === 'esxi';

function builderFor(p: PlatformRecord): PackerBuilder {
  if (p.kind === 'proxmox') return 'proxmox-iso';
  if (p.kind === 'esxi') return 'vsphere-iso';
  throw new AppError(
    'invalid_input',
    `Platform "${p.name}" (${p.kind}) builds no packer templates: they build on Proxmox VE and ESXi platforms only`,
    { hint: refusal[p.kind] ?? 'Choose a Proxmox VE or ESXi platform.' },
  );
}

function checkTemplate(name: string): PackerTemplateName {
  if (!(name in packerTemplates))
    throw new AppError('not_found', `Packer template "${name}" does not exist`, {
      hint: `The templates are ${packerTemplateNames.join(', ')}.`,
    });
  return name as PackerTemplateName;
}

/** A word for the shell as it is, or single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '-');

/** `local:iso/name.iso` or `[datastore1] iso/name.iso` -> `name.iso` */
const isoName = (v: string | undefined) => (v ?? '').split('/').pop() ?? '';

/** The template's own file, read from the install folder: its variables and their defaults. */
export function readPackerTemplate(installDir: string, template: PackerTemplateName): PackerTemplateFile {
  const file = path.join(installDir, 'packer', template, `${template}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('conflict', `The packer template ${file} is not in this installation: ${errorMessage(e)}`, {
      cause: e,
      hint: 'Install a Glassdome build that ships packer/ (the repository, or an appliance image from this version).',
    });
  }
  return JSON.parse(text) as PackerTemplateFile;
}

interface Planned {
  variables: Record<string, string>;
  credential: string;
  toFill: TemplateBuild['toFill'];
  uploads: TemplateBuild['uploads'];
  notes: string[];
  /** Put before `packer build` (a CA file packer must trust). */
  buildEnv: string[];
  after: string;
}

function proxmoxPlan(p: PlatformRecord, cfg: ProxmoxConfig, t: PackerTemplateName, tpl: PackerTemplateFile): Planned {
  const d = tpl.variables;
  const user = cfg.auth.mode === 'password' ? cfg.auth.username : cfg.auth.tokenId.split('!')[0]!;
  const isoStorage = cfg.isoStorage ?? d.proxmox_iso_storage_pool ?? 'local';
  const bridge = cfg.uplink.bridge ?? cfg.bridge;
  const variables: Record<string, string> = {
    proxmox_url: `${cfg.url.replace(/\/+$/, '')}/api2/json`,
    proxmox_username: user,
    proxmox_password: '',
    ...(cfg.tls.insecure ? { proxmox_insecure: 'true' } : {}),
    proxmox_node: cfg.node,
    proxmox_storage_pool: cfg.storage,
    proxmox_bridge: bridge,
    ...(cfg.uplink.vlan ? { proxmox_vlan_tag: String(cfg.uplink.vlan) } : {}),
    proxmox_iso_file: `${isoStorage}:iso/${isoName(d.proxmox_iso_file)}`,
  };
  if (packerTemplates[t].windows) {
    variables.proxmox_iso_storage_pool = isoStorage;
    variables.proxmox_virtio_iso_file = `${isoStorage}:iso/${isoName(d.proxmox_virtio_iso_file)}`;
  }
  const credential =
    cfg.auth.mode === 'token'
      ? `A Proxmox user and password: "${user}", the user of the platform's API token "${cfg.auth.tokenId}". ` +
        "Packer 1.6.6's proxmox-iso builder signs in with a user and password only (API tokens came with packer " +
        "1.7.1), so the platform's token cannot be used. A user made for tokens may have no password: set one with " +
        `\`pveum passwd ${user}\` (pve realm), or put another user with the same privileges in proxmox_username.`
      : `The Proxmox user "${user}" and its password, as the platform signs in. The appliance never writes the ` +
        'stored password out: type it into the variables file.';
  const notes: string[] = [
    `The user needs to create VMs on node "${cfg.node}", allocate disks on storage "${cfg.storage}", upload ISOs to ` +
      `"${isoStorage}"${packerTemplates[t].windows ? ' (packer uploads the answer-file CD there)' : ''} and ` +
      'convert the VM into a template.',
    `The build VM joins bridge "${bridge}"${cfg.uplink.vlan ? ` on VLAN ${cfg.uplink.vlan}` : ', untagged'} (the ` +
      "platform's uplink): it needs DHCP and internet there for the whole build" +
      (packerTemplates[t].windows
        ? ' (Windows Update for OpenSSH Server, the cloudbase-init installer).'
        : ', and to reach the HTTP server packer starts on the machine running it (the autoinstall data).'),
  ];
  if (cfg.storage !== 'local-lvm')
    notes.push(
      `proxmox_storage_pool_type stays "${d.proxmox_storage_pool_type ?? 'lvm-thin'}" (the template's default): ` +
        `set it in the variables file if storage "${cfg.storage}" is of another type ` +
        '(lvm, zfspool, dir, nfs, rbd, ...).',
    );
  const buildEnv: string[] = [];
  if (cfg.tls.caFile) {
    // Go programs (packer) read an extra root certificate file from SSL_CERT_FILE.
    buildEnv.push(`SSL_CERT_FILE=${shellWord(cfg.tls.caFile)}`);
    notes.push(
      `TLS: the platform trusts the CA in ${cfg.tls.caFile}; the build command passes it to packer as SSL_CERT_FILE ` +
        '(copy the file along if packer runs on another machine).',
    );
  } else if (cfg.tls.fingerprint)
    notes.push(
      "TLS: the platform pins the certificate's SHA-256 fingerprint; packer cannot pin one and checks the " +
        "certificate against the CAs it trusts. Trust the cluster's CA (/etc/pve/pve-root-ca.pem) where packer runs " +
        '(SSL_CERT_FILE=FILE before packer build, or the system store), or set proxmox_insecure to "true" in the ' +
        'variables file knowingly.',
    );
  else notes.push('TLS: the platform skips certificate verification, so the variables file sets proxmox_insecure.');
  const uploads: TemplateBuild['uploads'] = packerTemplates[t].windows
    ? [
        {
          what: 'Windows Server 2022 ISO (evaluation or licensed media)',
          where: variables.proxmox_iso_file!,
          variable: 'proxmox_iso_file',
        },
        {
          what: 'virtio-win ISO, 0.1.229 or newer (VirtIO SCSI and network drivers, QEMU guest agent)',
          where: variables.proxmox_virtio_iso_file!,
          variable: 'proxmox_virtio_iso_file',
        },
      ]
    : [
        {
          what: `Ubuntu ${t.slice('ubuntu-'.length)} live-server ISO`,
          where: variables.proxmox_iso_file!,
          variable: 'proxmox_iso_file',
        },
      ];
  const os = t;
  const mapped = cfg.templates[os];
  return {
    variables,
    credential,
    toFill: [{ variable: 'proxmox_password', what: `the password of the Proxmox user "${user}"` }],
    uploads,
    notes,
    buildEnv,
    after:
      `Map the new template to its OS on this platform (Settings > Platforms > ${p.name}, templates): ` +
      `{"${os}": <the VMID packer printed>}` +
      (mapped ? `; today "${os}" is mapped to VMID ${mapped}.` : '.'),
  };
}

function esxiPlan(
  p: PlatformRecord,
  cfg: EsxiConfig,
  t: PackerTemplateName,
  tpl: PackerTemplateFile,
  installDir: string,
): Planned {
  const d = tpl.variables;
  const variables: Record<string, string> = {
    esxi_host: cfg.host,
    esxi_username: cfg.username,
    esxi_password: '',
    ...(cfg.tls.insecure ? { esxi_insecure: 'true' } : {}),
    esxi_datastore: cfg.datastore,
    esxi_network: cfg.uplinkPortGroup,
    esxi_iso_path: `[${cfg.datastore}] iso/${isoName(d.esxi_iso_path)}`,
  };
  const notes: string[] = [
    `The build VM joins port group "${cfg.uplinkPortGroup}" (the platform's uplink): it needs DHCP and internet ` +
      'there for the whole build' +
      (packerTemplates[t].windows
        ? ' (Windows Update for OpenSSH Server, the cloudbase-init installer).'
        : ', and to reach the HTTP server packer starts on the machine running it (the autoinstall data).'),
  ];
  if (cfg.port !== 443)
    notes.push(
      `The templates reach the host on port 443 (vsphere-iso's vcenter_server); this platform uses port ${cfg.port}.`,
    );
  const buildEnv: string[] = [];
  if (cfg.tls.caFile) {
    buildEnv.push(`SSL_CERT_FILE=${shellWord(cfg.tls.caFile)}`);
    notes.push(
      `TLS: the platform trusts the CA in ${cfg.tls.caFile}; the build command passes it to packer as SSL_CERT_FILE ` +
        '(copy the file along if packer runs on another machine).',
    );
  } else if (cfg.tls.fingerprint)
    notes.push(
      "TLS: the platform pins the host certificate's SHA-256 fingerprint; packer cannot pin one and checks the " +
        "certificate against the CAs it trusts. Trust the host's certificate or CA where packer runs " +
        '(SSL_CERT_FILE=FILE before packer build, or the system store), or set esxi_insecure to "true" in the ' +
        'variables file knowingly.',
    );
  else notes.push('TLS: the platform skips certificate verification, so the variables file sets esxi_insecure.');
  const uploads: TemplateBuild['uploads'] = [];
  if (packerTemplates[t].windows) {
    const drivers = path.join(installDir, 'packer', t, 'vsphere', 'drivers');
    const present = (() => {
      try {
        return fs.readdirSync(drivers).filter((f) => f !== 'README.md');
      } catch {
        return [];
      }
    })();
    uploads.push(
      {
        what: 'Windows Server 2022 ISO (evaluation or licensed media)',
        where: variables.esxi_iso_path!,
        variable: 'esxi_iso_path',
      },
      {
        what: "VMware Tools for Windows: the host's own ISO, nothing to upload",
        where: d.esxi_tools_iso_path ?? '[] /vmimages/tools-isoimages/windows.iso',
        variable: 'esxi_tools_iso_path',
      },
      {
        what:
          'PVSCSI and VMXNET3 drivers for Windows Setup, copied beside the template on the machine running packer ' +
          `(packer/${t}/vsphere/drivers/README.md says how)` +
          (present.length ? `; found ${present.join(', ')}` : ''),
        where: `packer/${t}/vsphere/drivers/`,
        ready: present.length > 0,
      },
    );
    notes.push(
      'packer makes the answer-file CD itself (cd_files): xorriso, mkisofs or genisoimage must be installed where ' +
        'it runs.',
    );
  } else
    uploads.push({
      what: `Ubuntu ${t.slice('ubuntu-'.length)} live-server ISO`,
      where: variables.esxi_iso_path!,
      variable: 'esxi_iso_path',
    });
  const os = t;
  const mapped = cfg.templates[os];
  const vmName = d.template_name ?? `${t}-glassdome`;
  return {
    variables,
    credential:
      `The ESXi user "${cfg.username}" and its password, as the platform signs in. The appliance never writes the ` +
      'stored password out: type it into the variables file.',
    toFill: [{ variable: 'esxi_password', what: `the password of the ESXi user "${cfg.username}"` }],
    uploads,
    notes,
    buildEnv,
    after:
      `The VM "${vmName}" is left powered off. Map it to its OS on this platform (Settings > Platforms > ${p.name}, ` +
      `templates): {"${os}": "${vmName}"}` +
      (mapped ? `; today "${os}" is mapped to "${mapped}".` : '.'),
  };
}

/**
 * The build of one template for one platform, with its variables file. Pure apart from reading the template's file
 * and, for ESXi Windows builds, listing the drivers folder. Refuses platforms that are not Proxmox VE or ESXi.
 */
export function planTemplateBuild(
  p: PlatformRecord,
  template: string,
  o: { installDir: string; varsFile?: string | undefined },
): TemplateBuild & { variables: Record<string, string> } {
  const builder = builderFor(p);
  const t = checkTemplate(template);
  const tpl = readPackerTemplate(o.installDir, t);
  const planned =
    p.kind === 'proxmox'
      ? proxmoxPlan(p, proxmoxConfigSchema.parse(p.config), t, tpl)
      : esxiPlan(p, esxiConfigSchema.parse(p.config), t, tpl, o.installDir);
  const undeclared = Object.keys(planned.variables).filter((k) => !(k in tpl.variables));
  if (undeclared.length > 0)
    throw new AppError('internal', `packer/${t}/${t}.json declares no variable ${undeclared.join(', ')}`);
  const templateFile = `packer/${t}/${t}.json`;
  const varsFileName = `${fileSafe(p.name)}.${t}.vars.json`;
  const varsFile = o.varsFile ?? `packer/${t}/build/${varsFileName}`;
  const v = shellWord(varsFile);
  const commands: BuildCommand[] = [
    {
      purpose: 'Work from the install folder: the paths below are relative to it',
      command: `cd ${shellWord(o.installDir)}`,
    },
  ];
  if (builder === 'proxmox-iso' && packerTemplates[t].windows)
    commands.push(
      {
        purpose: 'The answer-file CD the template uploads to Proxmox (its proxmox-iso has no cd_files)',
        command: `mkdir -p packer/${t}/build`,
      },
      {
        purpose: 'Windows Setup reads Autounattend.xml from it; enable-winrm.ps1 opens WinRM for packer',
        command:
          `xorriso -as mkisofs -J -R -V GD_UNATTEND -graft-points -o packer/${t}/build/autounattend.iso ` +
          `/Autounattend.xml=packer/${t}/proxmox/Autounattend.xml ` +
          `/enable-winrm.ps1=packer/${t}/scripts/enable-winrm.ps1`,
      },
    );
  commands.push(
    {
      purpose: 'Check the template with the variables file (fails until the password is filled in)',
      command: `packer validate -only=${builder} -var-file=${v} ${templateFile}`,
    },
    {
      purpose: `Build ${t} on ${p.name}`,
      command: [...planned.buildEnv, `packer build -only=${builder} -var-file=${v} ${templateFile}`].join(' '),
    },
  );
  return {
    template: t,
    title: packerTemplates[t].title,
    builder,
    templateFile,
    varsFile,
    varsFileName,
    credential: planned.credential,
    toFill: planned.toFill,
    uploads: planned.uploads,
    commands,
    notes: [
      ...planned.notes,
      `Keep the filled-in variables file private (chmod 600: it holds a password). The default place, ` +
        `packer/${t}/build/, is in the install folder` +
        (builder === 'proxmox-iso' && packerTemplates[t].windows
          ? ", as are the CD and packer's download cache (packer_cache/)"
          : '') +
        ": where that folder is not yours to write (the appliance's /opt/glassdome/app belongs to root), that takes " +
        'root, or pass another place (--vars-out FILE).',
      "The build signs in to the new VM with build_password, the template's default, which its answer files and " +
        'autoinstall data hold; packer/README-windows.md says how to change it.',
    ],
    after: planned.after,
    variables: planned.variables,
  };
}

/** The variables file's text: stable key order, two-space JSON, a final newline. */
export function variablesFileText(variables: Record<string, string>): string {
  return `${JSON.stringify(variables, null, 2)}\n`;
}

export function createTemplateBuilds(deps: {
  platforms: { get(idOrName: string): PlatformRecord };
  audit: AuditSink;
  installDir?: string;
}) {
  const installDir = deps.installDir ?? appInstallDir;
  return {
    installDir,
    /**
     * Every template's build for a platform (or only `template`), with the commands; the variables themselves (they
     * name hosts) come only from variablesFile. Refuses platforms that are not Proxmox VE or ESXi.
     */
    list(
      idOrName: string,
      o: { template?: string | undefined; varsFile?: string | undefined } = {},
    ): TemplateBuildList {
      const p = deps.platforms.get(idOrName);
      builderFor(p);
      const names = o.template ? [checkTemplate(o.template)] : packerTemplateNames;
      return {
        platform: { id: p.id, name: p.name, kind: p.kind },
        installDir,
        builds: names.map((t) => {
          const { variables: _hidden, ...build } = planTemplateBuild(p, t, { installDir, varsFile: o.varsFile });
          return build;
        }),
      };
    },
    /** The variables file of one build (passwords left empty, to fill in), audited: it names the platform's hosts. */
    variablesFile(
      actor: Actor,
      idOrName: string,
      template: string,
      o: { varsFile?: string | undefined } = {},
    ): { fileName: string; text: string; build: TemplateBuild } {
      const p = deps.platforms.get(idOrName);
      const { variables, ...build } = planTemplateBuild(p, template, { installDir, varsFile: o.varsFile });
      deps.audit.record(actor, 'platform.template-vars', `platform:${p.name}`, `${build.template} (${build.builder})`);
      return { fileName: build.varsFileName, text: variablesFileText(variables), build };
    },
  };
}

export type TemplateBuilds = ReturnType<typeof createTemplateBuilds>;
