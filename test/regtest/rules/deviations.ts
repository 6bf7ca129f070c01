/**
 * The one-field deviations of open_channel and accept_channel the
 * receiver-rule table sends, shared by the lab table (sent to a daemon) and
 * the pure-level table (given to checkOpenChannel / checkAcceptChannel), so
 * both check the same input. `outcome` is what lnnode must do with it;
 * `why` what its refusal names.
 *
 * Bases: an open of 500,000 sat at 1,000 sat/kw, static_remotekey, lnnode's
 * default limits; an accept of the node's own open, its limits lnnode's
 * defaults (the node opens 300,000 sat: its dust limit 546, reserve 3,000).
 */
import { type AcceptChannelMessage, ANCHORS_TYPE, type OpenChannelMessage, STATIC_REMOTEKEY_TYPE } from '../../../src/bolt/bolt2/channel/open.ts';
import { FeatureVector } from '../../../src/bolt/bolt9/features.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { chainHash } from '../../../src/node/networks.ts';
import { NOT_A_POINT } from '../../lab/hostile-peer-channel.ts';

export type Outcome = 'refuse' | 'accept' | 'undecodable';

export interface Deviation<M> {
  tweak: (m: M) => void;
  outcome: Outcome;
  /** Part of the refusal's text. */
  why?: RegExp;
}

export const OPEN_FUNDING = sat(500_000);

type Open = Deviation<OpenChannelMessage>;
const open = (tweak: (m: OpenChannelMessage) => void, outcome: Outcome, why?: RegExp): Open => ({ tweak, outcome, why });
const w = <T>(m: T): Record<string, unknown> => m as unknown as Record<string, unknown>;

export const OPEN_DEVIATIONS: Record<string, Open> = {
  'open_channel/channel_flags-undefined-bits': open((m) => (m.channelFlags = 0xfe), 'accept'),
  'open_channel/no-channel_type': open((m) => delete w(m).channelType, 'refuse', /channel_type is required/),
  'open_channel/funding-too-small': open((m) => (m.fundingSatoshis = sat(19_999)), 'refuse', /funding 19999 sat is below our minimum/),
  'open_channel/htlc_minimum-too-large': open((m) => (m.htlcMinimumMsat = msat(50_000_001n)), 'refuse', /htlc_minimum_msat 50000001 is unreasonably large/),
  'open_channel/max_htlc_value_in_flight-too-small': open((m) => (m.maxHtlcValueInFlightMsat = msat(4_999_999n)), 'refuse', /max_htlc_value_in_flight_msat is under 1%/),
  'open_channel/channel_reserve-too-large': open((m) => (m.channelReserveSatoshis = sat(100_001)), 'refuse', /channel_reserve_satoshis 100001 is over 20%/),
  'open_channel/max_accepted_htlcs-too-small': open((m) => (m.maxAcceptedHtlcs = 0), 'refuse', /max_accepted_htlcs is zero/),
  'open_channel/dust_limit-too-large': open(
    (m) => {
      m.dustLimitSatoshis = sat(20_001);
      m.channelReserveSatoshis = sat(20_001);
    },
    'refuse',
    /dust_limit_satoshis 20001 is unreasonably large/,
  ),
  'open_channel/chain_hash-unknown': open((m) => (m.chainHash = chainHash('mainnet')), 'refuse', /chain_hash is not our chain/),
  'open_channel/push-above-funding': open((m) => (m.pushMsat = msat(500_000_001n)), 'refuse', /push_msat exceeds the funding/),
  'open_channel/to_self_delay-too-large': open((m) => (m.toSelfDelay = 2017), 'refuse', /to_self_delay 2017 exceeds our maximum of 2016/),
  'open_channel/max_accepted_htlcs-above-483': open((m) => (m.maxAcceptedHtlcs = 484), 'refuse', /max_accepted_htlcs 484 exceeds 483/),
  'open_channel/feerate-too-small': open((m) => (m.feeratePerKw = 252 as FeeratePerKw), 'refuse', /feerate_per_kw 252 is outside/),
  'open_channel/feerate-too-large': open((m) => (m.feeratePerKw = 100_001 as FeeratePerKw), 'refuse', /feerate_per_kw 100001 is outside/),
  'open_channel/invalid-pubkey': open((m) => (m.fundingPubkey = NOT_A_POINT as typeof m.fundingPubkey), 'undecodable'),
  'open_channel/dust-above-reserve': open(
    (m) => {
      m.dustLimitSatoshis = sat(5_001);
      m.channelReserveSatoshis = sat(5_000);
    },
    'refuse',
    /dust_limit_satoshis 5001 is above its own channel_reserve_satoshis 5000/,
  ),
  'open_channel/dust-below-354': open((m) => (m.dustLimitSatoshis = sat(353)), 'refuse', /dust_limit_satoshis 353 is below 354/),
  'open_channel/funder-cannot-pay-fee': open(
    (m) => {
      m.fundingSatoshis = sat(20_000);
      m.feeratePerKw = 100_000 as FeeratePerKw;
      m.channelReserveSatoshis = sat(546);
      m.maxHtlcValueInFlightMsat = msat(20_000_000n);
    },
    'refuse',
    /cannot pay the first commitment's fee/,
  ),
  'open_channel/both-outputs-at-reserve': open(
    (m) => {
      m.fundingSatoshis = sat(40_000);
      m.channelReserveSatoshis = sat(8_000);
      m.feeratePerKw = 45_600 as FeeratePerKw;
      m.maxHtlcValueInFlightMsat = msat(40_000_000n);
    },
    'refuse',
    /both outputs of the first commitment are at or below channel_reserve_satoshis 8000/,
  ),
  'open_channel/funding-2^24': open((m) => (m.fundingSatoshis = sat(16_777_216)), 'refuse', /funding 16777216 sat is above our maximum/),
  'open_channel/channel_type-unsuitable': open((m) => (m.channelType = FeatureVector.of(22)), 'refuse', /channel_type 22 is not supported/),
  'open_channel/channel_type-zeroconf': open((m) => (m.channelType = FeatureVector.of(12, 50)), 'refuse', /channel_type 12,50 is not supported/),
};

type Accept = Deviation<AcceptChannelMessage>;
const accept = (tweak: (m: AcceptChannelMessage) => void, outcome: Outcome, why?: RegExp): Accept => ({ tweak, outcome, why });

export const ACCEPT_DEVIATIONS: Record<string, Accept> = {
  'accept_channel/minimum_depth-too-large': accept((m) => (m.minimumDepth = 145), 'refuse', /minimum_depth 145 exceeds our maximum of 144/),
  'accept_channel/reserve-below-open-dust': accept(
    (m) => {
      m.channelReserveSatoshis = sat(545);
      m.dustLimitSatoshis = sat(354);
    },
    'refuse',
    /channel_reserve_satoshis 545 is below our dust limit 546/,
  ),
  'accept_channel/open-reserve-below-dust': accept(
    (m) => {
      m.dustLimitSatoshis = sat(3_001);
      m.channelReserveSatoshis = sat(3_500);
    },
    'refuse',
    /dust_limit_satoshis 3001 is above the reserve we require/,
  ),
  'accept_channel/no-channel_type': accept((m) => delete w(m).channelType, 'refuse', /channel_type must echo the one we proposed/),
  'accept_channel/channel_type-mismatch': accept(
    (m) => (m.channelType = m.channelType?.equals(ANCHORS_TYPE) ? STATIC_REMOTEKEY_TYPE : ANCHORS_TYPE),
    'refuse',
    /channel_type must echo the one we proposed/,
  ),
  'accept_channel/to_self_delay-too-large': accept((m) => (m.toSelfDelay = 2017), 'refuse', /to_self_delay 2017 exceeds our maximum/),
  'accept_channel/max_accepted_htlcs-above-483': accept((m) => (m.maxAcceptedHtlcs = 484), 'refuse', /max_accepted_htlcs 484 exceeds 483/),
  'accept_channel/dust-below-354': accept((m) => (m.dustLimitSatoshis = sat(353)), 'refuse', /dust_limit_satoshis 353 is below 354/),
  'accept_channel/dust-above-reserve': accept(
    (m) => {
      m.dustLimitSatoshis = sat(5_001);
      m.channelReserveSatoshis = sat(5_000);
    },
    'refuse',
    /dust_limit_satoshis 5001 is above its own channel_reserve_satoshis 5000/,
  ),
  'accept_channel/invalid-pubkey': accept((m) => (m.revocationBasepoint = NOT_A_POINT as typeof m.revocationBasepoint), 'undecodable'),
};
