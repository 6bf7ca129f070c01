/**
 * BOLT 4's receiving-node requirements for the final node, one test each,
 * with onions built as the payer builds them (src/bolt/bolt4) and the
 * answer read back as the payer reads it (the failure decrypted with the
 * session's shared secret):
 * "Onion Decryption" (a bad version, key or HMAC is malformed; a bad payload
 * length found after the HMAC verified is an encrypted invalid_onion_payload),
 * "`payload` format" for the reader of a final hop, "Basic Multi-Part
 * Payments" for a node without basic_mpp, "Failure Messages" for the final
 * node, and "Returning Errors" (the packet's size).
 * https://github.com/lightning/bolts/blob/master/04-onion-routing.md
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat } from '../../src/bolt/bytes.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { FailureCode } from '../../src/bolt/bolt4/failure-codes.ts';
import { decodeFailureMessage, type FailureMessage } from '../../src/bolt/bolt4/failure-message.ts';
import { decryptFailurePacket } from '../../src/bolt/bolt4/failure-packet.ts';
import { cipherStream, generateKey, routeSecrets, xorInto } from '../../src/bolt/bolt4/keys.ts';
import { encodeHopPayload, type HopPayload } from '../../src/bolt/bolt4/payload.ts';
import { constructOnion, encodeOnionPacket, PAYMENT_PAYLOADS_LENGTH } from '../../src/bolt/bolt4/sphinx.ts';
import { type CltvExpiry, msat } from '../../src/bolt/units.ts';
import { decideFinalHop, type FinalHopContext, type FinalHopDecision, type PayableInvoice } from '../../src/node/payments/final-hop.ts';

const nodeSecret = sha256(Uint8Array.of(3));
const nodeId = secp256k1.getPublicKey(nodeSecret, true);
const sessionKey = sha256(Uint8Array.of(4));
const preimage = sha256(Uint8Array.of(5));
const paymentHash = sha256(preimage);
const paymentSecret = sha256(Uint8Array.of(6));
const CHANNEL = new Uint8Array(32).fill(0xab);
const HEIGHT = 700_000;
const NOW = 1_800_000_000;
const AMOUNT = msat(250_000);
const CLTV = (HEIGHT + 40) as CltvExpiry;

const invoice = (o: Partial<PayableInvoice> = {}): PayableInvoice => ({
  state: 'open',
  preimage,
  paymentSecret,
  amountMsat: AMOUNT,
  expiresAt: NOW + 3600,
  minFinalCltv: 18,
  ...o,
});

/** The final hop's payload as a payer writes it for AMOUNT until CLTV. */
const payload = (o: Partial<HopPayload> = {}): HopPayload => ({
  amt_to_forward: AMOUNT,
  outgoing_cltv_value: CLTV,
  payment_data: { paymentSecret, totalMsat: AMOUNT },
  ...o,
});

const onionFor = (p: Uint8Array | HopPayload, hops: Uint8Array[] = [nodeId]): Uint8Array =>
  constructOnion({
    sessionKey,
    hops: hops.map((pubkey, i) => ({ pubkey, payload: i === hops.length - 1 ? (p instanceof Uint8Array ? p : encodeHopPayload(p)) : encodeHopPayload(payload({ short_channel_id: new Uint8Array(8) })) })),
    associatedData: paymentHash,
  }).packet;

/**
 * A packet whose routing info decrypts (for this node) to `plain`, with a
 * valid HMAC: what a sender does to put a payload length the spec forbids
 * past the HMAC check.
 */
function onionWithPlaintext(plain: Uint8Array): Uint8Array {
  const { sharedSecrets, ephemeralPubkeys } = routeSecrets(sessionKey, [nodeId]);
  const ss = sharedSecrets[0]!;
  const hopPayloads = new Uint8Array(PAYMENT_PAYLOADS_LENGTH);
  hopPayloads.set(plain);
  xorInto(hopPayloads, cipherStream(generateKey('rho', ss), PAYMENT_PAYLOADS_LENGTH));
  const mac = hmac(sha256, generateKey('mu', ss), concat(hopPayloads, paymentHash));
  return encodeOnionPacket({ version: 0, publicKey: ephemeralPubkeys[0]!, hopPayloads, hmac: mac });
}

const htlc = (onion: Uint8Array, o: Partial<HtlcEntry> = {}): HtlcEntry => ({ direction: 'in', id: 7n, amountMsat: AMOUNT, paymentHash, cltvExpiry: CLTV, onion, ...o });

const decide = (h: HtlcEntry, ctx: Partial<FinalHopContext> = {}): FinalHopDecision =>
  decideFinalHop(h, { nodeSecret, channelId: CHANNEL, invoice: invoice(), height: HEIGHT, nowSeconds: NOW, ...ctx });

/** What the payer reads from our answer: the failure message, decrypted with its session. */
function failure(d: FinalHopDecision): FailureMessage {
  if (d.kind !== 'fail') throw new Error(`expected an encrypted failure, got ${d.kind}`);
  const f = decryptFailurePacket(routeSecrets(sessionKey, [nodeId]).sharedSecrets, d.reason);
  if (!f.ok) throw f.error;
  expect(f.hopIndex).toBe(0);
  return decodeFailureMessage(f.failureMessage);
}

const tlv = (type: number, value: Uint8Array): Uint8Array => concat(Uint8Array.of(type, value.length), value);
const u64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v);
  return b.slice(b.findIndex((x) => x !== 0));
};

describe('BOLT 4 onion decryption at the final node', () => {
  test('version is not 0: update_fail_malformed_htlc invalid_onion_version with sha256 of the onion', () => {
    const onion = onionFor(payload());
    onion[0] = 1;
    expect(decide(htlc(onion))).toEqual({ kind: 'fail_malformed', failureCode: FailureCode.invalid_onion_version, sha256OfOnion: sha256(onion) });
  });

  test('public_key is not a valid pubkey: malformed invalid_onion_key', () => {
    const onion = onionFor(payload());
    onion[1] = 4;
    expect(decide(htlc(onion))).toMatchObject({ kind: 'fail_malformed', failureCode: FailureCode.invalid_onion_key });
  });

  test('the HMAC differs (routing info tampered): malformed invalid_onion_hmac', () => {
    const onion = onionFor(payload());
    onion[200] = onion[200]! ^ 1;
    expect(decide(htlc(onion))).toMatchObject({ kind: 'fail_malformed', failureCode: FailureCode.invalid_onion_hmac, sha256OfOnion: sha256(onion) });
  });

  test('payload_length below two, found after the HMAC verified: an encrypted invalid_onion_payload, not a malformed onion', () => {
    for (const len of [0, 1]) expect(failure(decide(htlc(onionWithPlaintext(Uint8Array.of(len)))))).toMatchObject({ name: 'invalid_onion_payload', tlvType: 0n });
  });

  test('fewer than payload_length bytes (plus the next HMAC) remaining, found after the HMAC verified: an encrypted invalid_onion_payload', () => {
    // BigSize 0xfd 0x0514 = 1300: the whole routing info, leaving no room for the next HMAC.
    expect(failure(decide(htlc(onionWithPlaintext(Uint8Array.of(0xfd, 0x05, 0x14)))))).toMatchObject({ name: 'invalid_onion_payload' });
  });

  test('next_hmac is not all-zero (the onion goes on) and we do not forward: unknown_next_peer', () => {
    const onion = onionFor(payload(), [nodeId, secp256k1.getPublicKey(sha256(Uint8Array.of(8)), true)]);
    expect(failure(decide(htlc(onion))).name).toBe('unknown_next_peer');
  });
});

describe('BOLT 4 payload reader, final node outside a blinded route', () => {
  test('current_path_key present: invalid_onion_payload naming type 12', () => {
    expect(failure(decide(htlc(onionFor(payload({ current_path_key: nodeId })))))).toMatchObject({ name: 'invalid_onion_payload', tlvType: 12n });
  });

  test('amt_to_forward or outgoing_cltv_value missing: invalid_onion_payload naming the type', () => {
    expect(failure(decide(htlc(onionFor(payload({ amt_to_forward: undefined })))))).toMatchObject({ name: 'invalid_onion_payload', tlvType: 2n });
    expect(failure(decide(htlc(onionFor(payload({ outgoing_cltv_value: undefined })))))).toMatchObject({ name: 'invalid_onion_payload', tlvType: 4n });
  });

  test('not a valid TLV stream (an unknown even type): invalid_onion_payload', () => {
    const raw = concat(tlv(2, u64(AMOUNT)), tlv(4, u64(BigInt(CLTV))), tlv(8, concat(paymentSecret, u64(AMOUNT))), tlv(100, Uint8Array.of(1)));
    expect(failure(decide(htlc(onionFor(raw)))).name).toBe('invalid_onion_payload');
  });

  test('incoming amount_msat below amt_to_forward: final_incorrect_htlc_amount carrying the HTLC amount', () => {
    expect(failure(decide(htlc(onionFor(payload()), { amountMsat: msat(AMOUNT - 1n) })))).toMatchObject({ name: 'final_incorrect_htlc_amount', incomingHtlcAmt: AMOUNT - 1n });
  });

  test('incoming cltv_expiry below outgoing_cltv_value: final_incorrect_cltv_expiry carrying the HTLC expiry', () => {
    expect(failure(decide(htlc(onionFor(payload()), { cltvExpiry: (CLTV - 1) as CltvExpiry })))).toMatchObject({ name: 'final_incorrect_cltv_expiry', cltvExpiry: CLTV - 1 });
  });

  test('incoming cltv_expiry above outgoing_cltv_value is no error (the spec fails only "below"): the HTLC is fulfilled', () => {
    expect(decide(htlc(onionFor(payload()), { cltvExpiry: (CLTV + 6) as CltvExpiry }))).toEqual({ kind: 'fulfill', preimage, first: true });
  });

  test('cltv_expiry below current_block_height + min_final_cltv_expiry_delta: incorrect_or_unknown_payment_details with the height', () => {
    const near = (HEIGHT + 17) as CltvExpiry;
    expect(failure(decide(htlc(onionFor(payload({ outgoing_cltv_value: near })), { cltvExpiry: near })))).toMatchObject({
      name: 'incorrect_or_unknown_payment_details',
      htlcMsat: AMOUNT,
      height: HEIGHT,
    });
    const enough = (HEIGHT + 18) as CltvExpiry;
    expect(decide(htlc(onionFor(payload({ outgoing_cltv_value: enough })), { cltvExpiry: enough })).kind).toBe('fulfill');
  });
});

describe('BOLT 4 basic multi-part payments, for a node without basic_mpp', () => {
  test('total_msat is checked against amt_to_forward, not the HTLC amount: an HTLC paying more than its amt_to_forward is fulfilled', () => {
    expect(decide(htlc(onionFor(payload()), { amountMsat: msat(AMOUNT + 100n) }))).toEqual({ kind: 'fulfill', preimage, first: true });
  });

  test('total_msat not equal to amt_to_forward is failed (a part payment), even when the HTLC carries total_msat', () => {
    const part = payload({ amt_to_forward: msat(AMOUNT / 2n) });
    expect(failure(decide(htlc(onionFor(part))))).toMatchObject({ name: 'incorrect_or_unknown_payment_details' });
  });
});

describe('BOLT 4 failure messages, final node', () => {
  test('payment_secret wrong or missing: incorrect_or_unknown_payment_details with htlc_msat and height', () => {
    const wrong = payload({ payment_data: { paymentSecret: new Uint8Array(32), totalMsat: AMOUNT } });
    expect(failure(decide(htlc(onionFor(wrong))))).toEqual({ name: 'incorrect_or_unknown_payment_details', htlcMsat: AMOUNT, height: HEIGHT });
    expect(failure(decide(htlc(onionFor(payload({ payment_data: undefined })))))).toMatchObject({ name: 'incorrect_or_unknown_payment_details' });
  });

  test('the amount paid below the invoice, or more than twice it: incorrect_or_unknown_payment_details; twice exactly is accepted', () => {
    const paying = (total: bigint): FinalHopDecision =>
      decide(htlc(onionFor(payload({ amt_to_forward: msat(total), payment_data: { paymentSecret, totalMsat: msat(total) } })), { amountMsat: msat(total) }));
    expect(failure(paying(AMOUNT - 1n)).name).toBe('incorrect_or_unknown_payment_details');
    expect(failure(paying(AMOUNT * 2n + 1n)).name).toBe('incorrect_or_unknown_payment_details');
    expect(paying(AMOUNT * 2n).kind).toBe('fulfill');
  });

  test('the payment hash is unknown: incorrect_or_unknown_payment_details', () => {
    expect(failure(decide(htlc(onionFor(payload())), { invoice: undefined })).name).toBe('incorrect_or_unknown_payment_details');
  });

  test('a canceled invoice, or one that expired (canceled now): incorrect_or_unknown_payment_details', () => {
    expect(failure(decide(htlc(onionFor(payload())), { invoice: invoice({ state: 'canceled' }) })).name).toBe('incorrect_or_unknown_payment_details');
    const late = decide(htlc(onionFor(payload())), { nowSeconds: NOW + 3600 });
    expect([failure(late).name, late.kind === 'fail' && late.expired]).toEqual(['incorrect_or_unknown_payment_details', true]);
  });

  test('already paid: the HTLC that settled it is fulfilled again (our fulfill was lost with a connection); any other HTLC is failed as unknown', () => {
    const settled = invoice({ state: 'settled', settledBy: { channelId: CHANNEL, htlcId: 7n } });
    expect(decide(htlc(onionFor(payload())), { invoice: settled })).toEqual({ kind: 'fulfill', preimage, first: false });
    expect(failure(decide(htlc(onionFor(payload()), { id: 8n }), { invoice: settled })).name).toBe('incorrect_or_unknown_payment_details');
    expect(failure(decide(htlc(onionFor(payload())), { invoice: settled, channelId: new Uint8Array(32).fill(0xcd) })).name).toBe('incorrect_or_unknown_payment_details');
  });

  test('the node does not know the tip yet: temporary_node_failure, never an expiry checked against height 0', () => {
    expect(failure(decide(htlc(onionFor(payload())), { height: undefined })).name).toBe('temporary_node_failure');
  });
});

describe('BOLT 4 returning errors', () => {
  test('the erring node pads failure_len + pad_len to 256: every failure is the same 292 bytes, authenticated for the payer only', () => {
    const short = decide(htlc(onionFor(payload()), { amountMsat: msat(1) }));
    const long = decide(htlc(onionFor(payload())), { invoice: undefined });
    for (const d of [short, long]) {
      expect(d.kind === 'fail' && d.reason.length).toBe(32 + 2 + 256 + 2);
      if (d.kind !== 'fail') continue;
      // Another session's secrets do not authenticate it.
      expect(() => decryptFailurePacket(routeSecrets(sha256(Uint8Array.of(9)), [nodeId]).sharedSecrets, d.reason)).toThrow('no hop');
    }
  });
});
