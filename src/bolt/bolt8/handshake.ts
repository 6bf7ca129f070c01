/**
 * The BOLT #8 Noise_XK handshake, as pure steps: each takes the bytes of the
 * previous act and the state so far and returns the next act and the next
 * state. The socket layer only moves bytes and enforces timeouts. Ephemeral
 * keys are parameters (the caller draws them), so the spec's vectors replay.
 *
 * Each intermediate state is its own type, and only `HandshakeComplete`
 * carries the transport keys: nothing can encrypt a message before the
 * handshake has authenticated the peer.
 * https://github.com/lightning/bolts/blob/master/08-transport.md#authenticated-key-exchange-handshake-specification
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';
import { decryptWithAD, ecdh, encryptWithAD, hkdf2, isValidPublicKey, mixHash, publicKeyOf } from './primitives.ts';
import { NoiseTransport } from './transport.ts';

export const ACT_ONE_LENGTH = 50;
export const ACT_TWO_LENGTH = 50;
export const ACT_THREE_LENGTH = 66;

const PROTOCOL_NAME = new TextEncoder().encode('Noise_XK_secp256k1_ChaChaPoly_SHA256');
const PROLOGUE = new TextEncoder().encode('lightning');
const EMPTY = new Uint8Array(0);

/** h and ck after mixing the prologue and the responder's static key. */
function initialState(responderStatic: Uint8Array): { h: Uint8Array; ck: Uint8Array } {
  const ck = sha256(PROTOCOL_NAME);
  const h = mixHash(mixHash(ck, PROLOGUE), responderStatic);
  return { h, ck };
}

function checkKey(key: Uint8Array, name: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new EncodeError(name, 'expected a 32-byte private key');
}

function readAct(act: Uint8Array, len: number, name: string): { version: number; body: Uint8Array } {
  if (act.length !== len) throw new DecodeError(`${name}.length`, `expected ${len} bytes, got ${act.length}`);
  if (act[0] !== 0) throw new DecodeError(`${name}.version`, `unknown handshake version ${act[0]}`);
  return { version: 0, body: act.subarray(1) };
}

function decryptOrFail(key: Uint8Array, n: number, h: Uint8Array, c: Uint8Array, field: string): Uint8Array {
  try {
    return decryptWithAD(key, n, h, c);
  } catch {
    throw new DecodeError(field, 'bad MAC');
  }
}

export interface HandshakeComplete {
  readonly kind: 'complete';
  /** The peer's static public key (its node id), authenticated by the handshake. */
  readonly remoteStatic: Uint8Array;
  readonly transport: NoiseTransport;
}

// ---- initiator ----------------------------------------------------------

export interface InitiatorAwaitingActTwo {
  readonly kind: 'initiator-awaiting-act-two';
  readonly h: Uint8Array;
  readonly ck: Uint8Array;
  readonly localStatic: Uint8Array;
  readonly remoteStatic: Uint8Array;
  readonly ephemeral: Uint8Array;
}

/** Starts a handshake to `remoteStatic`; returns act one (50 bytes) to send. */
export function initiatorActOne(
  localStatic: Uint8Array,
  remoteStatic: Uint8Array,
  ephemeral: Uint8Array,
): { act: Uint8Array; state: InitiatorAwaitingActTwo } {
  checkKey(localStatic, 'localStatic');
  checkKey(ephemeral, 'ephemeral');
  if (!isValidPublicKey(remoteStatic)) throw new EncodeError('remoteStatic', 'not a valid compressed public key');
  let { h, ck } = initialState(remoteStatic);
  const e = publicKeyOf(ephemeral);
  h = mixHash(h, e);
  const [ck1, tempK1] = hkdf2(ck, ecdh(ephemeral, remoteStatic));
  const c = encryptWithAD(tempK1, 0, h, EMPTY);
  h = mixHash(h, c);
  return {
    act: concat(Uint8Array.of(0), e, c),
    state: { kind: 'initiator-awaiting-act-two', h, ck: ck1, localStatic, remoteStatic, ephemeral },
  };
}

/** Reads act two and returns act three (66 bytes) to send; the handshake is then complete. */
export function initiatorActThree(
  state: InitiatorAwaitingActTwo,
  actTwo: Uint8Array,
): { act: Uint8Array; result: HandshakeComplete } {
  const { body } = readAct(actTwo, ACT_TWO_LENGTH, 'act2');
  const re = body.subarray(0, 33);
  const c2 = body.subarray(33);
  if (!isValidPublicKey(re)) throw new DecodeError('act2.ephemeral', 'not a valid public key');
  let h = mixHash(state.h, re);
  const [ck2, tempK2] = hkdf2(state.ck, ecdh(state.ephemeral, re));
  decryptOrFail(tempK2, 0, h, c2, 'act2.tag');
  h = mixHash(h, c2);

  const c3 = encryptWithAD(tempK2, 1, h, publicKeyOf(state.localStatic));
  h = mixHash(h, c3);
  const [ck3, tempK3] = hkdf2(ck2, ecdh(state.localStatic, re));
  const t = encryptWithAD(tempK3, 0, h, EMPTY);
  const [sk, rk] = hkdf2(ck3, EMPTY);
  return {
    act: concat(Uint8Array.of(0), c3, t),
    result: { kind: 'complete', remoteStatic: state.remoteStatic, transport: new NoiseTransport(ck3, sk, rk) },
  };
}

// ---- responder ----------------------------------------------------------

export interface ResponderAwaitingActThree {
  readonly kind: 'responder-awaiting-act-three';
  readonly h: Uint8Array;
  readonly ck: Uint8Array;
  readonly tempK2: Uint8Array;
  readonly ephemeral: Uint8Array;
}

/** Reads act one sent to `localStatic` and returns act two (50 bytes) to send. */
export function responderActTwo(
  localStatic: Uint8Array,
  ephemeral: Uint8Array,
  actOne: Uint8Array,
): { act: Uint8Array; state: ResponderAwaitingActThree } {
  checkKey(localStatic, 'localStatic');
  checkKey(ephemeral, 'ephemeral');
  let { h, ck } = initialState(publicKeyOf(localStatic));
  const { body } = readAct(actOne, ACT_ONE_LENGTH, 'act1');
  const re = body.subarray(0, 33);
  const c1 = body.subarray(33);
  if (!isValidPublicKey(re)) throw new DecodeError('act1.ephemeral', 'not a valid public key');
  h = mixHash(h, re);
  const [ck1, tempK1] = hkdf2(ck, ecdh(localStatic, re));
  decryptOrFail(tempK1, 0, h, c1, 'act1.tag');
  h = mixHash(h, c1);

  const e = publicKeyOf(ephemeral);
  h = mixHash(h, e);
  const [ck2, tempK2] = hkdf2(ck1, ecdh(ephemeral, re));
  const c2 = encryptWithAD(tempK2, 0, h, EMPTY);
  h = mixHash(h, c2);
  return {
    act: concat(Uint8Array.of(0), e, c2),
    state: { kind: 'responder-awaiting-act-three', h, ck: ck2, tempK2, ephemeral },
  };
}

/** Reads act three: learns and authenticates the initiator's static key. */
export function responderFinish(state: ResponderAwaitingActThree, actThree: Uint8Array): HandshakeComplete {
  const { body } = readAct(actThree, ACT_THREE_LENGTH, 'act3');
  const c3 = body.subarray(0, 49);
  const t = body.subarray(49);
  const rs = decryptOrFail(state.tempK2, 1, state.h, c3, 'act3.ciphertext');
  if (!isValidPublicKey(rs)) throw new DecodeError('act3.static_key', 'not a valid public key');
  const h = mixHash(state.h, c3);
  const [ck3, tempK3] = hkdf2(state.ck, ecdh(state.ephemeral, rs));
  decryptOrFail(tempK3, 0, h, t, 'act3.tag');
  const [rk, sk] = hkdf2(ck3, EMPTY);
  return { kind: 'complete', remoteStatic: rs, transport: new NoiseTransport(ck3, sk, rk) };
}
