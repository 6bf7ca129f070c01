/**
 * The two curve backends (src/bolt/curve.ts) give the same bytes for every
 * operation, and the same refusals; the spec vectors run through the active
 * one, which on this machine must be libsecp256k1 (a fallback to noble would
 * cost the node its speed without any test failing).
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { curve, libsecp256k1, lowS, nobleCurve, type Curve } from '../../src/bolt/curve.ts';

const lib = libsecp256k1 as Curve;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const bytes32 = (v: bigint): Uint8Array => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
const seeded = (i: number, label: string): Uint8Array => sha256(new TextEncoder().encode(`${label}/${i}`));
const both = <T>(f: (c: Curve) => T): [T, T] => [f(lib), f(nobleCurve)];
const same = <T>(f: (c: Curve) => T): void => {
  const [a, b] = both(f);
  expect(a).toEqual(b);
};

test('libsecp256k1 loads here and is the backend in use', () => {
  expect(libsecp256k1).toBeDefined();
  expect(curve.name).toBe('libsecp256k1');
});

describe('libsecp256k1 and noble agree', () => {
  const secrets = Array.from({ length: 40 }, (_, i) => seeded(i, 'secret'));
  test('public keys, products, sums and tweaks', () => {
    for (const [i, s] of secrets.entries()) {
      const p = nobleCurve.publicKey(s);
      same((c) => hex(c.publicKey(s)));
      const k = seeded(i, 'tweak');
      same((c) => hex(c.multiply(p, k)));
      same((c) => hex(c.addTweak(p, k)));
      same((c) => hex(c.add(p, nobleCurve.publicKey(k))));
    }
  });

  test('signatures: the same RFC6979 low-S bytes, recovery ids and recovered keys', () => {
    for (const [i, s] of secrets.entries()) {
      const h = seeded(i, 'hash');
      same((c) => hex(c.sign(h, s)));
      const [r1, r2] = both((c) => c.signRecoverable(h, s));
      expect(hex(r1.compact)).toBe(hex(r2.compact));
      expect(r1.recovery).toBe(r2.recovery);
      same((c) => hex(c.recover(r1.compact, r1.recovery, h) ?? new Uint8Array()));
      expect(hex(lib.recover(r1.compact, r1.recovery, h)!)).toBe(hex(nobleCurve.publicKey(s)));
      same((c) => c.verify(r1.compact, h, nobleCurve.publicKey(s)));
    }
  });

  test('refusals: high-S, out-of-range r or s, bad keys, wrong sizes', () => {
    const s = secrets[0]!;
    const h = seeded(0, 'hash');
    const pub = nobleCurve.publicKey(s);
    const sig = lib.sign(h, s);
    const high = sig.slice();
    const sv = BigInt(`0x${hex(sig.subarray(32))}`);
    high.set(bytes32(N - sv), 32);
    expect(hex(lowS(high))).toBe(hex(sig));
    const rAtN = sig.slice();
    rAtN.set(bytes32(N), 0);
    const notOnCurve = Uint8Array.of(2, ...new Uint8Array(32).fill(0xff));
    const cases: [string, Uint8Array, Uint8Array][] = [
      ['high-S', high, pub],
      ['r = n', rAtN, pub],
      ['r = 0', Uint8Array.of(...new Uint8Array(32), ...sig.subarray(32)), pub],
      ['63 bytes', sig.subarray(1), pub],
      ['key off the curve', sig, notOnCurve],
      ['uncompressed-size key', sig, new Uint8Array(65)],
      ['other key', sig, nobleCurve.publicKey(secrets[1]!)],
    ];
    for (const [name, sg, key] of cases) expect([name, ...both((c) => c.verify(sg, h, key))]).toEqual([name, false, false]);
    expect(both((c) => c.verify(sig, h, pub))).toEqual([true, true]);
    for (const p of [notOnCurve, Uint8Array.of(4, ...pub.subarray(1)), pub.subarray(1), new Uint8Array(33)]) {
      expect(both((c) => c.isPoint(p))).toEqual([false, false]);
      for (const c of [lib, nobleCurve]) expect(() => c.multiply(p, seeded(0, 'tweak'))).toThrow();
    }
    for (const bad of [new Uint8Array(32), bytes32(N)]) for (const c of [lib, nobleCurve]) expect(() => c.publicKey(bad)).toThrow();
    for (const c of [lib, nobleCurve]) expect(() => c.multiply(pub, new Uint8Array(32))).toThrow();
    // P + (-P) is the point at infinity.
    const negated = Uint8Array.of(pub[0] === 2 ? 3 : 2, ...pub.subarray(1));
    for (const c of [lib, nobleCurve]) expect(() => c.add(pub, negated)).toThrow();
  });
});
