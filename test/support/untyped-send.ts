/**
 * A node's peer manager seen without its message types, for tests that
 * tamper with what a node sends (rewrite, hold, drop) or send a message
 * no honest node would build.
 */
import { type PeerManager } from '../../src/node/peer/manager.ts';

export interface UntypedSend {
  send(peer: Uint8Array, name: string, msg: unknown): void;
}

export const untypedSend = (peers: PeerManager): UntypedSend => peers as unknown as UntypedSend;
