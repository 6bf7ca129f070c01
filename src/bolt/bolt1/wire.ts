/**
 * Message framing and dispatch (BOLT #1 "Lightning Message Format"): a
 * message is a u16 type then its payload, 65535 bytes at most in all.
 *
 * Dispatch policy, in one place:
 * - a type with a registered codec is decoded by it (its DecodeError propagates);
 * - a type >= 32768 is a custom message, handed to the application as bytes,
 *   even or odd: only the application knows which custom types it requires;
 * - an unknown odd type is ignored ("it's OK to be odd");
 * - an unknown even type is a DecodeError: the caller must fail the connection.
 * https://github.com/lightning/bolts/blob/master/01-messaging.md#lightning-message-format
 */
import { Reader, Writer } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { type MessageCodec } from '../message.ts';

export const MAX_MESSAGE_SIZE = 65535;
export const CUSTOM_TYPE_MIN = 32768;
/** The largest custom payload: the whole message less its 2-byte type. */
export const MAX_CUSTOM_PAYLOAD = MAX_MESSAGE_SIZE - 2;

export function encodeMessage<T>(codec: MessageCodec<T>, msg: T): Uint8Array {
  const payload = codec.encode(msg);
  if (payload.length + 2 > MAX_MESSAGE_SIZE) {
    throw new EncodeError(codec.name, `message of ${payload.length + 2} bytes exceeds ${MAX_MESSAGE_SIZE}`);
  }
  return new Writer(payload.length + 2).u16(codec.type).bytes(payload).finish();
}

export function encodeCustomMessage(type: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(type) || type < CUSTOM_TYPE_MIN || type > 0xffff) {
    throw new EncodeError('custom.type', `custom message types are ${CUSTOM_TYPE_MIN}..65535, got ${type}`);
  }
  if (payload.length > MAX_CUSTOM_PAYLOAD) {
    throw new EncodeError('custom.data', `payload of ${payload.length} bytes exceeds ${MAX_CUSTOM_PAYLOAD}`);
  }
  return new Writer(payload.length + 2).u16(type).bytes(payload).finish();
}

export type Dispatched =
  | { kind: 'known'; type: number; name: string; msg: unknown }
  | { kind: 'custom'; type: number; payload: Uint8Array }
  | { kind: 'ignored'; type: number };

export class MessageRegistry {
  private readonly codecs = new Map<number, MessageCodec<unknown>>();
  private readonly understood = new Set<number>();

  /** `understood`: even types we know but deliberately do not act on (they are dropped, not fatal). */
  constructor(codecs: Iterable<MessageCodec<unknown>> = [], understood: Iterable<number> = []) {
    for (const c of codecs) this.add(c);
    for (const t of understood) this.understood.add(t);
  }

  add(codec: MessageCodec<unknown>): this {
    if (this.codecs.has(codec.type)) throw new EncodeError('registry', `type ${codec.type} registered twice`);
    this.codecs.set(codec.type, codec);
    return this;
  }

  dispatch(message: Uint8Array): Dispatched {
    if (message.length > MAX_MESSAGE_SIZE) {
      throw new DecodeError('message', `${message.length} bytes exceeds ${MAX_MESSAGE_SIZE}`);
    }
    const r = new Reader(message, 'message');
    const type = r.u16('type');
    const payload = message.subarray(2);
    const codec = this.codecs.get(type);
    if (codec) return { kind: 'known', type, name: codec.name, msg: codec.decode(payload) };
    if (type >= CUSTOM_TYPE_MIN) return { kind: 'custom', type, payload: payload.slice() };
    if (type % 2 === 1 || this.understood.has(type)) return { kind: 'ignored', type };
    throw new DecodeError('message.type', `unknown even message type ${type}`);
  }
}
