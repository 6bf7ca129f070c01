// lab-peers: btcd
/**
 * Every way an lnnode <-> lnnode channel ends, on the lab, with every
 * satoshi accounted for: mutual close started by the funder and by the
 * fundee, force close by each side (to_local swept after to_self_delay,
 * to_remote at once), and a revoked commitment answered by a justice
 * transaction. Each node's final wallet balance must equal its starting
 * balance, plus or minus the channel balance it ended with, minus the fees
 * of the transactions it paid for, read from the transactions themselves.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { serializeTx } from '../../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../../src/bolt/bolt5/our-commitment.ts';
import { type Msat, msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { channelSecrets } from '../../../src/node/channels/secrets.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab, LAB_TO_SELF_DELAY } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(500_000);

beforeAll(async () => {
  lab = await ChannelLab.start('closing');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 4_000_000n);
  await lab.fund(b, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;
const floorSat = (m: bigint): bigint => m / 1000n;


/** A opens to B and payments run both ways; returns the channel and the msat balances it ends with. */
async function channelWithPayments(type: ChannelType): Promise<{ id: string; fundingTxid: string; startA: bigint; startB: bigint; aMsat: bigint; bMsat: bigint }> {
  const startA = await lab.walletBalance(a);
  const startB = await lab.walletBalance(b);
  const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, type);
  const toB: Msat[] = [msat(123_456_789), msat(1), msat(40_000_001)];
  const toA: Msat[] = [msat(20_000_123), msat(999)];
  for (const x of toB) await lab.pay(a, b, x);
  for (const x of toA) await lab.pay(b, a, x);
  await lab.settled(a, b, id);
  const paid = toB.reduce((s, x) => s + x, 0n) - toA.reduce((s, x) => s + x, 0n);
  const aMsat = summary(a, id).localBalanceMsat;
  expect(aMsat).toBe(msat(FUNDING * 1000n - paid));
  expect(summary(b, id).localBalanceMsat).toBe(msat(paid));
  return { id, fundingTxid, startA, startB, aMsat, bMsat: paid };
}

const closed = (id: string) => () => summary(a, id).phase === 'closed' && summary(b, id).phase === 'closed';

type ChannelType = 'static_remotekey' | 'anchors';

describe.each(['static_remotekey', 'anchors'] as const)('closing lnnode <-> lnnode %s channels on the lab', (type) => {
  /** Both anchors of a commitment come out of the funder's (A's) side; nobody sweeps 330 sat. */
  const anchors = type === 'anchors' ? 2n * ANCHOR_SAT : 0n;

  for (const closer of ['funder', 'fundee'] as const) {
    test(`mutual close started by the ${closer}: one transaction, the funder pays its fee, balances exact`, async () => {
      const ch = await channelWithPayments(type);
      const who = closer === 'funder' ? a : b;
      const { closingTxid } = await who.channels!.close(fromHex(ch.id));
      expect(await lab.btcd.rpc.call<string[]>('getrawmempool')).toContain(closingTxid);
      await waitFor('both sides closing', () => summary(a, ch.id).closingTxid === closingTxid && summary(b, ch.id).closingTxid === closingTxid);
      expect(summary(a, ch.id).closeKind).toBe('mutual');
      await lab.mineUntil('channel forgotten on both sides', closed(ch.id), 60, 0);
      const closeFee = await lab.fee(closingTxid);
      const outs = (await lab.outputs(closingTxid)).sort((x, y) => (x < y ? -1 : 1));
      // The fee read from the transaction includes the sub-satoshi remainders of both balances (BOLT 3 rounds each down).
      expect(outs).toEqual([floorSat(ch.bMsat), FUNDING - floorSat(ch.bMsat) - closeFee].sort((x, y) => (x < y ? -1 : 1)));
      const fundingFee = await lab.fee(ch.fundingTxid);
      expect(await lab.walletBalance(a)).toBe(ch.startA - fundingFee - floorSat(ch.bMsat) - closeFee);
      expect(await lab.walletBalance(b)).toBe(ch.startB + floorSat(ch.bMsat));
    }, 120_000);
  }

  for (const closer of ['funder', 'fundee'] as const) {
    test(`force close by the ${closer}: to_remote swept at once, to_local after to_self_delay, every sat accounted for`, async () => {
      const ch = await channelWithPayments(type);
      const who = closer === 'funder' ? a : b;
      const other = who === a ? b : a;
      const { closingTxid } = await who.channels!.close(fromHex(ch.id), { force: true });
      expect(summary(who, ch.id).closeKind).toBe('local');
      await lab.mine(1);
      await waitFor('the other side sees their commitment', () => summary(other, ch.id).closeKind === 'remote');
      // The closer's to_local waits LAB_TO_SELF_DELAY blocks (the to_self_delay the other side asked for).
      await lab.mineUntil('to_remote swept', () => summary(other, ch.id).sweepTxids.length === 1, LAB_TO_SELF_DELAY - 4, 0);
      expect(summary(who, ch.id).sweepTxids).toEqual([]);
      await lab.mine(LAB_TO_SELF_DELAY - 4);
      await lab.mineUntil('channel forgotten on both sides', closed(ch.id), 30, 0);
      expect(summary(who, ch.id).sweepTxids).toHaveLength(1);
      const commitFee = await lab.fee(closingTxid);
      const fundingFee = await lab.fee(ch.fundingTxid);
      const sweepA = await lab.fees(summary(a, ch.id).sweepTxids);
      const sweepB = await lab.fees(summary(b, ch.id).sweepTxids);
      expect(sweepA).toBeGreaterThan(0n);
      // The funder ends with everything that is not B's, less the fees it paid (which absorb the sub-satoshi remainders).
      expect(await lab.walletBalance(a)).toBe(ch.startA - fundingFee - floorSat(ch.bMsat) - commitFee - anchors - sweepA);
      expect(await lab.walletBalance(b)).toBe(ch.startB + floorSat(ch.bMsat) - sweepB);
    }, 180_000);
  }

  /** From B's first update_fulfill_htlc / update_fail_htlc on, A hears nothing more from B: the HTLC stays on both commitments. */
  function muteB(): () => void {
    const original = b.peers.send.bind(b.peers);
    let muted = false;
    b.peers.send = (peer, n, msg) => {
      if (n === 'update_fulfill_htlc' || n === 'update_fail_htlc') muted = true;
      if (!muted) original(peer, n, msg);
    };
    return () => (b.peers.send = original);
  }

  /** Inputs of each transaction: with anchors an HTLC transaction brings its fee with a wallet input. */
  const inputCounts = async (txids: string[]): Promise<number[]> =>
    Promise.all(txids.map(async (t) => (await lab.btcd.rpc.call<{ vin: unknown[] }>('getrawtransaction', t, 1)).vin.length));

  for (const closer of ['fundee', 'funder'] as const) {
    const what = closer === 'fundee' ? 'an HTLC whose preimage it knows: its HTLC-success transaction' : 'an HTLC the fundee never answered: its HTLC-timeout transaction after the expiry';
    test(`force close by the ${closer} holding ${what} resolves it on chain; every sat accounted for`, async () => {
      const ch = await channelWithPayments(type);
      const HTLC = 7_000_000n; // whole sats, so no remainder blurs the accounting
      const inv = b.invoices.create({ amountMsat: msat(HTLC), descriptionHash: new Uint8Array(32).fill(closer === 'fundee' ? 1 : 2) });
      if (closer === 'funder') b.invoices.cancel(inv.paymentHash);
      const unmute = muteB();
      const paying = a.payments.pay(inv.bolt11, { timeoutMs: 600_000 }).catch((e: Error) => e);
      try {
        await waitFor('the HTLC irrevocably committed and answered by B (unheard)', () => {
          const st = b.invoices.get(inv.paymentHash)!.state;
          return summary(a, ch.id).pendingHtlcs === 1 && (closer === 'fundee' ? st === 'settled' : st === 'canceled') && summary(b, ch.id).pendingHtlcs === 1;
        });
        await Bun.sleep(200);
        const who = closer === 'funder' ? a : b;
        const { closingTxid } = await who.channels!.close(fromHex(ch.id), { force: true });
        // Three blocks a step: the HTLC's expiry and both delays are tens of blocks away, and each reaction confirms in the next step.
        await lab.mineUntil('channel forgotten on both sides', closed(ch.id), 120, 0, 3);
        const p = await paying;
        if (closer === 'fundee') {
          // A learnt the preimage from B's HTLC-success transaction on chain.
          expect(p instanceof Error ? p.message : [p.state, Buffer.from(p.preimage!).toString('hex')]).toEqual(['succeeded', Buffer.from(inv.preimage).toString('hex')]);
        } else {
          expect(p instanceof Error ? 'failed' : p.state).toBe('failed');
        }
        const stage = closer === 'fundee' ? summary(b, ch.id).sweepTxids : summary(a, ch.id).sweepTxids;
        const counts = await inputCounts(stage);
        // One transaction per output: to_local after the delay, and the HTLC's second stage (then its delayed output).
        expect(stage).toHaveLength(3);
        expect(Math.max(...counts)).toBe(type === 'anchors' ? 2 : 1);
        const commitFee = await lab.fee(closingTxid);
        const fundingFee = await lab.fee(ch.fundingTxid);
        const feesA = await lab.fees(summary(a, ch.id).sweepTxids);
        const feesB = await lab.fees(summary(b, ch.id).sweepTxids);
        const toB = floorSat(ch.bMsat) + (closer === 'fundee' ? HTLC / 1000n : 0n);
        expect(await lab.walletBalance(a)).toBe(ch.startA - fundingFee - toB - commitFee - anchors - feesA);
        expect(await lab.walletBalance(b)).toBe(ch.startB + toB - feesB);
      } finally {
        unmute();
      }
    }, 400_000);
  }

  test('B broadcasts a revoked commitment: A takes every output with a justice transaction', async () => {
    const ch = await channelWithPayments(type);
    // B keeps a copy of its state, then more payments revoke it.
    const stored = b.channels!.store.load<ChannelRecord>(fromHex(ch.id))!;
    const old = ourCommitment(stored.state.commitments, channelSecrets(b.identity.root, 'regtest', stored.keyIndex), () => undefined);
    await lab.pay(b, a, msat(50_000_000));
    await lab.pay(a, b, msat(1_000));
    await lab.settled(a, b, ch.id);
    lab.stopNode(b);
    await lab.btcd.rpc.call('sendrawtransaction', Buffer.from(serializeTx(old.tx)).toString('hex'));
    await lab.mineUntil('A sees the revoked commitment', () => summary(a, ch.id).closeKind === 'revoked', 5, 0);
    await lab.mineUntil('A swept everything and forgot the channel', () => summary(a, ch.id).phase === 'closed', 30, 0);
    const sweeps = summary(a, ch.id).sweepTxids;
    expect(sweeps.length).toBe(2); // its own to_remote and B's to_local through the revocation key
    const commitFee = await lab.fee(old.txid);
    const fundingFee = await lab.fee(ch.fundingTxid);
    // A ends with the whole channel, less the commitment fee it paid as funder and its sweep fees.
    expect(await lab.walletBalance(a)).toBe(ch.startA - fundingFee - commitFee - anchors - (await lab.fees(sweeps)));
    // B comes back (same data dir) for the cases that follow.
    b = lab.startNode('b');
    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
  }, 180_000);
});
