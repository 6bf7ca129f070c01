/**
 * TLV streams (BOLT #1 "Type-Length-Value Format").
 *
 * A stream is declared once as a schema (type number, name, value codec) and
 * yields both directions. Decoding enforces every receiver rule of the spec:
 * minimal BigSize, strictly increasing types, lengths within the input,
 * exact lengths for known types, unknown even types rejected. Unknown odd
 * records are kept, not dropped, so a decoded message re-encodes to the
 * identical bytes (signatures over extensions stay valid).
 * https://github.com/lightning/bolts/blob/master/01-messaging.md#type-length-value-format
 */
import { Reader, Writer } from '../bytes.ts';
import { readBigSize, writeBigSize, decodeTruncated, encodeTruncated } from './bigsize.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { curve } from '../curve.ts';

/** How one record's value is read and written. `decode` gets exactly the record's bytes. */
export interface TlvCodec<T> {
  decode(value: Uint8Array, field: string): T;
  encode(value: T, field: string): Uint8Array;
}

export interface TlvField<T> extends TlvCodec<T> {
  type: bigint;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TlvSchema = Record<string, TlvField<any>>;

export type TlvValues<S extends TlvSchema> = {
  [K in keyof S]?: S[K] extends TlvField<infer T> ? T : never;
};

/** A record we do not understand (always odd-typed once decoded). */
export interface TlvRecord {
  type: bigint;
  value: Uint8Array;
}

export interface TlvStream<S extends TlvSchema> {
  values: TlvValues<S>;
  /** Unknown odd records in stream order, kept for byte-exact re-encoding. */
  unknown: TlvRecord[];
}

export function field<T>(type: number | bigint, codec: TlvCodec<T>): TlvField<T> {
  return { type: BigInt(type), ...codec };
}

/** Reads records until the input ends. Every rule violation is a DecodeError naming `context`. */
export function readTlvRecords(bytes: Uint8Array, context: string): TlvRecord[] {
  const r = new Reader(bytes, context);
  const records: TlvRecord[] = [];
  let last = -1n;
  while (r.remaining > 0) {
    const type = readBigSize(r, 'tlv.type');
    if (type <= last) {
      throw new DecodeError(`${context}.tlv`, `type ${type} does not strictly increase after ${last}`);
    }
    last = type;
    const len = readBigSize(r, `tlv[${type}].length`);
    if (len > BigInt(r.remaining)) {
      throw new DecodeError(`${context}.tlv[${type}]`, `length ${len} exceeds the ${r.remaining} bytes left`);
    }
    records.push({ type, value: r.bytes(Number(len), `tlv[${type}].value`) });
  }
  return records;
}

export function decodeTlvStream<S extends TlvSchema>(
  schema: S,
  bytes: Uint8Array,
  context: string,
): TlvStream<S> {
  const byType = new Map<bigint, [string, TlvField<unknown>]>();
  for (const [name, f] of Object.entries(schema)) byType.set(f.type, [name, f]);
  const values: Record<string, unknown> = {};
  const unknown: TlvRecord[] = [];
  for (const rec of readTlvRecords(bytes, context)) {
    const known = byType.get(rec.type);
    if (known) {
      const [name, f] = known;
      values[name] = f.decode(rec.value, `${context}.${name}`);
    } else if (rec.type % 2n === 0n) {
      throw new DecodeError(`${context}.tlv[${rec.type}]`, 'unknown even TLV type');
    } else {
      unknown.push(rec);
    }
  }
  return { values: values as TlvValues<S>, unknown };
}

export function writeTlvRecords(w: Writer, records: TlvRecord[], context: string): void {
  const sorted = [...records].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.type === sorted[i - 1]!.type) {
      throw new EncodeError(context, `duplicate TLV type ${sorted[i]!.type}`);
    }
  }
  for (const rec of sorted) {
    writeBigSize(w, rec.type);
    writeBigSize(w, BigInt(rec.value.length));
    w.bytes(rec.value);
  }
}

export function encodeTlvStream<S extends TlvSchema>(
  schema: S,
  values: TlvValues<S>,
  unknown: TlvRecord[] = [],
  context = 'tlv',
): Uint8Array {
  const records: TlvRecord[] = [...unknown];
  for (const [name, f] of Object.entries(schema)) {
    const v = (values as Record<string, unknown>)[name];
    if (v === undefined) continue;
    records.push({ type: f.type, value: f.encode(v, `${context}.${name}`) });
  }
  const w = new Writer();
  writeTlvRecords(w, records, context);
  return w.finish();
}

// Value codecs for the fundamental types that appear inside TLV records.

function exact(len: number, value: Uint8Array, field: string): void {
  if (value.length !== len) {
    throw new DecodeError(field, `expected ${len} bytes, got ${value.length}`);
  }
}

export const tu64: TlvCodec<bigint> = {
  decode: (v, f) => decodeTruncated(v, 8, f),
  encode: (v, f) => encodeTruncated(v, 8, f),
};

export const tu32: TlvCodec<number> = {
  decode: (v, f) => Number(decodeTruncated(v, 4, f)),
  encode: (v, f) => encodeTruncated(BigInt(v), 4, f),
};

export const tu16: TlvCodec<number> = {
  decode: (v, f) => Number(decodeTruncated(v, 2, f)),
  encode: (v, f) => encodeTruncated(BigInt(v), 2, f),
};

export const u16: TlvCodec<number> = {
  decode: (v, f) => {
    exact(2, v, f);
    return (v[0]! << 8) | v[1]!;
  },
  encode: (v, f) => new Writer(2).u16(v, f).finish(),
};

export const u64: TlvCodec<bigint> = {
  decode: (v, f) => {
    exact(8, v, f);
    return new Reader(v).u64(f);
  },
  encode: (v, f) => new Writer(8).u64(v, f).finish(),
};

/** Fixed-length opaque bytes (sha256, short_channel_id as bytes, ...). */
export function fixedBytes(len: number): TlvCodec<Uint8Array> {
  return {
    decode: (v, f) => {
      exact(len, v, f);
      return v.slice();
    },
    encode: (v, f) => {
      if (v.length !== len) throw new EncodeError(f, `expected ${len} bytes, got ${v.length}`);
      return v;
    },
  };
}

/** Whatever bytes the record holds. */
export const varBytes: TlvCodec<Uint8Array> = {
  decode: (v) => v.slice(),
  encode: (v) => v,
};

/** A 33-byte compressed secp256k1 point that must lie on the curve. */
export function decodePoint(v: Uint8Array, field: string): Uint8Array {
  exact(33, v, field);
  if (v[0] !== 2 && v[0] !== 3) throw new DecodeError(field, 'not a compressed point');
  if (!curve.isPoint(v)) throw new DecodeError(field, 'not a valid secp256k1 point');
  return v.slice();
}

export const point: TlvCodec<Uint8Array> = {
  decode: decodePoint,
  encode: (v, f) => {
    if (v.length !== 33) throw new EncodeError(f, 'expected a 33-byte compressed point');
    return v;
  },
};
