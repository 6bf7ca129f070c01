/**
 * Issue 13 hole 7 in the node: the resolver CPFPs our unconfirmed anchors
 * commitment through its anchor, with a real wallet on an in-memory chain
 * (test/chain/fake-chain.ts). The child is stored (its coin reserved)
 * before it is broadcast, replaced with a higher fee as the HTLC deadline
 * nears, not rebuilt once the package pays the target or the commitment
 * confirms, and released when the peer's commitment confirms instead.
 * Fees and balances to the sat.
 */
import { describe, expect, test } from 'bun:test';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { childWeight, feerateOf } from '../../src/bolt/bolt5/anchor-cpfp.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type FeeratePerKw, sat } from '../../src/bolt/units.ts';
import { parseTx } from '../../src/chain/txid.ts';
import { bumpKey } from '../../src/node/channels/anchor-bump.ts';
import { anchorsForceClose as setup, COIN, feeOf } from './anchor-bump-harness.ts';

describe('CPFP of our anchors commitment', () => {
  test('a child spending our anchor and a wallet coin lifts the package to the estimate; stored before it is broadcast; replaced higher as the deadline nears; left alone once the commitment confirms', async () => {
    const s = setup();
    await s.wallet.sync();
    await s.source.broadcast(serializeTx(s.oc.tx));
    const h0 = s.chain.tip.height;

    const r1 = await s.step(2500);
    const b1 = r1.anchorBump!;
    expect(b1.round).toBe(0);
    // Persisted with the child before the child reached the chain: the record that holds it is stored first.
    expect(s.persisted.at(-1)!.anchorBump!.txid).toBe(b1.txid);
    expect(r1.bumpFrom).toBe(h0);
    const raw1 = s.chain.mempool.get(b1.txid)!;
    const child1 = parseTx(raw1);
    expect(child1.inputsLength).toBe(2);
    expect([Buffer.from(child1.getInput(0).txid!).toString('hex'), child1.getInput(0).index]).toEqual([s.oc.txid, s.oc.anchor!.vout]);
    // The fee on chain is the planned one; with it the package pays at least the estimate at the child's signed weight.
    expect(feeOf(s.chain, raw1)).toBe(b1.fee);
    expect(b1.weight).toBe(childWeight(1));
    const signedWeight = child1.toBytes(true, false).length * 3 + raw1.length;
    expect(feerateOf(s.oc.fee + b1.fee, s.oc.weight + signedWeight)).toBeGreaterThanOrEqual(2500);
    // At the first bump the target is the estimate itself (the ramp starts here).
    expect(b1.feerate).toBe(2500 as FeeratePerKw);
    expect(b1.fee).toBe(sat((2500n * BigInt(s.oc.weight + b1.weight) + 999n) / 1000n - s.oc.fee));
    // Its wallet coin is spent (the chain lists it no more, the ledger holds it), its change unconfirmed: down by the fee less the anchor's 330.
    await s.wallet.sync();
    // The ledger lists a transaction's inputs as a set (as its index keeps them), not in the transaction's order.
    expect([...s.wallet.transaction(b1.txid)!.inputs].sort()).toEqual([`${s.oc.txid}:${s.oc.anchor!.vout}`, `${Buffer.from(child1.getInput(1).txid!).toString('hex')}:0`].sort());
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(0), unconfirmedSat: sat(COIN + 330n - b1.fee), reservedSat: sat(0) });
    expect(s.wallet.transaction(b1.txid)!.purpose).toBe('fee-bump');

    // The same tip again: the package already pays the target, nothing new.
    await s.step(2500);
    expect(s.close.anchorBump!.txid).toBe(b1.txid);

    // Five blocks later without confirmation (a quarter of the way to the deadline): a replacement, higher, spending the same coin.
    const r2 = await s.step(2500, h0 + 5);
    const b2 = r2.anchorBump!;
    expect(b2.round).toBe(1);
    expect(b2.txid).not.toBe(b1.txid);
    expect(b2.feerate > b1.feerate).toBe(true);
    expect(b2.fee - b1.fee >= (250n * BigInt(b2.weight) + 999n) / 1000n).toBe(true);
    const raw2 = s.chain.mempool.get(b2.txid)!;
    expect(s.chain.mempool.has(b1.txid)).toBe(false);
    expect(Buffer.from(parseTx(raw2).getInput(1).txid!).toString('hex')).toBe(Buffer.from(child1.getInput(1).txid!).toString('hex'));
    expect(s.wallet.transaction(b1.txid)!.state).toBe('conflicted');
    expect(s.wallet.transactionByKey(bumpKey(s.oc.txid, 1))!.txid).toBe(b2.txid);
    await s.wallet.sync();
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(0), unconfirmedSat: sat(COIN + 330n - b2.fee), reservedSat: sat(0) });

    // Commitment and child confirm together; the next tips build nothing more.
    s.chain.mine();
    expect(s.chain.status(s.oc.txid)!.confirmed).toBe(true);
    expect(s.chain.status(b2.txid)!.confirmed).toBe(true);
    await s.step(20_000, h0 + 19);
    expect(s.close.anchorBump!.txid).toBe(b2.txid);
    await s.wallet.onBlock();
    const b = s.wallet.balance();
    expect(b.confirmedSat).toBe(sat(COIN + 330n - b2.fee));
    expect(b.reservedSat).toBe(sat(0));
  });

  test('no child while the commitment pays the estimate and no HTLC is at stake; on static_remotekey channels never', async () => {
    const paid = setup(ANCHORS_TYPE, false, 2500);
    await paid.wallet.sync();
    await paid.source.broadcast(serializeTx(paid.oc.tx));
    expect((await paid.step(2500)).anchorBump).toBeUndefined();
    // Without the remote anchor (B has no output) its 330 sat went to the fee: the commitment pays 4083 sat/kw.
    expect(feerateOf(paid.oc.fee, paid.oc.weight)).toBe(4083 as FeeratePerKw);
    expect((await paid.step(4083)).anchorBump).toBeUndefined();
    // The estimate rises above it: the child follows.
    expect((await paid.step(5000)).anchorBump?.feerate).toBe(5000 as FeeratePerKw);

    // Before the node saw any tip (height 0) nothing is built and the ramp does not start.
    const early = setup();
    await early.wallet.sync();
    await early.source.broadcast(serializeTx(early.oc.tx));
    const r0 = await early.step(5000, 0);
    expect([r0.anchorBump, r0.bumpFrom]).toEqual([undefined, undefined]);

    const legacy = setup(STATIC_REMOTEKEY_TYPE, true, 253);
    await legacy.wallet.sync();
    await legacy.source.broadcast(serializeTx(legacy.oc.tx));
    expect(legacy.oc.anchor).toBeUndefined();
    expect((await legacy.step(10_000)).anchorBump).toBeUndefined();
    expect(legacy.chain.mempool.size).toBe(1);
  });

  test('the ramp tops out at the node\'s fee ceiling (--max-feerate) however near the deadline', async () => {
    const s = setup(ANCHORS_TYPE, true, 253, 3000 as FeeratePerKw);
    await s.wallet.sync();
    await s.source.broadcast(serializeTx(s.oc.tx));
    const h0 = s.chain.tip.height;
    expect((await s.step(2500)).anchorBump!.feerate).toBe(2500 as FeeratePerKw);
    // Half way to the deadline: 2500 + (3000 - 2500) / 2; at and past it, 3000 and no more.
    expect((await s.step(2500, h0 + 10)).anchorBump!.feerate).toBe(2750 as FeeratePerKw);
    expect((await s.step(2500, s.deadline + 5)).anchorBump!.feerate).toBe(3000 as FeeratePerKw);
    expect((await s.step(2500, s.deadline + 6)).anchorBump!.round).toBe(2);
  });

  test('a crash after the wallet stored the child but before the close record did: the next tip finds the same child, no second one', async () => {
    const s = setup();
    await s.wallet.sync();
    await s.source.broadcast(serializeTx(s.oc.tx));
    const stale = s.close;
    const child = (await s.step(2500)).anchorBump!;
    // The close record as it was before the child (its update lost with the process); the wallet kept the child under its key.
    const again = await s.resolver.step({ ...s.ch, close: stale }, s.chain.tip.height, 2500 as FeeratePerKw, () => {});
    expect(again.anchorBump!.txid).toBe(child.txid);
    expect(s.wallet.transactions().filter((t) => t.purpose === 'fee-bump').map((t) => t.txid)).toEqual([child.txid]);
    expect(s.chain.mempool.has(child.txid)).toBe(true);
  });

  test('the peer\'s commitment confirms instead of ours: our child can never confirm and its coin is released', async () => {
    const s = setup();
    await s.wallet.sync();
    await s.source.broadcast(serializeTx(s.oc.tx));
    const child = (await s.step(2500)).anchorBump!;
    expect(s.chain.mempool.has(child.txid)).toBe(true);
    // B's commitment wins (our two are evicted, as a miner taking the other would).
    s.chain.mempool.clear();
    const theirs = ourCommitment(s.p.b.state, s.p.b.secrets, () => undefined);
    s.chain.mine({ txs: [serializeTx(theirs.tx)] });
    const found = await s.resolver.identify({ ...s.ch, close: s.close });
    expect(found!.kind).toBe('remote');
    expect(s.wallet.transaction(child.txid)!.state).toBe('conflicted');
    await s.wallet.onBlock();
    expect(s.wallet.balance()).toEqual({ confirmedSat: sat(COIN), unconfirmedSat: sat(0), reservedSat: sat(0) });
  });
});
