/**
 * BOLT #11 against every example of 11-payment-encoding.md: each valid one
 * decodes to its stated fields, reproduces the spec's signing data and
 * signature, and re-encodes to the identical string with the spec's key;
 * each invalid one is refused naming the specific field.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { decodeInvoice, isExpired, signTagged, type Invoice } from '../../src/bolt/bolt11/invoice.ts';
import examples from '../vectors/bolt11/examples.json';

const key = fromHex(examples.privateKey);
const PAYEE = '03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad';
const HASH = '0001020304050607080900010203040506070809000102030405060708090102';
const SECRET = '11'.repeat(32);
const CAKE = 'One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one slice of salami, one lollypop, one piece of cherry pie, one sausage, one cupcake, and one slice of watermelon';

/** What each example's title and breakdown state, in example order. */
const stated: ((inv: Invoice) => void)[] = [
  (i) => {
    expect(i.amountMsat).toBeUndefined();
    expect(i.description).toBe('Please consider supporting this project');
    expect(i.features.list()).toEqual([8, 14]);
  },
  (i) => expect([i.amountMsat, i.description, i.expirySeconds]).toEqual([250_000_000n, '1 cup coffee', 60] as never),
  (i) => expect([i.amountMsat, i.description, i.expirySeconds]).toEqual([250_000_000n, 'ナンセンス 1杯', 60] as never),
  (i) => {
    expect(i.amountMsat).toBe(2_000_000_000n as never);
    expect(hex(i.descriptionHash!)).toBe(hex(sha256(new TextEncoder().encode(CAKE))));
    expect(hex(i.descriptionHash!)).toBe('3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1');
  },
  (i) => expect([i.network, i.fallbacks[0]?.address]).toEqual(['testnet', 'mk2QpYatsKicvFVuTAQLBryyccRXMUaGHP']),
  (i) => {
    expect(i.fallbacks[0]?.address).toBe('1RustyRX2oai4EYYDpQGWvEL62BBGqN9T');
    const hops = i.routeHints[0]!;
    expect(hops.map((h) => hex(h.pubkey))).toEqual([
      '029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255',
      '039e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255',
    ]);
    expect(hops.map((h) => [h.shortChannelId, h.feeBaseMsat, h.feeProportionalMillionths, h.cltvExpiryDelta])).toEqual([
      [0x0102030405060708n, 1, 20, 3],
      [0x030405060708090an, 2, 30, 4],
    ] as never);
  },
  (i) => expect(i.fallbacks[0]?.address).toBe('3EktnHQD7RiAE6uzMj2ZifT9YgRrkSgzQX'),
  (i) => expect(i.fallbacks[0]?.address).toBe('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'),
  (i) => expect(i.fallbacks[0]?.address).toBe('bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3'),
  (i) => expect(i.fallbacks[0]?.address).toBe('bc1pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszse2s3lm'),
  (i) => {
    expect(i.amountMsat).toBe(967_878_534n as never);
    expect(i.expirySeconds).toBe(604_800);
    expect(i.timestamp).toBe(1572468703);
    expect(i.minFinalCltvExpiryDelta).toBe(10);
  },
  (i) => {
    expect(i.amountMsat).toBe(2_500_000_000n as never);
    expect(i.description).toBe('coffee beans');
    expect(i.features.list()).toEqual([8, 14, 99]);
  },
  (i) => expect([i.amountMsat, i.description]).toEqual([2_500_000_000n, 'coffee beans'] as never),
  (i) => {
    expect(i.description).toBe('coffee beans');
    // Unknown fields are skipped but kept, so re-signing reproduces the string.
    expect(i.tagged.length).toBeGreaterThan(5);
  },
  (i) => {
    expect(i.amountMsat).toBe(1_000_000_000n as never);
    expect(hex(i.paymentMetadata!)).toBe('01fafaf0');
    expect(i.features.list()).toEqual([8, 14, 48]);
  },
  (i) => expect(i.signature.compact[32]! >= 0x80).toBe(true), // a high-S signature, still recovered
];

describe('BOLT 11 examples', () => {
  test('one statement per example', () => expect(stated).toHaveLength(examples.valid.length));
  examples.valid.forEach((ex, n) => {
    test(`vector: ${ex.title}`, () => {
      const inv = decodeInvoice(ex.invoice!);
      expect(hex(inv.payeePubkey)).toBe(PAYEE);
      if (!ex.title.includes('0.00967878534')) {
        expect(hex(inv.paymentHash)).toBe(HASH);
        expect(hex(inv.paymentSecret)).toBe(SECRET);
      }
      if (ex.timestamp) expect(inv.timestamp).toBe(ex.timestamp);
      if (ex.signature) {
        expect(hex(inv.signature.compact)).toBe(ex.signature);
        expect(inv.signature.recovery).toBe(ex.recovery!);
      }
      stated[n]!(inv);
      // RFC6979 makes signatures deterministic: re-signing with the spec's key gives the same string,
      // except for the high-S example, which no low-S signer produces.
      if (!ex.title.includes('high-S')) {
        expect(signTagged(inv.hrp, inv.timestamp, inv.tagged, key)).toBe(ex.invoice!.toLowerCase());
      }
    });
  });

  test('signing data and its hash match the breakdowns', () => {
    let checked = 0;
    for (const ex of examples.valid) {
      if (!ex.signingData) continue;
      const inv = decodeInvoice(ex.invoice!);
      const data = fromHex(ex.signingData);
      expect(hex(sha256(data))).toBe(ex.signingHash!);
      expect(new TextDecoder().decode(data.subarray(0, inv.hrp.length))).toBe(inv.hrp);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  test('expiry', () => {
    const inv = decodeInvoice(examples.valid[1]!.invoice!);
    expect(isExpired(inv, 1496314658 + 59)).toBe(false);
    expect(isExpired(inv, 1496314658 + 60)).toBe(true);
  });
});

describe('BOLT 11 invalid examples', () => {
  const expectedField: Record<string, string> = {
    'Same, but adding invalid unknown feature 100': '9',
    'Bech32 checksum is invalid.': 'bech32',
    'Malformed bech32 string (no 1)': 'bech32',
    'Malformed bech32 string (mixed case)': 'bech32',
    'Signature is not recoverable.': 'signature',
    'String is too short.': 'data',
    'Invalid multiplier': 'amount',
    'Invalid sub-millisatoshi precision.': 'amount',
    'Missing required `s` field.': 's',
    "Non canonical signature (high-S) with 'n' field defined": 'signature',
  };
  for (const ex of examples.invalid) {
    test(`vector: invalid: ${ex.title}`, () => {
      let err: unknown;
      try {
        decodeInvoice(ex.invoice!);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).field).toBe(expectedField[ex.title]!);
    });
  }
});
