/**
 * What is stored of a channel, as data: its phase, the record beside the
 * commitments (lock-in, aliases, shutdown, why it closed) and, once the
 * funding output is spent, how each output of the close is being resolved.
 * The pure steps (step.ts and the ones it dispatches to) read and return
 * these; the node stores them (node/channels/store.ts) as JSON.
 */
import { type Commitments } from './commitments.ts';
import { type ShutdownState } from './shutdown-step.ts';
import { type CommitSpec, type HtlcEntry } from './spec.ts';
import { type FeeratePerKw, type Sat } from '../../units.ts';

/**
 * Where a channel is in its life; `state` holds what that phase needs.
 * `recovering`: restored from a static channel backup (backup/restore.ts):
 * no commitment state, so nothing is ever signed or broadcast for it; the
 * peer is asked to force close and our output on its commitment is swept.
 */
export type ChannelPhase = 'awaiting_funding_signed' | 'awaiting_lock_in' | 'normal' | 'shutdown' | 'closing' | 'closed' | 'recovering';

/** What is stored per channel besides the commitments. */
export interface ChannelRecord {
  commitments: Commitments;
  /** Confirmations the funding transaction needs before channel_ready. */
  minimumDepth: number;
  readySent: boolean;
  theirReady: boolean;
  /** Our scid alias (sent in channel_ready) and theirs. */
  localAlias: bigint;
  remoteAlias?: bigint;
  /** block x tx x output of the funding output, once confirmed. */
  shortChannelId?: string;
  /** The peer proved we lost state (channel_reestablish): our commitment may be revoked and is never broadcast. */
  dataLoss?: boolean;
  /** Fundee: the tip when the channel was stored (funding_created), to forget it if its funding never confirms. */
  storedAtHeight?: number;
  /** The height of the block the funding transaction was last seen confirmed in. */
  fundingConfirmedAt?: number;
  /** After channel_ready a reorg took the funding below minimumDepth: no HTLC of ours is added until it is back (funding-depth.ts). */
  fundingDepthLost?: boolean;
  /** Fundee: the funding transaction was found and pays funding_satoshis to the 2-of-2 (BOLT 2 channel_ready). */
  fundingVerified?: boolean;
  /** Set once the channel failed or closing began: why. */
  closeReason?: string;
  /** The peer's non-empty upfront_shutdown_script (open_channel / accept_channel): its shutdown must name it. */
  remoteUpfrontScript?: Uint8Array;
  /** Mutual close in progress: our shutdown script, theirs once received, the fee negotiation. */
  shutdown?: ShutdownState;
  /** Once the funding output is spent (or we spent it): what spent it and how each output is being resolved. */
  close?: CloseRecord;
}

/** What a record holds for sure in each phase, beyond what every phase has. */
export interface RecordByPhase {
  awaiting_funding_signed: ChannelRecord;
  awaiting_lock_in: ChannelRecord;
  normal: ChannelRecord;
  /** Our shutdown is out (or due, the peer's came): the negotiation's state. */
  shutdown: ChannelRecord & { shutdown: ShutdownState };
  /** Failed or closing on chain: why. The close itself once something spent the funding (after a data loss, not until the peer's commitment is seen). */
  closing: ChannelRecord & { closeReason: string };
  closed: ChannelRecord & { closeReason: string };
  /** Restored from a backup: its commitments are a stand-in (backup/recovering.ts), and it waits for the peer's close. */
  recovering: ChannelRecord & { closeReason: string };
}

/** A channel's phase and record, tagged: narrowing on `phase` gives the record that phase has. */
export type ChannelState = { [P in ChannelPhase]: { phase: P; rec: RecordByPhase[P] } }[ChannelPhase];

export class ChannelStateError extends Error {
  override readonly name = 'ChannelStateError';
}

/**
 * A stored phase and record as a ChannelState, checked against what the
 * phase promises. A closing channel stored without a reason (none should
 * be) gets a generic one rather than failing the start.
 */
export function channelState(phase: ChannelPhase, rec: ChannelRecord): ChannelState {
  switch (phase) {
    case 'shutdown':
      if (!rec.shutdown) throw new ChannelStateError('a channel in phase shutdown is stored without its shutdown state');
      return { phase, rec: { ...rec, shutdown: rec.shutdown } };
    case 'closing':
    case 'closed':
    case 'recovering':
      return { phase, rec: { ...rec, closeReason: rec.closeReason ?? 'closed' } };
    default:
      return { phase, rec };
  }
}

export type HtlcOutcome =
  | { kind: 'fulfilled'; channelId: Uint8Array; htlc: HtlcEntry; preimage: Uint8Array }
  /** `reason` is the encrypted failure; undefined when the HTLC never reached a commitment (forgotten on disconnect). */
  | { kind: 'failed'; channelId: Uint8Array; htlc: HtlcEntry; reason?: Uint8Array; failureCode?: number };


export type CloseKind = 'mutual' | 'local' | 'remote' | 'revoked' | 'unknown';

export interface SweepRecord {
  txid: string;
  raw: Uint8Array;
  value: Sat;
  fee: Sat;
}

export interface CloseRecord {
  kind: CloseKind;
  /** The transaction spending the funding output. */
  txid: string;
  /** The closing transaction (ours, or the peer's as the chain showed it): broadcast again while it is not on chain. */
  raw?: Uint8Array;
  /** For `remote` / `revoked`: which of their commitments. */
  commitmentIndex?: bigint;
  revokedSpec?: CommitSpec;
  /** Where sweeps pay: one wallet script per channel. */
  sweepScript?: Uint8Array;
  /** Our transactions spending the close's outputs (sweeps, HTLC second stages), by the outpoint they spend. */
  spends: Record<string, SweepRecord>;
  /** Outpoints that are settled for us: spent by the peer, or not worth sweeping. */
  settled: string[];
  /** Height of the block the closing transaction confirmed in, as last seen (maturity heights count from it). */
  confirmedAt?: number;
  /** Height at which everything was CLOSE_DEPTH deep (cleared if a reorg undoes part of it). */
  doneAt?: number;
  /** Height at which everything was MAX_REORG_DEPTH deep: no longer watched. */
  finalAt?: number;
  /** Our offered HTLCs without an output on the close were failed (once it was CLOSE_DEPTH deep). */
  withoutOutputFailed?: boolean;
  /** Anchors, our commitment: the first height it was seen unconfirmed, and its CPFP child (anchor-bump.ts). */
  bumpFrom?: number;
  anchorBump?: AnchorBumpRecord;
}

/** The child last built for our commitment, as stored in the close record. */
export interface AnchorBumpRecord {
  /** Children built so far, less one: the wallet key of this one is `anchor-cpfp:<commitment>:<round>`. */
  round: number;
  txid: string;
  fee: Sat;
  weight: number;
  /** The package feerate it was built to reach. */
  feerate: FeeratePerKw;
}

