/**
 * An open as funder as pure steps (BOLT 2 "Channel Establishment"): the
 * peer's accept_channel is checked against our open, giving the funding
 * output the wallet must pay; with the funding transaction the wallet
 * built, our first commitments and funding_created; and the peer's
 * funding_signed, which must verify before the funding may be broadcast.
 * The driver builds the funding (coins), stores, sends, then broadcasts.
 */
import { fromHex } from '../../bytes.ts';
import { p2wsh } from '../../bolt3/script.ts';
import { fundingScript } from '../../bolt3/scripts.ts';
import { ChannelProtocolError, type Commitments } from './commitments.ts';
import { type ChannelSecrets } from './keys.ts';
import { type AcceptChannelMessage, acceptFirstLocal, ANCHORS_TYPE, type ChannelPolicy, checkAcceptChannel, initialCommitments, type OpenChannelMessage, signFirstRemote } from './open.ts';

export type AcceptChannelAnswer =
  | { kind: 'refuse'; reason: string }
  /** Fund the channel: pay the open's funding_satoshis to `script` (anchors: keep the wallet's reserve for fee bumps). */
  | { kind: 'fund'; script: Uint8Array; anchors: boolean };

export function acceptedOpen(policy: ChannelPolicy, open: OpenChannelMessage, accept: AcceptChannelMessage): AcceptChannelAnswer {
  try {
    checkAcceptChannel(policy, open, accept);
  } catch (e) {
    return { kind: 'refuse', reason: e instanceof ChannelProtocolError ? e.message : 'accept_channel could not be checked' };
  }
  return { kind: 'fund', script: p2wsh(fundingScript(open.fundingPubkey, accept.fundingPubkey)), anchors: open.channelType.equals(ANCHORS_TYPE) };
}

export interface FundingCreatedSend {
  name: 'funding_created';
  msg: { temporaryChannelId: Uint8Array; fundingTxid: Uint8Array; fundingOutputIndex: number; signature: Uint8Array };
}

/** Our first commitments on the funding the wallet built, and the funding_created that goes out once they are stored. Throws ChannelProtocolError on numbers no commitment can be built from. */
export function fundingCreatedFor(open: OpenChannelMessage, accept: AcceptChannelMessage, funding: { txid: string; vout: number }, secrets: ChannelSecrets): { commitments: Commitments; send: FundingCreatedSend } {
  const { state } = initialCommitments({ weAreOpener: true, open, accept, funding, secrets });
  const signed = signFirstRemote(state, secrets);
  return {
    commitments: signed.state,
    send: { name: 'funding_created', msg: { temporaryChannelId: accept.temporaryChannelId, fundingTxid: fromHex(funding.txid).reverse(), fundingOutputIndex: funding.vout, signature: signed.signature } },
  };
}

/** The peer's signature on our first commitment: only once it verifies may the funding go out. */
export function fundingSignedStep(c: Commitments, secrets: ChannelSecrets, signature: Uint8Array): { kind: 'refuse'; reason: string } | { kind: 'funded'; commitments: Commitments } {
  try {
    return { kind: 'funded', commitments: acceptFirstLocal(c, secrets, signature) };
  } catch (e) {
    return { kind: 'refuse', reason: (e as Error).message };
  }
}
