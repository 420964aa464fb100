// The vulnerability modules of one machine as pieces of its first-boot cloud-config: packages, users, files and runcmd
// lines, merged and checked for clashes. The reaper renders the modules; cloud-init.ts adds these to what it builds.
import { AppError } from '../errors.ts';
import type { RenderedFile, RenderedUser, RenderedVulnerability } from '../model/vulnerability.ts';

/** Where apply scripts are written (root only); each is removed once it has run without error. */
export const applyDir = '/var/lib/glassdome/vulnerabilities';

export interface VulnerabilityCloudConfig {
  packages: string[];
  /** Plain passwords: the caller hashes them as it hashes the machine's own users. */
  users: RenderedUser[];
  /** Module files, flag files and apply scripts, to be written after packages are installed (deferred). */
  files: RenderedFile[];
  /** One line per module with an apply script: runs it, and ends first boot with a message if it fails. */
  runcmd: string[];
}

export interface MergeTarget {
  /** Planned machine key, for messages. */
  key: string;
  /** The machine's own users and files (scenario, router): a module may not replace them. */
  users: string[];
  files: string[];
}

export function mergeVulnerabilities(rendered: RenderedVulnerability[], target: MergeTarget): VulnerabilityCloudConfig {
  const fail = (why: string) =>
    new AppError('invalid_input', `Unable to apply vulnerabilities to machine "${target.key}": ${why}`, {
      hint: 'Remove one of the clashing modules from the machine, or give it other parameters.',
    });
  const packages: string[] = [];
  const users = new Map<string, RenderedUser & { from: string }>();
  const files: RenderedFile[] = [];
  const fileOwner = new Map<string, string>(target.files.map((f) => [f, 'the machine itself']));
  const runcmd: string[] = [];

  for (const v of rendered) {
    if (v.windows) throw fail(`module "${v.module}" is a Windows module; it cannot apply through cloud-init`);
    for (const p of v.packages) if (!packages.includes(p)) packages.push(p);
    for (const u of v.users) {
      if (target.users.includes(u.name))
        throw fail(`module "${v.module}" creates user "${u.name}", which the machine already has`);
      const prev = users.get(u.name);
      if (!prev) users.set(u.name, { ...u, groups: [...u.groups], from: v.module });
      else if (prev.password !== u.password || prev.shell !== u.shell)
        throw fail(`modules "${prev.from}" and "${v.module}" both create user "${u.name}", differently`);
      else prev.groups = [...new Set([...prev.groups, ...u.groups])];
    }
    for (const f of v.files) {
      const owner = fileOwner.get(f.path);
      if (!f.append && owner)
        throw fail(
          `module "${v.module}" writes ${f.path}, which ${owner.startsWith('the ') ? owner : `module "${owner}"`} writes too`,
        );
      if (!f.append) fileOwner.set(f.path, v.module);
      files.push(f);
    }
    if (v.applyScript) {
      const script = `${applyDir}/${v.module}.sh`;
      files.push({ path: script, content: v.applyScript, mode: '0700', owner: 'root:root', append: false });
      const failed = `glassdome: vulnerability ${v.key} did not apply (its script is ${script})`;
      runcmd.push(`sh ${script} && rm -f ${script} || { echo '${failed}' >&2; exit 1; }`);
    }
  }
  return { packages, users: [...users.values()].map(({ from: _from, ...u }) => u), files, runcmd };
}
