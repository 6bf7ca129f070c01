/**
 * The secp256k1 operations lnnode uses, as bytes in and bytes out, on one of
 * two backends: libsecp256k1 compiled to WASM (the tiny-secp256k1 package)
 * where it loads, else @noble/curves. Both give the same bytes (RFC6979
 * signatures, low-S, compressed points), which test/bolt03/curve.test.ts
 * checks against each other and the spec vectors run through the active one.
 * libsecp256k1 is the one lnd and LDK sign with, and several times faster:
 * a payment spends most of its CPU deriving revocation keys and verifying
 * signatures. The WASM is read from the package's own directory, which a
 * single-file executable (`bun build --compile`) does not carry: there the
 * node runs on noble.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';

export interface Curve {
  readonly name: 'libsecp256k1' | 'noble';
  /** A 33-byte compressed point on the curve. */
  isPoint(p: Uint8Array): boolean;
  /** secret * G, compressed; throws on a secret outside 1..n-1. */
  publicKey(secret: Uint8Array): Uint8Array;
  /** k * P, compressed; k is 32 bytes below n; throws on a bad point or a zero product. */
  multiply(p: Uint8Array, k: Uint8Array): Uint8Array;
  /** P + k * G, compressed; throws on a bad point or the point at infinity. */
  addTweak(p: Uint8Array, k: Uint8Array): Uint8Array;
  /** P + Q, compressed; throws on a bad point or the point at infinity. */
  add(p: Uint8Array, q: Uint8Array): Uint8Array;
  /** RFC6979, low-S, r || s. */
  sign(hash: Uint8Array, secret: Uint8Array): Uint8Array;
  /** As sign, with the recovery id of R. */
  signRecoverable(hash: Uint8Array, secret: Uint8Array): { compact: Uint8Array; recovery: number };
  /** A low-S compact signature of `hash` by `pubkey`; false (never a throw) on anything malformed or high-S. */
  verify(compact: Uint8Array, hash: Uint8Array, pubkey: Uint8Array): boolean;
  /** The compressed key that made `compact` (r || s, any S) with `recovery`, or undefined. */
  recover(compact: Uint8Array, recovery: number, hash: Uint8Array): Uint8Array | undefined;
}

const N = secp256k1.Point.Fn.ORDER;
const isCompressed = (p: Uint8Array): boolean => p instanceof Uint8Array && p.length === 33 && (p[0] === 2 || p[0] === 3);

/** ECDH as BOLT 4 and BOLT 8 (and libsecp256k1's default hash) define it: SHA256 of the compressed shared point. */
export function ecdh(secret: Uint8Array, point: Uint8Array): Uint8Array {
  return sha256(curve.multiply(point, secret));
}

/** `compact` with S replaced by n - S when S is in the upper half. */
export function lowS(compact: Uint8Array): Uint8Array {
  const s = secp256k1.Point.Fn.fromBytes(compact.subarray(32, 64), true);
  if (s <= N >> 1n) return compact;
  const out = compact.slice();
  out.set(secp256k1.Point.Fn.toBytes(N - s), 32);
  return out;
}

export const nobleCurve: Curve = {
  name: 'noble',
  isPoint(p) {
    if (!isCompressed(p)) return false;
    try {
      secp256k1.Point.fromBytes(p);
      return true;
    } catch {
      return false;
    }
  },
  publicKey: (secret) => secp256k1.getPublicKey(secret, true),
  multiply(p, k) {
    const scalar = secp256k1.Point.Fn.fromBytes(k);
    if (scalar === 0n) throw new Error('multiplying by zero');
    return secp256k1.Point.fromBytes(p).multiply(scalar).toBytes(true);
  },
  addTweak(p, k) {
    const scalar = secp256k1.Point.Fn.fromBytes(k);
    const P = secp256k1.Point.fromBytes(p);
    return (scalar === 0n ? P : P.add(secp256k1.Point.BASE.multiply(scalar))).toBytes(true);
  },
  add: (p, q) => secp256k1.Point.fromBytes(p).add(secp256k1.Point.fromBytes(q)).toBytes(true),
  sign: (hash, secret) => secp256k1.sign(hash, secret, { prehash: false, lowS: true }),
  signRecoverable(hash, secret) {
    const sig = secp256k1.Signature.fromBytes(secp256k1.sign(hash, secret, { prehash: false, lowS: true, format: 'recovered' }), 'recovered');
    return { compact: sig.toBytes('compact'), recovery: sig.recovery! };
  },
  verify(compact, hash, pubkey) {
    try {
      return secp256k1.verify(compact, hash, pubkey, { prehash: false, lowS: true });
    } catch {
      return false;
    }
  },
  recover(compact, recovery, hash) {
    try {
      return secp256k1.Signature.fromBytes(compact, 'compact').addRecoveryBit(recovery).recoverPublicKey(hash).toBytes(true);
    } catch {
      return undefined;
    }
  },
};

type Tiny = typeof import('tiny-secp256k1');

function libsecpCurve(t: Tiny): Curve {
  const must = (p: Uint8Array | null, what: string): Uint8Array => {
    if (!p) throw new Error(`${what}: not a valid point, or the point at infinity`);
    return p;
  };
  const point = (p: Uint8Array): Uint8Array => {
    if (!isCompressed(p)) throw new Error('expected a 33-byte compressed point');
    return p;
  };
  return {
    name: 'libsecp256k1',
    isPoint: (p) => isCompressed(p) && t.isPoint(p),
    publicKey: (secret) => must(t.pointFromScalar(secret, true), 'publicKey'),
    multiply: (p, k) => must(t.pointMultiply(point(p), k, true), 'multiply'),
    addTweak: (p, k) => must(t.pointAddScalar(point(p), k, true), 'addTweak'),
    add: (p, q) => must(t.pointAdd(point(p), point(q), true), 'add'),
    sign: (hash, secret) => t.sign(hash, secret),
    signRecoverable(hash, secret) {
      const { signature, recoveryId } = t.signRecoverable(hash, secret);
      return { compact: signature, recovery: recoveryId };
    },
    verify(compact, hash, pubkey) {
      try {
        return isCompressed(pubkey) && t.verify(hash, pubkey, compact, true);
      } catch {
        return false;
      }
    },
    recover(compact, recovery, hash) {
      try {
        return t.recover(hash, compact, recovery as 0 | 1 | 2 | 3, true) ?? undefined;
      } catch {
        return undefined;
      }
    },
  };
}

async function loadLibsecp(): Promise<Curve | undefined> {
  try {
    return libsecpCurve(await import('tiny-secp256k1'));
  } catch {
    return undefined;
  }
}

/** libsecp256k1 when its WASM loaded, else undefined (tests compare it with noble). */
export const libsecp256k1: Curve | undefined = await loadLibsecp();

/** The backend in use. */
export const curve: Curve = libsecp256k1 ?? nobleCurve;
