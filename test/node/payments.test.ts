/**
 * Paying, at the unit level: Payments against a fake PaymentChannels and a
 * real payee (Invoices deciding each HTLC as the final hop), on a SQLite
 * store in a temp dir, with a clock that moves only when told. Issue 16
 * items 1 (never pay twice, also across a restart), 4 (a CLTV cap counted on
 * the route) and 11 (a preimage learnt after a failure wins), and issue 14's
 * payments: events instead of polling, amounts exact as bigint.
 */
import { afterAll, beforeEach, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { encodeInvoice } from '../../src/bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { decodeHopPayload } from '../../src/bolt/bolt4/payload.ts';
import { peelOnion } from '../../src/bolt/bolt4/sphinx.ts';
import { type Msat, msat } from '../../src/bolt/units.ts';
import { type HtlcOutcome } from '../../src/node/channels/manager.ts';
import { Invoices } from '../../src/node/payments/invoices.ts';
import { PaymentError, type PaymentRecord, Payments } from '../../src/node/payments/payments.ts';
import { Store } from '../../src/node/store.ts';
import { FakeChannels, ManualClock, type OfferedHtlc } from '../support/fake-payment-channels.ts';

const root = mkdtempSync(join(tmpdir(), 'lnnode-payments-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const payeeSecret = sha256(Uint8Array.of(42));
const payee = secp256k1.getPublicKey(payeeSecret, true);
let n = 0;
const seeded = (): ((k: number) => Uint8Array) => {
  let i = 0;
  return (k) => sha256(Uint8Array.of(0x5e, i++ & 0xff, (i >> 8) & 0xff)).slice(0, k);
};

interface World {
  dir: string;
  clock: ManualClock;
  channels: FakeChannels;
  store: Store;
  payments: Payments;
  invoices: Invoices;
}

function world(dir = join(root, `w${n++}`), clock = new ManualClock(), channels = new FakeChannels()): World {
  mkdirSync(dir, { recursive: true });
  const store = Store.open(join(dir, 'payer.sqlite'));
  const payments = new Payments({ store, network: 'regtest', channels, clock, random: seeded() });
  const invoices = new Invoices({ store: Store.open(join(dir, 'payee.sqlite')), network: 'regtest', nodeSecret: payeeSecret, clock });
  return { dir, clock, channels, store, payments, invoices };
}

/** The payee decides the HTLC as it arrived, and its answer comes back to the payer. */
function deliver(w: World, o: OfferedHtlc): HtlcOutcome {
  const r = w.invoices.resolve(o.channelId, { ...o.htlc, direction: 'in' }, w.channels.height);
  r.persist?.();
  const outcome: HtlcOutcome =
    r.kind === 'fulfill'
      ? { kind: 'fulfilled', channelId: o.channelId, htlc: o.htlc, preimage: r.preimage }
      : r.kind === 'fail'
        ? { kind: 'failed', channelId: o.channelId, htlc: o.htlc, reason: r.reason }
        : { kind: 'failed', channelId: o.channelId, htlc: o.htlc, failureCode: r.failureCode };
  w.payments.resolved(outcome);
  return outcome;
}

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return e instanceof PaymentError ? e.code : String(e);
  }
};

const settle = async <T>(p: Promise<T>): Promise<T | Error> => p.catch((e: Error) => e);

describe('never twice (issue 16 item 1)', () => {
  let w: World;
  beforeEach(() => {
    w = world();
    w.channels.add(payee, 10_000_000n);
  });

  test('50 concurrent payers of one invoice: one HTLC; start() refuses the 49 others at once, pay() joins the one in flight', async () => {
    const inv = w.invoices.create({ amountMsat: msat(100_000), description: 'race' });
    const plan = w.payments.plan(inv.bolt11);
    const started = w.payments.start(plan);
    const refused = Array.from({ length: 24 }, () => codeOf(() => w.payments.start(plan)));
    const joined = Array.from({ length: 25 }, () => w.payments.pay(inv.bolt11));
    expect(refused).toEqual(Array(24).fill('in_flight'));
    expect(w.channels.offered.length).toBe(1);

    deliver(w, w.channels.offered[0]!);
    const all = [await started.done, ...(await Promise.all(joined))];
    expect(all.map((p) => [p.state, hex(p.preimage!)])).toEqual(Array(25 + 1).fill(['succeeded', hex(inv.preimage)]));
    expect(w.channels.offered.length).toBe(1);
    expect(codeOf(() => w.payments.start(plan))).toBe('already_paid');
    expect(w.invoices.get(inv.paymentHash)).toMatchObject({ state: 'settled', receivedMsat: msat(100_000) });
  });

  test('the HTLC\'s expiry is stored with the payment (lnd\'s route total_time_lock)', async () => {
    const inv = w.invoices.create({ amountMsat: msat(5_000) });
    const paying = w.payments.pay(inv.bolt11);
    const sent = w.channels.offered[0]!.htlc.cltvExpiry;
    expect(sent).toBeGreaterThan(w.channels.height);
    expect(w.payments.get(inv.paymentHash)!.htlcCltvExpiry).toBe(sent);
    deliver(w, w.channels.offered[0]!);
    expect((await paying).htlcCltvExpiry).toBe(sent);
  });

  test('pay() of a paid invoice returns the stored payment and sends nothing', async () => {
    const inv = w.invoices.create({ amountMsat: msat(5_000) });
    const paying = w.payments.pay(inv.bolt11);
    deliver(w, w.channels.offered[0]!);
    const first = await paying;
    const again = await w.payments.pay(inv.bolt11);
    expect([again.state, hex(again.preimage!), w.channels.offered.length]).toEqual(['succeeded', hex(first.preimage!), 1]);
  });

  test('a failed payment may be retried; the retry claims the hash again and the failure never overwrites it', async () => {
    const inv = w.invoices.create({ amountMsat: msat(7_000) });
    w.invoices.cancel(inv.paymentHash);
    const paying = settle(w.payments.pay(inv.bolt11));
    deliver(w, w.channels.offered[0]!);
    const first = await paying;
    expect(first instanceof PaymentError && [first.code, first.payment?.failure, first.payment?.failureCode]).toEqual([
      'failed',
      'incorrect_or_unknown_payment_details',
      'incorrect_payment_details',
    ]);
    // A retry of the failed hash is allowed (the payee might accept now); while it is out, the hash is taken.
    const retry = w.payments.start(w.payments.plan(inv.bolt11));
    expect(codeOf(() => w.payments.start(w.payments.plan(inv.bolt11)))).toBe('in_flight');
    expect(w.payments.get(inv.paymentHash)).toMatchObject({ state: 'in_flight', failure: undefined });
    deliver(w, w.channels.offered[1]!);
    expect((await settle(retry.done)) instanceof PaymentError).toBe(true);
    expect(w.channels.offered.length).toBe(2);
  });

  test('across a restart: an HTLC in flight keeps the hash taken; a reservation that never got an HTLC is failed and may be paid', async () => {
    const inv = w.invoices.create({ amountMsat: msat(9_000) });
    w.payments.start(w.payments.plan(inv.bolt11));
    // A second invoice whose reservation the "crash" catches before any channel could take it.
    const busy = w.channels.add(payee, 0n, { pendingHtlcs: 1 });
    const other = w.invoices.create({ amountMsat: msat(20_000_000) });
    const stuck = settle(w.payments.start(w.payments.plan(other.bolt11)).done);
    expect(w.payments.get(other.paymentHash)).toMatchObject({ state: 'in_flight', htlcId: undefined });
    w.payments.stop();
    expect(((await stuck) as PaymentError).code).toBe('stopped');

    const after = new Payments({ store: Store.open(join(w.dir, 'payer.sqlite')), network: 'regtest', channels: w.channels, clock: w.clock });
    expect(codeOf(() => after.start(after.plan(inv.bolt11)))).toBe('in_flight');
    expect(after.get(other.paymentHash)).toMatchObject({ state: 'failed', failureCode: 'not_sent' });
    busy.roomMsat = 30_000_000n;
    busy.pendingHtlcs = 0;
    after.start(after.plan(other.bolt11));
    expect(w.channels.offered.map((o) => hex(o.htlc.paymentHash))).toEqual([hex(inv.paymentHash), hex(other.paymentHash)]);
  });
});

describe('waiting for room is on channel events, not polling', () => {
  test('a busy channel: nothing is sent until it reports room; then at once, with no timer having run', async () => {
    const w = world();
    const c = w.channels.add(payee, 1_000n, { pendingHtlcs: 2 });
    const inv = w.invoices.create({ amountMsat: msat(50_000) });
    const done = w.payments.start(w.payments.plan(inv.bolt11)).done;
    await Bun.sleep(30);
    expect([w.channels.offered.length, w.channels.listening, w.clock.pending]).toEqual([0, 1, 1]);
    c.roomMsat = 60_000n;
    c.pendingHtlcs = 1;
    w.channels.changed(c);
    await Bun.sleep(0);
    expect(w.channels.offered.length).toBe(1);
    expect(w.channels.listening).toBe(0);
    deliver(w, w.channels.offered[0]!);
    expect((await done).state).toBe('succeeded');
  });

  test('a channel that never frees room: the payment fails no_route after the wait, with the reservation failed', async () => {
    const w = world();
    w.channels.add(payee, 1_000n, { pendingHtlcs: 1 });
    const inv = w.invoices.create({ amountMsat: msat(50_000) });
    const done = settle(w.payments.start(w.payments.plan(inv.bolt11)).done);
    w.clock.advance(5_000);
    const e = (await done) as PaymentError;
    expect([e.code, e.payment?.state, e.payment?.failureCode, w.channels.offered.length, w.channels.listening]).toEqual(['no_route', 'failed', 'no_route', 0, 0]);
  });

  test('too much for every channel: no_route names the most that can be sent now', () => {
    const w = world();
    w.channels.add(payee, 40_123_456n);
    w.channels.add(payee, 7_000_000n);
    w.channels.add(payee, 90_000_000n, { active: false });
    const inv = w.invoices.create({ amountMsat: msat(50_000_000) });
    let e: PaymentError | undefined;
    try {
      w.payments.start(w.payments.plan(inv.bolt11));
    } catch (x) {
      e = x as PaymentError;
    }
    expect(e?.code).toBe('no_route');
    expect(e?.message).toEndWith('can send 50000000 msat; at most 40123456 msat (40123 sat) can be sent now');
  });

  test('no channel to the payee at all: no_route at once, nothing stored', () => {
    const w = world();
    const inv = w.invoices.create({ amountMsat: msat(50_000) });
    expect(codeOf(() => w.payments.start(w.payments.plan(inv.bolt11)))).toBe('no_route');
    expect(w.payments.get(inv.paymentHash)).toBeUndefined();
  });

  test('before the channels know the tip, nothing is sent (an expiry counted from height 0 would be refused)', () => {
    const w = world();
    w.channels.add(payee, 10_000_000n);
    w.channels.height = 0;
    const inv = w.invoices.create({ amountMsat: msat(50_000) });
    expect(codeOf(() => w.payments.start(w.payments.plan(inv.bolt11)))).toBe('not_synced');
    expect([w.payments.get(inv.paymentHash), w.channels.offered.length]).toEqual([undefined, 0]);
  });
});

/** An invoice signed by the payee with a min_final_cltv_expiry_delta of our choosing. */
function invoiceWithCltv(w: World, c: number, amount: Msat = msat(10_000)): { bolt11: string; preimage: Uint8Array } {
  const preimage = sha256(Uint8Array.of(0xcc, c & 0xff, c >> 8, c >> 16));
  const bolt11 = encodeInvoice(
    {
      network: 'regtest',
      amountMsat: amount,
      timestamp: Math.floor(w.clock.now() / 1000),
      paymentHash: sha256(preimage),
      paymentSecret: new Uint8Array(32).fill(7),
      description: 'cltv',
      minFinalCltvExpiryDelta: c,
      features: LNNODE_INVOICE_FEATURES,
    },
    payeeSecret,
  );
  return { bolt11, preimage };
}

describe('a CLTV cap (issue 16 item 4)', () => {
  test('an invoice asking c=100000 (~694 days) is refused before anything is stored or sent', () => {
    const w = world();
    w.channels.add(payee, 10_000_000n);
    const inv = invoiceWithCltv(w, 100_000);
    let err: unknown;
    try {
      w.payments.start(w.payments.plan(inv.bolt11));
    } catch (e) {
      err = e;
    }
    expect(err instanceof PaymentError && [err.code, err.cltv]).toEqual(['cltv_too_far', { delta: 100_003, max: 2016 }]);
    expect([w.payments.list().length, w.channels.offered.length]).toEqual([0, 0]);
  });

  test('2016 blocks in total is allowed; the HTLC expires exactly tip + c + 3 and the payee sees that expiry', () => {
    const w = world();
    w.channels.add(payee, 10_000_000n);
    const inv = invoiceWithCltv(w, 2016 - 3);
    w.payments.start(w.payments.plan(inv.bolt11));
    const { htlc } = w.channels.offered[0]!;
    expect(htlc.cltvExpiry as number).toBe(w.channels.height + 2016);
    const hop = decodeHopPayload(peelOnion(htlc.onion, payeeSecret, htlc.paymentHash).payload);
    expect(hop.outgoing_cltv_value).toBe(htlc.cltvExpiry);
    expect(codeOf(() => w.payments.plan(invoiceWithCltv(w, 2016 - 2).bolt11))).toBe('cltv_too_far');
  });

  test('the cap is the node setting, and a payment may ask for a lower one (lnd cltv_limit), never a higher one', () => {
    const w = world();
    const low = new Payments({ store: w.store, network: 'regtest', channels: w.channels, clock: w.clock, maxCltvDelta: 144 });
    expect(codeOf(() => low.plan(invoiceWithCltv(w, 142).bolt11))).toBe('cltv_too_far');
    expect(codeOf(() => low.plan(invoiceWithCltv(w, 141).bolt11))).toBe('no error');
    expect(codeOf(() => w.payments.plan(invoiceWithCltv(w, 40).bolt11, { cltvLimit: 42 }))).toBe('cltv_too_far');
    expect(codeOf(() => w.payments.plan(invoiceWithCltv(w, 40).bolt11, { cltvLimit: 43 }))).toBe('no error');
    expect(codeOf(() => low.plan(invoiceWithCltv(w, 200).bolt11, { cltvLimit: 5000 }))).toBe('cltv_too_far');
  });
});

describe('a preimage learnt later wins (issue 16 item 11, payments side)', () => {
  let w: World;
  let inv: ReturnType<Invoices['create']>;
  beforeEach(() => {
    w = world();
    w.channels.add(payee, 10_000_000n);
    inv = w.invoices.create({ amountMsat: msat(30_000) });
  });

  const failOnChain = (o: OfferedHtlc): void => {
    w.channels.channels[0]!.phase = 'closing';
    w.payments.resolved({ kind: 'failed', channelId: o.channelId, htlc: o.htlc });
  };

  test('reported failed (HTLC-timeout at 1 confirmation), then the preimage (their claim won a reorg): succeeded, and a retry is refused', async () => {
    const seen: PaymentRecord[] = [];
    w.payments.onResolved((p) => seen.push(p));
    const first = settle(w.payments.pay(inv.bolt11));
    const o = w.channels.offered[0]!;
    failOnChain(o);
    const e = (await first) as PaymentError;
    expect([e.code, e.payment?.failure]).toEqual(['failed', 'failed on chain: the HTLC timed out or was not on the commitment that confirmed']);

    w.payments.resolved({ kind: 'fulfilled', channelId: o.channelId, htlc: o.htlc, preimage: inv.preimage });
    expect(w.payments.get(inv.paymentHash)).toMatchObject({ state: 'succeeded', preimage: inv.preimage, failure: undefined, failureCode: undefined });
    expect(seen.map((p) => p.state)).toEqual(['failed', 'succeeded']);
    expect(codeOf(() => w.payments.start(w.payments.plan(inv.bolt11)))).toBe('already_paid');
    expect(w.channels.offered.length).toBe(1);
  });

  test('a preimage that does not hash to the payment changes nothing', async () => {
    const first = settle(w.payments.pay(inv.bolt11));
    const o = w.channels.offered[0]!;
    failOnChain(o);
    await first;
    w.payments.resolved({ kind: 'fulfilled', channelId: o.channelId, htlc: o.htlc, preimage: new Uint8Array(32).fill(1) });
    expect(w.payments.get(inv.paymentHash)!.state).toBe('failed');
  });

  test("the first attempt failed and a retry is out: the first one's late preimage ends it succeeded; a late failure of the first would not", async () => {
    const first = settle(w.payments.pay(inv.bolt11));
    const o1 = w.channels.offered[0]!;
    w.payments.resolved({ kind: 'failed', channelId: o1.channelId, htlc: o1.htlc });
    await first;
    const retry = w.payments.start(w.payments.plan(inv.bolt11));
    const o2 = w.channels.offered[1]!;
    expect(o2.htlc.id).not.toBe(o1.htlc.id);
    // A second report about the first HTLC (a failure again) must not end the retry.
    w.payments.resolved({ kind: 'failed', channelId: o1.channelId, htlc: o1.htlc });
    expect(w.payments.get(inv.paymentHash)!.state).toBe('in_flight');
    w.payments.resolved({ kind: 'fulfilled', channelId: o1.channelId, htlc: o1.htlc, preimage: inv.preimage });
    expect(hex((await retry.done).preimage!)).toBe(hex(inv.preimage));
  });
});

describe('amounts are bigint end to end (issue 14)', () => {
  test('an amount above 2^53 msat is stored and read back exactly, as payer and as payee', async () => {
    const w = world();
    const big = msat(2n ** 53n + 1n);
    w.channels.add(payee, big);
    const inv = w.invoices.create({ amountMsat: big });
    expect(w.invoices.get(inv.paymentHash)!.amountMsat).toBe(big);
    const paying = w.payments.pay(inv.bolt11);
    expect(w.payments.get(inv.paymentHash)!.amountMsat).toBe(big);
    deliver(w, w.channels.offered[0]!);
    expect((await paying).amountMsat).toBe(big);
    expect(w.invoices.get(inv.paymentHash)!.receivedMsat).toBe(big);
    expect(typeof w.payments.list()[0]!.htlcId).toBe('bigint');
  });
});
