/**
 * Signatures for BOLT #3 transactions: RFC6979 deterministic, low-S ECDSA
 * over the segwit v0 signature hash; compact 64-byte form for the wire and
 * DER plus sighash byte for witnesses.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concat } from '../bytes.ts';
import { curve } from '../curve.ts';
import { sighashSegwitV0, type Tx } from './tx.ts';

export interface Signature {
  /** r || s, as sent in funding_signed / commitment_signed. */
  compact: Uint8Array;
  /** DER, as in witnesses (without the sighash byte). */
  der: Uint8Array;
}

export function signInput(tx: Tx, index: number, witnessScript: Uint8Array, amount: bigint, privateKey: Uint8Array, hashType: number): Signature {
  const hash = sighashSegwitV0(tx, index, witnessScript, amount, hashType);
  const compact = curve.sign(hash, privateKey);
  return { compact, der: derFromCompact(compact) };
}

/** Checks a peer's compact signature; false on anything malformed rather than throwing. */
export function verifyInput(
  tx: Tx,
  index: number,
  witnessScript: Uint8Array,
  amount: bigint,
  compactSig: Uint8Array,
  pubkey: Uint8Array,
  hashType: number,
): boolean {
  try {
    const hash = sighashSegwitV0(tx, index, witnessScript, amount, hashType);
    return curve.verify(compactSig, hash, pubkey);
  } catch {
    return false;
  }
}

/** A witness signature element: DER + sighash byte. */
export const witnessSig = (der: Uint8Array, hashType: number): Uint8Array => concat(der, Uint8Array.of(hashType));

export const derFromCompact = (compact: Uint8Array): Uint8Array => secp256k1.Signature.fromBytes(compact, 'compact').toBytes('der');
