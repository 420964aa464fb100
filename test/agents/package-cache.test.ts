// The package cache's URL as the appliance setting takes it (GLASSDOME_PACKAGE_CACHE_URL) and the APT source ranges
// get from it.
import { describe, expect, it } from 'vitest';
import { aptRepositoryUrl, aptSourceLine, parsePackageCacheUrl } from '../../server/agents/package-cache.ts';
import { loadConfig } from '../../server/config.ts';

describe('the package cache URL', () => {
  it('takes the address, the port (the scheme default when none) and a path, without a trailing slash', () => {
    expect(parsePackageCacheUrl('http://192.0.2.10:3142')).toEqual({
      url: 'http://192.0.2.10:3142',
      address: '192.0.2.10',
      port: 3142,
    });
    expect(parsePackageCacheUrl(' http://192.0.2.10/glassdome/ ')).toEqual({
      url: 'http://192.0.2.10/glassdome',
      address: '192.0.2.10',
      port: 80,
    });
    expect(parsePackageCacheUrl('https://10.1.2.3')).toEqual({
      url: 'https://10.1.2.3',
      address: '10.1.2.3',
      port: 443,
    });
  });

  it('refuses what a range router could not let through by address, or apt and the shell would misread', () => {
    const error = (text: string) => (parsePackageCacheUrl(text) as { error: string }).error;
    expect(error('ftp://192.0.2.10/')).toBe('the package cache URL must be http or https');
    expect(error('http://cache.lab:3142')).toBe(
      'the package cache URL must name the appliance by its IPv4 address, not "cache.lab"',
    );
    expect(error('http://[2001:db8::1]:3142')).toMatch(/by its IPv4 address/);
    expect(error('http://127.0.0.1:3142')).toBe('127.0.0.1 is not an address a range can reach the appliance at');
    expect(error('http://0.0.0.0:3142')).toMatch(/is not an address a range can reach/);
    expect(error('http://169.254.1.1:3142')).toMatch(/is not an address a range can reach/);
    expect(error('http://255.255.255.255')).toMatch(/is not an address a range can reach/);
    expect(error('http://u:p@192.0.2.10:3142')).toBe(
      'the package cache URL takes no user, password, query or fragment',
    );
    expect(error('http://192.0.2.10:3142/?x=1')).toMatch(/no user, password, query or fragment/);
    expect(error('http://192.0.2.10/$MIRROR')).toMatch(/has unusual characters/);
    expect(error('http://192.0.2.10/a"b')).toMatch(/has unusual characters/);
    expect(error('192.0.2.10:3142')).toMatch(/is not a URL|must be http or https/);
  });

  it('gives the flat repository under /debian/ as a trusted sources.list line', () => {
    const cache = parsePackageCacheUrl('http://192.0.2.10:3142/') as { url: string; address: string; port: number };
    expect(aptRepositoryUrl(cache)).toBe('http://192.0.2.10:3142/debian/');
    expect(aptSourceLine(cache)).toBe('deb [trusted=yes] http://192.0.2.10:3142/debian/ ./');
  });
});

describe('GLASSDOME_PACKAGE_CACHE_URL', () => {
  it('is the appliance setting the plans get, parsed; unset, there is none', () => {
    expect(loadConfig({ GLASSDOME_PACKAGE_CACHE_URL: 'http://192.0.2.10:3142' }).packageCache).toEqual({
      url: 'http://192.0.2.10:3142',
      address: '192.0.2.10',
      port: 3142,
    });
    expect(loadConfig({}).packageCache).toBeUndefined();
    expect(loadConfig({ GLASSDOME_PACKAGE_CACHE_URL: '' }).packageCache).toBeUndefined();
  });

  it('refuses a bad URL at start, naming the variable', () => {
    expect(() => loadConfig({ GLASSDOME_PACKAGE_CACHE_URL: 'http://appliance.lab:3142' })).toThrow(
      'Invalid environment: GLASSDOME_PACKAGE_CACHE_URL: the package cache URL must name the appliance by its IPv4 address, not "appliance.lab" (e.g. http://192.0.2.10:3142)',
    );
  });
});
