/**
 * What paying needs from the channels, and nothing more: the tip they last
 * processed (an HTLC's expiry counts from it), which channel to a peer can
 * carry an amount now, offering the HTLC (its payment row stored in the same
 * transaction as the channel state, DESIGN.md rule 1), and a signal when a
 * channel's state changed (room freed, a channel became active), so a
 * payment waiting for room wakes on the event instead of polling.
 *
 * The channel side (ChannelManager today) satisfies it as it is; Payments
 * receives it through its constructor. Outcomes flow the other way through
 * ChannelHooks.outgoingResolved.
 */
import { type CltvExpiry, type Msat } from '../../bolt/units.ts';
import { type ChannelSummary } from '../channels/manager.ts';

export interface PaymentChannels {
  /** Tip height the channels last processed; 0 until the chain was followed once. */
  readonly height: number;
  list(): ChannelSummary[];
  channelToPay(peer: Uint8Array, amountMsat: Msat, only?: (c: ChannelSummary) => boolean): Uint8Array | undefined;
  addHtlc(
    channelId: Uint8Array,
    add: { amountMsat: Msat; paymentHash: Uint8Array; cltvExpiry: CltvExpiry; onion: Uint8Array },
    persist: (htlcId: bigint) => void,
  ): bigint;
  onStateChange(f: (channelId: Uint8Array) => void): () => void;
}

/** A node without a chain source has no channels: every payment finds no route. */
export const NO_CHANNELS: PaymentChannels = {
  height: 0,
  list: () => [],
  channelToPay: () => undefined,
  addHtlc: () => {
    throw new Error('no channels: the node runs without a chain source');
  },
  onStateChange: () => () => {},
};
