/**
 * Bad-input testing for decoders: feeds random bytes, every truncation of
 * valid encodings, and bit-flipped copies, and checks that the decoder either
 * returns or throws DecodeError (never a RangeError, TypeError, ...).
 * Deterministic (seeded) so a failure reproduces.
 */
import { expect } from 'bun:test';
import { DecodeError } from '../../src/bolt/errors.ts';

/** xorshift32: tiny, seeded, good enough to generate inputs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

export function randomBytes(next: () => number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = next() & 0xff;
  return out;
}

export interface FuzzOptions {
  /** Valid encodings to truncate and mutate. */
  seeds?: Uint8Array[];
  /** Random inputs (besides mutations). Default 2000. */
  iterations?: number;
  maxLen?: number;
  seed?: number;
}

/** Returns how many inputs were tried; fails the test on the first foreign exception. */
export function fuzzDecoder(decode: (b: Uint8Array) => unknown, opts: FuzzOptions = {}): number {
  const next = rng(opts.seed ?? 0x5eed);
  const iterations = opts.iterations ?? 2000;
  const maxLen = opts.maxLen ?? 600;
  let tried = 0;
  const check = (input: Uint8Array): void => {
    tried++;
    try {
      decode(input);
    } catch (e) {
      if (!(e instanceof DecodeError)) {
        throw new Error(
          `decoder threw ${(e as Error)?.name}: ${(e as Error)?.message} on input ${Buffer.from(input).toString('hex').slice(0, 400)}`,
        );
      }
      expect(e.field.length).toBeGreaterThan(0);
    }
  };
  for (let i = 0; i < iterations; i++) check(randomBytes(next, next() % maxLen));
  for (const s of opts.seeds ?? []) {
    for (let n = 0; n < s.length; n++) check(s.subarray(0, n));
    for (let i = 0; i < 200 && s.length > 0; i++) {
      const m = s.slice();
      const flips = 1 + (next() % 3);
      for (let j = 0; j < flips; j++) m[next() % m.length]! ^= 1 << (next() % 8);
      check(m);
    }
  }
  return tried;
}
