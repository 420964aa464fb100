// The region's call limiter: a slot when one is free, else calls that move a launched machine first, then machine
// operations, then network ones, and within each the operation that began first.
import { describe, expect, it } from 'vitest';
import { createRegionLimiter } from '../../../server/platforms/aws/limits.ts';

describe('AWS region limiter', () => {
  it('grants free slots at once and serves waiting calls by rank, then by when their operation began', async () => {
    const l = createRegionLimiter(1);
    const hold = await l.acquire();
    const order: string[] = [];
    const wait = (name: string, rank: number, began: number) =>
      l.acquire(undefined, { rank, began }).then((release) => {
        order.push(name);
        release();
      });
    const all = [
      wait('network begun at 1', 2, 1),
      wait('machine begun at 5', 1, 5),
      wait('other', 3, 0),
      wait('launch begun at 9', 0, 9),
      wait('machine begun at 2', 1, 2),
      wait('second network begun at 1', 2, 1),
    ];
    hold();
    await Promise.all(all);
    expect(order).toEqual([
      'launch begun at 9',
      'machine begun at 2',
      'machine begun at 5',
      'network begun at 1',
      'second network begun at 1',
      'other',
    ]);
  });

  it('drops a waiting call whose signal aborts, and its slot goes to the next', async () => {
    const l = createRegionLimiter(1);
    const hold = await l.acquire();
    const ac = new AbortController();
    const dropped = l.acquire(ac.signal, { rank: 0, began: 0 });
    const next = l.acquire(undefined, { rank: 2, began: 0 });
    ac.abort(new Error('gone'));
    await expect(dropped).rejects.toThrow('gone');
    hold();
    const release = await next;
    release();
    // Every slot is back: the next caller is served at once.
    (await l.acquire())();
  });
});
