/**
 * 5-bit word helpers for BOLT #11's data part: integers of any width,
 * bytes in and out (padding with zero bits), without bech32's own limits.
 */
import { DecodeError } from '../errors.ts';

export function wordsToInt(words: number[]): number {
  let v = 0;
  for (const w of words) v = v * 32 + w;
  return v;
}

/** Minimal words for an unsigned integer (no leading zero words; 0 is no words). */
export function intToWords(v: number): number[] {
  const out: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 32)) out.unshift(x % 32);
  return out;
}

export function intToFixedWords(v: number, count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (let i = count - 1, x = v; i >= 0; i--, x = Math.floor(x / 32)) out[i] = x % 32;
  return out;
}

/** Words to bytes; trailing bits that do not fill a byte are dropped (they are padding). */
export function wordsToBytes(words: number[]): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const w of words) {
    acc = (acc << 5) | w;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/** Bytes to words, padding the last word with zero bits. */
export function bytesToWords(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0x1fff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push((acc >> bits) & 31);
    }
  }
  if (bits > 0) out.push((acc << (5 - bits)) & 31);
  return out;
}

/** Bytes of a field whose data must be exactly `len` bytes (its padding bits zero). */
export function exactBytes(words: number[], len: number, field: string): Uint8Array {
  const b = wordsToBytes(words);
  if (b.length !== len) throw new DecodeError(field, `expected ${len} bytes, got ${b.length}`);
  return b;
}
