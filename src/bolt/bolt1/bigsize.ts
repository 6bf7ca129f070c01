/**
 * BigSize (BOLT #1 "Fundamental Types", Appendix A) and the truncated
 * integers tu16/tu32/tu64 used as the last field of TLV records.
 * https://github.com/lightning/bolts/blob/master/01-messaging.md#appendix-a-bigsize-test-vectors
 */
import { DecodeError, EncodeError } from '../errors.ts';
import { type Reader, type Writer } from '../bytes.ts';

const MAX_U64 = 0xffffffffffffffffn;

export function bigSizeLength(v: bigint): number {
  if (v < 0xfdn) return 1;
  if (v <= 0xffffn) return 3;
  if (v <= 0xffffffffn) return 5;
  return 9;
}

export function writeBigSize(w: Writer, v: bigint, field = 'bigsize'): Writer {
  if (v < 0n || v > MAX_U64) throw new EncodeError(field, 'out of u64 range');
  if (v < 0xfdn) return w.u8(Number(v));
  if (v <= 0xffffn) return w.u8(0xfd).u16(Number(v));
  if (v <= 0xffffffffn) return w.u8(0xfe).u32(Number(v));
  return w.u8(0xff).u64(v);
}

/** Reads a BigSize, rejecting non-canonical (non-minimal) encodings. */
export function readBigSize(r: Reader, field = 'bigsize'): bigint {
  const first = r.u8(field);
  if (first < 0xfd) return BigInt(first);
  if (first === 0xfd) {
    const v = r.u16(field);
    if (v < 0xfd) throw new DecodeError(field, 'BigSize not minimally encoded');
    return BigInt(v);
  }
  if (first === 0xfe) {
    const v = r.u32(field);
    if (v <= 0xffff) throw new DecodeError(field, 'BigSize not minimally encoded');
    return BigInt(v);
  }
  const v = r.u64(field);
  if (v <= 0xffffffffn) throw new DecodeError(field, 'BigSize not minimally encoded');
  return v;
}

/** Encodes an unsigned integer with leading zero bytes omitted (tu16/tu32/tu64). */
export function encodeTruncated(v: bigint, maxBytes: 2 | 4 | 8, field = 'tu'): Uint8Array {
  if (v < 0n || v >= 1n << BigInt(8 * maxBytes)) {
    throw new EncodeError(field, `does not fit in tu${8 * maxBytes}`);
  }
  const out: number[] = [];
  for (let x = v; x > 0n; x >>= 8n) out.unshift(Number(x & 0xffn));
  return Uint8Array.from(out);
}

/** Decodes a truncated integer that must fill exactly `bytes` and be minimal. */
export function decodeTruncated(bytes: Uint8Array, maxBytes: 2 | 4 | 8, field = 'tu'): bigint {
  if (bytes.length > maxBytes) {
    throw new DecodeError(field, `tu${8 * maxBytes} longer than ${maxBytes} bytes`);
  }
  if (bytes.length > 0 && bytes[0] === 0) {
    throw new DecodeError(field, 'truncated integer not minimally encoded');
  }
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
