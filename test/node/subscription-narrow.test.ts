/**
 * Subscription.narrow: a subscription opened before its filter was known
 * (an API stream subscribed on its headers) keeps what it queued that the
 * filter takes, drops the rest, and gives the dropped bytes back to the
 * node's pool at once.
 */
import { describe, expect, test } from 'bun:test';
import { SubscriberPool, Subscription } from '../../src/node/subscription.ts';

describe('Subscription.narrow', () => {
  test('keeps the queued events the filter takes, in order; frees the bytes of the others; filters what comes after', async () => {
    const pool = new SubscriberPool(10_000);
    const s = new Subscription<number>(() => {}, { sizeOf: (n) => n, budget: { maxBytes: 1_000, pool } });
    for (const n of [10, 11, 20, 13, 30]) s.offer(n);
    expect([s.queuedEvents, s.queuedBytes, pool.usedBytes]).toEqual([5, 84, 84]);
    s.narrow((n) => n % 10 === 0);
    expect([s.queuedEvents, s.queuedBytes, pool.usedBytes]).toEqual([3, 60, 60]);
    s.offer(41);
    s.offer(50);
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await s.next()).value as number);
    expect(got).toEqual([10, 20, 30, 50]);
    expect([s.queuedBytes, pool.usedBytes]).toEqual([0, 0]);
  });

  test('narrowing to nothing queued leaves the pool empty and the subscription open', () => {
    const pool = new SubscriberPool(10_000);
    const s = new Subscription<number>(() => {}, { sizeOf: (n) => n, budget: { maxBytes: 1_000, pool } });
    s.offer(7);
    s.narrow(() => false);
    expect([s.queuedEvents, pool.usedBytes, s.closed]).toEqual([0, 0, false]);
  });
});
