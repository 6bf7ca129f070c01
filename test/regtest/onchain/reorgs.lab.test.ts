// lab-peers: btcd
/**
 * Issue 16 item 11, the channel side: reorgs with competing branches on the
 * lab's btcd and its mempool emptied afterwards (ChannelLab.reorg), with the
 * nodes running through them.
 *
 * - A funding reorged out after channel_ready is sent again by the funder;
 *   while it is below its depth no HTLC is added, and once it is deep again
 *   the short_channel_id is the one of the block it confirmed in.
 * - The same reorg seen by the nodes before btcd restarts and loses its
 *   mempool: the funding is sent again as soon as btcd is back, before any block.
 * - A mutual close reorged out after the channel was closed (deeper than
 *   CLOSE_DEPTH, within MAX_REORG_DEPTH) reopens the channel's resolution;
 *   the close is sent again and the channel closes again.
 * - A force close reorged out is sent again; the peer's sweep too.
 * - An HTLC-timeout reorged out in favour of the peer's preimage claim
 *   leaves the payment succeeded (it was never reported failed) and the
 *   wallet coin that paid the HTLC-timeout's fee spendable again.
 *
 * Every test ends with each wallet exact to the sat.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { CLOSE_DEPTH, MAX_REORG_DEPTH } from '../../../src/node/channels/resolver.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { reorg } from '../../lab/blocks.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { decoded, muteFrom } from './onchain-helpers.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(400_000);

beforeAll(async () => {
  lab = await ChannelLab.start('reorgs');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 3_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;
const mempool = (): Promise<string[]> => lab.btcd.rpc.call<string[]>('getrawmempool');
const floorSat = (m: bigint): bigint => m / 1000n;
const closed = (id: string) => () => summary(a, id).phase === 'closed' && summary(b, id).phase === 'closed';
const invoice = (n: LightningNode, amountMsat: bigint, tag: number) => n.invoices.create({ amountMsat: msat(amountMsat), descriptionHash: sha256(Uint8Array.of(tag)) });

/** The short_channel_id of a funding output, read from btcd. */
async function scidOnChain(fundingTxid: string, vout: number): Promise<string> {
  const tx = await lab.btcd.rpc.call<{ blockhash: string }>('getrawtransaction', fundingTxid, 1);
  const block = await lab.btcd.rpc.call<{ height: number; tx: string[] }>('getblock', tx.blockhash, 1);
  return `${block.height}x${block.tx.indexOf(fundingTxid)}x${vout}`;
}

describe('reorgs, with the mempool emptied', () => {
  test('a funding reorged out after channel_ready: sent again, no HTLC while it is shallow, short_channel_id recomputed', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING);
    const vout = summary(a, id).fundingVout;
    const before = await scidOnChain(fundingTxid, vout);
    expect(summary(a, id).shortChannelId).toBe(before);
    await lab.pay(a, b, msat(10_000_000));

    // The three blocks since the funding are replaced by four empty ones; btcd forgets its mempool.
    await lab.reorg(3);
    await lab.processed(a);
    await lab.processed(b);
    // In the mempool again: the running funder's wallet sent it.
    await waitFor('the funding sent again', async () => (await mempool()).includes(fundingTxid));
    for (const n of [a, b]) expect(summary(n, id).active).toBe(false);
    const inv = invoice(b, 5_000_000n, 1);
    const refused = await a.payments.pay(inv.bolt11).catch((e: Error) => e);
    expect(refused instanceof PaymentError ? refused.code : refused).toBe('no_route');
    expect(summary(a, id).pendingHtlcs).toBe(0);

    await lab.btcd.generate(2);
    await lab.processed(a);
    expect(summary(a, id).active).toBe(false); // 2 of the 3 confirmations it needs
    await lab.btcd.generate(1);
    for (const n of [a, b]) await lab.active(n, id);
    const after = await scidOnChain(fundingTxid, vout);
    expect(after).not.toBe(before);
    for (const n of [a, b]) expect(summary(n, id).shortChannelId).toBe(after);
    const paid = await a.payments.pay(inv.bolt11);
    expect(paid.state).toBe('succeeded');
    await lab.settled(a, b, id);

    const { closingTxid } = await a.channels!.close(fromHex(id));
    await lab.mineUntil('closed on both sides', closed(id));
    const toB = 15_000n;
    expect(await lab.walletBalance(a)).toBe(startA - (await lab.fee(fundingTxid)) - (await lab.fee(closingTxid)) - toB);
    expect(await lab.walletBalance(b)).toBe(startB + toB);
  }, 180_000);

  test('a reorg seen first, then the backend restarts and loses its mempool: the funding is sent again when it is back, before any block', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING);
    // The nodes follow the competing branch while btcd still has its mempool, where it put the funding back.
    await reorg(lab.btcd.rpc, 3, lab.btcd.miner.script);
    for (const n of [a, b]) await lab.processed(n);
    expect(await mempool()).toContain(fundingTxid);
    // Then btcd restarts: the funding is nowhere, and no block comes to make the nodes look.
    const height = await lab.btcd.height();
    await lab.btcd.restart();
    await waitFor('the funding sent again', async () => (await mempool()).includes(fundingTxid));
    expect(await lab.btcd.height()).toBe(height);
    for (const n of [a, b]) expect(summary(n, id).active).toBe(false);

    await lab.mine(3);
    for (const n of [a, b]) await lab.active(n, id);
    expect(summary(a, id).shortChannelId).toBe(await scidOnChain(fundingTxid, summary(a, id).fundingVout));
    await lab.pay(a, b, msat(7_000_000));
    await lab.settled(a, b, id);
    const { closingTxid } = await a.channels!.close(fromHex(id));
    await lab.mineUntil('closed on both sides', closed(id));
    const toB = 7_000n;
    expect(await lab.walletBalance(a)).toBe(startA - (await lab.fee(fundingTxid)) - (await lab.fee(closingTxid)) - toB);
    expect(await lab.walletBalance(b)).toBe(startB + toB);
  }, 180_000);

  test(`a mutual close reorged out ${CLOSE_DEPTH + 1} deep after the channel closed: the channel is followed again, the close sent again and closed again`, async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING);
    await lab.pay(a, b, msat(20_000_123));
    await lab.settled(a, b, id);
    const { closingTxid } = await a.channels!.close(fromHex(id));
    await lab.mineUntil('closed on both sides', closed(id));
    // The reorg below must take the close's block out: it is at most one block deeper than CLOSE_DEPTH by now.
    expect(await lab.confirmations(closingTxid)).toBeGreaterThanOrEqual(CLOSE_DEPTH);
    expect(await lab.confirmations(closingTxid)).toBeLessThanOrEqual(CLOSE_DEPTH + 1);

    await lab.reorg(CLOSE_DEPTH + 1);
    expect(CLOSE_DEPTH + 1).toBeLessThanOrEqual(MAX_REORG_DEPTH);
    await lab.processed(a);
    await lab.processed(b);
    for (const n of [a, b]) expect(summary(n, id).phase).toBe('closing');
    await waitFor('the close sent again', async () => (await mempool()).includes(closingTxid));
    await lab.mineUntil('closed again on both sides', closed(id));
    const toB = floorSat(20_000_123n);
    expect(await lab.walletBalance(a)).toBe(startA - (await lab.fee(fundingTxid)) - (await lab.fee(closingTxid)) - toB);
    expect(await lab.walletBalance(b)).toBe(startB + toB);
  }, 180_000);

  test('a force close reorged out: our commitment is sent again, so is the peer\'s sweep of it', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, 'static_remotekey');
    await lab.pay(a, b, msat(30_000_000));
    await lab.settled(a, b, id);
    const { closingTxid } = await a.channels!.close(fromHex(id), { force: true });
    await lab.mineUntil('B swept its output', async () => {
      const [sweep] = summary(b, id).sweepTxids;
      return sweep !== undefined && (await mempool()).includes(sweep);
    }, 5);
    await lab.btcd.generate(1);
    const bSweep = summary(b, id).sweepTxids[0]!;
    expect(await lab.confirmations(bSweep)).toBe(1);

    await lab.reorg(3);
    // Out of every block (the nodes may have sent it again already: 0, in the mempool).
    expect(await lab.confirmations(closingTxid) ?? 0).toBe(0);
    await waitFor('both sent again', async () => {
      const pool = await mempool();
      return pool.includes(closingTxid) && pool.includes(bSweep);
    });
    await lab.btcd.generate(140);
    await lab.mineUntil('closed on both sides', closed(id), 30);
    const commitFee = await lab.fee(closingTxid);
    const toB = 30_000n;
    expect(await lab.walletBalance(a)).toBe(startA - (await lab.fee(fundingTxid)) - commitFee - toB - (await lab.fees(summary(a, id).sweepTxids)));
    expect(await lab.walletBalance(b)).toBe(startB + toB - (await lab.fee(bSweep)));
  }, 240_000);

  test('an HTLC-timeout reorged out in favour of the peer\'s preimage claim: the payment succeeded, never failed; the fee coin is released', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, 'anchors');
    const HTLC = 25_000_000n;
    const inv = invoice(b, HTLC, 4);
    // B settles and sends update_fulfill_htlc, which A never hears; then B goes away.
    const unmute = muteFrom(b, ['update_fulfill_htlc']);
    const paying = a.payments.pay(inv.bolt11, { timeoutMs: 900_000 }).catch((e: Error) => e);
    await waitFor('B settled the invoice (unheard by A)', () => b.invoices.get(inv.paymentHash)?.state === 'settled');
    unmute();
    lab.stopNode(b);

    const { closingTxid } = await a.channels!.close(fromHex(id), { force: true });
    // After the expiry A times the HTLC out, with a wallet coin for the fee (anchors): the sweep of the
    // commitment's HTLC output (not of its anchor or, after the delay, its to_local output).
    const htlcVout = (await lab.outputs(closingTxid)).indexOf(HTLC / 1000n);
    expect(htlcVout).toBeGreaterThanOrEqual(0);
    let timeoutTxid: string | undefined;
    await lab.mineUntil('the HTLC-timeout transaction confirmed', async () => {
      for (const t of summary(a, id).sweepTxids) {
        const tx = await decoded(lab, t).catch(() => undefined); // not sent yet (timelocked)
        if (tx && tx.vin.some((i) => i.txid === closingTxid && i.vout === htlcVout) && (tx.confirmations ?? 0) > 0) timeoutTxid = t;
      }
      return timeoutTxid !== undefined;
    }, 40, 100);
    await lab.processed(a);
    const feeCoin = (await decoded(lab, timeoutTxid!)).vin.find((i) => i.txid !== closingTxid)!;
    expect(a.wallet!.transaction(timeoutTxid!)?.purpose).toBe('fee-bump');
    expect(await lab.confirmations(timeoutTxid!)).toBeLessThan(CLOSE_DEPTH);
    expect(a.payments.get(inv.paymentHash)!.state).toBe('in_flight');

    // A goes away; the block with the HTLC-timeout is reorged out and the mempool lost; B comes back first and claims with the preimage.
    lab.stopNode(a);
    await lab.reorg(1);
    b = lab.startNode('b');
    let claim: string | undefined;
    await lab.mineUntil('B claimed the HTLC with its preimage', async () => {
      const pool = await mempool();
      claim = summary(b, id).sweepTxids.find((t) => pool.includes(t));
      return claim !== undefined;
    }, 5);
    const claimTx = await lab.btcd.rpc.call<{ vin: { txid: string; txinwitness: string[] }[] }>('getrawtransaction', claim!, 1);
    expect(claimTx.vin[0]!.txinwitness).toContain(hex(inv.preimage));
    await lab.btcd.generate(1);

    a = lab.startNode('a');
    await lab.mineUntil('A learnt the preimage from the chain', () => a.payments.get(inv.paymentHash)?.state === 'succeeded', 5);
    expect(hex(a.payments.get(inv.paymentHash)!.preimage!)).toBe(hex(inv.preimage));
    await waitFor('the HTLC-timeout marked conflicted', () => a.wallet!.transaction(timeoutTxid!)?.state === 'conflicted');
    await a.wallet!.sync();
    expect(a.wallet!.balance().reservedSat).toBe(sat(0));
    expect(a.wallet!.spendable().some((c) => c.txid === feeCoin.txid && c.vout === feeCoin.vout)).toBe(true);
    void paying;

    await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
    await lab.btcd.generate(140);
    await lab.mineUntil('closed on both sides', closed(id), 40);
    expect(summary(a, id).sweepTxids).not.toContain(timeoutTxid);
    const commitFee = await lab.fee(closingTxid);
    const toB = HTLC / 1000n;
    expect(await lab.walletBalance(a)).toBe(startA - (await lab.fee(fundingTxid)) - commitFee - 2n * ANCHOR_SAT - toB - (await lab.fees(summary(a, id).sweepTxids)));
    expect(await lab.walletBalance(b)).toBe(startB + toB - (await lab.fees(summary(b, id).sweepTxids)));
  }, 400_000);
});
