/**
 * A channel as the node lists it (API, CLI, metrics): balances, the
 * commitments' txids and fees, what each side announced, how it closed.
 */
import { hex } from '../../bolt/bytes.ts';
import { type PartyConfig, commitFeeMsat } from '../../bolt/bolt2/channel/commitments.ts';
import { type ChannelPhase, type CloseKind } from '../../bolt/bolt2/channel/state.ts';
import { ANCHOR_OUTPUT_SAT } from '../../bolt/bolt3/fees.ts';
import { type FeeratePerKw, type Msat, msatToSatFloor, sat, type Sat } from '../../bolt/units.ts';
import { type Listed } from './live.ts';
import { channelNumbers, type ChannelNumbers } from './balances.ts';

export interface ChannelSummary {
  channelId: string;
  peer: string;
  phase: ChannelPhase;
  active: boolean;
  weAreOpener: boolean;
  fundingTxid: string;
  fundingVout: number;
  capacitySat: Sat;
  localBalanceMsat: Msat;
  remoteBalanceMsat: Msat;
  channelType: 'static_remotekey' | 'anchors';
  /** Our current commitment's feerate and the fee (BOLT 3) it pays; the opener's balance also pays the two anchors, if any. */
  feeratePerKw: FeeratePerKw;
  commitFeeSat: Sat;
  pendingHtlcs: number;
  shortChannelId?: string;
  localAlias: string;
  closeReason?: string;
  /** What spent the funding output, once something did (or we broadcast it). */
  closeKind?: CloseKind;
  closingTxid?: string;
  /** Our transactions spending the close's outputs (sweeps, justice, HTLC second stages). */
  sweepTxids: string[];
  /** Spendable/receivable now, funding depth, close heights and balances (balances.ts). */
  numbers: ChannelNumbers;
  /** What each side announced (open_channel / accept_channel): `remote` limits what we may do, `local` what the peer may. */
  localParams: PartyConfig;
  remoteParams: PartyConfig;
  minimumDepth: number;
  /** The txids of our current commitment, the peer's, and the one of theirs we signed and await a revocation for. */
  commitments: { localTxid: string; remoteTxid: string; remotePendingTxid?: string };
}

export function channelSummary(id: string, l: Listed, active: boolean, tipHeight: number): ChannelSummary {
  const c = l.rec.commitments;
  return {
    channelId: id,
    peer: hex(l.peer),
    phase: l.phase,
    active: active,
    weAreOpener: c.weAreOpener,
    fundingTxid: c.fundingTxid,
    fundingVout: c.fundingVout,
    capacitySat: c.fundingSat,
    localBalanceMsat: c.localCommit.spec.toLocalMsat,
    remoteBalanceMsat: c.localCommit.spec.toRemoteMsat,
    channelType: c.variant === 'anchors' ? 'anchors' : 'static_remotekey',
    feeratePerKw: c.localCommit.spec.feeratePerKw,
    commitFeeSat: sat(msatToSatFloor(commitFeeMsat(c, 'local', c.localCommit.spec)) - (c.variant === 'anchors' ? 2n * ANCHOR_OUTPUT_SAT : 0n)),
    // Until both commitments (and one being signed) drop an HTLC it still counts against the limits.
    pendingHtlcs: Math.max(c.localCommit.spec.htlcs.length, c.remoteCommit.spec.htlcs.length, c.nextRemoteCommit?.spec.htlcs.length ?? 0),
    shortChannelId: l.rec.shortChannelId,
    localAlias: l.rec.localAlias.toString(),
    closeReason: l.rec.closeReason,
    closeKind: l.rec.close?.kind,
    closingTxid: l.rec.close?.txid,
    // One justice transaction can spend several outputs.
    sweepTxids: [...new Set(Object.values(l.rec.close?.spends ?? {}).map((x) => x.txid))],
    numbers: channelNumbers(l.rec, l.phase, active, tipHeight),
    localParams: c.local,
    remoteParams: c.remote,
    minimumDepth: l.rec.minimumDepth,
    commitments: { localTxid: c.localCommit.txid, remoteTxid: c.remoteCommit.txid, remotePendingTxid: c.nextRemoteCommit?.txid },
  };
}
