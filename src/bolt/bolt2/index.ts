/**
 * Every BOLT 2 message codec, by its spec name: the registry the BOLT 1
 * dispatcher decodes with, and the `Bolt2Message` union the layers above
 * receive and send, derived from the same table so a name and its fields
 * cannot drift apart.
 */
import { type MessageCodec } from '../message.ts';
import { closingComplete, closingSig, closingSigned, shutdown } from './close.ts';
import { channelReestablish, commitmentSigned, revokeAndAck, stfu } from './commit.ts';
import { acceptChannel, channelReady, fundingCreated, fundingSigned, openChannel } from './establish.ts';
import { updateAddHtlc, updateFailHtlc, updateFailMalformedHtlc, updateFee, updateFulfillHtlc } from './update.ts';

export const BOLT2_CODECS = {
  open_channel: openChannel,
  accept_channel: acceptChannel,
  funding_created: fundingCreated,
  funding_signed: fundingSigned,
  channel_ready: channelReady,
  shutdown,
  closing_signed: closingSigned,
  closing_complete: closingComplete,
  closing_sig: closingSig,
  update_add_htlc: updateAddHtlc,
  update_fulfill_htlc: updateFulfillHtlc,
  update_fail_htlc: updateFailHtlc,
  update_fail_malformed_htlc: updateFailMalformedHtlc,
  update_fee: updateFee,
  commitment_signed: commitmentSigned,
  revoke_and_ack: revokeAndAck,
  channel_reestablish: channelReestablish,
  stfu,
} as const;

export type Bolt2Name = keyof typeof BOLT2_CODECS;

/** The decoded value of a codec. */
export type MessageOf<C> = C extends MessageCodec<infer T> ? T : never;

/** One BOLT 2 message with its name: narrowing on `name` gives the fields. */
export type Bolt2Message = { [K in Bolt2Name]: { name: K; msg: MessageOf<(typeof BOLT2_CODECS)[K]> } }[Bolt2Name];

export const BOLT2_MESSAGES: readonly MessageCodec<unknown>[] = Object.values(BOLT2_CODECS) as MessageCodec<unknown>[];

export const isBolt2Name = (name: string): name is Bolt2Name => Object.hasOwn(BOLT2_CODECS, name);
