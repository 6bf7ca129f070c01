/**
 * BOLT #3 key derivation: every key a commitment uses is a basepoint tweaked
 * by the per-commitment point, so each commitment has fresh keys. Role types
 * keep a revocation key from being passed where an HTLC key is expected.
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#key-derivation
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../bytes.ts';
import { curve } from '../curve.ts';
import { EncodeError } from '../errors.ts';

declare const role: unique symbol;
type Key<R extends string> = Uint8Array & { readonly [role]: R };

export type RevocationPubkey = Key<'revocation'>;
export type HtlcPubkey = Key<'htlc'>;
export type DelayedPubkey = Key<'delayed'>;
export type PaymentPubkey = Key<'payment'>;
export type FundingPubkey = Key<'funding'>;

const Fn = secp256k1.Point.Fn;

function point(bytes: Uint8Array, name: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 33) throw new EncodeError(name, 'expected a 33-byte compressed point');
  if (!curve.isPoint(bytes)) throw new EncodeError(name, 'not a valid secp256k1 point');
  return bytes;
}

function scalar(bytes: Uint8Array, name: string): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new EncodeError(name, 'expected a 32-byte secret');
  const v = Fn.fromBytes(bytes);
  if (v === 0n) throw new EncodeError(name, 'zero is not a valid secret');
  return v;
}

const tweak = (a: Uint8Array, b: Uint8Array): bigint => Fn.create(Fn.fromBytes(sha256(concat(a, b)), true));
const tweakBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => Fn.toBytes(tweak(a, b));

export function pointFromSecret(secret: Uint8Array): Uint8Array {
  scalar(secret, 'secret');
  return curve.publicKey(secret);
}

/** basepoint + SHA256(per_commitment_point || basepoint) * G */
export function derivePubkey<R extends string>(basepoint: Uint8Array, perCommitmentPoint: Uint8Array): Key<R> {
  point(basepoint, 'basepoint');
  point(perCommitmentPoint, 'perCommitmentPoint');
  return curve.addTweak(basepoint, tweakBytes(perCommitmentPoint, basepoint)) as Key<R>;
}

/** basepoint_secret + SHA256(per_commitment_point || basepoint) */
export function derivePrivkey(basepointSecret: Uint8Array, perCommitmentPoint: Uint8Array): Uint8Array {
  const s = scalar(basepointSecret, 'basepointSecret');
  const basepoint = curve.publicKey(basepointSecret);
  return Fn.toBytes(Fn.add(s, tweak(perCommitmentPoint, basepoint)));
}

/**
 * revocation_basepoint * SHA256(revocation_basepoint || per_commitment_point)
 *   + per_commitment_point * SHA256(per_commitment_point || revocation_basepoint)
 */
export function deriveRevocationPubkey(revocationBasepoint: Uint8Array, perCommitmentPoint: Uint8Array): RevocationPubkey {
  const rb = point(revocationBasepoint, 'revocationBasepoint');
  const pc = point(perCommitmentPoint, 'perCommitmentPoint');
  const a = curve.multiply(rb, tweakBytes(revocationBasepoint, perCommitmentPoint));
  const b = curve.multiply(pc, tweakBytes(perCommitmentPoint, revocationBasepoint));
  return curve.add(a, b) as RevocationPubkey;
}

/** The private key for the revocation pubkey: only known once the per-commitment secret is revealed. */
export function deriveRevocationPrivkey(revocationBasepointSecret: Uint8Array, perCommitmentSecret: Uint8Array): Uint8Array {
  const rbs = scalar(revocationBasepointSecret, 'revocationBasepointSecret');
  const pcs = scalar(perCommitmentSecret, 'perCommitmentSecret');
  const rb = curve.publicKey(revocationBasepointSecret);
  const pc = curve.publicKey(perCommitmentSecret);
  return Fn.toBytes(Fn.add(Fn.mul(rbs, tweak(rb, pc)), Fn.mul(pcs, tweak(pc, rb))));
}

/** The basepoints one side of a channel publishes in open_channel / accept_channel. */
export interface Basepoints {
  funding: Uint8Array;
  revocation: Uint8Array;
  payment: Uint8Array;
  delayedPayment: Uint8Array;
  htlc: Uint8Array;
}

/** Keys of one commitment transaction, held by `owner` ("local"), with `other` the remote side. */
export interface CommitmentKeys {
  revocation: RevocationPubkey;
  localDelayed: DelayedPubkey;
  localHtlc: HtlcPubkey;
  remoteHtlc: HtlcPubkey;
  /** static_remotekey: the other side's payment basepoint, untweaked. */
  remotePayment: PaymentPubkey;
}

/** The keys of the commitment `owner` holds at `perCommitmentPoint` (the owner's point). */
export function commitmentKeys(owner: Basepoints, other: Basepoints, perCommitmentPoint: Uint8Array): CommitmentKeys {
  return {
    revocation: deriveRevocationPubkey(other.revocation, perCommitmentPoint),
    localDelayed: derivePubkey<'delayed'>(owner.delayedPayment, perCommitmentPoint),
    localHtlc: derivePubkey<'htlc'>(owner.htlc, perCommitmentPoint),
    remoteHtlc: derivePubkey<'htlc'>(other.htlc, perCommitmentPoint),
    remotePayment: other.payment.slice() as PaymentPubkey,
  };
}
