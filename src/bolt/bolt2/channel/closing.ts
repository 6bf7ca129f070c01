/**
 * Mutual close (BOLT #2 "Channel Close", legacy closing_signed with
 * fee_range): when a channel is quiet enough to stop, and the fee
 * negotiation as a pure transition. The funder proposes a fee with the range
 * it accepts; the other side either takes it or answers with a fee in the
 * overlap, which the funder then repeats. Whoever sees its own last fee come
 * back holds both signatures on the same transaction and may broadcast it.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#legacy-closing-negotiation-closing_signed
 */
import { equalBytes } from '../../bytes.ts';
import { closingTransaction, type ClosingTx } from '../../bolt3/closing.ts';
import { signInput, verifyInput, witnessSig, derFromCompact } from '../../bolt3/sign.ts';
import { SIGHASH_ALL, type Tx } from '../../bolt3/tx.ts';
import { fundingScript, fundingWitness } from '../../bolt3/scripts.ts';
import { type Sat, sat } from '../../units.ts';
import { type FeeRange } from '../close.ts';
import { ChannelProtocolError, type Commitments } from './commitments.ts';
import { type ChannelSecrets } from './keys.ts';

export interface ClosingNegotiation {
  localScript: Uint8Array;
  remoteScript: Uint8Array;
  /** The fee we would like, and what we accept. */
  proposedFee: Sat;
  range: FeeRange;
  lastSentFee?: Sat;
  /** The fee of the peer's last closing_signed on this connection. */
  lastReceivedFee?: Sat;
  /** Its signature (valid for that fee): what a failure during the negotiation may close with (closeWithReceived). */
  lastReceivedSig?: Uint8Array;
}

export interface ClosingSignedMessage {
  channelId: Uint8Array;
  feeSatoshis: Sat;
  signature: Uint8Array;
  feeRange?: FeeRange;
}

/** Both signatures on one closing transaction: ready to broadcast. */
export interface SignedClose {
  tx: Tx;
  fee: Sat;
}

export interface ClosingStep {
  negotiation: ClosingNegotiation;
  send?: ClosingSignedMessage;
  done?: SignedClose;
  /** Send the peer this warning and wait for another closing_signed (no signature is given). */
  warning?: string;
}

/**
 * Shutdown may begin once no update of ours waits to be signed (BOLT 2: no
 * shutdown while the receiver has updates pending on its commitment).
 */
export const canSendShutdown = (c: Commitments): boolean => c.localChanges.proposed.length === 0;

/** Negotiation starts once neither commitment holds an HTLC and nothing is in flight. */
export function readyToNegotiate(c: Commitments): boolean {
  const lc = c.localChanges;
  const rc = c.remoteChanges;
  return (
    c.localCommit.spec.htlcs.length === 0 &&
    c.remoteCommit.spec.htlcs.length === 0 &&
    !c.nextRemoteCommit &&
    lc.proposed.length + lc.signed.length + lc.acked.length + rc.proposed.length + rc.acked.length + rc.signed.length === 0
  );
}

/** Checks a peer's shutdown script against the forms BOLT 2 allows (with option_shutdown_anysegwit). */
export function checkShutdownScript(s: Uint8Array): void {
  const v0 = s[0] === 0x00 && ((s.length === 22 && s[1] === 20) || (s.length === 34 && s[1] === 32));
  const vN = s.length >= 4 && s.length <= 42 && s[0]! >= 0x51 && s[0]! <= 0x60 && s[1] === s.length - 2;
  if (!v0 && !vN) throw new ChannelProtocolError('shutdown scriptpubkey is not a segwit output script');
}

/**
 * What an update_add_htlc received while closing means (BOLT 2 shutdown):
 * after the peer's own shutdown it broke the rule "MUST NOT send an
 * update_add_htlc after a shutdown" (fail the channel); after ours but
 * before theirs it may have sent it before reading ours, a race: the HTLC
 * is failed back once committed (we route nothing added after our shutdown),
 * and the channel stays.
 */
export function addDuringShutdown(s: { weSentShutdown: boolean; theySentShutdown: boolean }): 'accept' | 'fail_back' | 'violation' {
  if (s.theySentShutdown) return 'violation';
  return s.weSentShutdown ? 'fail_back' : 'accept';
}

/**
 * An incoming HTLC to fail back because the peer added it after our
 * shutdown: ids at or above the peer's next HTLC id when we first sent it.
 */
export const addedAfterOurShutdown = (failAddsFrom: bigint | undefined, htlcId: bigint): boolean => failAddsFrom !== undefined && htlcId >= failAddsFrom;

/**
 * BOLT 2 shutdown receiver with option_upfront_shutdown_script: a non-empty
 * upfront_shutdown_script from open_channel / accept_channel binds the
 * peer's shutdown scriptpubkey; empty (or absent) means no restriction.
 */
export function checkAgainstUpfront(upfront: Uint8Array | undefined, script: Uint8Array): void {
  if (upfront && upfront.length > 0 && !equalBytes(upfront, script)) {
    throw new ChannelProtocolError('shutdown scriptpubkey is not the upfront_shutdown_script the peer committed to');
  }
}

/** An upfront_shutdown_script in open_channel / accept_channel: empty, or a valid shutdown script (BOLT 2 open_channel sender). */
export function checkUpfrontScript(upfront: Uint8Array | undefined, what: string): void {
  if (!upfront || upfront.length === 0) return;
  try {
    checkShutdownScript(upfront);
  } catch {
    throw new ChannelProtocolError(`${what}: upfront_shutdown_script is not a segwit output script`);
  }
}

function build(c: Commitments, n: ClosingNegotiation, fee: Sat, dustLimit: Sat, withoutRemote = false): ClosingTx {
  const spec = c.localCommit.spec;
  return closingTransaction({
    fundingTxid: c.fundingTxid,
    fundingVout: c.fundingVout,
    localScript: n.localScript,
    remoteScript: n.remoteScript,
    localMsat: spec.toLocalMsat,
    remoteMsat: spec.toRemoteMsat,
    localIsFunder: c.weAreOpener,
    fee,
    dustLimit,
    withoutRemote,
  });
}

const sign = (c: Commitments, s: ChannelSecrets, tx: Tx): Uint8Array =>
  signInput(tx, 0, fundingScript(c.localBasepoints.funding, c.remoteBasepoints.funding), c.fundingSat, s.funding, SIGHASH_ALL).compact;

function message(c: Commitments, s: ChannelSecrets, n: ClosingNegotiation, fee: Sat): ClosingSignedMessage {
  return { channelId: c.channelId, feeSatoshis: fee, signature: sign(c, s, build(c, n, fee, c.local.dustLimitSat).tx), feeRange: n.range };
}

/** Our signature on an agreed closing transaction: what our closing_signed for it carries, sent again on a reconnection. */
export const closingSignature = (c: Commitments, s: ChannelSecrets, done: SignedClose): Uint8Array => sign(c, s, done.tx);

/** The funder's opening closing_signed. */
export function firstClosingSigned(c: Commitments, s: ChannelSecrets, n: ClosingNegotiation): ClosingStep {
  const fee = clamp(n.proposedFee, n.range);
  return { negotiation: { ...n, lastSentFee: fee }, send: message(c, s, n, fee) };
}

/**
 * The variant of the closing transaction the peer signed: built with either
 * side's dust limit, or without its own output (which it MAY drop).
 */
function matchSigned(c: Commitments, n: ClosingNegotiation, m: ClosingSignedMessage): ClosingTx {
  const script = fundingScript(c.localBasepoints.funding, c.remoteBasepoints.funding);
  const variants = [
    () => build(c, n, m.feeSatoshis, c.local.dustLimitSat),
    () => build(c, n, m.feeSatoshis, c.remote.dustLimitSat),
    () => build(c, n, m.feeSatoshis, c.local.dustLimitSat, true),
  ];
  for (const v of variants) {
    let t: ClosingTx;
    try {
      t = v();
    } catch {
      continue;
    }
    if (verifyInput(t.tx, 0, script, c.fundingSat, m.signature, c.remoteBasepoints.funding, SIGHASH_ALL)) return t;
  }
  throw new ChannelProtocolError(`invalid closing_signed signature for a fee of ${m.feeSatoshis} sat`);
}

/** The closing transaction with both signatures in the funding witness, in funding-key order. */
function complete(c: Commitments, s: ChannelSecrets, t: ClosingTx, theirSig: Uint8Array, fee: Sat): SignedClose {
  const ours = witnessSig(derFromCompact(sign(c, s, t.tx)), SIGHASH_ALL);
  const theirs = witnessSig(derFromCompact(theirSig), SIGHASH_ALL);
  const witness = fundingWitness(c.localBasepoints.funding, c.remoteBasepoints.funding, ours, theirs);
  return { tx: { ...t.tx, inputs: [{ ...t.tx.inputs[0]!, witness }] }, fee };
}

const inRange = (fee: Sat, r: FeeRange): boolean => fee >= r.minFeeSatoshis && fee <= r.maxFeeSatoshis;
const clamp = (fee: Sat, r: FeeRange): Sat => (fee < r.minFeeSatoshis ? r.minFeeSatoshis : fee > r.maxFeeSatoshis ? r.maxFeeSatoshis : fee);

/** Handles the peer's closing_signed; throws ChannelProtocolError when the channel must be failed. */
export function receiveClosingSigned(c: Commitments, s: ChannelSecrets, n0: ClosingNegotiation, m: ClosingSignedMessage): ClosingStep {
  const signed = matchSigned(c, n0, m);
  const fee = m.feeSatoshis;
  const n: ClosingNegotiation = { ...n0, lastReceivedFee: fee, lastReceivedSig: m.signature };
  const agree = (): ClosingStep => ({
    negotiation: { ...n, lastSentFee: fee },
    send: n.lastSentFee === fee ? undefined : { channelId: c.channelId, feeSatoshis: fee, signature: sign(c, s, signed.tx), feeRange: n.range },
    done: complete(c, s, signed, m.signature, fee),
  });
  if (n.lastSentFee === fee) return agree();
  if (m.feeRange) {
    const overlap: FeeRange = {
      minFeeSatoshis: sat(m.feeRange.minFeeSatoshis > n.range.minFeeSatoshis ? m.feeRange.minFeeSatoshis : n.range.minFeeSatoshis),
      maxFeeSatoshis: sat(m.feeRange.maxFeeSatoshis < n.range.maxFeeSatoshis ? m.feeRange.maxFeeSatoshis : n.range.maxFeeSatoshis),
    };
    if (overlap.minFeeSatoshis > overlap.maxFeeSatoshis) {
      // BOLT 2 closing_signed receiver: no overlap between the fee ranges SHOULD send a warning; the channel fails only if nothing satisfying comes in time (the driver's timer).
      return {
        negotiation: n0,
        warning: `no overlap between our fee range ${n.range.minFeeSatoshis}..${n.range.maxFeeSatoshis} sat and theirs ${m.feeRange.minFeeSatoshis}..${m.feeRange.maxFeeSatoshis} sat`,
      };
    }
    if (c.weAreOpener) {
      if (!inRange(fee, overlap)) throw new ChannelProtocolError(`closing fee ${fee} sat is outside the overlap of our fee ranges`);
      return agree();
    }
    if (n.lastSentFee !== undefined) throw new ChannelProtocolError(`closing fee ${fee} sat differs from the ${n.lastSentFee} sat we proposed in the overlap`);
    if (inRange(fee, overlap)) return agree();
    const counter = clamp(fee, overlap);
    return { negotiation: { ...n, lastSentFee: counter }, send: message(c, s, n, counter) };
  }
  // BOLT 2 closing_signed receiver: without fee_range, a fee not strictly between our last-sent and their previous one SHOULD fail the channel.
  const [ours, theirs] = [n0.lastSentFee, n0.lastReceivedFee];
  if (ours !== undefined && theirs !== undefined && !((fee > ours && fee < theirs) || (fee < ours && fee > theirs))) {
    throw new ChannelProtocolError(`closing fee ${fee} sat is not strictly between our last ${ours} sat and their last ${theirs} sat`);
  }
  // A peer without fee_range: take its fee if we accept it, otherwise move towards ours.
  if (inRange(fee, n.range)) return agree();
  const counter = clamp(fee, n.range);
  return { negotiation: { ...n, lastSentFee: counter }, send: message(c, s, n, counter) };
}

/**
 * BOLT 2 "Failing a Channel": a node that has received a valid
 * closing_signed with a sufficient fee SHOULD use it for a mutual close
 * instead of broadcasting its commitment. Sufficient: at least the minimum
 * of our own fee range. Only where it costs us nothing we refused: as
 * fundee (the funder pays the fee), or within our range as funder; a fee
 * above our range as funder is not taken, or a peer could name any fee and
 * then break the protocol to make us pay it. The transaction with both
 * signatures, or undefined (then the commitment is broadcast).
 */
export function closeWithReceived(c: Commitments, s: ChannelSecrets, n: ClosingNegotiation): SignedClose | undefined {
  const fee = n.lastReceivedFee;
  if (fee === undefined || !n.lastReceivedSig || fee < n.range.minFeeSatoshis) return undefined;
  if (c.weAreOpener && fee > n.range.maxFeeSatoshis) return undefined;
  let t: ClosingTx;
  try {
    t = matchSigned(c, n, { channelId: c.channelId, feeSatoshis: fee, signature: n.lastReceivedSig });
  } catch {
    return undefined;
  }
  return complete(c, s, t, n.lastReceivedSig, fee);
}
