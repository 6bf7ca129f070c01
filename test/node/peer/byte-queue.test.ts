import { describe, expect, test } from 'bun:test';
import { ByteQueue } from '../../../src/node/peer/byte-queue.ts';

const bytes = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe('ByteQueue', () => {
  test('pieces inside one chunk are views; pieces across chunks are copied once; the order is kept', () => {
    const q = new ByteQueue();
    const a = bytes(0, 10);
    q.push(a);
    q.push(bytes(10, 5));
    q.push(new Uint8Array(0));
    q.push(bytes(15, 20));
    expect(q.length).toBe(35);
    const first = q.take(4);
    expect(first.buffer).toBe(a.buffer);
    expect([...first]).toEqual([0, 1, 2, 3]);
    const across = q.take(14); // 4..17: the rest of a, all of the second, two of the third
    expect(across.buffer).not.toBe(a.buffer);
    expect([...across]).toEqual([...bytes(4, 14)]);
    expect([...q.take(17)]).toEqual([...bytes(18, 17)]);
    expect(q.length).toBe(0);
    expect(() => q.take(1)).toThrow(RangeError);
  });

  test('any split of a stream into chunks gives back the same pieces', () => {
    const stream = bytes(7, 1000);
    for (const chunk of [1, 3, 16, 999, 1000]) {
      for (const piece of [1, 18, 65, 500]) {
        const q = new ByteQueue();
        for (let i = 0; i < stream.length; i += chunk) q.push(stream.subarray(i, i + chunk));
        const out: number[] = [];
        while (q.length >= piece) out.push(...q.take(piece));
        out.push(...q.take(q.length));
        expect(out).toEqual([...stream]);
      }
    }
  });
});
