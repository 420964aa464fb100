import { describe, expect, it } from 'vitest';
import { compareVersions, inRange, parseCpe23 } from '../../server/research/cpe.ts';

describe('CPE names and versions', () => {
  it('parses a CPE 2.3 name, quoted characters included, and fills missing parts with ANY', () => {
    expect(parseCpe23('cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*')).toEqual({
      part: 'a',
      vendor: 'apache',
      product: 'http_server',
      version: '2.4.49',
      update: '*',
    });
    expect(parseCpe23('cpe:2.3:a:gnu:c\\+\\+:1.0')).toMatchObject({ product: 'c++', version: '1.0' });
    expect(parseCpe23('cpe:2.3:o:debian:debian_linux')).toMatchObject({ part: 'o', version: '*' });
    expect(parseCpe23('cpe:/a:apache:http_server:2.4')).toBeUndefined();
    expect(parseCpe23('apache httpd')).toBeUndefined();
  });

  it('compares versions as versions', () => {
    const ordered = [
      '0.9',
      '1.0rc1',
      '1.0',
      '1.0.1',
      '1.9',
      '1.10',
      '2.4.49',
      '2.4.50',
      '8.9p1',
      '9.3p1',
      '9.3p2',
      '9.8p1',
    ];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(ordered[i]!, ordered[i + 1]!), `${ordered[i]} < ${ordered[i + 1]}`).toBeLessThan(0);
      expect(compareVersions(ordered[i + 1]!, ordered[i]!)).toBeGreaterThan(0);
    }
    expect(compareVersions('2.4.49', '2.4.49')).toBe(0);
  });

  it('tests a version against NVD-style bounds', () => {
    expect(inRange('2.4.55', { startIncluding: '2.4.0', endExcluding: '2.4.56' })).toBe(true);
    expect(inRange('2.4.56', { startIncluding: '2.4.0', endExcluding: '2.4.56' })).toBe(false);
    expect(inRange('2.3.9', { startIncluding: '2.4.0', endExcluding: '2.4.56' })).toBe(false);
    expect(inRange('1.8.28', { endIncluding: '1.8.28' })).toBe(true);
    expect(inRange('1.8.28', { startExcluding: '1.8.28' })).toBe(false);
    expect(inRange('2.4.50', { exact: '2.4.49' })).toBe(false);
    expect(inRange('anything', {})).toBe(true);
  });
});
