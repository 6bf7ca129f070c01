/**
 * What a channel does when the connection to its peer comes back (BOLT 2
 * "Message Retransmission") and when the peer's channel_ready arrives, as
 * pure steps: the channel_reestablish we open with, the answer to the
 * peer's (resume with what must be sent again, fail the channel, or stop
 * because the peer proved we lost data), and lock-in on channel_ready. The
 * driver (ChannelManager) stores, then sends, then acts on the outcome.
 */
import { type Commitments, DataLossError, type Outgoing, ourReestablish, type ReestablishFields, retransmissions } from './commitments.ts';
import { type ChannelSecrets } from './keys.ts';
import { ourChannelReadyPoint, receiveChannelReady } from './open.ts';

export interface ChannelReadySend {
  name: 'channel_ready';
  msg: { channelId: Uint8Array; secondPerCommitmentPoint: Uint8Array; shortChannelIdAlias?: bigint };
}

/** What the reconnection steps read of a channel. */
export interface ReconnectView {
  phase: string;
  commitments: Commitments;
  secrets: ChannelSecrets;
  /** Our channel_ready went out (the funding is deep enough). */
  readySent: boolean;
  /** The peer's channel_ready came. */
  theirReady: boolean;
  /** Our scid alias, sent in channel_ready. */
  localAlias?: bigint;
  remoteAlias?: bigint;
}

export type ReestablishOutcome =
  /** Our numbers agree: `send` goes out in this order (channel_ready first, then what the peer missed). */
  | { kind: 'resume'; send: (ChannelReadySend | Outgoing)[] }
  /** The peer proved it holds a newer state: our commitment may be revoked and must never be broadcast. */
  | { kind: 'data_loss'; reason: string }
  /** The numbers cannot be reconciled: fail the channel (our latest commitment is not revoked, so broadcasting it is safe). */
  | { kind: 'fail'; reason: string };

export function channelReady(v: Pick<ReconnectView, 'commitments' | 'secrets' | 'localAlias'>): ChannelReadySend {
  return { name: 'channel_ready', msg: { channelId: v.commitments.channelId, secondPerCommitmentPoint: ourChannelReadyPoint(v.secrets), shortChannelIdAlias: v.localAlias } };
}

/** The channel_reestablish we send on reconnecting, in the phases a channel can resume in. */
export function ourChannelReestablish(v: ReconnectView): { name: 'channel_reestablish'; msg: ReestablishFields & { channelId: Uint8Array } } | undefined {
  if (!resumable(v.phase)) return undefined;
  return { name: 'channel_reestablish', msg: { channelId: v.commitments.channelId, ...ourReestablish(v.commitments, v.secrets) } };
}

export function reestablishStep(v: ReconnectView, theirs: ReestablishFields): ReestablishOutcome {
  let out: Outgoing[];
  try {
    out = retransmissions(v.commitments, v.secrets, theirs);
  } catch (e) {
    if (e instanceof DataLossError) return { kind: 'data_loss', reason: e.message };
    return { kind: 'fail', reason: (e as Error).message };
  }
  // BOLT 2: with both at the first commitment, channel_ready is sent again.
  const ready = v.readySent && theirs.nextCommitmentNumber === 1n && v.commitments.localCommit.index === 0n ? [channelReady(v)] : [];
  return { kind: 'resume', send: [...ready, ...out] };
}

export interface ChannelReadyResult {
  commitments: Commitments;
  theirReady: true;
  remoteAlias?: bigint;
  /** Both channel_ready exchanged: the channel enters phase normal. */
  normal: boolean;
}

/** The peer's channel_ready: its point for commitment 1 and its alias; the channel is locked in once ours went out too. */
export function channelReadyStep(v: ReconnectView, m: { secondPerCommitmentPoint: Uint8Array; shortChannelIdAlias?: bigint }): ChannelReadyResult {
  const remoteAlias = m.shortChannelIdAlias ?? v.remoteAlias;
  return {
    commitments: receiveChannelReady(v.commitments, m.secondPerCommitmentPoint),
    theirReady: true,
    ...(remoteAlias !== undefined ? { remoteAlias } : {}),
    normal: lockedIn({ ...v, theirReady: true }),
  };
}

/** Both channel_ready exchanged on a channel awaiting lock-in: it enters phase normal. */
export const lockedIn = (v: Pick<ReconnectView, 'phase' | 'readySent' | 'theirReady'>): boolean => v.phase === 'awaiting_lock_in' && v.readySent && v.theirReady;

/** The phases whose channels exchange channel_reestablish on reconnecting. */
const resumable = (phase: string): boolean => phase === 'awaiting_lock_in' || phase === 'normal' || phase === 'shutdown';
