/**
 * The Sphinx onion packet (BOLT #4 "Packet Structure", "Packet Construction",
 * "Onion Decryption", "Filler Generation").
 *
 * Construction and peeling are pure: the session key and the node key are
 * parameters. The routing-info length is a parameter too (1300 bytes for
 * payments; onion messages may use bigger packets), and every hop payload
 * length read from a packet is bounded by what is left of that routing info
 * before anything is sliced, so a hostile length cannot make us read past it.
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#packet-construction
 */
import { curve } from '../curve.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { Reader, Writer, checkBytes, concat, equalBytes } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { bigSizeLength, readBigSize, writeBigSize } from '../bolt1/bigsize.ts';
import { FailureCode, BADONION } from './failure-codes.ts';
import {
  blindPubkey,
  blindingFactor,
  cipherStream,
  ecdh,
  generateKey,
  routeSecrets,
  xorInto,
} from './keys.ts';

export const ONION_VERSION = 0;
/** `hop_payloads` length of a payment onion. */
export const PAYMENT_PAYLOADS_LENGTH = 1300;
export const HMAC_LENGTH = 32;
/** version + public_key + hmac around the routing info. */
export const PACKET_OVERHEAD = 1 + 33 + HMAC_LENGTH;
/** 1366: the fixed `onion_routing_packet` of update_add_htlc. */
export const PAYMENT_ONION_LENGTH = PACKET_OVERHEAD + PAYMENT_PAYLOADS_LENGTH;

export interface OnionPacket {
  version: number;
  publicKey: Uint8Array;
  hopPayloads: Uint8Array;
  hmac: Uint8Array;
}

/**
 * A packet this node cannot process. Still a DecodeError (the field names the
 * check that failed); `failureCode` is what to tell the sender. Codes with the
 * BADONION bit go back in update_fail_malformed_htlc with sha256 of the onion
 * (see `malformedHtlcFailure`), since without a valid HMAC we have no shared
 * secret the sender would trust.
 */
export class OnionError extends DecodeError {
  constructor(
    field: string,
    reason: string,
    readonly failureCode: number,
    /** Set once the HMAC verified: the failure can then go back encrypted to the sender (update_fail_htlc). */
    readonly sharedSecret?: Uint8Array,
  ) {
    super(field, reason);
  }
}

/** What update_fail_malformed_htlc carries for a BADONION rejection. */
export function malformedHtlcFailure(
  err: OnionError,
  onion: Uint8Array,
): { failureCode: number; sha256OfOnion: Uint8Array } | undefined {
  if ((err.failureCode & BADONION) === 0) return undefined;
  return { failureCode: err.failureCode, sha256OfOnion: sha256(onion) };
}

/**
 * Splits a packet into its four fields. Checks the version and that the key
 * is a point on the curve (in that order, as the spec lists them); the HMAC
 * needs a key, so peelOnion checks it.
 */
export function decodeOnionPacket(bytes: Uint8Array, payloadsLength = PAYMENT_PAYLOADS_LENGTH): OnionPacket {
  // update_add_htlc fixes the length, so only an onion message can get here
  // with a wrong one; "not understood" is the closest code the spec has.
  if (bytes.length !== PACKET_OVERHEAD + payloadsLength) {
    throw new OnionError(
      'onion_packet',
      `expected ${PACKET_OVERHEAD + payloadsLength} bytes, got ${bytes.length}`,
      FailureCode.invalid_onion_version,
    );
  }
  const r = new Reader(bytes, 'onion_packet');
  const version = r.u8('version');
  if (version !== ONION_VERSION) {
    throw new OnionError('onion_packet.version', `unknown version ${version}`, FailureCode.invalid_onion_version);
  }
  const publicKey = r.bytes(33, 'public_key');
  if (!curve.isPoint(publicKey)) {
    throw new OnionError('onion_packet.public_key', 'not a valid secp256k1 point', FailureCode.invalid_onion_key);
  }
  const hopPayloads = r.bytes(payloadsLength, 'hop_payloads');
  const mac = r.bytes(HMAC_LENGTH, 'hmac');
  return { version, publicKey, hopPayloads, hmac: mac };
}

export function encodeOnionPacket(p: OnionPacket): Uint8Array {
  checkBytes(p.publicKey, 33, 'publicKey');
  checkBytes(p.hmac, HMAC_LENGTH, 'hmac');
  return new Writer(PACKET_OVERHEAD + p.hopPayloads.length)
    .u8(p.version, 'version')
    .bytes(p.publicKey)
    .bytes(p.hopPayloads)
    .bytes(p.hmac)
    .finish();
}

/** Bytes a hop occupies in the routing info: BigSize length, payload, HMAC. */
export function hopShiftSize(payloadLength: number): number {
  return bigSizeLength(BigInt(payloadLength)) + payloadLength + HMAC_LENGTH;
}

/**
 * The tail every hop but the last appends (its stream over the zero padding),
 * accumulated in advance so the sender's HMACs cover what each hop will see.
 * Hop i's routing info is xored with a stream of L + shift_i bytes; the filler
 * built so far sits at its last bytes and the new zeros just past L.
 */
export function generateFiller(
  rhoKeys: Uint8Array[],
  shiftSizes: number[],
  payloadsLength: number,
): Uint8Array {
  let filler = new Uint8Array(0);
  for (let i = 0; i < rhoKeys.length - 1; i++) {
    const shift = shiftSizes[i]!;
    const next = new Uint8Array(filler.length + shift);
    next.set(filler);
    const stream = cipherStream(rhoKeys[i]!, payloadsLength + shift);
    xorInto(next, stream.subarray(payloadsLength - filler.length));
    filler = next;
  }
  return filler;
}

export interface OnionHop {
  /** The hop's node id (33-byte compressed). */
  pubkey: Uint8Array;
  /** The hop's payload bytes, without the BigSize length prefix (a `payload` TLV stream for payments). */
  payload: Uint8Array;
}

export interface ConstructOnionParams {
  /** 32 random bytes from the caller; the only randomness in the packet. */
  sessionKey: Uint8Array;
  hops: OnionHop[];
  /** Committed to by every HMAC: the payment hash for payment onions. */
  associatedData: Uint8Array;
  payloadsLength?: number;
}

export interface ConstructedOnion {
  /** The serialized packet for the first hop. */
  packet: Uint8Array;
  /** Per-hop shared secrets, kept by the sender to decrypt a returned failure. */
  sharedSecrets: Uint8Array[];
}

export function constructOnion(params: ConstructOnionParams): ConstructedOnion {
  const { hops, associatedData } = params;
  const L = params.payloadsLength ?? PAYMENT_PAYLOADS_LENGTH;
  if (!Number.isInteger(L) || L < HMAC_LENGTH + 3 || L > 65535 - PACKET_OVERHEAD) {
    throw new EncodeError('payloadsLength', `unsupported routing info length ${L}`);
  }
  if (hops.length === 0) throw new EncodeError('hops', 'a route needs at least one hop');
  checkBytes(associatedData, undefined, 'associatedData');
  const shifts = hops.map((h, i) => {
    checkBytes(h.payload, undefined, `hops[${i}].payload`);
    // Lengths 0 and 1 are reserved (0 was the legacy fixed-size format).
    if (h.payload.length < 2) throw new EncodeError(`hops[${i}].payload`, 'payload shorter than 2 bytes');
    return hopShiftSize(h.payload.length);
  });
  const total = shifts.reduce((a, b) => a + b, 0);
  if (total > L) throw new EncodeError('hops', `payloads need ${total} bytes, routing info has ${L}`);

  const { sharedSecrets, ephemeralPubkeys } = routeSecrets(
    params.sessionKey,
    hops.map((h) => h.pubkey),
  );
  const rhoKeys = sharedSecrets.map((ss) => generateKey('rho', ss));
  const filler = generateFiller(rhoKeys, shifts, L);

  // The spec seeds the unused space from the session key so it looks random
  // yet the packet stays a pure function of its inputs.
  const mix = cipherStream(generateKey('pad', params.sessionKey), L);
  let nextHmac = new Uint8Array(HMAC_LENGTH);
  for (let i = hops.length - 1; i >= 0; i--) {
    const shift = shifts[i]!;
    mix.copyWithin(shift, 0, L - shift);
    const w = new Writer(shift);
    writeBigSize(w, BigInt(hops[i]!.payload.length));
    mix.set(w.bytes(hops[i]!.payload).bytes(nextHmac).finish(), 0);
    xorInto(mix, cipherStream(rhoKeys[i]!, L));
    if (i === hops.length - 1) mix.set(filler, L - filler.length);
    nextHmac = hmac(sha256, generateKey('mu', sharedSecrets[i]!), concat(mix, associatedData));
  }
  const packet = encodeOnionPacket({
    version: ONION_VERSION,
    publicKey: ephemeralPubkeys[0]!,
    hopPayloads: mix,
    hmac: nextHmac,
  });
  return { packet, sharedSecrets };
}

export interface PeeledOnion {
  /** This hop's payload bytes (without the length prefix). */
  payload: Uint8Array;
  /** The packet to forward, or 'final' when the next HMAC is all zero. */
  next: Uint8Array | 'final';
  /** Keep it to wrap a failure returned through this hop. */
  sharedSecret: Uint8Array;
}

export interface PeelOptions {
  payloadsLength?: number;
}

/**
 * One hop's processing of a packet, in the order of the spec's reader
 * requirements. A failure before the HMAC verifies is BADONION; one after it
 * (a payload that does not fit) is invalid_onion_payload, which the node can
 * return encrypted because it now shares a secret with the sender.
 */
export function peelOnion(
  onion: Uint8Array,
  nodePrivkey: Uint8Array,
  associatedData: Uint8Array,
  opts: PeelOptions = {},
): PeeledOnion {
  const L = opts.payloadsLength ?? PAYMENT_PAYLOADS_LENGTH;
  checkBytes(nodePrivkey, 32, 'nodePrivkey');
  const packet = decodeOnionPacket(onion, L);
  const ss = ecdh(nodePrivkey, packet.publicKey);
  const expected = hmac(sha256, generateKey('mu', ss), concat(packet.hopPayloads, associatedData));
  if (!equalBytes(expected, packet.hmac)) {
    throw new OnionError('onion_packet.hmac', 'HMAC does not verify', FailureCode.invalid_onion_hmac);
  }

  const unwrapped = new Uint8Array(2 * L);
  unwrapped.set(packet.hopPayloads);
  xorInto(unwrapped, cipherStream(generateKey('rho', ss), 2 * L));

  // Only the first L bytes are the sender's; a hop may not reach into the padding.
  const r = new Reader(unwrapped.subarray(0, L), 'onion_packet.hop_payloads');
  let len: bigint;
  try {
    len = readBigSize(r, 'length');
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    throw new OnionError('onion_packet.hop_payloads.length', e.reason, FailureCode.invalid_onion_payload, ss);
  }
  if (len < 2n) {
    throw new OnionError('onion_packet.hop_payloads.length', `reserved payload length ${len}`, FailureCode.invalid_onion_payload, ss);
  }
  if (len + BigInt(HMAC_LENGTH) > BigInt(r.remaining)) {
    throw new OnionError(
      'onion_packet.hop_payloads.length',
      `payload of ${len} bytes plus HMAC exceeds the ${r.remaining} bytes left`,
      FailureCode.invalid_onion_payload,
      ss,
    );
  }
  const payload = r.bytes(Number(len), 'payload');
  const nextHmac = r.bytes(HMAC_LENGTH, 'hmac');
  const shift = r.offset;

  if (nextHmac.every((b) => b === 0)) return { payload, next: 'final', sharedSecret: ss };

  const next = encodeOnionPacket({
    version: ONION_VERSION,
    publicKey: blindPubkey(packet.publicKey, blindingFactor(packet.publicKey, ss), 'onion_packet.public_key'),
    hopPayloads: unwrapped.subarray(shift, shift + L),
    hmac: nextHmac,
  });
  return { payload, next, sharedSecret: ss };
}
