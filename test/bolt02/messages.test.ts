/**
 * BOLT #2 message codecs: seeded round trips of every message, TLV extensions
 * (kept unknown odd records, rejected unknown even ones), hand-checked byte
 * layouts of open_channel and update_add_htlc, and fuzzing of every decoder.
 * The spec has no BOLT 2 vectors; the hand-checked layouts follow its field
 * lists byte for byte.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concat, fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { type MessageCodec } from '../../src/bolt/message.ts';
import { encodeMessage, MessageRegistry } from '../../src/bolt/bolt1/wire.ts';
import { FeatureVector } from '../../src/bolt/bolt9/features.ts';
import { BOLT2_CODECS, BOLT2_MESSAGES } from '../../src/bolt/bolt2/index.ts';
import { acceptChannel, channelReady, fundingCreated, fundingSigned, openChannel } from '../../src/bolt/bolt2/establish.ts';
import { closingComplete, closingSig, closingSigned, shutdown } from '../../src/bolt/bolt2/close.ts';
import { channelReestablish, commitmentSigned, revokeAndAck, stfu } from '../../src/bolt/bolt2/commit.ts';
import {
  updateAddHtlc,
  updateFailHtlc,
  updateFailMalformedHtlc,
  updateFee,
  updateFulfillHtlc,
} from '../../src/bolt/bolt2/update.ts';
import { channelIdFrom } from '../../src/bolt/bolt2/channel-id.ts';
import { ATTRIBUTION_DATA_LENGTH } from '../../src/bolt/bolt2/types.ts';
import { cltvExpiry, feeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { fuzzDecoder, randomBytes, rng } from '../support/fuzz.ts';

const next = rng(2);
const rb = (n: number): Uint8Array => randomBytes(next, n);
// Points drawn from a pool: a fresh key per field spent most of this file's time in getPublicKey, and a
// codec round trip needs valid points, not new ones.
const POINTS = Array.from({ length: 64 }, () => secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(rb(48)), true));
const pt = (): Uint8Array => POINTS[next() % POINTS.length]!;
const u64 = (): bigint => (BigInt(next()) << 32n) | BigInt(next());
const u32 = (): number => next();
const u16 = (): number => next() & 0xffff;
const maybe = <T>(v: () => T): T | undefined => (next() % 2 ? v() : undefined);

function basepoints() {
  return {
    fundingPubkey: pt(),
    revocationBasepoint: pt(),
    paymentBasepoint: pt(),
    delayedPaymentBasepoint: pt(),
    htlcBasepoint: pt(),
    firstPerCommitmentPoint: pt(),
  };
}

/** A random valid instance of each message, TLVs present or not at random. */
const samples: [MessageCodec<any>, () => object][] = [
  [
    openChannel,
    () => ({
      chainHash: rb(32),
      temporaryChannelId: rb(32),
      fundingSatoshis: sat(u64()),
      pushMsat: msat(u64()),
      dustLimitSatoshis: sat(u64()),
      maxHtlcValueInFlightMsat: msat(u64()),
      channelReserveSatoshis: sat(u64()),
      htlcMinimumMsat: msat(u64()),
      feeratePerKw: feeratePerKw(u32()),
      toSelfDelay: u16(),
      maxAcceptedHtlcs: u16(),
      ...basepoints(),
      channelFlags: next() & 0xff,
      upfrontShutdownScript: maybe(() => rb(22)),
      channelType: maybe(() => FeatureVector.of(12, 22)),
    }),
  ],
  [
    acceptChannel,
    () => ({
      temporaryChannelId: rb(32),
      dustLimitSatoshis: sat(u64()),
      maxHtlcValueInFlightMsat: msat(u64()),
      channelReserveSatoshis: sat(u64()),
      htlcMinimumMsat: msat(u64()),
      minimumDepth: u32(),
      toSelfDelay: u16(),
      maxAcceptedHtlcs: u16(),
      ...basepoints(),
      upfrontShutdownScript: maybe(() => new Uint8Array(0)),
      channelType: maybe(() => FeatureVector.of(12)),
    }),
  ],
  [fundingCreated, () => ({ temporaryChannelId: rb(32), fundingTxid: rb(32), fundingOutputIndex: u16(), signature: rb(64) })],
  [fundingSigned, () => ({ channelId: rb(32), signature: rb(64) })],
  [channelReady, () => ({ channelId: rb(32), secondPerCommitmentPoint: pt(), shortChannelIdAlias: maybe(u64) })],
  [shutdown, () => ({ channelId: rb(32), scriptpubkey: rb(next() % 40) })],
  [
    closingSigned,
    () => ({
      channelId: rb(32),
      feeSatoshis: sat(u64()),
      signature: rb(64),
      feeRange: maybe(() => ({ minFeeSatoshis: sat(100n), maxFeeSatoshis: sat(1000n) })),
    }),
  ],
  ...[closingComplete, closingSig].map(
    (c): [MessageCodec<any>, () => object] => [
      c,
      () => ({
        channelId: rb(32),
        closerScriptpubkey: rb(22),
        closeeScriptpubkey: rb(34),
        feeSatoshis: sat(u64()),
        locktime: u32(),
        closerOutputOnly: maybe(() => rb(64)),
        closerAndCloseeOutputs: maybe(() => rb(64)),
      }),
    ],
  ),
  [
    updateAddHtlc,
    () => ({
      channelId: rb(32),
      id: u64(),
      amountMsat: msat(u64()),
      paymentHash: rb(32),
      cltvExpiry: cltvExpiry(u32()),
      onionRoutingPacket: rb(1366),
      pathKey: maybe(pt),
    }),
  ],
  [
    updateFulfillHtlc,
    () => ({ channelId: rb(32), id: u64(), paymentPreimage: rb(32), attributionData: maybe(() => rb(ATTRIBUTION_DATA_LENGTH)) }),
  ],
  [updateFailHtlc, () => ({ channelId: rb(32), id: u64(), reason: rb(next() % 300) })],
  [updateFailMalformedHtlc, () => ({ channelId: rb(32), id: u64(), sha256OfOnion: rb(32), failureCode: u16() })],
  [updateFee, () => ({ channelId: rb(32), feeratePerKw: feeratePerKw(u32()) })],
  [
    commitmentSigned,
    () => ({
      channelId: rb(32),
      signature: rb(64),
      htlcSignatures: Array.from({ length: next() % 6 }, () => rb(64)),
      fundingTxid: maybe(() => rb(32)),
    }),
  ],
  [revokeAndAck, () => ({ channelId: rb(32), perCommitmentSecret: rb(32), nextPerCommitmentPoint: pt() })],
  [
    channelReestablish,
    () => ({
      channelId: rb(32),
      nextCommitmentNumber: u64(),
      nextRevocationNumber: u64(),
      yourLastPerCommitmentSecret: rb(32),
      myCurrentPerCommitmentPoint: pt(),
      nextFunding: maybe(() => ({ txid: rb(32), retransmitFlags: 1 })),
      myCurrentFundingLocked: maybe(() => ({ txid: rb(32), retransmitFlags: 0 })),
    }),
  ],
  [stfu, () => ({ channelId: rb(32), initiator: next() & 1 })],
];

const strip = (o: object): object => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
const comparable = (o: object): unknown =>
  JSON.parse(JSON.stringify(strip(o), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof FeatureVector ? v.list() : v)));

describe('BOLT 2 messages round trip', () => {
  test('every message type has a sample', () => {
    expect(new Set(samples.map(([c]) => c.type))).toEqual(new Set(BOLT2_MESSAGES.map((c) => c.type)));
  });
  for (const [codec, make] of samples) {
    test(`${codec.name}: 200 random instances decode to themselves and re-encode identically`, () => {
      for (let i = 0; i < 200; i++) {
        const m = make();
        const bytes = codec.encode(m);
        const back = codec.decode(bytes);
        expect(comparable(back)).toEqual(comparable(m));
        expect(hex(codec.encode(back))).toBe(hex(bytes));
      }
    });
  }
});

describe('TLV extensions', () => {
  test('unknown odd TLVs are kept byte-exactly; unknown even ones refused', () => {
    const [, make] = samples.find(([c]) => c === channelReady)!;
    const base = channelReady.encode({ ...(make() as object), shortChannelIdAlias: undefined } as never);
    const withOdd = concat(base, fromHex('0301ff'));
    const m = channelReady.decode(withOdd);
    expect(m.unknownTlvs?.map((t) => t.type)).toEqual([3n]);
    expect(hex(channelReady.encode(m))).toBe(hex(withOdd));
    expect(() => channelReady.decode(concat(base, fromHex('0201ff')))).toThrow('channel_ready.tlvs.tlv[2]: unknown even TLV type');
  });

  test('a known TLV of the wrong length is refused naming it', () => {
    const [, make] = samples.find(([c]) => c === channelReady)!;
    const base = channelReady.encode({ ...(make() as object), shortChannelIdAlias: undefined } as never);
    expect(() => channelReady.decode(concat(base, fromHex('0107' + '00'.repeat(7))))).toThrow('channel_ready.tlvs.shortChannelIdAlias');
  });

  test('messages without an extension ignore trailing bytes', () => {
    const m = { channelId: new Uint8Array(32), feeratePerKw: feeratePerKw(253) };
    expect(updateFee.decode(concat(updateFee.encode(m), fromHex('ffff'))).feeratePerKw).toBe(feeratePerKw(253));
  });
});

describe('hand-checked layouts', () => {
  const P = (b: number): Uint8Array => secp256k1.getPublicKey(new Uint8Array(32).fill(b), true);
  test('vector: hand-checked open_channel with upfront_shutdown_script and channel_type', () => {
    const m = {
      chainHash: new Uint8Array(32).fill(0x06),
      temporaryChannelId: new Uint8Array(32).fill(0x11),
      fundingSatoshis: sat(1_000_000n),
      pushMsat: msat(5_000n),
      dustLimitSatoshis: sat(546n),
      maxHtlcValueInFlightMsat: msat(0xffffffffffffffffn),
      channelReserveSatoshis: sat(10_000n),
      htlcMinimumMsat: msat(1n),
      feeratePerKw: feeratePerKw(253),
      toSelfDelay: 144,
      maxAcceptedHtlcs: 483,
      fundingPubkey: P(1),
      revocationBasepoint: P(2),
      paymentBasepoint: P(3),
      delayedPaymentBasepoint: P(4),
      htlcBasepoint: P(5),
      firstPerCommitmentPoint: P(6),
      channelFlags: 0,
      upfrontShutdownScript: new Uint8Array(0),
      channelType: FeatureVector.of(12),
    };
    const expected =
      '0020' + // type 32
      '06'.repeat(32) + // chain_hash
      '11'.repeat(32) + // temporary_channel_id
      '00000000000f4240' + // funding_satoshis 1,000,000
      '0000000000001388' + // push_msat 5,000
      '0000000000000222' + // dust_limit_satoshis 546
      'ffffffffffffffff' + // max_htlc_value_in_flight_msat
      '0000000000002710' + // channel_reserve_satoshis 10,000
      '0000000000000001' + // htlc_minimum_msat 1
      '000000fd' + // feerate_per_kw 253
      '0090' + // to_self_delay 144
      '01e3' + // max_accepted_htlcs 483
      [1, 2, 3, 4, 5, 6].map((b) => hex(P(b))).join('') + // the six points
      '00' + // channel_flags
      '0000' + // tlv 0 upfront_shutdown_script, empty
      '01021000'; // tlv 1 channel_type: bit 12 -> 0x1000
    expect(hex(encodeMessage(openChannel, m))).toBe(expected);
  });

  test('vector: hand-checked update_add_htlc with a path_key', () => {
    const onion = new Uint8Array(1366).fill(0xee);
    const m = {
      channelId: new Uint8Array(32).fill(0xcc),
      id: 7n,
      amountMsat: msat(123_456n),
      paymentHash: new Uint8Array(32).fill(0x99),
      cltvExpiry: cltvExpiry(800_000),
      onionRoutingPacket: onion,
      pathKey: P(9),
    };
    const expected =
      '0080' + // type 128
      'cc'.repeat(32) + // channel_id
      '0000000000000007' + // id
      '000000000001e240' + // amount_msat 123,456
      '99'.repeat(32) + // payment_hash
      '000c3500' + // cltv_expiry 800,000
      'ee'.repeat(1366) + // onion_routing_packet
      '0021' + hex(P(9)); // tlv 0 path_key, 33 bytes
    expect(hex(encodeMessage(updateAddHtlc, m))).toBe(expected);
  });

  test('channel_reestablish carries the data-loss-protect fields', () => {
    const m = {
      channelId: new Uint8Array(32),
      nextCommitmentNumber: 5n,
      nextRevocationNumber: 4n,
      yourLastPerCommitmentSecret: new Uint8Array(32).fill(0x77),
      myCurrentPerCommitmentPoint: P(3),
    };
    const bytes = channelReestablish.encode(m);
    expect(bytes.length).toBe(32 + 8 + 8 + 32 + 33);
    expect(hex(channelReestablish.decode(bytes).yourLastPerCommitmentSecret)).toBe('77'.repeat(32));
  });

  test('channel_id is the funding txid XOR the output index', () => {
    const txid = fromHex('c2'.repeat(30) + '0102');
    expect(hex(channelIdFrom(txid, 0x0103))).toBe('c2'.repeat(30) + '0001');
  });

  test('a point not on the curve is refused naming the field', () => {
    const [, make] = samples.find(([c]) => c === revokeAndAck)!;
    const bytes = revokeAndAck.encode(make() as never);
    bytes[64] = 0x05;
    expect(() => revokeAndAck.decode(bytes)).toThrow('revoke_and_ack.nextPerCommitmentPoint');
  });

  test('num_htlcs larger than the message can hold is refused before allocating', () => {
    const bytes = concat(new Uint8Array(32), new Uint8Array(64), fromHex('ffff'));
    let err: unknown;
    try {
      commitmentSigned.decode(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).message).toContain('65535 items cannot fit');
  });
});

describe('bad input', () => {
  const registry = new MessageRegistry(BOLT2_MESSAGES);
  for (const [codec, make] of samples) {
    test(`${codec.name}: random, truncated and bit-flipped input yields only DecodeError`, () => {
      const seeds = Array.from({ length: 3 }, () => codec.encode(make()));
      const n = fuzzDecoder((b) => codec.decode(b), { seeds, iterations: 1500, maxLen: 1500, seed: codec.type });
      expect(n).toBeGreaterThan(1500);
      fuzzDecoder((b) => registry.dispatch(b), { seeds: seeds.map((s) => encodeMessage(codec, codec.decode(s))), iterations: 200 });
    });
  }
});

describe('the BOLT 2 codec table', () => {
  test('each codec is keyed by its own spec name (the typed messages of the layers above rely on it)', () => {
    for (const [name, codec] of Object.entries(BOLT2_CODECS)) expect(codec.name).toBe(name);
  });
});
