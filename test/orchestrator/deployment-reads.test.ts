// The read caches: bounded by what they hold, least recently used out first, never dropping the entry just read.
import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../server/orchestrator/deployment-reads.ts';

describe('deployment read caches', () => {
  it('keeps entries while their weights fit, dropping the least recently used first', () => {
    const cache = new BoundedCache<string>(10);
    cache.set('a', 'A', 4);
    cache.set('b', 'B', 4);
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C', 4);
    // b was used last before a: b goes, a and c stay.
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('A');
    expect(cache.get('c')).toBe('C');
  });

  it('replaces an entry with its new weight, and keeps an entry heavier than the whole cache alone', () => {
    const cache = new BoundedCache<string>(10);
    cache.set('a', 'A', 4);
    cache.set('b', 'B', 4);
    cache.set('a', 'A2', 6);
    expect(cache.get('a')).toBe('A2');
    expect(cache.get('b')).toBe('B');
    cache.set('huge', 'H', 50);
    expect(cache.get('huge')).toBe('H');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeUndefined();
    cache.set('d', 'D', 1);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('d')).toBe('D');
  });
});
