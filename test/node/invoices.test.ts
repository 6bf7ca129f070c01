/**
 * The receiving side of a payment without a channel: HTLCs built the way a
 * payer builds them (one-hop onion to our node key) are settled only when
 * secret, amount, CLTV and invoice state are right; every other case gets
 * the BOLT 4 failure the payer can decrypt, and the invoice stays open.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { decodeInvoice } from '../../src/bolt/bolt11/invoice.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { routeSecrets } from '../../src/bolt/bolt4/keys.ts';
import { decodeFailureMessage } from '../../src/bolt/bolt4/failure-message.ts';
import { decryptFailurePacket } from '../../src/bolt/bolt4/failure-packet.ts';
import { encodeHopPayload } from '../../src/bolt/bolt4/payload.ts';
import { constructOnion } from '../../src/bolt/bolt4/sphinx.ts';
import { type CltvExpiry, type Msat, msat } from '../../src/bolt/units.ts';
import { Invoices, InvoiceError } from '../../src/node/payments/invoices.ts';
import { Store } from '../../src/node/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'lnnode-invoices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nodeSecret = sha256(Uint8Array.of(9));
const nodeId = secp256k1.getPublicKey(nodeSecret, true);
let now = 1_800_000_000;
const clock = { now: () => now * 1000, after: () => () => {} };
const invoices = new Invoices({ store: Store.open(join(dir, 'db.sqlite')), network: 'regtest', nodeSecret, clock });
const CHANNEL = new Uint8Array(32).fill(0xc1);
const HEIGHT = 500;
const sessionKey = sha256(Uint8Array.of(1));

function htlc(paymentHash: Uint8Array, amount: Msat, secret: Uint8Array, opts: { cltv?: number; onionAmount?: Msat; total?: Msat } = {}): HtlcEntry {
  const cltv = (opts.cltv ?? HEIGHT + 40) as CltvExpiry;
  const payload = encodeHopPayload({
    amt_to_forward: opts.onionAmount ?? amount,
    outgoing_cltv_value: cltv,
    payment_data: { paymentSecret: secret, totalMsat: opts.total ?? amount },
  });
  const onion = constructOnion({ sessionKey, hops: [{ pubkey: nodeId, payload }], associatedData: paymentHash }).packet;
  return { direction: 'in', id: 0n, amountMsat: amount, paymentHash, cltvExpiry: cltv, onion };
}

function failureOf(reason: Uint8Array): string {
  const f = decryptFailurePacket(routeSecrets(sessionKey, [nodeId]).sharedSecrets, reason);
  if (!f.ok) throw f.error;
  return decodeFailureMessage(f.failureMessage).name;
}

describe('invoices and the final hop', () => {
  test('an invoice carries the chosen description_hash, amount and expiry, signed by the node', () => {
    const dh = sha256(new TextEncoder().encode('{"job":"terms"}'));
    const inv = invoices.create({ amountMsat: msat(1_234_567), descriptionHash: dh, expirySeconds: 600 });
    const d = decodeInvoice(inv.bolt11);
    expect(hex(d.descriptionHash!)).toBe(hex(dh));
    expect(d.amountMsat).toBe(msat(1_234_567));
    expect(d.expirySeconds).toBe(600);
    expect(hex(d.payeePubkey)).toBe(hex(nodeId));
    expect(hex(d.paymentHash)).toBe(hex(sha256(inv.preimage)));
  });

  test('bad invoice requests are refused with a clear error', () => {
    expect(() => invoices.create({ amountMsat: msat(0) })).toThrow(InvoiceError);
    expect(() => invoices.create({ descriptionHash: new Uint8Array(31) })).toThrow('32 bytes');
    expect(() => invoices.create({ description: 'x', descriptionHash: new Uint8Array(32) })).toThrow('not both');
    expect(() => invoices.create({ expirySeconds: -1 })).toThrow(InvoiceError);
  });

  test('wrong secret, short amount, short CLTV, onion/HTLC mismatch and unknown hash fail with the spec error; nothing settles', () => {
    const inv = invoices.create({ amountMsat: msat(100_000), description: 'x' });
    const cases: [HtlcEntry, string][] = [
      [htlc(inv.paymentHash, msat(100_000), new Uint8Array(32)), 'incorrect_or_unknown_payment_details'],
      [htlc(inv.paymentHash, msat(99_999), inv.paymentSecret), 'incorrect_or_unknown_payment_details'],
      [htlc(inv.paymentHash, msat(100_000), inv.paymentSecret, { cltv: HEIGHT + 5 }), 'incorrect_or_unknown_payment_details'],
      [htlc(inv.paymentHash, msat(100_000), inv.paymentSecret, { onionAmount: msat(100_001) }), 'final_incorrect_htlc_amount'],
      [htlc(sha256(Uint8Array.of(7)), msat(100_000), inv.paymentSecret), 'incorrect_or_unknown_payment_details'],
    ];
    for (const [h, expected] of cases) {
      const r = invoices.resolve(CHANNEL, h, HEIGHT);
      expect(r.kind).toBe('fail');
      if (r.kind === 'fail') expect(failureOf(r.reason)).toBe(expected);
    }
    expect(invoices.get(inv.paymentHash)!.state).toBe('open');
  });

  test('a garbled onion is failed as malformed', () => {
    const inv = invoices.create({ amountMsat: msat(5_000) });
    const h = htlc(inv.paymentHash, msat(5_000), inv.paymentSecret);
    h.onion[100] = h.onion[100]! ^ 1;
    const r = invoices.resolve(CHANNEL, h, HEIGHT);
    expect(r.kind).toBe('fail_malformed');
    if (r.kind === 'fail_malformed') expect(r.failureCode & 0x8000).toBe(0x8000);
  });

  test('the right HTLC settles once; an expired invoice is canceled and refused', async () => {
    const inv = invoices.create({ amountMsat: msat(42_000), expirySeconds: 60 });
    const r = invoices.resolve(CHANNEL, htlc(inv.paymentHash, msat(42_000), inv.paymentSecret), HEIGHT);
    expect(r.kind).toBe('fulfill');
    if (r.kind === 'fulfill') {
      expect(hex(r.preimage)).toBe(hex(inv.preimage));
      r.persist!();
    }
    expect(invoices.get(inv.paymentHash)).toMatchObject({ state: 'settled', receivedMsat: msat(42_000) });

    const old = invoices.create({ amountMsat: msat(1_000), expirySeconds: 60 });
    now += 61;
    const late = invoices.resolve(CHANNEL, htlc(old.paymentHash, msat(1_000), old.paymentSecret), HEIGHT);
    expect(late.kind).toBe('fail');
    expect(invoices.get(old.paymentHash)!.state).toBe('canceled');
  });
});
