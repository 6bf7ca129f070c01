import { describe, expect, test } from 'bun:test';
import { shard } from './unit-shards.ts';

describe('unit shards', () => {
  test('longest first to the lightest shard: totals within the longest file of each other', () => {
    const times = { a: 10, b: 7, c: 5, d: 4, e: 2, f: 1 };
    const s = shard(Object.keys(times), times, 2);
    const total = (fs: string[]) => fs.reduce((n, f) => n + times[f as keyof typeof times], 0);
    expect(s.map(total).sort()).toEqual([14, 15]);
    expect(s.flat().sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  test('files never timed count as the slowest seen, so they spread over the shards', () => {
    const s = shard(['new1', 'new2', 'old1', 'old2'], { old1: 3, old2: 1 }, 2);
    expect(s.map((fs) => fs.filter((f) => f.startsWith('new')).length)).toEqual([1, 1]);
  });

  test('never more shards than files; one shard when jobs is 1', () => {
    expect(shard(['x'], {}, 4)).toEqual([['x']]);
    expect(shard(['x', 'y'], {}, 1)).toEqual([['x', 'y']]);
  });
});
