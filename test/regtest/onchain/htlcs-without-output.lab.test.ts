// lab-peers: btcd
/**
 * Issue 13 hole 8, BOLT 5 "Unilateral Close Handling": an HTLC of ours that
 * the commitment on chain has no output for (trimmed to dust here) is
 * failed once that commitment is deep (CLOSE_DEPTH, 6), and not before; an
 * HTLC we time out on chain counts as failed only once the HTLC-timeout
 * transaction is 6 deep (a reorg could still let the peer's preimage claim
 * win). Each step is checked after the node processed the block.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { CLOSE_DEPTH } from '../../../src/node/channels/resolver.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { decoded, holdIncoming } from './onchain-helpers.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(500_000);
const DUST_MSAT = msat(300_000);
const HTLC_MSAT = msat(30_000_000);

beforeAll(async () => {
  lab = await ChannelLab.start('no-output');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;

/** Mines one block and returns once A processed it. */
async function mineOne(): Promise<void> {
  await lab.btcd.generate(1);
  await lab.processed(a);
}

describe('HTLCs the commitment on chain does not resolve', () => {
  test('a trimmed HTLC fails when the commitment is 6 deep, a timed-out one when its HTLC-timeout is 6 deep; wallets exact', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, 'anchors');
    const dust = b.invoices.create({ amountMsat: DUST_MSAT, descriptionHash: sha256(Uint8Array.of(1)) });
    const large = b.invoices.create({ amountMsat: HTLC_MSAT, descriptionHash: sha256(Uint8Array.of(2)) });
    // B never answers either HTLC.
    holdIncoming(b, dust.paymentHash);
    holdIncoming(b, large.paymentHash);
    const paying = [dust, large].map((inv) => a.payments.pay(inv.bolt11, { timeoutMs: 900_000 }).catch((e: Error) => e));
    await waitFor('both HTLCs on A\'s commitment', () => a.channels!.store.load<ChannelRecord>(fromHex(id))!.state.commitments.localCommit.spec.htlcs.length === 2);
    const state = (inv: { paymentHash: Uint8Array }) => a.payments.get(inv.paymentHash)!.state;

    const { closingTxid } = await a.channels!.close(fromHex(id), { force: true });
    // The dust HTLC has no output on A's commitment: two anchors, to_local and the large HTLC (B's balance is nil).
    expect((await decoded(lab, closingTxid)).vout).toHaveLength(4);
    for (let depth = 1; depth < CLOSE_DEPTH; depth++) {
      await mineOne();
      expect(await lab.confirmations(closingTxid)).toBe(depth);
      expect(state(dust)).toBe('in_flight');
    }
    await mineOne();
    expect(await lab.confirmations(closingTxid)).toBe(CLOSE_DEPTH);
    expect(state(dust)).toBe('failed');
    expect(state(large)).toBe('in_flight');

    // After its expiry A times the large HTLC out; the payment waits until that is deep.
    // The HTLC-timeout spends the HTLC's output (to_local's sweep, after a short lab to_self_delay, may confirm first).
    const htlcVout = (await decoded(lab, closingTxid)).vout.findIndex((o) => Math.round(o.value * 1e8) === Number(HTLC_MSAT / 1000n));
    expect(htlcVout).toBeGreaterThanOrEqual(0);
    let timeoutTxid: string | undefined;
    await lab.mineUntil('the HTLC-timeout transaction confirmed', async () => {
      for (const t of summary(a, id).sweepTxids) {
        const tx = await decoded(lab, t);
        if (tx.vin.some((i) => i.txid === closingTxid && i.vout === htlcVout) && (tx.confirmations ?? 0) > 0) timeoutTxid = t;
      }
      return timeoutTxid !== undefined;
    }, 40, 100);
    await lab.processed(a);
    for (let depth = (await lab.confirmations(timeoutTxid!))!; depth < CLOSE_DEPTH; depth++) {
      expect(state(large)).toBe('in_flight');
      await mineOne();
    }
    expect(await lab.confirmations(timeoutTxid!)).toBe(CLOSE_DEPTH);
    expect(state(large)).toBe('failed');
    for (const p of await Promise.all(paying)) expect(p instanceof PaymentError ? p.code : p).toBe('failed');

    // to_self_delay on the HTLC-timeout output and on to_local, then everything is back in A's wallet.
    await lab.btcd.generate(140);
    await lab.mineUntil('A resolved everything', () => summary(a, id).phase === 'closed', 30, 100);
    const commitFee = await lab.fee(closingTxid);
    const fundingFee = await lab.fee(fundingTxid);
    const fees = await lab.fees(summary(a, id).sweepTxids);
    // The dust HTLC went to the commitment's fee (counted in commitFee); the anchors stay on chain.
    expect(await lab.walletBalance(a)).toBe(startA - fundingFee - commitFee - 2n * ANCHOR_SAT - fees);
    expect(await lab.walletBalance(b)).toBe(startB);
  }, 400_000);
});
