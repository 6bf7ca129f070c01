/**
 * Whether we take one more inbound channel: the caps that keep a peer (or
 * all peers) from making us hold state for channels that carry nothing
 * (the fake-channel DoS that hit lnd, CLN, Eclair and LDK), and BOLT 2's
 * 2016 blocks after which a fundee forgets a channel whose funding never
 * confirmed. The numbers are the node's (src/node/channels/limits.ts).
 */

export interface InboundCounts {
  /** open_channel answered, no funding_created yet: from this peer, from everyone. */
  pendingFromPeer: number;
  pendingTotal: number;
  /** funding_created received, funding not confirmed yet: from this peer, from everyone. */
  unfundedFromPeer: number;
  unfundedTotal: number;
}

export interface InboundCaps {
  pendingInboundOpensPerPeer: number;
  pendingInboundOpensTotal: number;
  unfundedInboundPerPeer: number;
  unfundedInboundTotal: number;
}

/** Why an open_channel is refused (sent to the peer in an error), or undefined to accept it. */
export function openChannelRefusal(n: InboundCounts, caps: InboundCaps): string | undefined {
  if (n.pendingFromPeer >= caps.pendingInboundOpensPerPeer) return `too many channel opens in progress from this peer (${caps.pendingInboundOpensPerPeer})`;
  if (n.pendingTotal >= caps.pendingInboundOpensTotal) return 'too many channel opens in progress; try again later';
  return fundingCreatedRefusal(n, caps);
}

/** Why a funding_created is refused: one more unfunded channel would cross a cap. */
export function fundingCreatedRefusal(n: InboundCounts, caps: InboundCaps): string | undefined {
  if (n.unfundedFromPeer >= caps.unfundedInboundPerPeer) return `too many unconfirmed channels from this peer (${caps.unfundedInboundPerPeer}); confirm one first`;
  if (n.unfundedTotal >= caps.unfundedInboundTotal) return 'too many unconfirmed channels; try again later';
  return undefined;
}

/** BOLT 2 channel_ready: a fundee SHOULD forget the channel if it does not see the funding confirm after 2016 blocks. */
export const unfundedExpired = (storedAtHeight: number, height: number, forgetBlocks: number): boolean => height - storedAtHeight >= forgetBlocks;
