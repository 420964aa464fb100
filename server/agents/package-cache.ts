// The appliance's package cache as ranges use it: its URL checked (an IPv4 address and port a range router can let lab
// machines reach), its APT source line, and the cloud-init `apt` section with which a first boot installs from it alone.
import { ipToInt } from '../ipam/cidr.ts';
import type { PackageCache } from '../model/plan.ts';

/** OS keys whose packages the cache holds: the offline bundle collects Debian 12's (offline-bundle/sources.ts). */
export const packageCacheOs: readonly string[] = ['debian-12'];

/** Where cloud-init writes the `apt.conf` of user-data (cc_apt_configure's APT_CONFIG_FN); first boot removes it. */
export const cloudInitAptConf = '/etc/apt/apt.conf.d/94cloud-init-config';
export const packageCacheList = '/etc/apt/sources.list.d/glassdome.list';

// A sources.list line is split on whitespace and cloud-init expands `$NAME` in it, and the URL ends up in shell text
// of the first-boot check: the path keeps to characters none of them gives a meaning to.
const safePath = /^[A-Za-z0-9._~/-]*$/;

/**
 * The cache's URL as a range reaches it: http or https, an IPv4 address (a router's firewall matches addresses, and
 * a lab may resolve no names), an optional path, nothing else. The repository is at `<url>/debian/`.
 */
export function parsePackageCacheUrl(text: string): PackageCache | { error: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { error: `"${text}" is not a URL such as http://192.0.2.10:3142` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return { error: 'the package cache URL must be http or https' };
  if (u.username || u.password || u.search || u.hash)
    return { error: 'the package cache URL takes no user, password, query or fragment' };
  const ip = ipToInt(u.hostname);
  if (ip === undefined)
    return { error: `the package cache URL must name the appliance by its IPv4 address, not "${u.hostname}"` };
  const first = ip >>> 24;
  const second = (ip >>> 16) & 0xff;
  if (first === 0 || first === 127 || first >= 224 || (first === 169 && second === 254))
    return { error: `${u.hostname} is not an address a range can reach the appliance at` };
  const pathname = u.pathname.replace(/\/+$/, '');
  if (!safePath.test(pathname)) return { error: `the package cache URL's path "${u.pathname}" has unusual characters` };
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { url: `${u.protocol}//${u.host}${pathname}`, address: u.hostname, port };
}

/** The repository's URL, as a sources.list line or an overseer fix names it. */
export function aptRepositoryUrl(cache: PackageCache): string {
  return `${cache.url}/debian/`;
}

/** `trusted=yes`: the flat index is the appliance's own, unsigned; each .deb's SHA-256 in it is still checked. */
export function aptSourceLine(cache: PackageCache): string {
  return `deb [trusted=yes] ${aptRepositoryUrl(cache)} ./`;
}

/**
 * The `apt` section of a first boot that installs from the cache. cloud-init applies it in its config stage, before
 * its final stage runs `apt-get update` and installs `packages`: apt then reads the cache's list only, so the
 * template's own sources (unreachable here) cost no timeouts, and recommends (not in the cache) are not asked for.
 * The list stays; the apt.conf restriction is removed by first boot's first command.
 */
export function cacheAptSection(cache: PackageCache): Record<string, unknown> {
  return {
    preserve_sources_list: true,
    conf: [
      '// Glassdome: first boot installs from the appliance package cache only (removed when first boot runs its commands).',
      // Relative to Dir::Etc (/etc/apt): the list below, and no sources.list.d at all ("-" names no folder).
      `Dir::Etc::SourceList "${packageCacheList.replace('/etc/apt/', '')}";`,
      'Dir::Etc::SourceParts "-";',
      'APT::Install-Recommends "false";',
      'Acquire::http::Timeout "30";',
      'Acquire::Retries "3";',
      '',
    ].join('\n'),
    sources: {
      glassdome: { filename: packageCacheList.split('/').pop()!, source: aptSourceLine(cache), append: false },
    },
  };
}
