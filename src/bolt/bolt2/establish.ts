/**
 * Channel establishment v1: open_channel, accept_channel, funding_created,
 * funding_signed, channel_ready.
 * https://github.com/lightning/bolts/blob/master/02-peer-protocol.md#channel-establishment-v1
 */
import { field, u64 as tlvU64, varBytes } from '../bolt1/tlv.ts';
import {
  bytes,
  channelId,
  feerate,
  message,
  millisatoshis,
  point,
  satoshis,
  sha256,
  signature,
  u16,
  u32,
  u8,
} from '../struct.ts';
import { Bolt2Type, channelTypeTlv } from './types.ts';

const openingTlvs = {
  upfrontShutdownScript: field(0, varBytes),
  channelType: field(1, channelTypeTlv),
};

/** The basepoints every party sends, in the spec's order. */
const basepoints = {
  fundingPubkey: point,
  revocationBasepoint: point,
  paymentBasepoint: point,
  delayedPaymentBasepoint: point,
  htlcBasepoint: point,
  firstPerCommitmentPoint: point,
};

export const openChannel = message(
  Bolt2Type.open_channel,
  'open_channel',
  {
    chainHash: bytes(32),
    temporaryChannelId: bytes(32),
    fundingSatoshis: satoshis,
    pushMsat: millisatoshis,
    dustLimitSatoshis: satoshis,
    maxHtlcValueInFlightMsat: millisatoshis,
    channelReserveSatoshis: satoshis,
    htlcMinimumMsat: millisatoshis,
    feeratePerKw: feerate,
    toSelfDelay: u16,
    maxAcceptedHtlcs: u16,
    ...basepoints,
    channelFlags: u8,
  },
  openingTlvs,
);

export const acceptChannel = message(
  Bolt2Type.accept_channel,
  'accept_channel',
  {
    temporaryChannelId: bytes(32),
    dustLimitSatoshis: satoshis,
    maxHtlcValueInFlightMsat: millisatoshis,
    channelReserveSatoshis: satoshis,
    htlcMinimumMsat: millisatoshis,
    minimumDepth: u32,
    toSelfDelay: u16,
    maxAcceptedHtlcs: u16,
    ...basepoints,
  },
  openingTlvs,
);

export const fundingCreated = message(Bolt2Type.funding_created, 'funding_created', {
  temporaryChannelId: bytes(32),
  fundingTxid: sha256,
  fundingOutputIndex: u16,
  signature,
});

export const fundingSigned = message(Bolt2Type.funding_signed, 'funding_signed', { channelId, signature });

export const channelReady = message(
  Bolt2Type.channel_ready,
  'channel_ready',
  { channelId, secondPerCommitmentPoint: point },
  { shortChannelIdAlias: field(1, tlvU64) },
);
