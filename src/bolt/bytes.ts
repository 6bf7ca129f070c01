/**
 * Byte plumbing shared by every codec: a bounded reader, a growable writer,
 * hex, and argument checks that name the parameter.
 *
 * The reader checks every length against what is left before it slices, so
 * no length field from the network can make us allocate more than the input
 * (DESIGN.md rule 2).
 */
import { DecodeError, EncodeError } from './errors.ts';

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string, field = 'hex'): Uint8Array {
  if (s.length % 2 !== 0) throw new DecodeError(field, 'odd number of hex digits');
  if (!/^[0-9a-fA-F]*$/.test(s)) throw new DecodeError(field, 'not hexadecimal');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lexicographic order of byte strings (BIP69 scripts, TLV-sorted keys). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

/** Checks an argument is a Uint8Array of an exact length, naming it if not. */
export function checkBytes(value: unknown, length: number | undefined, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new EncodeError(name, 'expected Uint8Array');
  if (length !== undefined && value.length !== length) {
    throw new EncodeError(name, `expected ${length} bytes, got ${value.length}`);
  }
  return value;
}

export function checkU64(value: bigint, name: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffffffn) {
    throw new EncodeError(name, 'expected an unsigned 64-bit bigint');
  }
  return value;
}

export function checkUint(value: number, bits: 8 | 16 | 32, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new EncodeError(name, `expected an unsigned ${bits}-bit integer`);
  }
  return value;
}

/** Reads big-endian fields from a buffer without ever reading past its end. */
export class Reader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    /** Prefix for field names in errors, e.g. the message name. */
    readonly context = '',
  ) {}

  private name(field: string): string {
    return this.context ? `${this.context}.${field}` : field;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  private need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new DecodeError(this.name(field), `needs ${n} bytes, only ${this.remaining} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const p = this.pos;
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    const hi = BigInt(this.u32(field));
    const lo = BigInt(this.u32(field));
    return (hi << 32n) | lo;
  }

  /** Exactly n bytes, as a copy, so decoded values never alias the input buffer. */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A u16 length prefix followed by that many bytes. */
  u16Bytes(field: string): Uint8Array {
    const n = this.u16(`${field}.len`);
    return this.bytes(n, field);
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  /** Fails if anything is left; for formats that forbid trailing data. */
  end(field = 'end'): void {
    if (this.remaining !== 0) {
      throw new DecodeError(this.name(field), `${this.remaining} unexpected trailing bytes`);
    }
  }
}

/** Builds a byte string by appending big-endian fields. */
export class Writer {
  private buf: Uint8Array;
  private len = 0;
  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number, field = 'u8'): this {
    checkUint(v, 8, field);
    this.grow(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number, field = 'u16'): this {
    checkUint(v, 16, field);
    this.grow(2);
    this.buf[this.len++] = v >>> 8;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u32(v: number, field = 'u32'): this {
    checkUint(v, 32, field);
    this.grow(4);
    this.buf[this.len++] = v >>> 24;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u64(v: bigint, field = 'u64'): this {
    checkU64(v, field);
    this.u32(Number(v >> 32n));
    this.u32(Number(v & 0xffffffffn));
    return this;
  }

  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A u16 length prefix followed by the bytes. */
  u16Bytes(b: Uint8Array, field = 'bytes'): this {
    if (b.length > 0xffff) throw new EncodeError(field, `length ${b.length} exceeds 65535`);
    return this.u16(b.length).bytes(b);
  }

  get length(): number {
    return this.len;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
