/**
 * An open as fundee as pure steps (BOLT 2 "Channel Establishment"): the
 * peer's open_channel is checked against the spec and our policy, then
 * against what we already hold for it (an open with the same temporary id,
 * the inbound caps, the anchor reserve), and answered with accept_channel;
 * its funding_created is checked against the caps again and against the
 * channels we have, and answered, once the channel is stored, with
 * funding_signed. The driver allocates keys, stores, then sends.
 */
import { hex } from '../../bytes.ts';
import { channelIdFrom } from '../channel-id.ts';
import { type Commitments } from './commitments.ts';
import { type ChannelSecrets, basepointsOf } from './keys.ts';
import { fundingCreatedRefusal, type InboundCaps, type InboundCounts, openChannelRefusal } from './open-admission.ts';
import {
  type AcceptChannelMessage,
  acceptChannelMessage,
  acceptFirstLocal,
  ANCHORS_TYPE,
  type ChannelPolicy,
  checkedOpen,
  checkOpenChannel,
  initialCommitments,
  type OpenChannelMessage,
  type ReceivedOpen,
  signFirstRemote,
} from './open.ts';

export interface OpenAdmission {
  policy: ChannelPolicy;
  chainHash: Uint8Array;
  counts: InboundCounts;
  caps: InboundCaps;
  /** An open we hold under the same temporary_channel_id: ours, or the peer's (or another peer's). */
  earlier?: { ours: boolean; samePeer: boolean };
  /** Why the wallet cannot back one more anchors channel (anchor-reserve.ts), if it cannot; asked only for an anchors open. */
  anchorReserveShort?: () => string | undefined;
}

/** `replaces`: the peer's earlier open with the same temporary id is forgotten (it is, even when the new one is then refused). */
export type OpenChannelAnswer = { kind: 'refuse'; reason: string; replaces?: boolean } | { kind: 'accept'; open: OpenChannelMessage; replaces: boolean };

export function admitOpen(v: OpenAdmission, m: ReceivedOpen): OpenChannelAnswer {
  let open: OpenChannelMessage;
  try {
    checkOpenChannel(v.policy, m, v.chainHash);
    open = checkedOpen(m);
  } catch (e) {
    return { kind: 'refuse', reason: (e as Error).message };
  }
  if (v.earlier && (v.earlier.ours || !v.earlier.samePeer)) return { kind: 'refuse', reason: 'open_channel: temporary_channel_id already in use' };
  // BOLT 2 open_channel receiver: a new open_channel with the same temporary_channel_id replaces the previous one (and its key index).
  // The caps count without the open it replaces.
  const replaces = v.earlier !== undefined;
  const counts = replaces ? { ...v.counts, pendingFromPeer: v.counts.pendingFromPeer - 1, pendingTotal: v.counts.pendingTotal - 1 } : v.counts;
  const capped = openChannelRefusal(counts, v.caps);
  if (capped) return { kind: 'refuse', reason: capped, replaces };
  // Anchors: we must be able to fee-bump its commitment from the wallet.
  const short = open.channelType.equals(ANCHORS_TYPE) ? v.anchorReserveShort?.() : undefined;
  if (short) return { kind: 'refuse', reason: short, replaces };
  return { kind: 'accept', open, replaces };
}

/** Our accept_channel for an admitted open, with the keys the driver allocated for it. */
export function acceptFor(policy: ChannelPolicy, open: OpenChannelMessage, secrets: ChannelSecrets): AcceptChannelMessage {
  return acceptChannelMessage(policy, open, secrets, basepointsOf(secrets));
}

export interface FundingCreated {
  temporaryChannelId: Uint8Array;
  fundingTxid: Uint8Array;
  fundingOutputIndex: number;
  signature: Uint8Array;
}

export type FundingCreatedAnswer =
  | { kind: 'refuse'; reason: string }
  /** Store the channel (its first commitments, signed both ways), then send funding_signed. */
  | { kind: 'store'; commitments: Commitments; fundingTxid: string; send: { name: 'funding_signed'; msg: { channelId: Uint8Array; signature: Uint8Array } } };

export function fundingCreatedStep(
  v: { counts: InboundCounts; caps: InboundCaps; open: OpenChannelMessage; accept: AcceptChannelMessage; secrets: ChannelSecrets; channelExists: (channelId: Uint8Array) => boolean },
  m: FundingCreated,
): FundingCreatedAnswer {
  const capped = fundingCreatedRefusal(v.counts, v.caps);
  if (capped) return { kind: 'refuse', reason: capped };
  // BOLT 2 funding_created receiver: the outpoint must not be one of a channel we already have (any peer, any phase).
  if (v.channelExists(channelIdFrom(m.fundingTxid, m.fundingOutputIndex))) return { kind: 'refuse', reason: 'funding_created: that funding outpoint belongs to an existing channel' };
  const txid = hex(Uint8Array.from(m.fundingTxid).reverse());
  try {
    const { state } = initialCommitments({ weAreOpener: false, open: v.open, accept: v.accept, funding: { txid, vout: m.fundingOutputIndex }, secrets: v.secrets });
    const signed = signFirstRemote(acceptFirstLocal(state, v.secrets, m.signature), v.secrets);
    return { kind: 'store', commitments: signed.state, fundingTxid: txid, send: { name: 'funding_signed', msg: { channelId: signed.state.channelId, signature: signed.signature } } };
  } catch (e) {
    // A signature that does not verify, or a commitment that cannot be built from these numbers: the open ends here.
    return { kind: 'refuse', reason: (e as Error).message };
  }
}
