/**
 * The numbers an operator acts on, per channel, computed from the stored
 * state and the tip: what can be sent and received now (BOLT 2/3: reserve,
 * the opener's commitment fee at twice the feerate with the new HTLC and a future one, the
 * anchors), how far an opening funding is, and for a close its height, when
 * our time-locked output matures, what is still in limbo (not yet back in the
 * wallet) and what came back. Pure: no chain access; the close record keeps
 * what the chain showed.
 */
import { availableToReceive, availableToSend, commitFeeMsat, type Commitments } from '../../bolt/bolt2/channel/commitments.ts';
import { type CommitSpec } from '../../bolt/bolt2/channel/spec.ts';
import { equalBytes } from '../../bolt/bytes.ts';
import { parseTx } from '../../chain/txid.ts';
import { type Msat, msatToSatFloor, type Sat, sat } from '../../bolt/units.ts';
import { type ChannelRecord } from './manager.ts';
import { type ChannelPhase } from './store.ts';

export interface ChannelNumbers {
  /** The largest HTLC we can offer now (0 unless the channel is usable). */
  spendableMsat: Msat;
  /** The largest HTLC the peer can offer us now, as it would compute it. */
  receivableMsat: Msat;
  /** HTLCs on our current commitment: ours to the peer, and the peer's to us (lnd's unsettled balance). */
  pendingOutMsat: Msat;
  pendingInMsat: Msat;
  /** The reserve the peer asks us to keep (our balance cannot go below it). */
  localReserveSat: Sat;
  /** The reserve we ask of the peer. */
  remoteReserveSat: Sat;
  /** Confirmations of the funding transaction (0 while unconfirmed). */
  fundingConfirmations: number;
  /** Blocks until the funding reaches its minimum depth (0 once there). */
  fundingBlocksToGo: number;
  /** Height the closing transaction confirmed at, once it did. */
  closeHeight?: number;
  /** Height from which our time-locked output of a force close can be swept. */
  maturityHeight?: number;
  blocksTilMaturity?: number;
  /** Our funds on the close that are not yet in the wallet (HTLC outputs not counted). */
  limboSat: Sat;
  /** What reached the wallet from the close so far: our mutual-close output, or our sweeps. */
  settledSat: Sat;
  /** Our output on a force close that waits for its CSV delay (0 otherwise). */
  timeLockedSat: Sat;
}

/** The commitment the close confirmed, from our side (toLocal is ours), and whose commitment it is. */
function closedSpec(rec: ChannelRecord): { spec: CommitSpec; owner: 'local' | 'remote' } {
  const c = rec.commitments;
  const close = rec.close;
  if (close?.kind === 'remote') {
    const next = c.nextRemoteCommit;
    return { spec: next && close.commitmentIndex === next.index ? next.spec : c.remoteCommit.spec, owner: 'remote' };
  }
  if (close?.kind === 'revoked' && close.revokedSpec) return { spec: close.revokedSpec, owner: 'remote' };
  return { spec: c.localCommit.spec, owner: 'local' };
}

/** Our main output on a commitment: our balance, less the fee and anchors when we are the opener; 0 when trimmed. */
function ourCommitOutputSat(c: Commitments, spec: CommitSpec, owner: 'local' | 'remote'): Sat {
  const fee = c.weAreOpener ? commitFeeMsat(c, owner, spec) : 0n;
  const out = msatToSatFloor((spec.toLocalMsat - fee) as Msat);
  const dust = owner === 'local' ? c.local.dustLimitSat : c.remote.dustLimitSat;
  return out >= dust ? out : sat(0);
}

/** Sum of a transaction's outputs paying `script`. */
function paidTo(raw: Uint8Array | undefined, script: Uint8Array | undefined): bigint {
  if (!raw || !script) return 0n;
  const tx = parseTx(raw);
  let total = 0n;
  for (let i = 0; i < tx.outputsLength; i++) {
    const o = tx.getOutput(i);
    if (o.script && o.amount !== undefined && equalBytes(o.script, script)) total += o.amount;
  }
  return total;
}

export function channelNumbers(rec: ChannelRecord, phase: ChannelPhase, usable: boolean, height: number): ChannelNumbers {
  const c = rec.commitments;
  const open = phase === 'normal' || phase === 'shutdown';
  const confirmations = rec.fundingConfirmedAt !== undefined && height >= rec.fundingConfirmedAt ? height - rec.fundingConfirmedAt + 1 : 0;
  const htlcSum = (dir: 'in' | 'out'): Msat => c.localCommit.spec.htlcs.filter((h) => h.direction === dir).reduce((s, h) => s + h.amountMsat, 0n) as Msat;
  const n: ChannelNumbers = {
    spendableMsat: usable ? availableToSend(c) : (0n as Msat),
    pendingOutMsat: htlcSum('out'),
    pendingInMsat: htlcSum('in'),
    receivableMsat: open ? availableToReceive(c) : (0n as Msat),
    localReserveSat: c.remote.channelReserveSat,
    remoteReserveSat: c.local.channelReserveSat,
    fundingConfirmations: confirmations,
    fundingBlocksToGo: Math.max(0, rec.minimumDepth - confirmations),
    limboSat: sat(0),
    settledSat: sat(0),
    timeLockedSat: sat(0),
  };
  const close = rec.close;
  if (!close) return n;
  n.closeHeight = close.confirmedAt;
  if (close.kind === 'mutual') {
    const ours = paidTo(close.raw, rec.shutdown?.localScript);
    n.settledSat = sat(ours);
    // The wallet sees our output once the closing transaction confirms.
    if (phase === 'closing' && close.confirmedAt === undefined) n.limboSat = sat(ours);
    return n;
  }
  const { spec, owner } = closedSpec(rec);
  const output = ourCommitOutputSat(c, spec, owner);
  const sweeps = new Map(Object.values(close.spends).map((s) => [s.txid, s.raw] as const));
  let swept = 0n;
  for (const raw of sweeps.values()) swept += paidTo(raw, close.sweepScript);
  n.settledSat = sat(swept);
  if (close.kind === 'local') {
    n.timeLockedSat = output;
    // BOLT 3 to_local: spendable by a transaction whose input waits to_self_delay (the peer's) blocks after the commitment confirmed.
    if (close.confirmedAt !== undefined) n.maturityHeight = close.confirmedAt + c.remote.toSelfDelay;
  } else if (close.confirmedAt !== undefined) {
    // Their commitment: to_remote waits one block on anchors channels, none otherwise.
    n.maturityHeight = close.confirmedAt + (c.variant === 'anchors' ? 1 : 0);
  }
  if (n.maturityHeight !== undefined) n.blocksTilMaturity = n.maturityHeight - height;
  if (phase === 'closing') n.limboSat = sat(output > swept ? output - swept : 0n);
  return n;
}
