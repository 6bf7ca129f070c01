/**
 * What the channel driver keeps in memory per stored channel, beside what
 * is stored: its keys, and what holds for the current connection only.
 */
import { type ChannelSecrets } from '../../bolt/bolt2/channel/keys.ts';
import { type ChannelState } from '../../bolt/bolt2/channel/state.ts';
import { type PeerManager } from '../peer/manager.ts';

/** A stored channel's tagged state (phase and record, state.ts) and what the driver keeps beside it. */
export type Live = ChannelState & {
  peer: Uint8Array;
  keyIndex: number;
  secrets: ChannelSecrets;
  /** channel_reestablish exchanged on the current connection. */
  reestablished: boolean;
  /** A closed or failed channel answered the peer's channel_reestablish on the current connection (its error, or its mutual close again). */
  errorResent?: boolean;
  /** Cancels the timeout that fails the channel if the peer does not answer our closing_signed in time (BOLT 2). */
  negotiationTimer?: () => void;
};

/** What a listing reads of a channel: a closed one loaded only to be listed has no more. */
export type Listed = Pick<Live, 'peer' | 'phase' | 'rec' | 'reestablished'>;

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
}

/** An error or warning about a channel (or an open, by its temporary id), to a peer that is still connected. */
export function notify(peers: PeerManager, peer: Uint8Array, kind: 'error' | 'warning', channelId: Uint8Array, text: string): void {
  if (peers.isConnected(peer)) peers.send(peer, kind, { channelId, data: new TextEncoder().encode(text) });
}
