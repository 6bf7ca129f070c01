// lab-peers: btcd
/**
 * HTLC deadlines on the lab (BOLT 2 "cltv_expiry_delta Selection", BOLT 5):
 * a peer that stalls must not get to keep an HTLC by waiting.
 *
 * - The payer stalls right after the payee's update_fulfill_htlc: the payee
 *   goes on chain FULFILLMENT_DEADLINE_BLOCKS before the expiry and claims
 *   the HTLC with its preimage before the payer could time it out; the payer,
 *   back later, learns the preimage from the chain.
 * - The payee stalls instead of failing an HTLC: the payer goes on chain
 *   TIMEOUT_GRACE_BLOCKS after the expiry and times it out.
 * Every sat is accounted for in the side that acted.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { FULFILLMENT_DEADLINE_BLOCKS, TIMEOUT_GRACE_BLOCKS } from '../../../src/bolt/bolt2/channel/htlc-deadlines.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab, LAB_TO_SELF_DELAY } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';

let lab: ChannelLab;
const FUNDING = sat(400_000);
const HTLC = 7_000_000n; // whole sats, so no remainder blurs the accounting

beforeAll(async () => {
  lab = await ChannelLab.start('htlc-deadlines');
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;

/** Drops everything `n` sends from its first `name` on (the peer hears nothing more); returns whether that happened. */
function muteFrom(n: LightningNode, name: string): () => boolean {
  const original = n.peers.send.bind(n.peers);
  let muted = false;
  n.peers.send = (peer, m, msg) => {
    if (m === name) muted = true;
    if (!muted) original(peer, m, msg);
  };
  return () => muted;
}

const htlcExpiry = (n: LightningNode, id: string): number => n.channels!.store.load<ChannelRecord>(fromHex(id))!.state.commitments.localCommit.spec.htlcs[0]!.cltvExpiry;

interface RawTx {
  vin: { txid: string; txinwitness?: string[] }[];
  locktime: number;
  blockhash?: string;
}
const rawTx = (txid: string) => lab.btcd.rpc.call<RawTx>('getrawtransaction', txid, 1);
const heightOf = async (txid: string): Promise<number> => {
  const t = await rawTx(txid);
  return (await lab.btcd.rpc.call<{ height: number }>('getblockheader', t.blockhash!, true)).height;
};

/**
 * Mines up to the block before `deadline` at once, then one block at a
 * time until `done`; returns the height at which it held (below `deadline`
 * when it already held before it).
 */
async function mineUntilAt(what: string, done: () => boolean, deadline: number, max: number): Promise<number> {
  const below = deadline - 1 - (await lab.btcd.height());
  if (below > 0) await lab.mine(below);
  // A deadline's force close starts while the block is handled and is stored a moment later: up to 100 ms more per block.
  await lab.mineUntil(what, done, max, 100);
  return lab.btcd.height();
}

describe('HTLC deadlines: a stalling peer does not keep the HTLC', () => {
  test('the payer stalls after our update_fulfill_htlc: we go on chain 10 blocks before the expiry and claim the HTLC with the preimage', async () => {
    const payer = lab.startNode('payer1');
    const payee = lab.startNode('payee1');
    await lab.fund(payer, 2_000_000n);
    await lab.fund(payee, 500_000n); // brings the fee of the zero-fee anchors HTLC-success transaction
    await payer.connect(payee.nodeId, '127.0.0.1', payee.p2pPort!);
    const { id } = await lab.openChannel(payer, payee, FUNDING);
    const startPayee = await lab.walletBalance(payee);

    const inv = payee.invoices.create({ amountMsat: msat(HTLC), descriptionHash: sha256(new TextEncoder().encode('deadline in')) });
    const fulfilled = muteFrom(payee, 'update_fulfill_htlc');
    void payer.payments.pay(inv.bolt11, { timeoutMs: 600_000 }).catch(() => undefined);
    await waitFor('the payee settled and sent update_fulfill_htlc (unheard)', () => fulfilled() && payee.invoices.get(inv.paymentHash)!.state === 'settled');
    lab.stopNode(payer);
    const expiry = htlcExpiry(payee, id);
    expect(summary(payee, id).pendingHtlcs).toBe(1);

    const wentOnChain = await mineUntilAt('the payee goes on chain', () => summary(payee, id).closingTxid !== undefined, expiry - FULFILLMENT_DEADLINE_BLOCKS, 40);
    expect(wentOnChain).toBeGreaterThanOrEqual(expiry - FULFILLMENT_DEADLINE_BLOCKS);
    expect(wentOnChain).toBeLessThan(expiry - FULFILLMENT_DEADLINE_BLOCKS + 3);
    const s = summary(payee, id);
    expect([s.closeKind, s.closeReason]).toEqual(['local', `incoming HTLC 0 we fulfilled expires at ${expiry} and is still on a commitment at height ${expiry - FULFILLMENT_DEADLINE_BLOCKS}: claiming it on chain`]);

    // The HTLC-success transaction spends the commitment with the preimage, and confirms before the payer could time it out.
    const spendsCommitment = async (): Promise<string | undefined> => {
      for (const t of summary(payee, id).sweepTxids) if ((await rawTx(t)).vin.some((i) => i.txid === s.closingTxid)) return t;
      return undefined;
    };
    let success: string | undefined;
    await lab.mineUntil('the HTLC-success transaction confirmed', async () => {
      success = await spendsCommitment();
      return success !== undefined && (await rawTx(success)).blockhash !== undefined;
    }, 8, 100);
    expect(await heightOf(success!)).toBeLessThan(expiry);
    expect((await rawTx(success!)).vin[0]!.txinwitness).toContain(hex(inv.preimage));

    // to_self_delay (LAB_TO_SELF_DELAY) on the HTLC-success output, then the payee's wallet holds the HTLC, less the fees it paid.
    await lab.mine(LAB_TO_SELF_DELAY - 2);
    await lab.mineUntil('the payee resolved everything', () => summary(payee, id).phase === 'closed', 30, 0);
    const fees = await lab.fees(summary(payee, id).sweepTxids);
    expect(await lab.walletBalance(payee)).toBe(startPayee + HTLC / 1000n - fees);

    // The payer comes back and learns the preimage from the chain: its payment succeeded.
    const back = lab.startNode('payer1');
    await lab.mineUntil('the payer sees its payment settled on chain', () => back.payments.get(inv.paymentHash)?.state === 'succeeded', 20, 100);
    expect(hex(back.payments.get(inv.paymentHash)!.preimage!)).toBe(hex(inv.preimage));
  }, 300_000);

  test('the payee never fails our HTLC: we go on chain 3 blocks after the expiry and time it out', async () => {
    const payer = lab.startNode('payer2');
    const payee = lab.startNode('payee2');
    await lab.fund(payer, 2_000_000n);
    await payer.connect(payee.nodeId, '127.0.0.1', payee.p2pPort!);
    const startPayer = await lab.walletBalance(payer);
    const { id, fundingTxid } = await lab.openChannel(payer, payee, FUNDING);

    const inv = payee.invoices.create({ amountMsat: msat(HTLC), descriptionHash: sha256(new TextEncoder().encode('deadline out')) });
    payee.invoices.cancel(inv.paymentHash); // the payee fails it...
    const failed = muteFrom(payee, 'update_fail_htlc'); // ...but the payer never hears it
    const paying = payer.payments.pay(inv.bolt11, { timeoutMs: 600_000 }).catch((e: Error) => e);
    await waitFor('the payee failed the HTLC (unheard)', () => failed());
    lab.stopNode(payee);
    const expiry = htlcExpiry(payer, id);

    const wentOnChain = await mineUntilAt('the payer goes on chain', () => summary(payer, id).closingTxid !== undefined, expiry + TIMEOUT_GRACE_BLOCKS, 40);
    expect(wentOnChain).toBeGreaterThanOrEqual(expiry + TIMEOUT_GRACE_BLOCKS);
    expect(wentOnChain).toBeLessThan(expiry + TIMEOUT_GRACE_BLOCKS + 3);
    const s = summary(payer, id);
    expect([s.closeKind, s.closeReason]).toEqual(['local', `outgoing HTLC 0 expired at ${expiry} and is still on a commitment at height ${expiry + TIMEOUT_GRACE_BLOCKS}: timing it out on chain`]);
    await lab.mineUntil('the HTLC-timeout transaction is out', async () => {
      for (const t of summary(payer, id).sweepTxids) {
        const tx = await rawTx(t);
        if (tx.vin.some((i) => i.txid === s.closingTxid) && tx.locktime === expiry && tx.blockhash) return true;
      }
      return false;
    }, 8, 100);
    // The on-chain timeout fails the payment once it is CLOSE_DEPTH deep (its wording, "not committed before the peer disconnected", is the payments layer's).
    await lab.mineUntil('the payment failed', () => payer.payments.get(inv.paymentHash)!.state === 'failed', 8, 100);
    const p = await paying;
    expect(p instanceof Error || p.state === 'failed').toBe(true);
    expect(payer.payments.get(inv.paymentHash)!.state).toBe('failed');

    await lab.mine(LAB_TO_SELF_DELAY - 2);
    await lab.mineUntil('the payer resolved everything', () => summary(payer, id).phase === 'closed', 30, 0);
    const commitFee = await lab.fee(s.closingTxid!);
    const fundingFee = await lab.fee(fundingTxid);
    const fees = await lab.fees(summary(payer, id).sweepTxids);
    // The whole channel comes back to the payer, less the commitment's fee and anchors (it opened) and its sweeps.
    expect(await lab.walletBalance(payer)).toBe(startPayer - fundingFee - commitFee - 2n * ANCHOR_SAT - fees);
  }, 300_000);
});
