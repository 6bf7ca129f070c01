import { describe, expect, test } from 'bun:test';
import { CloseWaiters } from '../../src/node/channels/close-waiters.ts';
import { ManualClock } from '../support/fake-payment-channels.ts';

const settled = <T>(p: Promise<T>): Promise<{ ok: T } | { err: string }> => p.then((ok) => ({ ok }), (e: Error) => ({ err: e.message }));

describe('the callers waiting for a mutual close', () => {
  test('two calls for one channel both learn its txid; their timers are cancelled', async () => {
    const clock = new ManualClock();
    const w = new CloseWaiters(clock, 60_000);
    const [first, second, other] = [settled(w.wait('c1')), settled(w.wait('c1')), settled(w.wait('c2'))];
    w.closed('c1', 'aa'.repeat(32));
    expect([await first, await second]).toEqual([{ ok: 'aa'.repeat(32) }, { ok: 'aa'.repeat(32) }]);
    // Only c2's timer is left, and it rejects only c2.
    expect(clock.pending).toBe(1);
    clock.advance(60_000);
    expect(await other).toEqual({ err: expect.stringMatching(/did not complete the mutual close in time/) });
    expect(clock.pending).toBe(0);
  });

  test('a caller that timed out does not take a later caller with it', async () => {
    const clock = new ManualClock();
    const w = new CloseWaiters(clock, 60_000);
    const early = settled(w.wait('c1'));
    clock.advance(30_000);
    const late = settled(w.wait('c1'));
    clock.advance(30_000);
    expect(await early).toEqual({ err: expect.stringMatching(/in time/) });
    w.closed('c1', 'bb'.repeat(32));
    expect(await late).toEqual({ ok: 'bb'.repeat(32) });
  });

  test('a failed close rejects every caller with its reason, once', async () => {
    const clock = new ManualClock();
    const w = new CloseWaiters(clock, 60_000);
    const calls = [settled(w.wait('c1')), settled(w.wait('c1'))];
    w.failed('c1', 'the peer sent an error');
    w.closed('c1', 'cc'.repeat(32));
    expect(await Promise.all(calls)).toEqual([{ err: 'the peer sent an error' }, { err: 'the peer sent an error' }]);
    expect(clock.pending).toBe(0);
  });
});
