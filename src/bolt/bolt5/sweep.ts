/**
 * One transaction spending a set of claims to one of our scripts, paying a
 * fee for its weight at a given rate. The fee is computed on the largest
 * witness each claim can have, so the signed transaction never pays less
 * than the rate asked.
 */
import { concat } from '../bytes.ts';
import { signInput, witnessSig } from '../bolt3/sign.ts';
import { SIGHASH_ALL, serializeTx, type Tx } from '../bolt3/tx.ts';
import { type FeeratePerKw, type Sat, sat } from '../units.ts';
import { type Claim } from './claim.ts';

/** Below this a P2WPKH/P2WSH output is not relayed (Bitcoin Core dust at 3 sat/vB, rounded up). */
export const SWEEP_DUST_SAT = sat(546);

export interface Sweep {
  tx: Tx;
  fee: Sat;
  value: Sat;
}

/** Sequence for an input: its CSV delay, else final-but-locktime-enabled (RBF) so CLTV claims are valid. */
const sequenceOf = (c: Claim): number => (c.csv > 0 ? c.csv : 0xfffffffd);

/** Null when the claims are worth less than the fee plus dust. */
export function buildSweep(claims: readonly Claim[], destination: Uint8Array, feerate: FeeratePerKw): Sweep | null {
  if (!claims.length) return null;
  const total = claims.reduce((s, c) => s + c.amount, 0n);
  const unsigned: Tx = {
    version: 2,
    locktime: Math.max(0, ...claims.map((c) => c.cltv)),
    inputs: claims.map((c) => ({ txid: c.txid, vout: c.vout, sequence: sequenceOf(c), witness: [] })),
    outputs: [{ value: total, script: destination }],
  };
  const stripped = serializeTx(unsigned, false).length;
  const weight = stripped * 4 + 2 + claims.reduce((s, c) => s + c.witnessBytes, 0);
  const fee = sat((BigInt(feerate) * BigInt(weight) + 999n) / 1000n);
  if (total - fee < SWEEP_DUST_SAT) return null;
  const tx: Tx = { ...unsigned, outputs: [{ value: total - fee, script: destination }] };
  const inputs = claims.map((c, i) => {
    const sig = witnessSig(signInput(tx, i, c.scriptCode, c.amount, c.privkey, SIGHASH_ALL).der, SIGHASH_ALL);
    return { ...tx.inputs[i]!, witness: c.witness(sig) };
  });
  return { tx: { ...tx, inputs }, fee, value: sat(total - fee) };
}

/** Witness size: a count byte, then each item with its length prefix (items here are all < 253 bytes). */
export const witnessSize = (items: readonly number[]): number => 1 + items.reduce((s, n) => s + 1 + n, 0);

/** The BIP 143 script code of a P2WPKH output: OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY OP_CHECKSIG. */
export const p2pkhScriptCode = (hash160: Uint8Array): Uint8Array => concat(Uint8Array.of(0x76, 0xa9, 0x14), hash160, Uint8Array.of(0x88, 0xac));
