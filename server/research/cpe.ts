// CPE 2.3 names and version ranges: parsing a formatted string (cpe:2.3:part:vendor:product:version:...), comparing
// versions the way package versions read (1.10 > 1.9, 1.0rc1 < 1.0), and testing a version against NVD's bounds.

/** A version range of an affected product, as NVD's cpeMatch and CVE 5's versions give it. */
export interface VersionRange {
  exact?: string;
  startIncluding?: string;
  startExcluding?: string;
  endIncluding?: string;
  endExcluding?: string;
}

export interface Cpe {
  part: string;
  vendor: string;
  product: string;
  version: string;
  update: string;
}

/** Parses a CPE 2.3 formatted string; missing trailing components are ANY (`*`). Undefined when it is not one. */
export function parseCpe23(s: string): Cpe | undefined {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      // Quoted characters (`\:`, `\.`) belong to the value; the backslash does not.
      cur += s[++i];
    } else if (c === ':') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  if (parts[0] !== 'cpe' || parts[1] !== '2.3' || parts.length < 5 || !/^[aoh*]$/.test(parts[2]!)) return undefined;
  const at = (i: number) => (parts[i] === undefined || parts[i] === '' ? '*' : parts[i]!.toLowerCase());
  return { part: at(2), vendor: at(3), product: at(4), version: at(5), update: at(6) };
}

type Token = number | string;

function tokens(v: string): Token[] {
  return (v.toLowerCase().match(/\d+|[a-z]+/g) ?? []).map((t) => (/^\d+$/.test(t) ? Number(t) : t));
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const x = tokens(a);
  const y = tokens(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === q) continue;
    // 1.0 < 1.0.1, but 1.0rc1 < 1.0: a letter after the common part marks a pre-release.
    if (p === undefined) return typeof q === 'string' ? 1 : -1;
    if (q === undefined) return typeof p === 'string' ? -1 : 1;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    if (typeof p === 'number') return 1;
    if (typeof q === 'number') return -1;
    return p < q ? -1 : 1;
  }
  return 0;
}

export function inRange(version: string, r: VersionRange): boolean {
  if (r.exact !== undefined && compareVersions(version, r.exact) !== 0) return false;
  if (r.startIncluding !== undefined && compareVersions(version, r.startIncluding) < 0) return false;
  if (r.startExcluding !== undefined && compareVersions(version, r.startExcluding) <= 0) return false;
  if (r.endIncluding !== undefined && compareVersions(version, r.endIncluding) > 0) return false;
  if (r.endExcluding !== undefined && compareVersions(version, r.endExcluding) >= 0) return false;
  return true;
}
