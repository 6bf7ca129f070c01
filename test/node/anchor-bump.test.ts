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
import { HDKey } from '@scure/bip32';
import { Address, OutScript } from '@scure/btc-signer';
import { sha256 } from '@noble/hashes/sha2.js';
import { sendAdd } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { childWeight, feerateOf } from '../../src/bolt/bolt5/anchor-cpfp.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { parseTx } from '../../src/chain/txid.ts';
import { bumpKey } from '../../src/node/channels/anchor-bump.ts';
import { ChannelResolver, type CloseRecord } from '../../src/node/channels/resolver.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { createLogger, silentLogger } from '../../src/node/log.ts';
import { Store } from '../../src/node/store.ts';
import { Wallet } from '../../src/node/wallet/wallet.ts';
import { Pair } from '../bolt02/channel-harness.ts';
import { FakeChain } from '../chain/fake-chain.ts';

const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
const COIN = 200_000n;

function setup(channelType = ANCHORS_TYPE, htlc = true, commitFeerate = 253) {
  const chain = new FakeChain();
  chain.mineMany(100);
  chain.replaceByFee = true;
  const source = chain.source();
  const store = Store.open(':memory:');
  const wallet = new Wallet(store, HDKey.fromMasterSeed(new Uint8Array(32).fill(5)), 'regtest', source, silentLogger);
  chain.fund([{ script: OutScript.encode(Address(REGTEST).decode(wallet.newAddress())), value: COIN }]);
  chain.mine();
  const p = Pair.open(sat(1_000_000), 0n as Msat, commitFeerate as FeeratePerKw, channelType);
  const deadline = chain.tip.height + 20;
  if (htlc) {
    const r = sendAdd(p.a.state, { amountMsat: 200_000_000n as Msat, paymentHash: sha256(Uint8Array.of(1)), cltvExpiry: deadline as CltvExpiry, onion: new Uint8Array(1366) });
    p.a.state = r.state;
    p.send(p.a, r.send);
    p.sign(p.a);
    p.settle();
    p.sign(p.b);
    p.settle();
  }
  // The funding output exists outside this chain (Pair funds 'abab…:1').
  chain.externalCoins.add(`${'ab'.repeat(32)}:1`);
  const resolver = new ChannelResolver(source, wallet, new ChannelStore(store), { preimageOf: () => undefined, htlcResolved: () => {} }, process.env.DBG ? createLogger({ level: 'debug' }) : silentLogger);
  const oc = ourCommitment(p.a.state, p.a.secrets, () => undefined);
  let close: CloseRecord = { kind: 'local', txid: oc.txid, raw: serializeTx(oc.tx), spends: {}, settled: [] };
  const ch = { channelId: p.a.state.channelId, commitments: p.a.state, secrets: p.a.secrets };
  const persisted: CloseRecord[] = [];
  const step = async (estimate: number, height = chain.tip.height): Promise<CloseRecord> => {
    close = await resolver.step({ ...ch, close }, height, estimate as FeeratePerKw, (r) => persisted.push(r));
    return close;
  };
  return { chain, source, wallet, p, oc, resolver, ch, step, persisted, deadline, get close() { return close; } };
}

/** Fee of a mempool or mined transaction of the fake chain, from its inputs' previous outputs (the funding output: 1,000,000 sat). */
function feeOf(chain: FakeChain, raw: Uint8Array): bigint {
  const tx = parseTx(raw);
  let inputs = 0n;
  for (let i = 0; i < tx.inputsLength; i++) {
    const inp = tx.getInput(i);
    const prevTxid = Buffer.from(inp.txid!).toString('hex');
    if (prevTxid === 'ab'.repeat(32)) inputs += 1_000_000n;
    else inputs += parseTx(chain.txs.get(prevTxid) ?? chain.mempool.get(prevTxid)!).getOutput(inp.index!).amount!;
  }
  let outputs = 0n;
  for (let i = 0; i < tx.outputsLength; i++) outputs += tx.getOutput(i).amount!;
  return inputs - outputs;
}

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
    expect(s.wallet.transaction(b1.txid)!.inputs).toEqual([`${s.oc.txid}:${s.oc.anchor!.vout}`, `${Buffer.from(child1.getInput(1).txid!).toString('hex')}:0`]);
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

    const legacy = setup(STATIC_REMOTEKEY_TYPE, true, 253);
    await legacy.wallet.sync();
    await legacy.source.broadcast(serializeTx(legacy.oc.tx));
    expect(legacy.oc.anchor).toBeUndefined();
    expect((await legacy.step(10_000)).anchorBump).toBeUndefined();
    expect(legacy.chain.mempool.size).toBe(1);
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
