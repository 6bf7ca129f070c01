/**
 * Messages declared once: an ordered list of fixed fields plus an optional
 * TLV extension, from which the encoder, the decoder and the TypeScript type
 * all follow. TLV values sit on the message object as optional fields beside
 * the fixed ones; unknown odd records are kept in `unknownTlvs`.
 */
import { Reader, Writer } from './bytes.ts';
import { DecodeError, EncodeError } from './errors.ts';
import { defineMessage, type HasUnknownTlvs, type MessageCodec } from './message.ts';
import { decodePoint, decodeTlvStream, encodeTlvStream, type TlvSchema, type TlvValues } from './bolt1/tlv.ts';
import {
  type CltvExpiry,
  type FeeratePerKw,
  type Msat,
  type Sat,
  cltvExpiry,
  feeratePerKw,
  msat,
  sat,
} from './units.ts';

export interface FieldCodec<T> {
  read(r: Reader, name: string): T;
  write(w: Writer, v: T, name: string): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fields = Record<string, FieldCodec<any>>;
export type StructOf<F extends Fields> = { [K in keyof F]: F[K] extends FieldCodec<infer T> ? T : never };
export type MessageOf<F extends Fields, S extends TlvSchema> = StructOf<F> & TlvValues<S> & HasUnknownTlvs;

export const u8: FieldCodec<number> = { read: (r, n) => r.u8(n), write: (w, v, n) => w.u8(v, n) };
export const u16: FieldCodec<number> = { read: (r, n) => r.u16(n), write: (w, v, n) => w.u16(v, n) };
export const u32: FieldCodec<number> = { read: (r, n) => r.u32(n), write: (w, v, n) => w.u32(v, n) };
export const u64: FieldCodec<bigint> = { read: (r, n) => r.u64(n), write: (w, v, n) => w.u64(v, n) };
export const satoshis: FieldCodec<Sat> = { read: (r, n) => sat(r.u64(n)), write: (w, v, n) => w.u64(v, n) };
export const millisatoshis: FieldCodec<Msat> = { read: (r, n) => msat(r.u64(n)), write: (w, v, n) => w.u64(v, n) };
export const feerate: FieldCodec<FeeratePerKw> = { read: (r, n) => feeratePerKw(r.u32(n)), write: (w, v, n) => w.u32(v, n) };
export const cltv: FieldCodec<CltvExpiry> = { read: (r, n) => cltvExpiry(r.u32(n)), write: (w, v, n) => w.u32(v, n) };

export function bytes(len: number): FieldCodec<Uint8Array> {
  return {
    read: (r, n) => r.bytes(len, n),
    write(w, v, n) {
      if (!(v instanceof Uint8Array) || v.length !== len) throw new EncodeError(n, `expected ${len} bytes`);
      w.bytes(v);
    },
  };
}

/** A u16 length then that many bytes. */
export const u16Bytes: FieldCodec<Uint8Array> = {
  read: (r, n) => r.u16Bytes(n),
  write: (w, v, n) => w.u16Bytes(v, n),
};

/** A compressed secp256k1 point, checked to be on the curve. */
export const point: FieldCodec<Uint8Array> = {
  read: (r, n) => decodePoint(r.bytes(33, n), `${r.context}.${n}`),
  write(w, v, n) {
    if (v.length !== 33) throw new EncodeError(n, 'expected a 33-byte point');
    w.bytes(v);
  },
};

export const signature = bytes(64);
export const sha256 = bytes(32);
export const channelId = bytes(32);

/** A u16 count then that many items; the count is bounded by what is left before allocating. */
export function u16Array<T>(item: FieldCodec<T>, itemMinSize: number): FieldCodec<T[]> {
  return {
    read(r, n) {
      const count = r.u16(`${n}.count`);
      if (count * itemMinSize > r.remaining) {
        throw new DecodeError(`${r.context}.${n}`, `${count} items cannot fit in the ${r.remaining} bytes left`);
      }
      const out: T[] = [];
      for (let i = 0; i < count; i++) out.push(item.read(r, `${n}[${i}]`));
      return out;
    },
    write(w, v, n) {
      if (v.length > 0xffff) throw new EncodeError(n, 'more than 65535 items');
      w.u16(v.length);
      v.forEach((x, i) => item.write(w, x, `${n}[${i}]`));
    },
  };
}

/**
 * Declares a message. Trailing bytes after the fixed fields are the TLV
 * extension when `tlvs` is given; without one they are ignored, as BOLT 1
 * tells readers to do for messages that may be extended later.
 */
export function message<F extends Fields, S extends TlvSchema = Record<never, never>>(
  type: number,
  name: string,
  fields: F,
  tlvs?: S,
): MessageCodec<MessageOf<F, S>> {
  return defineMessage<MessageOf<F, S>>({
    type,
    name,
    encode(m) {
      const w = new Writer(128);
      for (const [k, f] of Object.entries(fields)) f.write(w, (m as Record<string, unknown>)[k], `${name}.${k}`);
      if (tlvs) w.bytes(encodeTlvStream(tlvs, m as TlvValues<S>, m.unknownTlvs, `${name}.tlvs`));
      return w.finish();
    },
    decode(payload) {
      const r = new Reader(payload, name);
      const out: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(fields)) out[k] = f.read(r, k);
      if (tlvs) {
        const stream = decodeTlvStream(tlvs, r.rest(), `${name}.tlvs`);
        Object.assign(out, stream.values);
        if (stream.unknown.length) out.unknownTlvs = stream.unknown;
      }
      return out as MessageOf<F, S>;
    },
  });
}
