/**
 * Signed integers (s8, s16, s32, s64) as big-endian two's complement, and the
 * minimal-width encoding the spec's Appendix D vectors show.
 * https://github.com/lightning/bolts/blob/master/01-messaging.md#appendix-d-signed-integers-test-vectors
 */
import { DecodeError, EncodeError } from '../errors.ts';

const WIDTHS = [1, 2, 4, 8] as const;

/** Encodes `v` in exactly `bytes` bytes. */
export function encodeSigned(v: bigint, bytes: 1 | 2 | 4 | 8, field = 'signed'): Uint8Array {
  const bits = BigInt(8 * bytes);
  const min = -(1n << (bits - 1n));
  if (v < min || v > -min - 1n) throw new EncodeError(field, `does not fit in s${8 * bytes}`);
  let x = BigInt.asUintN(Number(bits), v);
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

export function decodeSigned(b: Uint8Array, field = 'signed'): bigint {
  if (!(WIDTHS as readonly number[]).includes(b.length)) throw new DecodeError(field, `signed integers are 1, 2, 4 or 8 bytes, got ${b.length}`);
  let x = 0n;
  for (const byte of b) x = (x << 8n) | BigInt(byte);
  return BigInt.asIntN(8 * b.length, x);
}

/** The smallest of s8/s16/s32/s64 that holds `v`. */
export function encodeSignedMinimal(v: bigint, field = 'signed'): Uint8Array {
  for (const w of WIDTHS) {
    const min = -(1n << BigInt(8 * w - 1));
    if (v >= min && v <= -min - 1n) return encodeSigned(v, w, field);
  }
  throw new EncodeError(field, 'does not fit in s64');
}
