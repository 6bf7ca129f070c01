/**
 * Returned errors (BOLT #4 "Returning Errors"): the erring node authenticates
 * the failure with its `um` key and pads it so its length says nothing; every
 * hop on the way back xors in its `ammag` stream; the origin node peels those
 * layers in route order and blames the first hop whose HMAC verifies.
 *
 * Attribution data (`option_attribution_data`, hold times and truncated
 * HMACs) is not implemented.
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#returning-errors
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { Reader, Writer, checkBytes, equalBytes } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { cipherStream, generateKey, xorInto } from './keys.ts';

export const FAILURE_HMAC_LENGTH = 32;
/** failure_len + pad_len the spec asks for, so older nodes can parse the packet. */
export const DEFAULT_FAILURE_PAD_TO = 256;
/** The origin node decrypts this many layers whatever the route length (spec: 27). */
export const FAILURE_DECRYPT_ROUNDS = 27;

export interface BuildFailureOptions {
  /** Pad so that failure_len + pad_len reaches this (at least 256). */
  padTo?: number;
}

/**
 * hmac || u16 failure_len || failuremsg || u16 pad_len || zeros, before any
 * obfuscation: what the erring node authenticates with its `um` key.
 */
export function buildFailurePacket(
  sharedSecret: Uint8Array,
  failureMessage: Uint8Array,
  opts: BuildFailureOptions = {},
): Uint8Array {
  checkBytes(sharedSecret, 32, 'sharedSecret');
  checkBytes(failureMessage, undefined, 'failureMessage');
  const padTo = opts.padTo ?? DEFAULT_FAILURE_PAD_TO;
  if (!Number.isInteger(padTo) || padTo < DEFAULT_FAILURE_PAD_TO || padTo > 0xffff) {
    throw new EncodeError('padTo', `must be an integer from ${DEFAULT_FAILURE_PAD_TO} to 65535`);
  }
  if (failureMessage.length > 0xffff) throw new EncodeError('failureMessage', 'longer than 65535 bytes');
  const padLen = Math.max(0, padTo - failureMessage.length);
  const body = new Writer(4 + failureMessage.length + padLen)
    .u16Bytes(failureMessage, 'failureMessage')
    .u16Bytes(new Uint8Array(padLen), 'pad')
    .finish();
  const mac = hmac(sha256, generateKey('um', sharedSecret), body);
  return new Writer(FAILURE_HMAC_LENGTH + body.length).bytes(mac).bytes(body).finish();
}

/** One layer of `ammag` obfuscation; its own inverse, so it also removes a layer. */
export function obfuscateFailurePacket(sharedSecret: Uint8Array, packet: Uint8Array): Uint8Array {
  checkBytes(sharedSecret, 32, 'sharedSecret');
  checkBytes(packet, undefined, 'packet');
  const out = packet.slice();
  xorInto(out, cipherStream(generateKey('ammag', sharedSecret), packet.length));
  return out;
}

/** What the erring node puts in update_fail_htlc's `reason`. */
export function createFailurePacket(
  sharedSecret: Uint8Array,
  failureMessage: Uint8Array,
  opts: BuildFailureOptions = {},
): Uint8Array {
  return obfuscateFailurePacket(sharedSecret, buildFailurePacket(sharedSecret, failureMessage, opts));
}

export type AttributedFailure = {
  /** Index in the route (0 = first hop) of the node that built the failure. */
  hopIndex: number;
} & (
  | { ok: true; /** The decrypted `failuremsg`; decodeFailureMessage reads it. */ failureMessage: Uint8Array }
  /** The hop authenticated a packet whose lengths do not fit: still that hop's fault. */
  | { ok: false; error: DecodeError }
);

/**
 * Reads failure_len || failuremsg || pad_len || pad from an authenticated
 * packet. Bytes after the pad are ignored: the HMAC covers them and they may
 * be a later extension.
 */
function readFailureBody(packet: Uint8Array): Uint8Array {
  const r = new Reader(packet.subarray(FAILURE_HMAC_LENGTH), 'failure_packet');
  const msg = r.u16Bytes('failuremsg');
  r.u16Bytes('pad');
  return msg;
}

function attribute(hopIndex: number, layer: Uint8Array): AttributedFailure {
  try {
    return { hopIndex, ok: true, failureMessage: readFailureBody(layer) };
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return { hopIndex, ok: false, error: e };
  }
}

const DUMMY_SECRET = new Uint8Array(32);

/**
 * The origin node's side: strips one `ammag` layer per hop (route order) and
 * returns the first hop whose `um` HMAC verifies. It keeps decrypting to
 * FAILURE_DECRYPT_ROUNDS layers with a dummy key so the time taken does not
 * reveal the erring node's position. Throws DecodeError if no hop verifies
 * (a node on the path garbled the packet; attribution data would narrow it).
 */
export function decryptFailurePacket(sharedSecrets: Uint8Array[], packet: Uint8Array): AttributedFailure {
  if (packet.length < FAILURE_HMAC_LENGTH + 4) {
    throw new DecodeError('failure_packet', `${packet.length} bytes is shorter than an HMAC and two lengths`);
  }
  let found: AttributedFailure | undefined;
  let layer = packet;
  const rounds = Math.max(FAILURE_DECRYPT_ROUNDS, sharedSecrets.length);
  for (let i = 0; i < rounds; i++) {
    const ss = sharedSecrets[i] ?? DUMMY_SECRET;
    layer = obfuscateFailurePacket(ss, layer);
    const mac = hmac(sha256, generateKey('um', ss), layer.subarray(FAILURE_HMAC_LENGTH));
    const ok = equalBytes(mac, layer.subarray(0, FAILURE_HMAC_LENGTH));
    if (ok && found === undefined && i < sharedSecrets.length) {
      found = attribute(i, layer);
    }
  }
  if (found === undefined) throw new DecodeError('failure_packet.hmac', 'no hop on the route authenticates this failure');
  return found;
}
