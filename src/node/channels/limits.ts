/**
 * What a peer can make the channel layer hold, and for how long: one place
 * for the numbers (issue 13 "Peer and client resource holes"). Each cap
 * stops a peer, or all peers together, from making us keep state for
 * channels that carry nothing; a well-behaved peer never comes near them.
 *
 * (A node-wide src/node/limits.ts is being written by another branch; these
 * move there when it lands.)
 */
import { DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT, DEFAULT_MAX_UNSIGNED_PEER_UPDATES } from '../../bolt/bolt2/channel/safety-policy.ts';
import { type Msat, type Sat } from '../../bolt/units.ts';
import { ANCHOR_RESERVE_PER_CHANNEL_SAT } from '../wallet/anchor-reserve.ts';

export interface ChannelLimits {
  /** Inbound opens we answered with accept_channel that have no funding_created yet, per peer... */
  pendingInboundOpensPerPeer: number;
  /** ...and from all peers together. */
  pendingInboundOpensTotal: number;
  /** How long such an open waits for funding_created before it is forgotten (its key index freed). */
  pendingOpenTimeoutMs: number;
  /** Inbound channels past funding_created whose funding transaction has not confirmed yet, per peer... */
  unfundedInboundPerPeer: number;
  /** ...and from all peers together. */
  unfundedInboundTotal: number;
  /** BOLT 2 channel_ready: the fundee SHOULD forget a channel whose funding it has not seen confirm after 2016 blocks. */
  unfundedForgetBlocks: number;
  /** BOLT 2 closing_signed: no answer to our closing_signed within this time fails the channel. */
  closingNegotiationTimeoutMs: number;
  /**
   * BOLT 2 max_dust_htlc_exposure_msat: most msat of HTLCs trimmed (dust) on
   * either commitment of a channel at once (safety-policy.ts says how it is
   * counted and enforced).
   */
  maxDustHtlcExposureMsat: Msat;
  /** Most updates a peer may have us hold without our signature; past it the channel fails. */
  maxUnsignedPeerUpdates: number;
  /**
   * On-chain reserve kept per anchors channel (for at most 10 channels) to
   * fee-bump its commitment and HTLC transactions (wallet/anchor-reserve.ts);
   * 0 keeps none.
   */
  anchorReservePerChannelSat: Sat;
}

/**
 * - 4 unfunded channels per peer: LDK's MAX_UNFUNDED_CHANS_PER_PEER (lnd
 *   allows 1 pending channel per peer by default; 4 lets a peer open a few
 *   at once). 100 in total: LDK stops at 50 peers with unfunded channels.
 * - Pending opens: the same 4 per peer and 100 in total; 10 minutes to send
 *   funding_created, lnd's funding reservation timeout.
 * - 2016 blocks: BOLT 2's figure.
 * - 60 s for a closing_signed answer: the time our own close() call waits.
 * - 10,000 sat of on-chain reserve per anchors channel, 10 channels at
 *   most: lnd's anchorChanReservedValue and maxAnchorChanReservedValue.
 * - 50,000 sat of dust exposure: CLN's default (lnd 500,000 sat; LDK about
 *   5,000 sat per sat/vB of feerate). 968 unsigned peer updates: more than
 *   an honest peer can have (483 adds, 483 settles, a fee in each list).
 */
export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  pendingInboundOpensPerPeer: 4,
  pendingInboundOpensTotal: 100,
  pendingOpenTimeoutMs: 10 * 60_000,
  unfundedInboundPerPeer: 4,
  unfundedInboundTotal: 100,
  unfundedForgetBlocks: 2016,
  closingNegotiationTimeoutMs: 60_000,
  maxDustHtlcExposureMsat: DEFAULT_MAX_DUST_HTLC_EXPOSURE_MSAT,
  maxUnsignedPeerUpdates: DEFAULT_MAX_UNSIGNED_PEER_UPDATES,
  anchorReservePerChannelSat: ANCHOR_RESERVE_PER_CHANNEL_SAT,
};
