// lab-peers: btcd
/**
 * Issue 13 hole 7 on a real chain (BOLT 5 "Failing a Channel": spend the
 * to_local_anchor with enough fee; RBF it if that proves insufficient).
 * A force closes an anchors channel holding an HTLC while its commitment
 * pays 2 sat/vB and the chain's estimate is 20 sat/vB: a CPFP child
 * spending A's anchor is in the mempool at once, package at the estimate;
 * a block without it (mined empty) makes A replace it higher as the HTLC
 * deadline nears; commitment and child then confirm in one block, and after
 * the HTLC times out and every output is swept both wallets are exact to
 * the sat. Then the reserve: a node with an empty wallet refuses an inbound
 * anchors channel with an error naming the reserve, takes a
 * static_remotekey one, and takes anchors once it holds the reserve.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { p2wsh } from '../../../src/bolt/bolt3/script.ts';
import { anchorScript } from '../../../src/bolt/bolt3/scripts.ts';
import { type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { PaymentError } from '../../../src/node/payments/payments.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { holdIncoming, muteFrom } from './onchain-helpers.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(500_000);
const HTLC_MSAT = msat(100_000_000);
const ESTIMATE_SAT_VB = 20;

beforeAll(async () => {
  lab = await ChannelLab.start('anchor-cpfp');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

interface Verbose {
  txid: string;
  vin: { txid: string; vout: number }[];
  vout: { value: number; scriptPubKey: { hex: string } }[];
  weight?: number;
  vsize?: number;
  confirmations?: number;
}
const verbose = (txid: string): Promise<Verbose> => lab.btcd.rpc.call<Verbose>('getrawtransaction', txid, 1);
const weightOf = (t: Verbose): number => t.weight ?? t.vsize! * 4;
const mempool = (): Promise<string[]> => lab.btcd.rpc.call<string[]>('getrawmempool');
const record = (n: LightningNode, id: string) => n.channels!.store.load<ChannelRecord>(fromHex(id))!;

describe('CPFP of our anchors commitment', () => {
  test('the child lifts the package to the estimate, is replaced higher after a block without it, confirms with the commitment; wallets exact', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING, 'anchors');
    const c = record(a, id).state.commitments;
    // The commitment pays what the chain asked when it was signed: 2 sat/vB.
    expect(c.localCommit.spec.feeratePerKw).toBe(500 as FeeratePerKw);
    const inv = b.invoices.create({ amountMsat: HTLC_MSAT, descriptionHash: sha256(Uint8Array.of(7)) });
    holdIncoming(b, inv.paymentHash);
    const paying = a.payments.pay(inv.bolt11, { timeoutMs: 900_000 }).catch((e: Error) => e);
    await waitFor('the HTLC on A\'s commitment', () => record(a, id).state.commitments.localCommit.spec.htlcs.length === 1);
    const cltv = record(a, id).state.commitments.localCommit.spec.htlcs[0]!.cltvExpiry;

    // The chain now asks 20 sat/vB; A's update_fee never reaches B, so A's signed commitment stays at 2 sat/vB.
    const unmute = muteFrom(a, ['update_fee']);
    lab.esplora.setFeeRate(ESTIMATE_SAT_VB);
    await lab.mine(1);
    await lab.processed(a);
    expect(a.channels!.feerateEstimate).toBe(5000 as FeeratePerKw);
    expect(record(a, id).state.commitments.localCommit.spec.feeratePerKw).toBe(500 as FeeratePerKw);

    const { closingTxid } = await a.channels!.close(fromHex(id), { force: true });
    unmute();
    await waitFor('the CPFP child in the mempool', async () => {
      const bump = record(a, id).state.close?.anchorBump;
      return !!bump && (await mempool()).includes(bump.txid);
    });
    const first = record(a, id).state.close!.anchorBump!;
    const commitment = await verbose(closingTxid);
    const child = await verbose(first.txid);
    // It spends A's anchor (330 sat, A's funding key) and wallet coins, and pays change to A's wallet.
    const anchorVout = child.vin[0]!.vout;
    expect(child.vin[0]!.txid).toBe(closingTxid);
    expect(Math.round(commitment.vout[anchorVout]!.value * 1e8)).toBe(330);
    expect(commitment.vout[anchorVout]!.scriptPubKey.hex).toBe(hex(p2wsh(anchorScript(c.localBasepoints.funding))));
    expect(child.vin.length).toBeGreaterThanOrEqual(2);
    expect(child.vout).toHaveLength(1);
    const commitFee = await lab.fee(closingTxid);
    const firstFee = await lab.fee(first.txid);
    expect(firstFee).toBe(first.fee);
    // The package (commitment + child) pays at least the estimate, at btcd's own weights.
    const pkg1 = ((commitFee + firstFee) * 1000n) / BigInt(weightOf(commitment) + weightOf(child));
    expect(pkg1).toBeGreaterThanOrEqual(5000n);
    expect(pkg1).toBeLessThan(5100n);
    // The commitment alone pays about 2 sat/vB: it needed the child.
    expect((commitFee * 1000n) / BigInt(weightOf(commitment))).toBeLessThan(600n);

    // A block that leaves both out: one block nearer the HTLC deadline, A replaces the child with a higher fee.
    const h0 = await lab.btcd.height();
    await lab.mineEmpty(1);
    await lab.processed(a);
    await waitFor('the replacement in the mempool', async () => {
      const bump = record(a, id).state.close!.anchorBump!;
      return bump.txid !== first.txid && (await mempool()).includes(bump.txid);
    });
    const second = record(a, id).state.close!.anchorBump!;
    expect(second.round).toBe(1);
    expect(await mempool()).not.toContain(first.txid);
    const secondFee = await lab.fee(second.txid);
    expect(secondFee).toBe(second.fee);
    // Paced: 1 of the blocks from the first bump to the deadline gone, the target rose by that share of the ramp.
    expect(second.feerate > first.feerate).toBe(true);
    expect(secondFee - firstFee).toBeGreaterThanOrEqual(BigInt(Math.ceil(weightOf(await verbose(second.txid)) / 4)));
    expect(cltv - h0).toBeGreaterThan(5);
    // The replaced child's wallet transaction is over; its coins are the replacement's.
    expect(a.wallet!.transaction(first.txid)!.state).toBe('conflicted');

    // Commitment and child confirm together; no child is built after that.
    await lab.mine(1);
    expect(await lab.confirmations(closingTxid)).toBe(1);
    expect(await lab.confirmations(second.txid)).toBe(1);
    await lab.mine(1);
    await lab.processed(a);
    expect(record(a, id).state.close!.anchorBump!.txid).toBe(second.txid);

    // The HTLC times out on chain, then to_self_delay, then everything is in A's wallet.
    await lab.mineUntil('A resolved everything', () => a.channels!.get(fromHex(id))!.phase === 'closed', 80, 100);
    const p = await paying;
    expect(p instanceof PaymentError ? p.code : p).toBe('failed');
    const fundingFee = await lab.fee(fundingTxid);
    const sweeps = a.channels!.get(fromHex(id))!.sweepTxids;
    const sweepFees = await lab.fees(sweeps);
    // A's anchor went into the child (its 330 sat came back as change, less the child's fee); B's anchor stays on chain.
    expect(await lab.walletBalance(a)).toBe(startA - fundingFee - commitFee - 2n * ANCHOR_SAT - sweepFees + ANCHOR_SAT - secondFee);
    expect(await lab.walletBalance(b)).toBe(startB);
    lab.esplora.setFeeRate(2);
  }, 400_000);
});

describe('the anchors reserve, inbound', () => {
  test('an empty wallet refuses an inbound anchors channel naming the reserve, accepts static_remotekey, and anchors once it holds 10,000 sat', async () => {
    // The node's default reserve: 10,000 sat per anchors channel.
    const r = lab.startNode('r', { channelLimits: { anchorReservePerChannelSat: sat(10_000) } });
    await a.connect(r.nodeId, '127.0.0.1', r.p2pPort!);
    await lab.mine(1);
    expect(await lab.walletBalance(r)).toBe(0n);
    const refused = await a.channels!.open(r.nodeId, { fundingSat: sat(200_000), fundingFeerate: 1000 as FeeratePerKw, channelType: 'anchors' }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toBe(
      "peer refused the channel: open_channel: anchors channels need an on-chain reserve of 10000 sat for fee bumping and this node's wallet has 0 sat",
    );
    expect(r.channels!.list()).toEqual([]);
    // Nothing to fee-bump on a static_remotekey channel: taken.
    const legacy = await lab.openChannel(a, r, sat(200_000), 'static_remotekey');
    expect(r.channels!.get(fromHex(legacy.id))!.channelType).toBe('static_remotekey');
    // With the reserve in its wallet, anchors too.
    await lab.fund(r, 10_000n);
    const anchors = await lab.openChannel(a, r, sat(200_000), 'anchors');
    expect(r.channels!.get(fromHex(anchors.id))!.channelType).toBe('anchors');
    // A second anchors channel needs 20,000 sat: refused again.
    const second = await a.channels!.open(r.nodeId, { fundingSat: sat(200_000), fundingFeerate: 1000 as FeeratePerKw, channelType: 'anchors' }).catch((e: Error) => e);
    expect((second as Error).message).toBe(
      "peer refused the channel: open_channel: anchors channels need an on-chain reserve of 20000 sat for fee bumping and this node's wallet has 10000 sat",
    );
  }, 120_000);
});
