/**
 * BOLT 2 open_channel / accept_channel receiver rules, one row per "MUST
 * fail the channel" (and each MAY we enforce): the field that breaks it and
 * the exact reason checkOpenChannel / checkAcceptChannel refuse with.
 */
import { describe, expect, test } from 'bun:test';
import { ChannelProtocolError } from '../../src/bolt/bolt2/channel/commitments.ts';
import { basepointsOf } from '../../src/bolt/bolt2/channel/keys.ts';
import {
  acceptChannelMessage,
  ANCHORS_TYPE,
  checkAcceptChannel,
  checkOpenChannel,
  DEFAULT_POLICY,
  type OpenChannelMessage,
  openChannelMessage,
  STATIC_REMOTEKEY_TYPE,
} from '../../src/bolt/bolt2/channel/open.ts';
import { FeatureVector } from '../../src/bolt/bolt9/features.ts';
import { type FeeratePerKw, type Msat, msat, type Sat, sat } from '../../src/bolt/units.ts';
import { REGTEST, secrets } from './channel-harness.ts';

const sa = secrets(1);
const sb = secrets(2);
const open = (o: { fundingSat?: Sat; pushMsat?: Msat; feerate?: number; anchors?: boolean } = {}): OpenChannelMessage =>
  openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(1),
    chainHash: REGTEST,
    fundingSat: o.fundingSat ?? sat(500_000),
    pushMsat: o.pushMsat ?? msat(0),
    feeratePerKw: (o.feerate ?? 2500) as FeeratePerKw,
    channelType: o.anchors ? ANCHORS_TYPE : STATIC_REMOTEKEY_TYPE,
    secrets: sa,
    basepoints: basepointsOf(sa),
  });
const accept = (m = open()) => acceptChannelMessage(DEFAULT_POLICY, m, sb, basepointsOf(sb));
const refusal = (f: () => void): string | undefined => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ChannelProtocolError);
    return (e as Error).message;
  }
  return undefined;
};

describe('open_channel receiver', () => {
  test('a well-formed open_channel, static_remotekey or anchors, is accepted', () => {
    expect(refusal(() => checkOpenChannel(DEFAULT_POLICY, open(), REGTEST))).toBeUndefined();
    expect(refusal(() => checkOpenChannel(DEFAULT_POLICY, open({ anchors: true, pushMsat: msat(1_000_000) }), REGTEST))).toBeUndefined();
  });

  const rows: [string, Partial<OpenChannelMessage> | (() => OpenChannelMessage), string][] = [
    ['chain_hash of another chain', { chainHash: new Uint8Array(32) }, 'open_channel: chain_hash is not our chain'],
    ['push_msat above funding_satoshis * 1000', { pushMsat: msat(500_000_001) }, 'open_channel: push_msat exceeds the funding'],
    ['to_self_delay unreasonably large', { toSelfDelay: 2017 }, 'open_channel: to_self_delay 2017 exceeds our maximum of 2016'],
    ['max_accepted_htlcs above 483', { maxAcceptedHtlcs: 484 }, 'open_channel: max_accepted_htlcs 484 exceeds 483'],
    ['feerate_per_kw too small', { feeratePerKw: 252 as FeeratePerKw }, 'open_channel: feerate_per_kw 252 is outside [253, 100000]'],
    ['feerate_per_kw unreasonably large', { feeratePerKw: 100_001 as FeeratePerKw }, 'open_channel: feerate_per_kw 100001 is outside [253, 100000]'],
    ['dust_limit_satoshis above its own channel_reserve_satoshis', { dustLimitSatoshis: sat(5_001), channelReserveSatoshis: sat(5_000) }, 'open_channel: dust_limit_satoshis 5001 is above its own channel_reserve_satoshis 5000'],
    ['dust_limit_satoshis below 354', { dustLimitSatoshis: sat(353) }, 'open_channel: dust_limit_satoshis 353 is below 354'],
    ['funding_satoshis of 2^24 without option_support_large_channel', { fundingSatoshis: sat(16_777_216) }, 'open_channel: funding 16777216 sat is above our maximum of 16777215 sat'],
    ['no channel_type', { channelType: undefined }, 'open_channel: channel_type is required (we speak static_remotekey and anchors_zero_fee_htlc_tx)'],
    ['a channel_type we do not support (option_zeroconf)', { channelType: FeatureVector.of(12, 22, 50) }, 'open_channel: channel_type 12,22,50 is not supported (we speak static_remotekey and anchors_zero_fee_htlc_tx)'],
    [
      'the funder cannot pay the first commitment fee',
      () => ({ ...open({ fundingSat: sat(20_000), pushMsat: msat(19_500_000), feerate: 10_000 }) }),
      "open_channel: the funder's 500000 msat cannot pay the first commitment's fee of 7240000 msat",
    ],
    [
      'both first-commitment outputs at or below channel_reserve_satoshis',
      // 20,000 sat at 20,000 sat/kw: the fee takes 14,480 sat, leaving 3,520 to the funder and 2,000 pushed.
      () => ({ ...open({ fundingSat: sat(20_000), pushMsat: msat(2_000_000), feerate: 20_000 }), channelReserveSatoshis: sat(4_000) }),
      'open_channel: both outputs of the first commitment are at or below channel_reserve_satoshis 4000',
    ],
    ['channel_reserve_satoshis over 20% of the channel (MAY: too large)', { channelReserveSatoshis: sat(100_001) }, 'open_channel: channel_reserve_satoshis 100001 is over 20% of the channel'],
    ['funding_satoshis too small (MAY)', { fundingSatoshis: sat(19_999) }, 'open_channel: funding 19999 sat is below our minimum of 20000 sat'],
  ];
  for (const [what, change, reason] of rows) {
    test(`refused: ${what}`, () => {
      const m = typeof change === 'function' ? change() : { ...open(), ...change };
      expect(refusal(() => checkOpenChannel(DEFAULT_POLICY, m, REGTEST))).toBe(reason);
    });
  }
});

describe('accept_channel receiver', () => {
  test('a well-formed accept_channel is accepted', () => {
    expect(refusal(() => checkAcceptChannel(DEFAULT_POLICY, open(), accept()))).toBeUndefined();
  });

  const rows: [string, Record<string, unknown>, string][] = [
    ['minimum_depth unreasonably large (MAY)', { minimumDepth: 145 }, 'accept_channel: minimum_depth 145 exceeds our maximum of 144'],
    ['channel_reserve_satoshis below the dust_limit_satoshis of our open_channel', { channelReserveSatoshis: sat(545), dustLimitSatoshis: sat(400) }, 'accept_channel: channel_reserve_satoshis 545 is below our dust limit 546'],
    ['dust_limit_satoshis above the channel_reserve_satoshis of our open_channel', { dustLimitSatoshis: sat(5_001), channelReserveSatoshis: sat(6_000) }, 'accept_channel: dust_limit_satoshis 5001 is above the reserve we require'],
    ['dust_limit_satoshis above its own channel_reserve_satoshis', { dustLimitSatoshis: sat(4_000), channelReserveSatoshis: sat(3_999) }, 'accept_channel: dust_limit_satoshis 4000 is above its own channel_reserve_satoshis 3999'],
    ['no channel_type', { channelType: undefined }, 'accept_channel: channel_type must echo the one we proposed'],
    ['another channel_type than ours', { channelType: ANCHORS_TYPE }, 'accept_channel: channel_type must echo the one we proposed'],
    ['to_self_delay unreasonably large', { toSelfDelay: 3000 }, 'accept_channel: to_self_delay 3000 exceeds our maximum of 2016'],
    ['max_accepted_htlcs above 483', { maxAcceptedHtlcs: 1000 }, 'accept_channel: max_accepted_htlcs 1000 exceeds 483'],
    ['dust_limit_satoshis below 354', { dustLimitSatoshis: sat(300) }, 'accept_channel: dust_limit_satoshis 300 is below 354'],
    ['upfront_shutdown_script not a segwit script', { upfrontShutdownScript: Uint8Array.of(0x51) }, 'accept_channel: upfront_shutdown_script is not a segwit output script'],
  ];
  for (const [what, change, reason] of rows) {
    test(`refused: ${what}`, () => {
      expect(refusal(() => checkAcceptChannel(DEFAULT_POLICY, open(), { ...accept(), ...change }))).toBe(reason);
    });
  }
});
