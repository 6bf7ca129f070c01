/** The inbound custom-message queue (issue 16.9): round robin per peer, byte budgets, bounds; driven with hand-set times. */
import { describe, expect, test } from 'bun:test';
import { CustomInbox } from '../../../src/node/peer/custom-inbox.ts';

const limits = { bytesPerSecond: 1000, pauseBytes: 500, perPeerBytes: 1000, totalBytes: 1500 };

function drain(inbox: CustomInbox<string>, now: number): string[] {
  const out: string[] = [];
  for (let m = inbox.take(now); m; m = inbox.take(now)) out.push(m.item);
  return out;
}

describe('CustomInbox', () => {
  test('served round robin: a peer with many waiting does not hold back one with few', () => {
    const inbox = new CustomInbox<string>({ ...limits, bytesPerSecond: 1e9 });
    for (let i = 0; i < 5; i++) inbox.push('a', `a${i}`, 10);
    inbox.push('b', 'b0', 10);
    inbox.push('b', 'b1', 10);
    inbox.push('c', 'c0', 10);
    expect(drain(inbox, 0)).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3', 'a4']);
    expect(inbox.totalBytes).toBe(0);
  });

  test("each peer within its budget: a flooding peer waits for its refill while another peer's message goes at once", () => {
    const inbox = new CustomInbox<string>({ ...limits, perPeerBytes: 2000, totalBytes: 4000 });
    for (let i = 0; i < 4; i++) inbox.push('flood', `f${i}`, 400);
    // 1000 bytes of budget: 400, 400, then 400 more into debt (tokens were left), then it must wait.
    expect(drain(inbox, 0)).toEqual(['f0', 'f1', 'f2']);
    inbox.push('quiet', 'q0', 50);
    expect(drain(inbox, 0)).toEqual(['q0']);
    expect(inbox.waitMs(0)).toBe(201); // the 200-byte debt at 1 byte/ms
    expect(drain(inbox, 200)).toEqual([]);
    expect(drain(inbox, 201)).toEqual(['f3']);
    expect(inbox.waitMs(201)).toBeUndefined();
  });

  test('bounded in bytes per peer and in total; past a bound a message is dropped, and pausing is advised first', () => {
    const inbox = new CustomInbox<string>(limits);
    expect(inbox.push('a', 'a0', 400)).toBe('queued');
    expect(inbox.shouldPause('a')).toBe(false);
    expect(inbox.push('a', 'a1', 400)).toBe('queued');
    expect(inbox.shouldPause('a')).toBe(true);
    expect(inbox.push('a', 'a2', 400)).toBe('dropped: peer over its queue bound');
    expect(inbox.push('b', 'b0', 600)).toBe('queued');
    expect(inbox.push('c', 'c0', 200)).toBe('dropped: total queue bound reached');
    expect([inbox.bytesOf('a'), inbox.bytesOf('b'), inbox.totalBytes]).toEqual([800, 600, 1400]);
    expect(drain(inbox, 0)).toEqual(['a0', 'b0', 'a1']);
    expect(inbox.shouldPause('a')).toBe(false);
  });

  test('a peer that left still has its waiting messages delivered, then nothing of it is kept', () => {
    const inbox = new CustomInbox<string>({ ...limits, bytesPerSecond: 1e9 });
    inbox.push('a', 'a0', 10);
    inbox.push('a', 'a1', 10);
    inbox.push('b', 'b0', 10);
    inbox.forget('a');
    expect(inbox.peersHeld).toBe(2);
    expect(drain(inbox, 0)).toEqual(['a0', 'b0', 'a1']);
    expect(inbox.peersHeld).toBe(1);
    inbox.forget('b');
    expect(inbox.peersHeld).toBe(0);
  });

  test('a queue that never empties keeps no slot for what it handed out (a peer always one message ahead of its budget)', () => {
    const inbox = new CustomInbox<string>({ ...limits, bytesPerSecond: 1e9 });
    inbox.push('flood', 'm0', 10);
    for (let i = 1; i <= 10_000; i++) {
      inbox.push('flood', `m${i}`, 10);
      expect(inbox.take(0)?.item).toBe(`m${i - 1}`);
    }
    // One waits; the array behind it was compacted as it went, not grown by 10,000 cleared slots.
    expect([inbox.bytesOf('flood'), inbox.slotsHeld]).toEqual([10, expect.any(Number)]);
    expect(inbox.slotsHeld).toBeLessThanOrEqual(130);
    expect(drain(inbox, 0)).toEqual(['m10000']);
  });

  test('all peers within the shared budget: once it is spent nobody is served until it refills, then each in turn', () => {
    const inbox = new CustomInbox<string>({ ...limits, bytesPerSecond: 1e9, totalBytesPerSecond: 1000, perPeerBytes: 5000, totalBytes: 10_000 });
    for (let i = 0; i < 3; i++) for (const p of ['a', 'b', 'c']) inbox.push(p, `${p}${i}`, 400);
    // 1000 bytes shared: 400, 400, then 400 into debt; the peers' own budgets are far from spent.
    expect(drain(inbox, 0)).toEqual(['a0', 'b0', 'c0']);
    // 200 bytes of debt are paid back after 200 ms; one more message then.
    expect(inbox.waitMs(0)).toBe(201);
    expect(drain(inbox, 100)).toEqual([]);
    expect(drain(inbox, 201)).toEqual(['a1']);
    expect(drain(inbox, 10_000)).toEqual(['b1', 'c1', 'a2']);
  });
});
