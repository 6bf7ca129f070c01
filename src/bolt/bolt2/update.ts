/**
 * HTLC and fee updates: update_add_htlc, update_fulfill_htlc,
 * update_fail_htlc, update_fail_malformed_htlc, update_fee.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#normal-operation
 */
import { field, fixedBytes, point as tlvPoint } from '../bolt1/tlv.ts';
import { bytes, channelId, cltv, feerate, message, millisatoshis, sha256, u16, u16Bytes, u64 } from '../struct.ts';
import { ATTRIBUTION_DATA_LENGTH, Bolt2Type } from './types.ts';

export const ONION_PACKET_LENGTH = 1366;

export const updateAddHtlc = message(
  Bolt2Type.update_add_htlc,
  'update_add_htlc',
  {
    channelId,
    id: u64,
    amountMsat: millisatoshis,
    paymentHash: sha256,
    cltvExpiry: cltv,
    onionRoutingPacket: bytes(ONION_PACKET_LENGTH),
  },
  { pathKey: field(0, tlvPoint) },
);

const attribution = { attributionData: field(1, fixedBytes(ATTRIBUTION_DATA_LENGTH)) };

export const updateFulfillHtlc = message(
  Bolt2Type.update_fulfill_htlc,
  'update_fulfill_htlc',
  { channelId, id: u64, paymentPreimage: bytes(32) },
  attribution,
);

export const updateFailHtlc = message(
  Bolt2Type.update_fail_htlc,
  'update_fail_htlc',
  { channelId, id: u64, reason: u16Bytes },
  attribution,
);

export const updateFailMalformedHtlc = message(Bolt2Type.update_fail_malformed_htlc, 'update_fail_malformed_htlc', {
  channelId,
  id: u64,
  sha256OfOnion: sha256,
  failureCode: u16,
});

export const updateFee = message(Bolt2Type.update_fee, 'update_fee', { channelId, feeratePerKw: feerate });
