// lab-peers: btcd
/**
 * Issue 16 item 1, the payee's side: an invoice is settled by one HTLC, and
 * every other HTLC for it is failed, however it arrives. A (the payee) has a
 * channel from B and one from C; both pay the same invoice at once, then
 * again one after the other. Exactly one payment succeeds, the others fail
 * with incorrect_or_unknown_payment_details, and A receives the amount once,
 * to the msat, across both channels.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PaymentError, type PaymentRecord } from '../../../src/node/payments/payments.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let c: LightningNode;
let ba: string;
let ca: string;

beforeAll(async () => {
  lab = await ChannelLab.start('settled-invoice');
  [a, b, c] = [lab.startNode('a'), lab.startNode('b'), lab.startNode('c')];
  for (const payer of [b, c]) {
    await lab.fund(payer, 2_000_000n);
    await payer.connect(a.nodeId, '127.0.0.1', a.p2pPort!);
  }
  ba = (await lab.openChannel(b, a, sat(1_000_000))).id;
  ca = (await lab.openChannel(c, a, sat(1_000_000))).id;
  for (const n of [a, b, c]) await lab.synced(n);
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

/** What A holds across both channels (msat). */
const held = (): bigint => [ba, ca].reduce((s, id) => s + a.channels!.get(Buffer.from(id, 'hex'))!.localBalanceMsat, 0n);

const outcome = (r: PaymentRecord | Error): string =>
  r instanceof PaymentError ? `failed: ${r.payment?.failure ?? r.message}` : r instanceof Error ? `error: ${r.message}` : r.state;

describe('a settled invoice takes no second HTLC', () => {
  test('B and C pay the same invoice at once: one succeeds, the other is failed as unknown; A receives it once', async () => {
    const amount = msat(12_345_678n);
    const inv = a.invoices.create({ amountMsat: amount, description: 'one payer only' });
    const before = held();
    const results = await Promise.all([b, c].map((payer) => payer.payments.pay(inv.bolt11).catch((e: Error) => e)));
    expect(results.map(outcome).sort()).toEqual(['failed: incorrect_or_unknown_payment_details', 'succeeded']);
    await lab.settled(a, b, ba);
    await lab.settled(a, c, ca);
    expect(held() - before).toBe(amount);
    expect(a.invoices.get(inv.paymentHash)).toMatchObject({ state: 'settled', receivedMsat: amount });
    const winner = results.find((r) => !(r instanceof Error)) as PaymentRecord;
    expect(hex(winner.preimage!)).toBe(hex(inv.preimage));
  }, 60_000);

  test('C pays an invoice B paid already: failed as unknown, nothing moves', async () => {
    const amount = msat(2_000_001n);
    const inv = a.invoices.create({ amountMsat: amount, description: 'paid already' });
    expect((await b.payments.pay(inv.bolt11)).state).toBe('succeeded');
    await lab.settled(a, b, ba);
    const before = held();
    const late = await c.payments.pay(inv.bolt11).catch((e: Error) => e);
    expect(outcome(late)).toBe('failed: incorrect_or_unknown_payment_details');
    await lab.settled(a, c, ca);
    expect(held()).toBe(before);
    expect(a.invoices.get(inv.paymentHash)!.receivedMsat).toBe(amount);
  }, 60_000);
});
