/**
 * The messages a peer session hands to the layers above it (channel
 * messages, and errors and warnings, which can be about a channel) and
 * sends for them, typed by name: the BOLT 2 codec table plus BOLT 1's error
 * and warning. Decoding happens once, in the session; this is the one place
 * the decoded value gets its type, by the name of the codec that decoded it.
 */
import { type ErrorMessage, errorCodec, warningCodec } from './bolt1/messages.ts';
import { BOLT2_CODECS, type Bolt2Message, isBolt2Name } from './bolt2/index.ts';
import { type MessageCodec } from './message.ts';

export type PeerMessage = Bolt2Message | { name: 'error'; msg: ErrorMessage } | { name: 'warning'; msg: ErrorMessage };
export type PeerMessageName = PeerMessage['name'];
/** The fields of message `N`. */
export type BodyOf<N extends PeerMessageName> = Extract<PeerMessage, { name: N }>['msg'];

const CODECS: Record<PeerMessageName, MessageCodec<unknown>> = { ...BOLT2_CODECS, error: errorCodec, warning: warningCodec } as Record<PeerMessageName, MessageCodec<unknown>>;

export function peerMessageCodec(name: PeerMessageName): MessageCodec<unknown> {
  return CODECS[name];
}

/** A message decoded by the codec named `name`, typed as that message; undefined for any other name (init, ping, pong). */
export function asPeerMessage(name: string, msg: unknown): PeerMessage | undefined {
  if (name === 'error' || name === 'warning' || isBolt2Name(name)) return { name, msg } as PeerMessage;
  return undefined;
}
