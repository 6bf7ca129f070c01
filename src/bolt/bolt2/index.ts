/** Every BOLT 2 message codec, for the BOLT 1 dispatcher's registry. */
import { type MessageCodec } from '../message.ts';
import { closingComplete, closingSig, closingSigned, shutdown } from './close.ts';
import { channelReestablish, commitmentSigned, revokeAndAck, stfu } from './commit.ts';
import { acceptChannel, channelReady, fundingCreated, fundingSigned, openChannel } from './establish.ts';
import { updateAddHtlc, updateFailHtlc, updateFailMalformedHtlc, updateFee, updateFulfillHtlc } from './update.ts';

export const BOLT2_MESSAGES: readonly MessageCodec<unknown>[] = [
  openChannel,
  acceptChannel,
  fundingCreated,
  fundingSigned,
  channelReady,
  shutdown,
  closingSigned,
  closingComplete,
  closingSig,
  updateAddHtlc,
  updateFulfillHtlc,
  updateFailHtlc,
  updateFailMalformedHtlc,
  updateFee,
  commitmentSigned,
  revokeAndAck,
  channelReestablish,
  stfu,
] as MessageCodec<unknown>[];
