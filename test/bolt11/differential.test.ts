/**
 * Differential test against the npm `bolt11` package (an independent
 * implementation, used only here): random valid invoices encoded by us are
 * decoded identically by it, and invoices it encodes and signs are decoded
 * identically by us. Plus fuzzing of our decoder and encoder argument checks.
 */
import { describe, expect, test } from 'bun:test';
import bolt11 from 'bolt11';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../src/bolt/bytes.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { EncodeError } from '../../src/bolt/errors.ts';
import { FeatureVector, LNNODE_INVOICE_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { decodeInvoice, encodeInvoice, MAX_INVOICE_LENGTH, type InvoiceParams, type RouteHintHop } from '../../src/bolt/bolt11/invoice.ts';
import { type Network } from '../../src/bolt/bolt11/fallback.ts';
import { msat } from '../../src/bolt/units.ts';
import { fuzzDecoder, randomBytes, rng } from '../support/fuzz.ts';
import examples from '../vectors/bolt11/examples.json';

const NETS: Record<Network, { bech32: string; pubKeyHash: number; scriptHash: number; validWitnessVersions: number[] }> = {
  bitcoin: { bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, validWitnessVersions: [0, 1] },
  testnet: { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  signet: { bech32: 'tbs', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  regtest: { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  simnet: { bech32: 'sb', pubKeyHash: 0x3f, scriptHash: 0x7b, validWitnessVersions: [0, 1] },
};

const next = rng(11);
const rb = (n: number): Uint8Array => randomBytes(next, n);
const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;
const WORDS = ['coffee', 'ナンセンス', '1 cup', 'GPU hour', 'ünïcödé', '🙂', 'job terms', ''];

function randomParams(): InvoiceParams {
  const amounts = [undefined, 1n, 10n, 1000n, 12345n, 100_000_000n, 2_500_000_000n, 123_456_789_010n, BigInt(next()) * 7n];
  const amount = pick(amounts);
  const useHash = next() % 2 === 0;
  const hops = (): RouteHintHop[] =>
    Array.from({ length: 1 + (next() % 3) }, () => ({
      pubkey: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(rb(48)), true),
      shortChannelId: (BigInt(next()) << 32n) | BigInt(next()),
      feeBaseMsat: next(),
      feeProportionalMillionths: next() % 1_000_000,
      cltvExpiryDelta: next() & 0xffff,
    }));
  return {
    network: pick(['bitcoin', 'testnet', 'regtest'] as const),
    amountMsat: amount === undefined ? undefined : msat(amount),
    timestamp: 1_500_000_000 + (next() % 300_000_000),
    paymentHash: rb(32),
    paymentSecret: rb(32),
    ...(useHash ? { descriptionHash: rb(32) } : { description: Array.from({ length: next() % 5 }, () => pick(WORDS)).join(' ') }),
    expirySeconds: next() % 2 ? 1 + (next() % 1_000_000) : undefined,
    minFinalCltvExpiryDelta: next() % 2 ? 1 + (next() % 2000) : undefined,
    routeHints: next() % 3 === 0 ? [hops()] : [],
    features: LNNODE_INVOICE_FEATURES,
    includePayee: next() % 2 === 0,
  };
}

const tag = (d: { tags: { tagName: string; data: unknown }[] }, name: string): unknown => d.tags.find((t) => t.tagName === name)?.data;

describe('BOLT 11 differential against npm bolt11', () => {
  test('300 random invoices of ours decode identically with bolt11', () => {
    for (let i = 0; i < 300; i++) {
      const key = secp256k1.utils.randomSecretKey(rb(48));
      const p = randomParams();
      const s = encodeInvoice(p, key);
      const d = bolt11.decode(s, NETS[p.network]);
      expect(d.complete).toBe(true);
      expect(d.millisatoshis ?? null).toBe(p.amountMsat === undefined ? null : String(p.amountMsat));
      expect(d.timestamp).toBe(p.timestamp);
      expect(d.payeeNodeKey).toBe(hex(secp256k1.getPublicKey(key, true)));
      expect(tag(d, 'payment_hash')).toBe(hex(p.paymentHash));
      expect(tag(d, 'payment_secret')).toBe(hex(p.paymentSecret));
      expect(tag(d, 'description')).toBe(p.description);
      expect(tag(d, 'purpose_commit_hash')).toBe(p.descriptionHash ? hex(p.descriptionHash) : undefined);
      expect(tag(d, 'expire_time')).toBe(p.expirySeconds);
      expect(tag(d, 'min_final_cltv_expiry')).toBe(p.minFinalCltvExpiryDelta);
      const route = tag(d, 'routing_info') as { pubkey: string; short_channel_id: string; fee_base_msat: number }[] | undefined;
      expect(route?.map((h) => [h.pubkey, h.short_channel_id, h.fee_base_msat])).toEqual(
        p.routeHints!.length
          ? p.routeHints![0]!.map((h) => [hex(h.pubkey), h.shortChannelId.toString(16).padStart(16, '0'), h.feeBaseMsat])
          : undefined,
      );
      // And we read back exactly what we wrote.
      const ours = decodeInvoice(s);
      expect([ours.amountMsat, hex(ours.paymentHash), ours.description]).toEqual([p.amountMsat, hex(p.paymentHash), p.description] as never);
    }
  });

  test('300 random invoices signed by bolt11 decode identically with ours', () => {
    for (let i = 0; i < 300; i++) {
      const key = secp256k1.utils.randomSecretKey(rb(48));
      const p = randomParams();
      const tags: { tagName: string; data: unknown }[] = [
        { tagName: 'payment_hash', data: hex(p.paymentHash) },
        { tagName: 'payment_secret', data: hex(p.paymentSecret) },
        p.description !== undefined
          ? { tagName: 'description', data: p.description }
          : { tagName: 'purpose_commit_hash', data: hex(p.descriptionHash!) },
        { tagName: 'feature_bits', data: { word_length: 3, var_onion_optin: { required: true }, payment_secret: { required: true } } },
      ];
      if (p.expirySeconds !== undefined) tags.push({ tagName: 'expire_time', data: p.expirySeconds });
      // bolt11 writes c=9 when none is given, so always give one.
      tags.push({ tagName: 'min_final_cltv_expiry', data: p.minFinalCltvExpiryDelta ?? 40 });
      const enc = bolt11.encode({
        network: NETS[p.network],
        ...(p.amountMsat === undefined ? {} : { millisatoshis: String(p.amountMsat) }),
        timestamp: p.timestamp,
        tags,
      } as never);
      const s = bolt11.sign(enc, hex(key)).paymentRequest!;
      const d = decodeInvoice(s);
      expect(d.network).toBe(p.network);
      expect(d.amountMsat).toBe(p.amountMsat as never);
      expect(d.timestamp).toBe(p.timestamp);
      expect(hex(d.payeePubkey)).toBe(hex(secp256k1.getPublicKey(key, true)));
      expect(hex(d.paymentHash)).toBe(hex(p.paymentHash));
      expect(hex(d.paymentSecret)).toBe(hex(p.paymentSecret));
      expect(d.description).toBe(p.description);
      expect(d.descriptionHash && hex(d.descriptionHash)).toBe(p.descriptionHash && hex(p.descriptionHash));
      expect(d.expirySeconds).toBe(p.expirySeconds ?? 3600);
      expect(d.minFinalCltvExpiryDelta).toBe(p.minFinalCltvExpiryDelta ?? 40);
      expect(d.features.list()).toEqual([8, 14]);
    }
  });
});

describe('BOLT 11 bad input', () => {
  test('the decoder only throws DecodeError on random strings and mutated invoices', () => {
    const charset = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l1lnbcrtLNBC';
    const asString = (b: Uint8Array): string => Array.from(b, (x) => charset[x % charset.length]).join('');
    const seeds = examples.valid.map((v) => new TextEncoder().encode(v.invoice!));
    const n = fuzzDecoder((b) => decodeInvoice(next() % 2 ? asString(b) : new TextDecoder().decode(b)), { seeds, iterations: 3000, maxLen: 700 });
    expect(n).toBeGreaterThan(3000);
  });

  test('an over-long string is refused before decoding', () => {
    expect(() => decodeInvoice(`lnbc1${'q'.repeat(MAX_INVOICE_LENGTH)}`)).toThrow(`longer than ${MAX_INVOICE_LENGTH}`);
  });

  test('the encoder names the bad argument', () => {
    const p = { ...randomParams(), description: 'x', descriptionHash: undefined };
    const key = secp256k1.utils.randomSecretKey(rb(48));
    expect(() => encodeInvoice({ ...p, paymentHash: rb(31) }, key)).toThrow(EncodeError);
    expect(() => encodeInvoice({ ...p, paymentHash: rb(31) }, key)).toThrow('paymentHash');
    expect(() => encodeInvoice({ ...p, descriptionHash: rb(32) }, key)).toThrow('exactly one of description');
    expect(() => encodeInvoice({ ...p, amountMsat: msat(0n) }, key)).toThrow('amount must be positive');
    expect(() => encodeInvoice(p, rb(31))).toThrow('privateKey');
  });

  test('a description_hash invoice for LCP terms round-trips with msat precision', () => {
    const terms = new TextEncoder().encode('{"job":"render","price_msat":1001}');
    const key = secp256k1.utils.randomSecretKey(rb(48));
    const s = encodeInvoice(
      {
        network: 'regtest',
        amountMsat: msat(1001n),
        timestamp: 1_800_000_000,
        paymentHash: rb(32),
        paymentSecret: rb(32),
        descriptionHash: sha256(terms),
        features: FeatureVector.of(8, 14),
      },
      key,
    );
    const d = decodeInvoice(s);
    expect(d.amountMsat).toBe(1001n as never);
    expect(hex(d.descriptionHash!)).toBe(new Bun.SHA256().update(terms).digest('hex'));
  });
});
