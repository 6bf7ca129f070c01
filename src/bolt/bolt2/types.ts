/**
 * BOLT #2 message type numbers, and the TLV value codecs its extensions share.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md
 */
import { FeatureVector } from '../bolt9/features.ts';
import { type TlvCodec } from '../bolt1/tlv.ts';

export const Bolt2Type = {
  stfu: 2,
  open_channel: 32,
  accept_channel: 33,
  funding_created: 34,
  funding_signed: 35,
  channel_ready: 36,
  shutdown: 38,
  closing_signed: 39,
  closing_complete: 40,
  closing_sig: 41,
  update_add_htlc: 128,
  update_fulfill_htlc: 130,
  update_fail_htlc: 131,
  commitment_signed: 132,
  revoke_and_ack: 133,
  update_fee: 134,
  update_fail_malformed_htlc: 135,
  channel_reestablish: 136,
} as const;

/** channel_type: a feature vector (the T context of BOLT 9). */
export const channelTypeTlv: TlvCodec<FeatureVector> = {
  decode: (v, f) => FeatureVector.decode(v, f),
  encode: (v) => v.encode(),
};

/** `channel_flags` bit 0: announce the channel. */
export const ANNOUNCE_CHANNEL = 1;

/** Size of attribution_data: 20 u32 hold times and 210 truncated 4-byte HMACs. */
export const ATTRIBUTION_DATA_LENGTH = 20 * 4 + 210 * 4;
