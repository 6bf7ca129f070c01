/** BOLT #9 feature vectors: encoding, compulsory-unknown detection, dependencies, our sets. */
import { describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import {
  ASSUMED,
  Feature,
  FeatureVector,
  LNNODE_INIT_FEATURES,
  LNNODE_INVOICE_FEATURES,
  LNNODE_KNOWN_FEATURES,
  featureName,
  missingDependencies,
  negotiated,
  unknownCompulsory,
} from '../../src/bolt/bolt9/features.ts';
import { fuzzDecoder } from '../support/fuzz.ts';

describe('feature vectors', () => {
  test('big-endian bit order, minimal length', () => {
    expect(hex(FeatureVector.of(0).encode())).toBe('01');
    expect(hex(FeatureVector.of(8).encode())).toBe('0100');
    expect(hex(FeatureVector.of(9, 15).encode())).toBe('8200');
    expect(hex(FeatureVector.empty().encode())).toBe('');
    expect(FeatureVector.decode(fromHex('000100')).list()).toEqual([8]);
    expect(hex(FeatureVector.decode(fromHex('000100')).encode())).toBe('0100');
  });

  test('round trip of random sets', () => {
    for (let i = 0; i < 200; i++) {
      const bits = Array.from({ length: i % 20 }, (_, j) => (i * 7 + j * 13) % 300);
      const v = FeatureVector.of(...bits);
      expect(FeatureVector.decode(v.encode()).equals(v)).toBe(true);
    }
  });

  test('unknown compulsory bits are found, unknown optional ones ignored', () => {
    const peer = FeatureVector.of(0, 8, 12, 14, 101, 100);
    expect(unknownCompulsory(peer, LNNODE_KNOWN_FEATURES)).toEqual([100]);
    expect(unknownCompulsory(FeatureVector.of(0, 8, 103), LNNODE_KNOWN_FEATURES)).toEqual([]);
    expect(featureName(100)).toBe('unknown bit 100');
    expect(featureName(Feature.payment_secret)).toBe('payment_secret (compulsory)');
  });

  test('missing dependencies are reported', () => {
    expect(missingDependencies(FeatureVector.of(17))).toEqual([['basic_mpp', 'payment_secret']]);
    expect(missingDependencies(FeatureVector.of(17, 15))).toEqual([]);
    expect(missingDependencies(FeatureVector.of(51))).toEqual([['option_zeroconf', 'option_scid_alias']]);
    expect(missingDependencies(FeatureVector.of(61))).toEqual([['option_simple_close', 'option_shutdown_anysegwit']]);
  });

  test('negotiation: both offered, or either requires', () => {
    expect(negotiated(FeatureVector.of(27), FeatureVector.of(27), 'option_shutdown_anysegwit')).toBe(true);
    expect(negotiated(FeatureVector.of(27), FeatureVector.empty(), 'option_shutdown_anysegwit')).toBe(false);
    expect(negotiated(FeatureVector.of(26), FeatureVector.empty(), 'option_shutdown_anysegwit')).toBe(true);
  });

  test('a 65,000-byte vector of optional bits is held as its bytes: decode, OR, test and list agree with the bits', () => {
    const wire = new Uint8Array(65_000).fill(0xaa); // every odd bit: 260,000 optional features
    const v = FeatureVector.decode(wire);
    expect(v.byteLength).toBe(65_000);
    expect(hex(v.encode())).toBe(hex(wire));
    expect([v.has(1), v.has(0), v.has(8 * 65_000 - 1), v.has(8 * 65_000 + 1)]).toEqual([true, false, true, false]);
    expect(v.list('even')).toEqual([]);
    expect(v.list().length).toBe(260_000);
    expect(unknownCompulsory(v, LNNODE_KNOWN_FEATURES)).toEqual([]);
    const combined = v.or(FeatureVector.of(0, 14));
    expect(combined.list('even')).toEqual([0, 14]);
    expect(combined.byteLength).toBe(65_000);
    expect(FeatureVector.of(0, 14).or(v).equals(combined)).toBe(true);
    expect(combined.equals(v)).toBe(false);
    // OR with nothing is the same vector, not a copy.
    expect(v.or(FeatureVector.empty())).toBe(v);
  });

  test('leading zero bytes on the wire do not change the vector', () => {
    const a = FeatureVector.decode(fromHex('0000000102'));
    expect(a.equals(FeatureVector.of(1, 8))).toBe(true);
    expect(a.byteLength).toBe(2);
    expect(hex(a.encode())).toBe('0102');
    expect(FeatureVector.of(3, 0, 3).list()).toEqual([0, 3]);
    expect(FeatureVector.of(9).list('odd')).toEqual([9]);
    expect(FeatureVector.of(9).has(-1)).toBe(false);
  });

  test('decoding arbitrary bytes never fails with a foreign error', () => {
    fuzzDecoder((b) => FeatureVector.decode(b), { maxLen: 64 });
  });
});

describe("lnnode's feature sets", () => {
  test('init sets every ASSUMED feature compulsory except channel_type (optional), and no unknown or conflicting bits', () => {
    for (const f of ASSUMED) expect(LNNODE_INIT_FEATURES.supports(f)).toBe(true);
    for (const f of ['option_data_loss_protect', 'var_onion_optin', 'option_static_remotekey', 'payment_secret'] as const) {
      expect(LNNODE_INIT_FEATURES.requires(f)).toBe(true);
    }
    expect(LNNODE_INIT_FEATURES.has(Feature.option_channel_type + 1)).toBe(true);
    expect(missingDependencies(LNNODE_INIT_FEATURES)).toEqual([]);
    expect(unknownCompulsory(LNNODE_INIT_FEATURES, LNNODE_KNOWN_FEATURES)).toEqual([]);
    for (const b of LNNODE_INIT_FEATURES.list()) expect(LNNODE_INIT_FEATURES.has(b % 2 ? b - 1 : b + 1)).toBe(false);
    // Bits 0, 8, 12, 14 compulsory; 5, 23 (anchors), 27, 45, 47 optional.
    expect(LNNODE_INIT_FEATURES.list()).toEqual([0, 5, 8, 12, 14, 23, 27, 45, 47]);
  });

  test('what lnd v0.21 sends in init is acceptable to us', () => {
    // Bits lnd v0.21.3 reports in getinfo on the lab, less 30 (AMP required), which lnd
    // puts in AMP invoices only, not in init.
    const lnd = FeatureVector.of(0, 5, 7, 8, 12, 14, 17, 23, 25, 27, 31, 35, 39, 44, 261, 2023);
    expect(unknownCompulsory(lnd, LNNODE_KNOWN_FEATURES)).toEqual([]);
  });

  test('invoices require var_onion_optin and payment_secret', () => {
    expect(LNNODE_INVOICE_FEATURES.list()).toEqual([8, 14]);
  });
});
