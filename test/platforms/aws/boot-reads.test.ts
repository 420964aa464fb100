// When the AWS driver reads a booting machine's console: by the tenth of its uptime, and, once a copy of it in
// another lab instance was seen ready, on times around that one. Pure functions, tested by value.
import { describe, expect, it } from 'vitest';
import { copyKey, createCopyBoots, nextReadIn } from '../../../server/platforms/aws/boot-reads.ts';

const poll = { minMs: 1000, maxMs: 3000 };
const noJitter = () => 0.5;

/** The uptimes at which a machine is read, from its first read at `first` until `until`, each read taking `takes`. */
function reads(copy: number | undefined, until: number, first = 300, takes = 160): number[] {
  const out: number[] = [];
  for (let sent = first; sent < until;) {
    out.push(Math.round(sent));
    const up = sent + takes;
    sent = up + nextReadIn(up, sent, poll, copy, noJitter);
  }
  return out;
}

describe('AWS console reads during a first boot', () => {
  it('come after a tenth of the uptime, within minMs..maxMs, without a copy seen ready', () => {
    expect(nextReadIn(2_000, 1_800, poll, undefined, noJitter)).toBe(1000);
    expect(nextReadIn(15_000, 14_800, poll, undefined, noJitter)).toBe(1500);
    expect(nextReadIn(90_000, 89_800, poll, undefined, noJitter)).toBe(3000);
    expect(nextReadIn(15_000, 14_800, poll, undefined, () => 0)).toBeCloseTo(1350);
    expect(nextReadIn(15_000, 14_800, poll, undefined, () => 1)).toBeCloseTo(1650);
    // A 30 s boot: about 20 reads, and the last gap before 30 s is close to 3 s.
    const r = reads(undefined, 34_000);
    expect(r.length).toBeGreaterThan(15);
    expect(r.length).toBeLessThan(25);
    expect(r.find((x) => x >= 30_000)! - 30_000).toBeGreaterThan(0);
  });

  it('land on the time a copy was seen ready, every minMs from 90% of it, and keep minMs apart', () => {
    const r = reads(30_200, 40_000);
    expect(r).toContain(30_200);
    // From 90% of 30.2 s (27.18 s) to 110% of it (33.22 s), every second on 30.2 s; before and after, the tenth.
    expect(r.filter((x) => x >= 25_000 && x <= 34_000)).toEqual([
      25_035, 27_200, 28_200, 29_200, 30_200, 31_200, 32_200, 33_200,
    ]);
    expect(reads(undefined, 40_000).filter((x) => x >= 25_000 && x <= 34_000)).toEqual([
      25_035, 27_714, 30_662, 33_822,
    ]);
    for (let i = 1; i < r.length; i++) expect(r[i]! - r[i - 1]!).toBeGreaterThanOrEqual(1000);
    // A read on the grid sent 20 ms late does not push the next one off it.
    expect(nextReadIn(29_380, 29_220, poll, 30_200, noJitter)).toBe(820);
    // Past 110% of the copy's time, the tenth again.
    const after = r.filter((x) => x > 33_220);
    for (let i = 1; i < after.length; i++) expect(after[i]! - after[i - 1]!).toBeGreaterThan(3000);
  });

  it('around a long boot, go every 2% of it and not more than ten extra times', () => {
    const r = reads(300_000, 400_000, 300, 160).filter((x) => x >= 270_000 && x <= 330_000);
    expect(r).toContain(300_000);
    expect(r.length).toBeLessThanOrEqual(11);
    expect(r.slice(1).map((x, i) => x - r[i]!)).toEqual(Array(r.length - 1).fill(6000));
  });

  it('count copies by scenario machine, type and image, not by lab instance', () => {
    expect(copyKey('gd-ab12cd34-i1-web-1', 't3.small', 'ami-1')).toBe(
      copyKey('gd-ab12cd34-i17-web-1', 't3.small', 'ami-1'),
    );
    expect(copyKey('gd-ab12cd34-i1-web-1', 't3.small', 'ami-1')).not.toBe(
      copyKey('gd-ab12cd34-i1-web-2', 't3.small', 'ami-1'),
    );
    expect(copyKey('gd-ab12cd34-i1-web-1', 't3.small', 'ami-1')).not.toBe(
      copyKey('gd-ab12cd34-i2-web-1', 't3.large', 'ami-1'),
    );
    expect(copyKey('gd-ab12cd34-i1-web-1', 't3.small', 'ami-1')).not.toBe(
      copyKey('gd-ab12cd34-i2-web-1', 't3.small', 'ami-2'),
    );
    expect(copyKey('gd-ab12cd34-i1-web-1', 't3.small', 'ami-1')).not.toBe(
      copyKey('gd-zz99zz99-i1-web-1', 't3.small', 'ami-1'),
    );
  });

  it('remember the quickest copy per machine, and forget the oldest machines past the limit', () => {
    const boots = createCopyBoots(2);
    boots.seen('a', 31_000);
    boots.seen('a', 30_400);
    boots.seen('a', 33_000);
    expect(boots.get('a')).toBe(30_400);
    boots.seen('b', 40_000);
    boots.seen('c', 50_000);
    expect(boots.get('a')).toBeUndefined();
    expect([boots.get('b'), boots.get('c')]).toEqual([40_000, 50_000]);
  });

  it('wake a machine waiting for its next read when a quicker copy is seen, and only then', async () => {
    const boots = createCopyBoots();
    boots.seen('a', 31_000);
    expect(await boots.wait('a', 20)).toBe(false);
    const woken = boots.wait('a', 10_000);
    const other = boots.wait('b', 30);
    boots.seen('a', 32_000);
    boots.seen('b', 1_000);
    expect(await other).toBe(true);
    let settled = false;
    void woken.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    boots.seen('a', 30_500);
    expect(await woken).toBe(true);
    const ac = new AbortController();
    const aborted = boots.wait('a', 10_000, ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(aborted).rejects.toThrow('cancelled');
  });
});
