/**
 * A node without a chain source has no wallet and no channel manager, yet
 * peers may still ask it for channels: BOLT 2 expects an answer, so each
 * open_channel gets an error on its temporary channel id instead of silence
 * (the peer then stops waiting at once).
 */
import { type PeerManager } from '../peer/manager.ts';

export const NO_CHAIN_REFUSAL = 'no chain source: cannot accept channels';

export function refuseChannelsWithoutChain(peers: PeerManager): void {
  peers.onMessage((peer, m) => {
    if (m.name !== 'open_channel' || !peers.isConnected(peer)) return;
    peers.send(peer, 'error', { channelId: m.msg.temporaryChannelId, data: new TextEncoder().encode(NO_CHAIN_REFUSAL) });
  });
}
