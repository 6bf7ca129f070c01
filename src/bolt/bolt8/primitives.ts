/**
 * The Noise building blocks BOLT #8 fixes: ECDH as SHA256 of the compressed
 * shared point, HKDF-SHA256 with the chaining key as salt, and
 * ChaCha20-Poly1305 with a 96-bit nonce of 32 zero bits then a 64-bit
 * little-endian counter.
 * https://github.com/lightning/bolts/blob/master/08-transport.md#noise-protocol-instantiation
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../bytes.ts';
import { curve } from '../curve.ts';

export { ecdh } from '../curve.ts';

/** HKDF(salt, ikm) split into two 32-byte keys, as BOLT 8 uses it everywhere. */
export function hkdf2(salt: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdf(sha256, ikm, salt, new Uint8Array(0), 64);
  return [out.slice(0, 32), out.slice(32)];
}

export function nonce(n: number): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setBigUint64(4, BigInt(n), true);
  return out;
}

export function encryptWithAD(key: Uint8Array, n: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return chacha20poly1305(key, nonce(n), ad).encrypt(plaintext);
}

/** Throws on a bad tag (noble's error); callers turn it into a DecodeError naming the act. */
export function decryptWithAD(key: Uint8Array, n: number, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return chacha20poly1305(key, nonce(n), ad).decrypt(ciphertext);
}

export const mixHash = (h: Uint8Array, data: Uint8Array): Uint8Array => sha256(concat(h, data));

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return curve.publicKey(privateKey);
}

/** A compressed point that is on the curve. */
export function isValidPublicKey(bytes: Uint8Array): boolean {
  return curve.isPoint(bytes);
}
