/**
 * What a peer can make the channel layer hold, and for how long: one place
 * for the numbers (issue 13 "Peer and client resource holes"). Each cap
 * stops a peer, or all peers together, from making us keep state for
 * channels that carry nothing; a well-behaved peer never comes near them.
 *
 * (A node-wide src/node/limits.ts is being written by another branch; these
 * move there when it lands.)
 */
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
}

/**
 * - 4 unfunded channels per peer: LDK's MAX_UNFUNDED_CHANS_PER_PEER (lnd
 *   allows 1 pending channel per peer by default; 4 lets a peer open a few
 *   at once). 100 in total: LDK stops at 50 peers with unfunded channels.
 * - Pending opens: the same 4 per peer and 100 in total; 10 minutes to send
 *   funding_created, lnd's funding reservation timeout.
 * - 2016 blocks: BOLT 2's figure.
 * - 60 s for a closing_signed answer: the time our own close() call waits.
 */
export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  pendingInboundOpensPerPeer: 4,
  pendingInboundOpensTotal: 100,
  pendingOpenTimeoutMs: 10 * 60_000,
  unfundedInboundPerPeer: 4,
  unfundedInboundTotal: 100,
  unfundedForgetBlocks: 2016,
  closingNegotiationTimeoutMs: 60_000,
};
