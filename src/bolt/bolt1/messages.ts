/**
 * The BOLT #1 setup and control messages: init, error, warning, ping, pong.
 * https://github.com/lightning/bolts/blob/master/01-messaging.md#setup-messages
 */
import { Reader, Writer } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { defineMessage, type HasUnknownTlvs } from '../message.ts';
import { FeatureVector } from '../bolt9/features.ts';
import { decodeAddress, encodeAddress, type NetAddress } from './address.ts';
import { decodeTlvStream, encodeTlvStream, field, type TlvCodec } from './tlv.ts';

export const MessageType = {
  warning: 1,
  init: 16,
  error: 17,
  ping: 18,
  pong: 19,
} as const;

const chainHashes: TlvCodec<Uint8Array[]> = {
  decode(v, f) {
    if (v.length % 32 !== 0) throw new DecodeError(f, `length ${v.length} is not a multiple of 32`);
    const out: Uint8Array[] = [];
    for (let i = 0; i < v.length; i += 32) out.push(v.slice(i, i + 32));
    return out;
  },
  encode(v, f) {
    const w = new Writer(32 * v.length);
    for (const h of v) {
      if (h.length !== 32) throw new EncodeError(f, 'chain hashes are 32 bytes');
      w.bytes(h);
    }
    return w.finish();
  },
};

/**
 * remote_addr is only a hint (BOLT 1: the receiver MAY use it for its
 * node_announcement), so one we cannot parse, such as an address type newer
 * than us, is kept as bytes and ignored rather than failing the connection.
 */
type RemoteAddr = { parsed: NetAddress } | { raw: Uint8Array };
const remoteAddr: TlvCodec<RemoteAddr> = {
  decode(v, f) {
    try {
      return { parsed: decodeAddress(v, f) };
    } catch (e) {
      if (e instanceof DecodeError) return { raw: v.slice() };
      throw e;
    }
  },
  encode: (a, f) => ('parsed' in a ? encodeAddress(a.parsed, f) : a.raw),
};

const initTlvs = {
  networks: field(1, chainHashes),
  remoteAddr: field(3, remoteAddr),
};

export interface Init extends HasUnknownTlvs {
  /** Legacy global features as sent (bits 0..13); kept so re-encoding is exact. */
  globalFeatures: FeatureVector;
  features: FeatureVector;
  networks?: Uint8Array[];
  remoteAddr?: NetAddress;
  /** A remote_addr we could not parse (an unknown address type), kept so re-encoding is exact; ignored otherwise. */
  remoteAddrUnparsed?: Uint8Array;
}

/** The feature set a receiver acts on: globalfeatures OR features (BOLT 1). */
export const initFeatures = (m: Init): FeatureVector => m.globalFeatures.or(m.features);

export const initCodec = defineMessage<Init>({
  type: MessageType.init,
  name: 'init',
  encode(m) {
    const w = new Writer();
    w.u16Bytes(m.globalFeatures.encode(), 'init.globalfeatures');
    w.u16Bytes(m.features.encode(), 'init.features');
    const addr: RemoteAddr | undefined = m.remoteAddr ? { parsed: m.remoteAddr } : m.remoteAddrUnparsed ? { raw: m.remoteAddrUnparsed } : undefined;
    w.bytes(encodeTlvStream(initTlvs, { networks: m.networks, remoteAddr: addr }, m.unknownTlvs, 'init.tlvs'));
    return w.finish();
  },
  decode(payload) {
    const r = new Reader(payload, 'init');
    const globalFeatures = FeatureVector.decode(r.u16Bytes('globalfeatures'), 'init.globalfeatures');
    const features = FeatureVector.decode(r.u16Bytes('features'), 'init.features');
    const tlvs = decodeTlvStream(initTlvs, r.rest(), 'init.tlvs');
    const m: Init = { globalFeatures, features };
    if (tlvs.values.networks) m.networks = tlvs.values.networks;
    const addr = tlvs.values.remoteAddr;
    if (addr && 'parsed' in addr) m.remoteAddr = addr.parsed;
    else if (addr) m.remoteAddrUnparsed = addr.raw;
    if (tlvs.unknown.length) m.unknownTlvs = tlvs.unknown;
    return m;
  },
});

/** error and warning share a layout: a channel (all zero = every channel) and text. */
export type ErrorMessage = {
  channelId: Uint8Array;
  data: Uint8Array;
};

function errorLike(type: number, name: string) {
  return defineMessage<ErrorMessage>({
    type,
    name,
    encode(m) {
      if (m.channelId.length !== 32) throw new EncodeError(`${name}.channel_id`, 'expected 32 bytes');
      return new Writer(34 + m.data.length).bytes(m.channelId).u16Bytes(m.data, `${name}.data`).finish();
    },
    decode(payload) {
      const r = new Reader(payload, name);
      const m = { channelId: r.bytes(32, 'channel_id'), data: r.u16Bytes('data') };
      // Trailing bytes are allowed: future extensions (BOLT 1 message format).
      return m;
    },
  });
}

export const errorCodec = errorLike(MessageType.error, 'error');
export const warningCodec = errorLike(MessageType.warning, 'warning');

/** Readable text of an error/warning if it is printable ASCII, else hex; for logs. */
export function errorText(m: ErrorMessage): string {
  const s = new TextDecoder('utf-8', { fatal: false }).decode(m.data);
  return /^[\x20-\x7e\n\t]*$/.test(s) ? s : Buffer.from(m.data).toString('hex');
}

export interface Ping {
  numPongBytes: number;
  ignored: Uint8Array;
}
export interface Pong {
  ignored: Uint8Array;
}

export const pingCodec = defineMessage<Ping>({
  type: MessageType.ping,
  name: 'ping',
  encode: (m) => new Writer(4 + m.ignored.length).u16(m.numPongBytes, 'ping.num_pong_bytes').u16Bytes(m.ignored).finish(),
  decode(payload) {
    const r = new Reader(payload, 'ping');
    return { numPongBytes: r.u16('num_pong_bytes'), ignored: r.u16Bytes('ignored') };
  },
});

export const pongCodec = defineMessage<Pong>({
  type: MessageType.pong,
  name: 'pong',
  encode: (m) => new Writer(2 + m.ignored.length).u16Bytes(m.ignored, 'pong.ignored').finish(),
  decode(payload) {
    const r = new Reader(payload, 'pong');
    return { ignored: r.u16Bytes('ignored') };
  },
});

/**
 * The pong a ping asks for, or null: a num_pong_bytes of 65532 or more
 * means "do not answer" (a pong that large would not fit a message).
 */
export function pongFor(ping: Ping): Pong | null {
  if (ping.numPongBytes >= 65532) return null;
  return { ignored: new Uint8Array(ping.numPongBytes) };
}
