/**
 * How every Lightning message is declared: one codec object per message type
 * that turns the payload (the bytes after the 2-byte type) into a plain typed
 * value and back. BOLT 1 framing (`bolt1/wire.ts`) dispatches on `type`.
 *
 * Conventions every codec follows:
 * - `decode` throws only DecodeError, with the field named as `<name>.<field>`.
 * - Decoding is strict where the spec says MUST (points on the curve, known TLV
 *   lengths) and tolerant of trailing TLV extensions as BOLT 1 requires.
 * - A message with a TLV extension keeps unknown odd records in `unknownTlvs`
 *   so `encode(decode(b))` is byte-identical to `b`.
 */
import { type TlvRecord } from './bolt1/tlv.ts';
import { Writer } from './bytes.ts';

export interface MessageCodec<T> {
  /** The u16 message type. */
  readonly type: number;
  /** The spec's snake_case name, used in error field paths and logs. */
  readonly name: string;
  encode(msg: T): Uint8Array;
  decode(payload: Uint8Array): T;
}

/** Carried by every message that has a TLV extension. */
// A type, not an interface: decoded messages then stay assignable to Record<string, unknown>.
export type HasUnknownTlvs = {
  unknownTlvs?: TlvRecord[];
};

export function defineMessage<T>(codec: MessageCodec<T>): MessageCodec<T> {
  return codec;
}

/** Type prefix plus payload: what BOLT 8 encrypts. */
export function frame<T>(codec: MessageCodec<T>, msg: T): Uint8Array {
  const payload = codec.encode(msg);
  return new Writer(payload.length + 2).u16(codec.type).bytes(payload).finish();
}
