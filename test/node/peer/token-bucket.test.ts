/** The token bucket behind pong and custom-message budgets (limits.ts), driven by hand-set times. */
import { describe, expect, test } from 'bun:test';
import { TokenBucket } from '../../../src/node/peer/token-bucket.ts';

describe('TokenBucket', () => {
  test('starts full, takes until empty, refills at its rate up to its capacity', () => {
    const b = new TokenBucket(5, 1 / 1000);
    const taken = Array.from({ length: 7 }, () => b.take(0));
    expect(taken).toEqual([true, true, true, true, true, false, false]);
    expect(b.take(999)).toBe(false);
    expect(b.take(1000)).toBe(true);
    expect(b.take(1000)).toBe(false);
    // A long quiet spell refills to the capacity, not beyond.
    expect(Array.from({ length: 7 }, () => b.take(1_000_000)).filter(Boolean).length).toBe(5);
  });

  test('a charge may overdraw; the debt is paid back before the next charge', () => {
    const b = new TokenBucket(1000, 1); // 1000 bytes, 1 byte per ms
    b.charge(0, 3000); // one message of three buckets
    expect(b.ready(0)).toBe(false);
    expect(b.waitMs(0)).toBe(2001);
    expect(b.ready(2000)).toBe(false);
    expect(b.ready(2001)).toBe(true);
    expect(b.waitMs(2001)).toBe(0);
  });

  test('time going backwards does not mint tokens', () => {
    const b = new TokenBucket(2, 1);
    b.take(100, 2);
    expect(b.take(50)).toBe(false);
    expect(b.take(100)).toBe(false);
    expect(b.take(101)).toBe(true);
  });

  test('a bucket without capacity or rate is refused', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
  });
});
