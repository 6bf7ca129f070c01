/**
 * Commitment transactions (BOLT #3 "Commitment Transaction Construction"):
 * trim dust HTLCs, take the fee (and anchors) from the opener, add the
 * outputs that are above the dust limit, and order them BIP 69 + CLTV.
 * Also the second-stage HTLC-timeout / HTLC-success transactions of the
 * untrimmed HTLC outputs.
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#commitment-transaction-construction
 */
import { compareBytes } from '../bytes.ts';
import { EncodeError } from '../errors.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, type Sat, msatToSatFloor, sat } from '../units.ts';
import { obscureCommitmentNumber } from './commitment-number.ts';
import { ANCHOR_OUTPUT_SAT, commitmentFee, htlcSuccessFee, htlcTimeoutFee, type Variant } from './fees.ts';
import { type CommitmentKeys } from './keys.ts';
import { p2wpkh, p2wsh } from './script.ts';
import {
  anchorScript,
  fundingScript,
  offeredHtlcScript,
  receivedHtlcScript,
  toLocalScript,
  toRemoteAnchorsScript,
} from './scripts.ts';
import { type Tx } from './tx.ts';

/** An HTLC as seen from the commitment owner: `offered` by the owner, or `received` by it. */
export interface Htlc {
  direction: 'offered' | 'received';
  amountMsat: Msat;
  paymentHash: Uint8Array;
  cltvExpiry: CltvExpiry;
}

export interface CommitmentParams {
  fundingTxid: string;
  fundingVout: number;
  fundingSatoshis: Sat;
  /** Funding keys of the owner ("local") and of the other side. */
  localFundingPubkey: Uint8Array;
  remoteFundingPubkey: Uint8Array;
  keys: CommitmentKeys;
  /** Delay on the owner's own outputs: the to_self_delay the other side asked for. */
  toSelfDelay: number;
  /** The owner's dust limit. */
  dustLimit: Sat;
  feeratePerKw: FeeratePerKw;
  ownerIsOpener: boolean;
  /** Balances not counting HTLCs, before fee and anchors. */
  toLocalMsat: Msat;
  toRemoteMsat: Msat;
  htlcs: Htlc[];
  commitmentNumber: bigint;
  obscuringFactor: bigint;
  variant: Variant;
}

export type OutputKind = 'to_local' | 'to_remote' | 'local_anchor' | 'remote_anchor' | 'offered_htlc' | 'received_htlc';

export interface CommitmentOutput {
  kind: OutputKind;
  value: Sat;
  script: Uint8Array;
  /** The script to satisfy (P2WSH outputs); undefined for P2WPKH to_remote. */
  witnessScript?: Uint8Array;
  /** Index into `params.htlcs` for HTLC outputs. */
  htlc?: number;
  cltvExpiry?: number;
}

export interface Commitment {
  tx: Tx;
  /** Outputs in transaction order. */
  outputs: CommitmentOutput[];
  fundingScript: Uint8Array;
  /** Indexes of the HTLCs trimmed to fees. */
  trimmed: number[];
}

function isTrimmed(h: Htlc, p: CommitmentParams): boolean {
  const fee = h.direction === 'offered' ? htlcTimeoutFee(p.feeratePerKw, p.variant) : htlcSuccessFee(p.feeratePerKw, p.variant);
  return msatToSatFloor(h.amountMsat) < p.dustLimit + fee;
}

function check(p: CommitmentParams): void {
  if (!/^[0-9a-f]{64}$/.test(p.fundingTxid)) throw new EncodeError('fundingTxid', 'expected 64 hex digits');
  if (p.toLocalMsat < 0n || p.toRemoteMsat < 0n) throw new EncodeError('balance', 'negative balance');
  if (!Number.isInteger(p.toSelfDelay) || p.toSelfDelay < 0 || p.toSelfDelay > 0xffff) throw new EncodeError('toSelfDelay', 'expected a u16');
  let total = p.toLocalMsat + p.toRemoteMsat;
  for (const [i, h] of p.htlcs.entries()) {
    if (h.amountMsat <= 0n) throw new EncodeError(`htlcs[${i}].amountMsat`, 'must be positive');
    if (h.paymentHash.length !== 32) throw new EncodeError(`htlcs[${i}].paymentHash`, 'expected 32 bytes');
    total += h.amountMsat;
  }
  if (total > p.fundingSatoshis * 1000n) throw new EncodeError('balance', 'balances and HTLCs exceed the funding amount');
}

export function buildCommitment(p: CommitmentParams): Commitment {
  check(p);
  const anchors = p.variant === 'anchors';
  const trimmed: number[] = [];
  const outputs: CommitmentOutput[] = [];
  p.htlcs.forEach((h, i) => {
    if (isTrimmed(h, p)) {
      trimmed.push(i);
      return;
    }
    const witnessScript =
      h.direction === 'offered'
        ? offeredHtlcScript(p.keys.revocation, p.keys.remoteHtlc, p.keys.localHtlc, h.paymentHash, anchors)
        : receivedHtlcScript(p.keys.revocation, p.keys.remoteHtlc, p.keys.localHtlc, h.paymentHash, h.cltvExpiry, anchors);
    outputs.push({
      kind: h.direction === 'offered' ? 'offered_htlc' : 'received_htlc',
      value: msatToSatFloor(h.amountMsat),
      script: p2wsh(witnessScript),
      witnessScript,
      htlc: i,
      cltvExpiry: h.cltvExpiry,
    });
  });

  const untrimmed = outputs.length;
  const openerCost = commitmentFee(p.feeratePerKw, untrimmed, p.variant) + (anchors ? 2n * ANCHOR_OUTPUT_SAT : 0n);
  let toLocal = msatToSatFloor(p.toLocalMsat) as bigint;
  let toRemote = msatToSatFloor(p.toRemoteMsat) as bigint;
  // The opener pays; an opener that cannot afford it all simply has no output left.
  if (p.ownerIsOpener) toLocal = toLocal > openerCost ? toLocal - openerCost : 0n;
  else toRemote = toRemote > openerCost ? toRemote - openerCost : 0n;

  const hasLocal = toLocal >= p.dustLimit;
  const hasRemote = toRemote >= p.dustLimit;
  if (hasLocal) {
    const witnessScript = toLocalScript(p.keys.revocation, p.toSelfDelay, p.keys.localDelayed);
    outputs.push({ kind: 'to_local', value: sat(toLocal), script: p2wsh(witnessScript), witnessScript });
  }
  if (hasRemote) {
    if (anchors) {
      const witnessScript = toRemoteAnchorsScript(p.keys.remotePayment);
      outputs.push({ kind: 'to_remote', value: sat(toRemote), script: p2wsh(witnessScript), witnessScript });
    } else {
      outputs.push({ kind: 'to_remote', value: sat(toRemote), script: p2wpkh(p.keys.remotePayment) });
    }
  }
  if (anchors) {
    if (hasLocal || untrimmed > 0) {
      const witnessScript = anchorScript(p.localFundingPubkey);
      outputs.push({ kind: 'local_anchor', value: ANCHOR_OUTPUT_SAT, script: p2wsh(witnessScript), witnessScript });
    }
    if (hasRemote || untrimmed > 0) {
      const witnessScript = anchorScript(p.remoteFundingPubkey);
      outputs.push({ kind: 'remote_anchor', value: ANCHOR_OUTPUT_SAT, script: p2wsh(witnessScript), witnessScript });
    }
  }

  // BIP 69 (amount, then script), with CLTV expiry breaking ties between identical HTLC outputs.
  outputs.sort((a, b) => {
    if (a.value !== b.value) return a.value < b.value ? -1 : 1;
    const s = compareBytes(a.script, b.script);
    if (s !== 0) return s;
    return (a.cltvExpiry ?? 0) - (b.cltvExpiry ?? 0);
  });

  const { locktime, sequence } = obscureCommitmentNumber(p.commitmentNumber, p.obscuringFactor);
  const tx: Tx = {
    version: 2,
    locktime,
    inputs: [{ txid: p.fundingTxid, vout: p.fundingVout, sequence, witness: [] }],
    outputs: outputs.map((o) => ({ value: o.value, script: o.script })),
  };
  return { tx, outputs, fundingScript: fundingScript(p.localFundingPubkey, p.remoteFundingPubkey), trimmed };
}

export interface HtlcTx {
  /** Output index in the commitment. */
  outputIndex: number;
  /** Index into `params.htlcs`. */
  htlc: number;
  kind: 'timeout' | 'success';
  tx: Tx;
  /** What the commitment output is locked by, and its amount: the signature inputs. */
  witnessScript: Uint8Array;
  amount: Sat;
}

/** The HTLC-timeout (offered) and HTLC-success (received) transactions, in commitment output order. */
export function htlcTransactions(c: Commitment, p: CommitmentParams, commitmentTxid: string): HtlcTx[] {
  const anchors = p.variant === 'anchors';
  const delayedScript = p2wsh(toLocalScript(p.keys.revocation, p.toSelfDelay, p.keys.localDelayed));
  const out: HtlcTx[] = [];
  c.outputs.forEach((o, outputIndex) => {
    if (o.htlc === undefined) return;
    const h = p.htlcs[o.htlc]!;
    const timeout = h.direction === 'offered';
    const fee = timeout ? htlcTimeoutFee(p.feeratePerKw, p.variant) : htlcSuccessFee(p.feeratePerKw, p.variant);
    out.push({
      outputIndex,
      htlc: o.htlc,
      kind: timeout ? 'timeout' : 'success',
      witnessScript: o.witnessScript!,
      amount: o.value,
      tx: {
        version: 2,
        locktime: timeout ? h.cltvExpiry : 0,
        inputs: [{ txid: commitmentTxid, vout: outputIndex, sequence: anchors ? 1 : 0, witness: [] }],
        outputs: [{ value: o.value - fee, script: delayedScript }],
      },
    });
  });
  return out;
}
