/**
 * Force close by us (BOLT #5 "Unilateral Close Handling: Local Commitment
 * Transaction"): our latest commitment with both funding signatures, the
 * HTLC-timeout / HTLC-success transactions the peer pre-signed for it, and
 * the delayed outputs (to_local, and each HTLC transaction's output) we
 * sweep after to_self_delay.
 * https://github.com/lightning/bolts/blob/master/05-onchain.md#unilateral-close-handling-local-commitment-transaction
 */
import { buildLocal, type Commitments } from '../bolt2/channel/commitments.ts';
import { type ChannelSecrets } from '../bolt2/channel/keys.ts';
import { htlcTransactions } from '../bolt3/commitment.ts';
import { HTLC_SUCCESS_WEIGHT, HTLC_TIMEOUT_WEIGHT } from '../bolt3/fees.ts';
import { derivePrivkey } from '../bolt3/keys.ts';
import { anchorScript, fundingWitness, toLocalScript } from '../bolt3/scripts.ts';
import { derFromCompact, signInput, witnessSig } from '../bolt3/sign.ts';
import { SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_SINGLE, type Tx, txid, weight } from '../bolt3/tx.ts';
import { type Sat, sat } from '../units.ts';
import { type Claim } from './claim.ts';
import { notIrrevocablyCommitted } from './irrevocably-committed.ts';
import { witnessSize } from './sweep.ts';

export interface SecondStage {
  kind: 'timeout' | 'success';
  paymentHash: Uint8Array;
  /** Height from which an HTLC-timeout transaction is valid (its locktime); 0 for success. */
  cltv: number;
  /** Signed and final; with anchors the zero-fee transaction before the spender adds inputs (and change) for its fee. */
  tx: Tx;
  txid: string;
  /**
   * Anchors only: the HTLC input's witness for the final transaction, which
   * keeps input 0 and output 0 and adds others (the peer signed with
   * SIGHASH_SINGLE|ANYONECANPAY); and the weight BOLT 3 expects before them.
   */
  bringFee?: { witness: (final: Tx) => Uint8Array[]; weight: number };
  /** Its output, ours after to_self_delay (for `txid`; the spender moves it to the final transaction). */
  delayed: Claim;
}

/** An HTLC output of our commitment whose value is ours to defend on chain, and the height by which it must be claimed. */
export interface HtlcAtStake {
  /** Offered: its HTLC-timeout becomes valid here; received (preimage known): the peer can time it out from here. */
  cltvExpiry: number;
  amount: Sat;
}

export interface OurCommitment {
  tx: Tx;
  txid: string;
  /** Signed weight (BIP 141) and the fee it pays (funding amount less its outputs): what a CPFP child adds to. */
  weight: number;
  fee: Sat;
  /** Anchors: our anchor output (funding key), the input of a CPFP child; undefined when the commitment has none. */
  anchor?: Claim;
  /** Offered HTLCs, and received ones we know the preimage of, with an output here: what the commitment must confirm in time for. */
  atStake: HtlcAtStake[];
  /** to_local, when the commitment has one. */
  claims: Claim[];
  /** HTLC-timeout for each HTLC we offered; HTLC-success for each received one whose preimage we know. */
  secondStage: SecondStage[];
}

export function ourCommitment(c: Commitments, s: ChannelSecrets, preimageOf: (paymentHash: Uint8Array) => Uint8Array | undefined): OurCommitment {
  const lc = c.localCommit;
  const built = buildLocal(c, s, lc.spec, lc.index);
  const { commitment, params, point } = built;
  const ours = witnessSig(signInput(commitment.tx, 0, commitment.fundingScript, c.fundingSat, s.funding, SIGHASH_ALL).der, SIGHASH_ALL);
  const theirs = witnessSig(derFromCompact(lc.remoteSig), SIGHASH_ALL);
  const tx: Tx = {
    ...commitment.tx,
    inputs: [{ ...commitment.tx.inputs[0]!, witness: fundingWitness(c.localBasepoints.funding, c.remoteBasepoints.funding, ours, theirs) }],
  };
  const id = txid(tx);
  const delayedScript = toLocalScript(params.keys.revocation, params.toSelfDelay, params.keys.localDelayed);
  const delayedKey = derivePrivkey(s.delayedPayment, point);
  const delayed = (txidOf: string, vout: number, amount: bigint): Claim => ({
    kind: 'delayed',
    txid: txidOf,
    vout,
    amount: amount as Claim['amount'],
    scriptCode: delayedScript,
    privkey: delayedKey,
    witness: (sig) => [sig, new Uint8Array(0), delayedScript],
    csv: params.toSelfDelay,
    cltv: 0,
    witnessBytes: witnessSize([73, 0, delayedScript.length]),
  });
  const claims = commitment.outputs.flatMap((o, vout) => (o.kind === 'to_local' ? [delayed(id, vout, o.value)] : []));

  const anchors = c.variant === 'anchors';
  const htlcSighash = anchors ? SIGHASH_SINGLE | SIGHASH_ANYONECANPAY : SIGHASH_ALL;
  const htlcKey = derivePrivkey(s.htlc, point);
  const secondStage: SecondStage[] = [];
  const pending = notIrrevocablyCommitted(c);
  htlcTransactions(commitment, params, id).forEach((h, i) => {
    const htlc = params.htlcs[h.htlc]!;
    // BOLT 5: an HTLC the peer is not irrevocably committed to is not spent, preimage or not (params.htlcs follows spec.htlcs).
    if (h.kind === 'success' && pending.has(lc.spec.htlcs[h.htlc]!.id)) return;
    const preimage = h.kind === 'success' ? preimageOf(htlc.paymentHash) : new Uint8Array(0);
    if (!preimage) return;
    const remote = witnessSig(derFromCompact(lc.htlcSigs[i]!), htlcSighash);
    const witness = (final: Tx): Uint8Array[] => {
      const local = witnessSig(signInput(final, 0, h.witnessScript, h.amount, htlcKey, SIGHASH_ALL).der, SIGHASH_ALL);
      return [new Uint8Array(0), remote, local, preimage, h.witnessScript];
    };
    const tx: Tx = anchors ? h.tx : { ...h.tx, inputs: [{ ...h.tx.inputs[0]!, witness: witness(h.tx) }] };
    const stageTxid = txid(tx);
    secondStage.push({
      kind: h.kind,
      paymentHash: htlc.paymentHash,
      cltv: h.kind === 'timeout' ? htlc.cltvExpiry : 0,
      tx,
      txid: stageTxid,
      ...(anchors ? { bringFee: { witness, weight: h.kind === 'timeout' ? HTLC_TIMEOUT_WEIGHT.anchors : HTLC_SUCCESS_WEIGHT.anchors } } : {}),
      delayed: delayed(stageTxid, 0, h.tx.outputs[0]!.value),
    });
  });
  const anchorVout = commitment.outputs.findIndex((o) => o.kind === 'local_anchor');
  const anchorOutput = commitment.outputs[anchorVout];
  const anchor = anchorOutput ? anchorClaim(anchorScript(c.localBasepoints.funding), s.funding, id, anchorVout, anchorOutput.value) : undefined;
  const atStake: HtlcAtStake[] = [];
  for (const o of commitment.outputs) {
    if (o.htlc === undefined) continue;
    const h = params.htlcs[o.htlc]!;
    if (h.direction === 'offered' || preimageOf(h.paymentHash)) atStake.push({ cltvExpiry: h.cltvExpiry, amount: o.value });
  }
  const fee = sat(c.fundingSat - tx.outputs.reduce((t, o) => t + o.value, 0n));
  return { tx, txid: id, weight: weight(tx), fee, ...(anchor ? { anchor } : {}), atStake, claims, secondStage };
}

/** BOLT 3 anchor output: <funding_pubkey> OP_CHECKSIG OP_IFDUP OP_NOTIF 16 OP_CSV OP_ENDIF; we spend it at once with `<sig>`. */
function anchorClaim(script: Uint8Array, fundingKey: Uint8Array, txidOf: string, vout: number, amount: bigint): Claim {
  return {
    kind: 'anchor',
    txid: txidOf,
    vout,
    amount: amount as Sat,
    scriptCode: script,
    privkey: fundingKey,
    witness: (sig) => [sig, script],
    csv: 0,
    cltv: 0,
    witnessBytes: witnessSize([73, script.length]),
  };
}
