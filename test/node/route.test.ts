/**
 * A payment route as the payer builds it (BOLT 4 "Payload for the Last
 * Node", BOLT 7 "HTLC Fees"): each forwarding hop's payload says what to
 * forward and until when, each adds its fee and cltv_expiry_delta to what it
 * receives, and the route's total CLTV is what the cap is checked against.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { msat } from '../../src/bolt/units.ts';
import { buildRoute, type ForwardingHop, forwardingFee } from '../../src/node/payments/route.ts';

const key = (i: number): Uint8Array => secp256k1.getPublicKey(sha256(Uint8Array.of(i)), true);
const secret = new Uint8Array(32).fill(9);

describe('routes', () => {
  test('direct: one payload for the payee; the HTLC is the payment, expiring tip + the final delta', () => {
    const r = buildRoute([], { pubkey: key(1), amountMsat: msat(123_456), cltvDelta: 21, paymentSecret: secret }, 800_000);
    expect<unknown[]>([r.pubkeys.map(hex), r.htlcAmountMsat, r.htlcCltvExpiry, r.totalCltvDelta, r.feeMsat]).toEqual([[hex(key(1))], 123_456n, 800_021, 21, 0n]);
    expect(r.payloads).toEqual([{ amt_to_forward: msat(123_456), outgoing_cltv_value: 800_021, payment_data: { paymentSecret: secret, totalMsat: msat(123_456) } }] as never);
  });

  test('two forwarding hops: fees and deltas add up backwards from the payee; the total CLTV counts every hop', () => {
    const scid = (n: number): Uint8Array => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, n);
    const via: ForwardingHop[] = [
      { pubkey: key(2), shortChannelId: scid(1), feeBaseMsat: 1_000n, feeProportionalMillionths: 100n, cltvExpiryDelta: 40 },
      { pubkey: key(3), shortChannelId: scid(2), feeBaseMsat: 500n, feeProportionalMillionths: 2_000n, cltvExpiryDelta: 144 },
    ];
    const r = buildRoute(via, { pubkey: key(4), amountMsat: msat(1_000_000), cltvDelta: 21, paymentSecret: secret }, 800_000);
    // Hop 3 forwards 1,000,000 and charges 500 + 2,000 = 2,500; hop 2 forwards 1,002,500 and charges 1,000 + 100 = 1,100.
    expect(forwardingFee(via[1]!, 1_000_000n)).toBe(2_500n);
    expect(forwardingFee(via[0]!, 1_002_500n)).toBe(1_100n);
    expect<unknown[]>([r.htlcAmountMsat, r.feeMsat, r.htlcCltvExpiry, r.totalCltvDelta]).toEqual([1_003_600n, 3_600n, 800_205, 205]);
    expect(r.pubkeys.map(hex)).toEqual([key(2), key(3), key(4)].map(hex));
    expect(r.payloads.map((p) => [p.amt_to_forward, p.outgoing_cltv_value, p.short_channel_id && hex(p.short_channel_id)])).toEqual([
      [1_002_500n, 800_165, hex(scid(1))],
      [1_000_000n, 800_021, hex(scid(2))],
      [1_000_000n, 800_021, undefined],
    ] as never);
  });
});
