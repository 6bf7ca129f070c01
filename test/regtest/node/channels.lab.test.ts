// lab-peers: btcd
/**
 * lnnode <-> lnnode channels on the lab: a real funding transaction on btcd
 * (through the Esplora adapter), channel_ready after the fundee's minimum
 * depth, then payments both ways over BOLT 11 invoices and one-hop onions.
 * Balances are checked to the msat on both sides against the sums paid; a
 * restart of either node must find the channel and the money intact.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { hex } from '../../../src/bolt/bytes.ts';
import { type Msat, msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';

let lab: ChannelLab;

beforeAll(async () => {
  lab = await ChannelLab.start('channels');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const FUNDING = sat(1_000_000);

async function openChannel(funder: LightningNode, fundee: LightningNode, fundingSat = FUNDING): Promise<string> {
  return (await lab.openChannel(funder, fundee, fundingSat)).id;
}

const balances = (n: LightningNode, id: string): { local: bigint; remote: bigint } => {
  const c = n.channels!.get(Buffer.from(id, 'hex'))!;
  return { local: c.localBalanceMsat, remote: c.remoteBalanceMsat };
};

/** Amounts with msat precision, from 1 msat to a large share of what is left. */
function amounts(n: number, total: bigint): Msat[] {
  const out: Msat[] = [msat(1), msat(1_001), msat(123_457)];
  let rest = total - out.reduce((s, a) => s + a, 0n);
  while (out.length < n - 1) {
    const a = msat(((rest / 20n) % 9_999_999_991n) + 7n);
    out.push(a);
    rest -= a;
  }
  out.push(msat(rest));
  return out;
}

describe('lnnode <-> lnnode channels on the lab', () => {
  let a: LightningNode;
  let b: LightningNode;
  let ab: string;

  test('A opens a channel to B: funded on chain, ready after 3 confirmations on both sides', async () => {
    a = lab.startNode('a');
    b = lab.startNode('b');
    await lab.fund(a, 3_000_000n);
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    ab = await openChannel(a, b);
    const ca = a.channels!.get(Buffer.from(ab, 'hex'))!;
    expect(ca.capacitySat).toBe(FUNDING);
    expect(ca.shortChannelId).toMatch(/^\d+x\d+x\d+$/);
    expect(balances(a, ab)).toEqual({ local: FUNDING * 1000n, remote: 0n });
    expect(balances(b, ab)).toEqual({ local: 0n, remote: FUNDING * 1000n });
  }, 60_000);

  test('25 payments each way settle; balances match to the msat on both sides', async () => {
    const toB = amounts(25, 600_000_000n);
    for (const x of toB) await lab.pay(a, b, x);
    const sentToB = toB.reduce((s, x) => s + x, 0n);
    await lab.settled(a, b, ab);
    expect(balances(a, ab)).toEqual({ local: FUNDING * 1000n - sentToB, remote: sentToB });
    expect(balances(b, ab)).toEqual({ local: sentToB, remote: FUNDING * 1000n - sentToB });

    const toA = amounts(25, 500_000_000n);
    for (const x of toA) await lab.pay(b, a, x);
    const sentToA = toA.reduce((s, x) => s + x, 0n);
    await lab.settled(a, b, ab);
    expect(balances(a, ab).local).toBe(FUNDING * 1000n - sentToB + sentToA);
    expect(balances(b, ab).local).toBe(sentToB - sentToA);
  }, 120_000);

  test('paying the same invoice twice pays once; an unknown payment is failed and moves nothing', async () => {
    const inv = b.invoices.create({ amountMsat: msat(50_000), description: 'once' });
    const before = balances(a, ab).local;
    const first = await a.payments.pay(inv.bolt11);
    const second = await a.payments.pay(inv.bolt11);
    expect(hex(second.preimage!)).toBe(hex(first.preimage!));
    expect(balances(a, ab).local).toBe(before - 50_000n);

    const canceled = b.invoices.create({ amountMsat: msat(70_000), description: 'canceled' });
    b.invoices.cancel(canceled.paymentHash);
    const err = await a.payments.pay(canceled.bolt11).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentError);
    expect((err as PaymentError).payment?.failure).toBe('incorrect_or_unknown_payment_details');
    await lab.settled(a, b, ab);
    expect(balances(a, ab).local).toBe(before - 50_000n);
  }, 60_000);

  test('concurrent payments both ways interleave and all settle', async () => {
    const startA = balances(a, ab).local;
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      ps.push(lab.pay(a, b, msat(10_000 + i)));
      ps.push(lab.pay(b, a, msat(20_000 + i)));
    }
    await Promise.all(ps);
    await lab.settled(a, b, ab);
    let net = 0n;
    for (let i = 0; i < 10; i++) net += BigInt(20_000 + i) - BigInt(10_000 + i);
    expect(balances(a, ab).local).toBe(startA + net);
    expect(balances(b, ab).remote).toBe(startA + net);
  }, 60_000);

  test('the fee estimate rises, then falls: A (the opener) sends update_fee, both commitments follow, payments go on', async () => {
    const feerates = (): number[] => [a, b].map((n) => n.channels!.get(Buffer.from(ab, 'hex'))!.feeratePerKw);
    // The lab quotes 2 sat/vB (500 sat/kw) unless told otherwise; the channel opened at that.
    expect(feerates()).toEqual([500, 500]);
    try {
      for (const [satPerVb, perKw] of [[10, 2500], [3, 750]] as const) {
        lab.esplora.setFeeRate(satPerVb);
        await lab.mineUntil(`both commitments at ${perKw} sat/kw`, () => feerates().every((f) => f === perKw), 5);
        const before = balances(a, ab).local;
        await lab.pay(a, b, msat(3_000_001));
        await lab.pay(b, a, msat(1_000_003));
        await lab.settled(a, b, ab);
        expect(balances(a, ab).local).toBe(before - 3_000_001n + 1_000_003n);
        expect(balances(b, ab).remote).toBe(before - 3_000_001n + 1_000_003n);
      }
      // 2 sat/vB is neither 10% above 3 nor under half of it: no update.
      lab.esplora.setFeeRate(2);
      await lab.btcd.generate(1);
      await lab.synced(a);
      await Bun.sleep(300);
      expect(feerates()).toEqual([750, 750]);
    } finally {
      lab.esplora.setFeeRate(2);
    }
  }, 60_000);

  test('B restarts: the channel reestablishes with the same balances and payments work', async () => {
    await lab.settled(a, b, ab);
    const before = balances(a, ab);
    lab.stopNode(b);
    b = lab.startNode('b'); // same data directory
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    await lab.active(a, ab);
    await lab.active(b, ab);
    expect(balances(b, ab)).toEqual({ local: before.remote, remote: before.local });
    await lab.pay(a, b, msat(12_345));
    await lab.pay(b, a, msat(54_321));
    await lab.settled(a, b, ab);
    expect(balances(a, ab).local).toBe(before.local - 12_345n + 54_321n);
  }, 60_000);

  test('B opens a channel to A (A is fundee); 25 payments each way over it, balances to the msat', async () => {
    await lab.fund(b, 2_000_000n);
    const ba = await openChannel(b, a, sat(500_000));
    expect(a.channels!.get(Buffer.from(ba, 'hex'))!.weAreOpener).toBe(false);
    expect(balances(a, ba).local).toBe(0n);
    // Over this channel only (both nodes also share A's first channel).
    const over = async (from: LightningNode, to: LightningNode, amountMsat: Msat): Promise<void> => {
      const inv = to.invoices.create({ amountMsat, descriptionHash: new Uint8Array(32).fill(9) });
      const p = await from.payments.pay(inv.bolt11, { outgoingChannels: [ba] });
      expect(hex(p.preimage!)).toBe(hex(inv.preimage));
      expect(to.invoices.get(inv.paymentHash)!.receivedMsat).toBe(amountMsat);
    };
    const toA = amounts(25, 300_000_000n);
    for (const x of toA) await over(b, a, x);
    const toB = amounts(25, 200_000_000n);
    for (const x of toB) await over(a, b, x);
    await lab.settled(a, b, ba);
    expect(balances(a, ba)).toEqual({ local: 100_000_000n, remote: 400_000_000n });
    expect(balances(b, ba)).toEqual({ local: 400_000_000n, remote: 100_000_000n });
  }, 120_000);
});
