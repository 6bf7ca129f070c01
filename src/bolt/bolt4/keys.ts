/**
 * Sphinx key material (BOLT #4 "Key Generation", "Pseudo Random Byte Stream",
 * "Shared Secret", "Blinding Ephemeral Onion Keys").
 *
 * Every key used by the onion and by returned errors is an HMAC-SHA256 of the
 * per-hop shared secret keyed by a short ASCII label; every obfuscation stream
 * is ChaCha20 over zeros with a null nonce (safe because no key is reused).
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md#key-generation
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { checkBytes, concat } from '../bytes.ts';
import { curve, ecdh as curveEcdh } from '../curve.ts';
import { DecodeError, EncodeError } from '../errors.ts';

/** The labels the spec derives keys from; no NUL terminator (`rho` is 3 bytes). */
export type KeyType = 'rho' | 'mu' | 'um' | 'pad' | 'ammag';

const LABELS: Record<KeyType, Uint8Array> = {
  rho: new TextEncoder().encode('rho'),
  mu: new TextEncoder().encode('mu'),
  um: new TextEncoder().encode('um'),
  pad: new TextEncoder().encode('pad'),
  ammag: new TextEncoder().encode('ammag'),
};

/** HMAC-SHA256(key = label, message = 32-byte secret). */
export function generateKey(type: KeyType, secret: Uint8Array): Uint8Array {
  checkBytes(secret, 32, 'secret');
  return hmac(sha256, LABELS[type], secret);
}

const ZERO_NONCE = new Uint8Array(12);

/** `length` bytes of ChaCha20 keystream under `key` with the all-zero 96-bit nonce. */
export function cipherStream(key: Uint8Array, length: number): Uint8Array {
  checkBytes(key, 32, 'key');
  return chacha20(key, ZERO_NONCE, new Uint8Array(length));
}

/** a ^= b over the first b.length bytes of a (b must not be longer than a). */
export function xorInto(a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < b.length; i++) a[i]! ^= b[i]!;
}

const N = secp256k1.Point.Fn.ORDER;

function scalar(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function scalarBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** SHA256 of the compressed ECDH point, as libsecp256k1's default ECDH hash does. */
export function ecdh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return curveEcdh(privateKey, publicKey);
}

/** SHA256(ephemeral public key || shared secret): the per-hop blinding factor. */
export function blindingFactor(ephemeralPubkey: Uint8Array, sharedSecret: Uint8Array): Uint8Array {
  return sha256(concat(ephemeralPubkey, sharedSecret));
}

/**
 * Multiplies a point by a 32-byte factor. The factor is a hash output, so zero
 * or a value >= n happens with negligible probability; it is still an error
 * rather than a silent wrap, named by `field`.
 */
export function blindPubkey(pubkey: Uint8Array, factor: Uint8Array, field: string): Uint8Array {
  const k = scalar(factor) % N;
  if (k === 0n) throw new DecodeError(field, 'blinding factor is zero');
  return curve.multiply(pubkey, scalarBytes(k));
}

export interface RouteSecrets {
  /** ss_k for each hop, in route order. */
  sharedSecrets: Uint8Array[];
  /** epk_k, the ephemeral public key hop k sees in its packet. */
  ephemeralPubkeys: Uint8Array[];
}

/**
 * The sender's side of the key schedule: ek_1 = session key, ss_k = ECDH(ek_k,
 * hop_k), ek_{k+1} = ek_k * SHA256(epk_k || ss_k) mod n.
 */
export function routeSecrets(sessionKey: Uint8Array, hopPubkeys: Uint8Array[]): RouteSecrets {
  checkBytes(sessionKey, 32, 'sessionKey');
  let ek = scalar(sessionKey);
  if (ek === 0n || ek >= N) throw new EncodeError('sessionKey', 'not a valid secp256k1 private key');
  const sharedSecrets: Uint8Array[] = [];
  const ephemeralPubkeys: Uint8Array[] = [];
  hopPubkeys.forEach((pk, i) => {
    checkBytes(pk, 33, `hops[${i}].pubkey`);
    const ekBytes = scalarBytes(ek);
    const epk = curve.publicKey(ekBytes);
    let ss: Uint8Array;
    try {
      ss = ecdh(ekBytes, pk);
    } catch {
      throw new EncodeError(`hops[${i}].pubkey`, 'not a valid secp256k1 point');
    }
    sharedSecrets.push(ss);
    ephemeralPubkeys.push(epk);
    ek = (ek * scalar(blindingFactor(epk, ss))) % N;
    if (ek === 0n) throw new EncodeError('sessionKey', 'blinded ephemeral key is zero');
  });
  return { sharedSecrets, ephemeralPubkeys };
}
